//! lakeline's shared core: everything the functions and the command line decide, as plain
//! functions over data.
//!
//! - [`registry`]: the typed dataset registry (`config/datasets.yaml`).
//! - [`validate`]: the streaming validation engine (CSV, TSV, JSON Lines, Parquet footers).
//! - [`event`] and [`keys`]: S3 notifications, key decoding, quarantine keys, execution names.
//! - [`alert`]: the one alert format (SNS subject, text, JSON, attributes).
//! - [`curate`]: valid uploads → typed Parquet (schema mapping, conversion, writer settings,
//!   output keys), streaming through the validation engine.
//! - [`catalog`]: the Glue Data Catalog tables of the curated layer (partition projection).
//! - [`jobs`]: job settings, run keys, status normalisation, backoff, console links.
//! - [`failure`]: the Causes a caught pipeline failure carries, turned into an [`alert::Alert`].
//! - [`metrics`]: CloudWatch EMF lines.
//! - [`rules`]: the data-quality rules beyond types, resolved at registry load.
//! - [`sla`]: delivery expectations (`expect:`): when files are due, whether they came.
//! - [`aws`]: the few SDK helpers several functions share (client config, error classes,
//!   registry loading from S3).
//!
//! Nothing here but [`aws`] performs I/O on its own: decisions take bytes and return values,
//! so they are tested with tables of cases.

pub mod alert;
pub mod aws;
pub mod batch;
pub mod catalog;
pub mod compaction;
pub mod curate;
mod error;
pub mod event;
pub mod failure;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod placeholders;
pub mod registry;
pub mod rules;
pub mod size;
pub mod sla;
pub mod text;
pub mod types;
pub mod validate;

pub use error::{names as error_names, Error};
