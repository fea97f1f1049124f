//! msmu: builds MSMU-style metric spatial question-answer datasets from ScanNet / ScanNet++
//! scans (and from its own synthetic scenes), and the tools around them.
//!
//! Read ARCHITECTURE.md first: it has the data flow, the code map, the coordinate
//! conventions and the invariants. In short:
//!
//! - [`scene`]: the one scene model every reader produces and every stage consumes;
//! - [`io`]: readers (the only code that touches disk, with the writers);
//! - [`render`]: the z-buffer rasterizer (metric depth, instance ids, colour);
//! - [`geom`]: exact measurements, distances, visibility;
//! - [`synth`]: synthetic scenes in the real on-disk layouts, with analytic truth;
//! - [`stats`], [`export`], [`validate`], [`merge`]: the tools over a built dataset;
//! - [`cli`]: the `msmu` command line.
//! - [`cli`]: the `msmu` command line;
//! - `train` (cargo feature `train`): the depth-encoded LLaVA trainer, the only user of libtorch.

pub mod build;
pub mod cli;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod export;
pub mod geom;
pub mod io;
pub mod merge;
pub mod qa;
pub mod render;
pub mod scene;
pub mod stats;
pub mod synth;
#[cfg(feature = "train")]
pub mod train;
pub mod validate;
