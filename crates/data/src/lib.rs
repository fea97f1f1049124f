//! msmu-data: the data pipeline of msmu, from scan folders to Parquet shards.
//!
//! Read ARCHITECTURE.md first: it has the crates, the data flow, the coordinate conventions and
//! the invariants. In short:
//!
//! - [`scene`]: the one scene model every reader produces and every stage consumes;
//! - [`io`]: readers (the only code that touches disk, with the writers);
//! - [`render`]: the z-buffer rasterizer (metric depth, instance ids, colour);
//! - [`geom`]: exact measurements, distances, visibility, view selection;
//! - [`qa`]: templates, references and the eight MSMU task families;
//! - [`dataset`]: the shard contract (row model, Arrow schema, decoders, depth codec, manifest);
//! - [`pipeline`]: `msmu build`: planning, per-scene rows, ordered shard writing, resume.
//!
//! This crate never depends on the synthetic-scene generator (`msmu-synth`) or on libtorch;
//! CI checks that (`make check-deps`).

pub mod dataset;
pub mod error;
pub mod geom;
pub mod io;
pub mod pipeline;
pub mod progress;
pub mod qa;
pub mod render;
pub mod scene;
