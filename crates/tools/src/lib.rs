//! msmu-tools: the tools over a built dataset: [`export`] (Hugging Face repo, LLaVA JSON,
//! SD-VLM inference Parquet), [`stats`] (report and charts), [`merge`] (joins `--shard K/N`
//! outputs) and [`validate`]; and [`ablation`], the analysis and report of an ablation study
//! (arms x seeds, scored by `msmu eval`).

pub mod ablation;
pub mod export;
pub mod merge;
pub mod stats;
pub mod validate;
