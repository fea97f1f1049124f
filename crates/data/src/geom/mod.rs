//! Exact geometry over the scene model: object measurements, distances, visibility.
//!
//! The stage is pure computation over a [`crate::scene::Scene`]: no file is read or written
//! here except the object-selection rules ([`select::SelectionRules::load`]).
//!
//! - [`measure`]: axis-aligned and gravity-aligned boxes (length, width, height, yaw, centre);
//! - [`distance`]: named distance kinds, exact triangle-mesh distances with a BVH;
//! - [`visibility`]: per-view visible / unoccluded pixels, truncation, 2D box, visible sides;
//! - [`select`]: which objects may be asked about (rules from `templates/selection.json`);
//! - [`views`]: which frames are used (stride, pose diversity, enough valid objects);
//! - [`fixtures`]: small analytic box scenes for tests.

pub mod distance;
pub mod fixtures;
pub mod measure;
pub mod sanity;
pub mod select;
pub mod views;
pub mod visibility;
