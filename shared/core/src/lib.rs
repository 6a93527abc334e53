//! lakeline's decision core: everything the functions and the command line decide, as plain
//! functions over data. No AWS SDK, no async runtime, no I/O of its own: it takes bytes,
//! `Read`/`Write` and values, and returns decisions, so it is tested with tables of cases.
//! The AWS edge is the `lakeline-aws` crate.
//!
//! Modules stand in layers; each uses only the layers below it (`tests/layers.rs` checks that
//! the graph of `crate::` paths has no circle):
//!
//! 1. Leaves: [`text`], [`size`], [`keys`], [`batch`], [`metrics`], [`types`] (column types,
//!    file formats, byte checks and parsers), [`report`] (problems and the validation report),
//!    [`rules`] (column rules, resolved at registry load), and the library [`Error`].
//! 2. Declarations: [`registry`], with the `job:`, `compaction:` and `expect:` blocks; [`table`]
//!    (a dataset's Iceberg table: its name, lineage and partition columns).
//! 3. Decisions: [`validate`] (the streaming validation engine), [`curate`] (valid uploads →
//!    typed Parquet), [`jobs`] (routing, run keys, status, backoff, console links),
//!    [`compaction`] (which partitions are due, and the plan), [`sla`] (whether files came),
//!    [`alert`] (the one alert format), [`failure`] (a caught failure → an alert),
//!    [`event`] (S3 notifications),
//!    [`placeholders`] (`${…}` in the registry).

pub mod alert;
pub mod batch;
pub mod compaction;
pub mod curate;
pub mod erase;
mod error;
pub mod event;
pub mod failure;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod placeholders;
pub mod registry;
pub mod report;
pub mod rules;
pub mod size;
pub mod sla;
pub mod status;
pub mod table;
pub mod text;
pub mod types;
pub mod validate;

pub use error::{names as error_names, Error};
