//! msmu's integration tests, one binary: the CLI end to end, readers on the synthetic corpora,
//! QA generation, the scorer, and (feature `train`) the trainer. Shared helpers live in
//! [`support`].

mod support;

mod build;
mod cli;
mod dataset_tools;
mod eval_agreement;
mod eval_cli;
mod eval_qspatial;
mod eval_spatialrgpt;
mod geom_props;
mod hostile_cli;
mod hostile_readers;
mod qa_generation;
mod scannet_reader;
mod scannetpp_reader;
#[cfg(feature = "train")]
mod train_cli;
#[cfg(feature = "train")]
mod train_model;
mod truth_roundtrip;
