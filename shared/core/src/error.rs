//! The shared library's error type, and the stable error names every lakeline function emits.

/// Errors of the shared library: configuration that cannot be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dataset registry is invalid.
    #[error("invalid dataset registry {origin}{}: {field}{}{message}", line.map(|l| format!(" line {l}")).unwrap_or_default(), if field.is_empty() { "" } else { ": " })]
    Registry {
        /// File path or URI.
        origin: String,
        /// 1-based line, when the fault is at one place.
        line: Option<usize>,
        /// The field path, e.g. `datasets.orders.columns[2].type`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The registry could not be read.
    #[error("cannot read dataset registry {origin}: {message}")]
    RegistryUnreadable {
        /// File path or URI.
        origin: String,
        /// Why.
        message: String,
    },
    /// The file is not valid for its dataset: nothing was curated. The report says why.
    #[error("{} is not valid for dataset {}: {}", .0.key, .0.dataset, .0.summary(400))]
    Invalid(Box<crate::report::Report>),
    /// Reading the source failed (network, disk): not the file's fault; retry.
    #[error(transparent)]
    Source(#[from] crate::report::SourceError),
    /// A Parquet input could not be read (corrupt beyond what its footer showed, or the read
    /// failed).
    #[error("{0}")]
    Input(String),
    /// Writing the curated Parquet failed.
    #[error("{0}")]
    Output(String),
    /// A value that validation accepted could not be converted: validation and curation
    /// disagree, which is a bug in lakeline. Nothing is written.
    #[error("row {row}, column {column}: value {value:?} passed validation but does not convert; nothing was curated (a lakeline bug: please report it with this file)")]
    Unconvertible {
        /// 1-based data row.
        row: u64,
        /// Column and type.
        column: String,
        /// The value, shortened.
        value: String,
    },
    /// Rows written differ from rows validated: nothing is committed.
    #[error("curated {written} rows but validation counted {expected}: nothing was committed")]
    RowCount {
        /// Rows validation counted.
        expected: u64,
        /// Rows the writer received.
        written: u64,
    },
    /// An AWS call failed; `transient` when a retry may succeed (throttling, 5xx, network).
    #[error("{message}")]
    Aws {
        /// Worth retrying.
        transient: bool,
        /// What was attempted, and the service's answer.
        message: String,
    },
    /// A required environment variable is missing or invalid.
    #[error("environment variable {name}: {message}")]
    Env {
        /// Variable name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// The `errorType` names lakeline's Lambda functions return. The state machine's `Retry` and
/// `Catch` match these strings; a test checks that both sides agree, so add names here only.
pub mod names {
    /// A transient AWS failure (throttling, 5xx, timeout): retry with backoff.
    pub const TRANSIENT: &str = "Lakeline.Transient";
    /// Configuration is wrong (registry, environment, permissions): retrying will not help.
    pub const CONFIG: &str = "Lakeline.Config";
    /// An input the function cannot act on (malformed event or payload).
    pub const BAD_INPUT: &str = "Lakeline.BadInput";
    /// A job run cannot start now (concurrent-run limit, quota, throttling): retry with a long
    /// backoff.
    pub const JOB_RETRYABLE: &str = "Lakeline.JobRetryable";
    /// The Glue job, EMR Serverless application or run does not exist: a human must act.
    pub const JOB_NOT_FOUND: &str = "Lakeline.JobNotFound";
    /// A job run ended FAILED, CANCELLED or TIMED_OUT. Raised by the state machine's Fail
    /// state, with start-job's status document as the Cause.
    pub const JOB_FAILED: &str = "Lakeline.JobFailed";
    /// A job run stayed RUNNING past the state machine's bound on status checks. Raised by the
    /// state machine.
    pub const JOB_POLL_LIMIT: &str = "Lakeline.JobPollLimit";

    /// A file that passed validation no longer passes its dataset's rules at curation (the
    /// registry changed in between): nothing was written.
    pub const INVALID: &str = "Lakeline.Invalid";
    /// Rows written differ from rows validated: nothing was committed.
    pub const ROW_COUNT: &str = "Lakeline.RowCountMismatch";
    /// A file is too large for the engine it was routed to (or for any configured engine):
    /// nothing was written; the message says what to set.
    pub const TOO_LARGE: &str = "Lakeline.TooLarge";
    /// Curation failed for a reason that is not the file's (a conversion bug, an output
    /// error that is not transient).
    pub const CURATE_FAILED: &str = "Lakeline.CurateFailed";

    /// A compaction failed for a reason that is not transient: nothing was committed.
    pub const COMPACT_FAILED: &str = "Lakeline.CompactFailed";

    /// The names worth retrying; every other name is final. The state machine's `Retry`
    /// blocks must list exactly these (a test reads both).
    pub const RETRYABLE: &[&str] = &[TRANSIENT, JOB_RETRYABLE];

    /// Every name above, for the agreement test with the state machine.
    pub const ALL: &[&str] = &[
        TRANSIENT,
        CONFIG,
        BAD_INPUT,
        JOB_RETRYABLE,
        JOB_NOT_FOUND,
        JOB_FAILED,
        JOB_POLL_LIMIT,
        INVALID,
        ROW_COUNT,
        TOO_LARGE,
        CURATE_FAILED,
        COMPACT_FAILED,
    ];
}
