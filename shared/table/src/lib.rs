//! lakeline's table layer: each dataset's curated data is an Apache Iceberg table (format v2),
//! and each delivery (one raw key at one version) lands in it as one atomic, exactly-once
//! commit.
//!
//! - [`catalog`]: where tables live ([`Target`]: a local warehouse directory; S3 Tables and the
//!   Glue Data Catalog by name) and the one place a commit becomes visible: a compare-and-swap
//!   of the table's metadata pointer against the exact metadata the commit was built on.
//! - [`schema`]: the table's schema from the registry, with field ids that stay stable across
//!   registry versions and are never reused, and its partition spec.
//! - [`datafile`]: an Iceberg `DataFile` (statistics, bounds) from a Parquet footer.
//! - [`commit`]: the delivery commit: decide from the *current* table whether the delivery is
//!   already in it (its rows, at its version), build the snapshot (append, or an overwrite that
//!   swaps an older version's files for the new ones) with the crate's manifest writers, and
//!   swap the pointer; a lost race is decided and built again on the new table.
//! - [`group`]: group commit: a delivery that lost a commit race waits on the table's board,
//!   and the next commit of any writer takes it in with its own (S3 Tables, Glue).
//! - [`sync`]: a dataset's table created, or its schema evolved, to match the registry.
//! - [`show`]: what a table holds, and its snapshots with their sources.
//! - [`write`]: where a delivery's data file goes in the table, and its commit once written
//!   (statistics from its footer, unpublished files discarded).
//! - [`rewrite`]: live data files read back in the current schema and written again without
//!   the rows a filter drops, in files of a target size (compaction, undo, erase, and a key's
//!   replacement inside a compacted file).
//! - [`erase`]: the rows a filter matches taken out in one snapshot (copy on write).
//! - [`maintain`]: compaction (planned from the manifests by the sweep's rule) and undo of a
//!   raw key, each one snapshot that swaps its inputs for its outputs.
//! - [`local`]: a local file validated, curated into the table's data directory and committed,
//!   for the command line and the tests.
//!
//! iceberg-rust supplies the spec's types, manifests, manifest lists and metadata JSON; its own
//! `Transaction::commit` is not used, because it reloads the table and re-applies an append on
//! top of whatever is current, which would skip the exactly-once decision made on the base.

pub mod catalog;
pub mod commit;
pub mod datafile;
pub mod erase;
pub mod group;
pub mod local;
pub mod maintain;
pub mod rewrite;
pub mod schema;
pub mod show;
pub mod spark;
pub mod sync;
pub mod write;

pub use catalog::{GlueOptimizers, Tables, Target};

/// Told how a long table operation (compaction, erase) goes, so a command can show progress;
/// the table layer itself prints nothing. `()` ignores it.
pub trait Observer: Send {
    /// A phase of `total` steps begins (`reading`, `rewriting`, …).
    fn phase(&mut self, _what: &str, _total: u64) {}
    /// One step of the phase is done; `line` says which.
    fn step(&mut self, _line: &str) {}
}

impl Observer for () {}
pub use commit::{commit_delivery, Delivery, Outcome};

/// Errors of the table layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalog or the table's storage failed (I/O, a corrupt metadata file): nothing was
    /// committed.
    #[error("{0}")]
    Catalog(String),
    /// The table and the registry disagree in a way lakeline does not change on its own.
    #[error("{0}")]
    Schema(String),
    /// Other writers kept winning the commit race: nothing was committed; running it again is
    /// safe.
    #[error("table {table}: {attempts} commits in a row lost the race to other writers; nothing was committed, run it again")]
    Conflict {
        /// The table.
        table: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A rewrite's inputs were replaced by another commit while it ran (a new version of a
    /// key, another rewrite): nothing was committed; planning it again is safe.
    #[error("{0}")]
    Changed(String),
    /// What was asked is not something this layer does (yet); nothing was changed.
    #[error("{0}")]
    Unsupported(String),
    /// Validating or curating the delivery failed (its report, or a conversion error).
    #[error(transparent)]
    Curate(#[from] lakeline_core::Error),
}

impl From<iceberg::Error> for Error {
    fn from(e: iceberg::Error) -> Self {
        Error::Catalog(format!("iceberg: {e}"))
    }
}

#[cfg(feature = "warehouse")]
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Catalog(format!("catalog database: {e}"))
    }
}
