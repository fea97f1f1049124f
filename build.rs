//! The `msmu` binary's build script is the trainer crate's: with the `train` feature it embeds
//! libtorch's library folder as an rpath (see crates/train/build.rs). One source, two packages,
//! because a link argument from a build script only reaches the package's own targets.
include!("crates/train/build.rs");
