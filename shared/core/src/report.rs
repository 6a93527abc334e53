//! What a validation decides about one object: its problems (each with a stable code) and the
//! report that carries them. Plain data at the bottom of the core, so the library's error type,
//! alert text and the validation engine can all speak of it without depending on each other.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::shorten;
use crate::types::Format;

/// Why a file was rejected: stable names used in quarantine tags, metrics and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// The key does not follow the dataset's key pattern (incl. a partition date that is no date).
    KeyPattern,
    /// The file name's extension does not fit the dataset's format.
    Extension,
    /// The object is empty.
    Empty,
    /// The object is smaller than the dataset's minimum.
    TooSmall,
    /// The object is larger than the dataset's maximum.
    TooLarge,
    /// Text that is not valid UTF-8.
    Encoding,
    /// The CSV header does not name the declared columns.
    Header,
    /// A row with the wrong number of fields.
    ColumnCount,
    /// A value that does not parse as its column's type.
    Type,
    /// A required value is missing or null.
    Required,
    /// A line that is not valid JSON.
    Json,
    /// A JSON line that is not an object.
    NotObject,
    /// A field or column the dataset does not declare.
    ExtraColumn,
    /// A declared column the file does not have.
    MissingColumn,
    /// One record longer than the dataset's `max_record`.
    RecordTooLong,
    /// A corrupt or truncated gzip stream.
    Gzip,
    /// Gzip content that expands beyond `max_decompressed` (a bomb, or a mistake).
    DecompressedTooLarge,
    /// Not a Parquet file (bad magic bytes) or an encrypted one.
    ParquetMagic,
    /// A Parquet footer that cannot be read (truncated or corrupt).
    ParquetFooter,
    /// A Parquet column whose physical/logical type does not fit the declared type.
    ParquetType,
    /// A required Parquet column that holds nulls.
    ParquetNulls,
    /// A Parquet column chunk compressed with a codec lakeline cannot read (brotli, LZO).
    ParquetCodec,
    /// A C0 control character (NUL, ESC, …; not tab, LF or CR) inside a string value, and the
    /// dataset does not set `allow_control_chars`.
    ControlChar,
    /// A value outside its column's `allowed` set.
    Allowed,
    /// A value below its column's `min` (or NaN under a range rule).
    Min,
    /// A value above its column's `max`.
    Max,
    /// A string that does not match its column's `pattern` as a whole.
    Pattern,
    /// A string whose length in characters is outside its column's `length`.
    Length,
    /// A value seen before in the file, in a `unique` column.
    Unique,
    /// A combination of values seen before in the file, for the dataset's `unique_key`.
    UniqueKey,
    /// More distinct keys than `max_unique_keys`: uniqueness cannot be checked exactly in the
    /// memory it is given, so the file is refused rather than passed unchecked.
    UniqueLimit,
    /// A row count outside the dataset's `rows` bounds.
    Rows,
    /// The key's partition date is in the future or older than `partition_freshness` allows.
    PartitionFreshness,
    /// The upload carries no checksum of the kind the dataset's `checksum:` requires.
    Checksum,
}

impl ProblemCode {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::KeyPattern => "key_pattern",
            ProblemCode::Extension => "extension",
            ProblemCode::Empty => "empty",
            ProblemCode::TooSmall => "too_small",
            ProblemCode::TooLarge => "too_large",
            ProblemCode::Encoding => "encoding",
            ProblemCode::Header => "header",
            ProblemCode::ColumnCount => "column_count",
            ProblemCode::Type => "type",
            ProblemCode::Required => "required",
            ProblemCode::Json => "json",
            ProblemCode::NotObject => "not_object",
            ProblemCode::ExtraColumn => "extra_column",
            ProblemCode::MissingColumn => "missing_column",
            ProblemCode::RecordTooLong => "record_too_long",
            ProblemCode::Gzip => "gzip",
            ProblemCode::DecompressedTooLarge => "decompressed_too_large",
            ProblemCode::ParquetMagic => "parquet_magic",
            ProblemCode::ParquetFooter => "parquet_footer",
            ProblemCode::ParquetType => "parquet_type",
            ProblemCode::ParquetNulls => "parquet_nulls",
            ProblemCode::ParquetCodec => "parquet_codec",
            ProblemCode::ControlChar => "control_char",
            ProblemCode::Allowed => "allowed",
            ProblemCode::Min => "min",
            ProblemCode::Max => "max",
            ProblemCode::Pattern => "pattern",
            ProblemCode::Length => "length",
            ProblemCode::Unique => "unique",
            ProblemCode::UniqueKey => "unique_key",
            ProblemCode::UniqueLimit => "unique_limit",
            ProblemCode::Rows => "rows",
            ProblemCode::PartitionFreshness => "partition_freshness",
            ProblemCode::Checksum => "checksum",
        }
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with a file, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// What kind of problem.
    pub code: ProblemCode,
    /// 1-based line in the (decompressed) file where the record starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based data row (header not counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// The column concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The offending value, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

/// Longest offending value quoted in a report.
pub const VALUE_SHOWN: usize = 40;

impl Problem {
    /// A problem about the whole object.
    pub fn object(code: ProblemCode, message: impl Into<String>) -> Problem {
        Problem {
            code,
            line: None,
            row: None,
            column: None,
            value: None,
            message: message.into(),
        }
    }

    /// Where the problem is, e.g. `line 17 (row 16), column amount`.
    pub fn location(&self) -> String {
        let mut parts = Vec::new();
        match (self.line, self.row) {
            (Some(l), Some(r)) => parts.push(format!("line {l} (row {r})")),
            (Some(l), None) => parts.push(format!("line {l}")),
            (None, Some(r)) => parts.push(format!("row {r}")),
            (None, None) => {}
        }
        if let Some(c) = &self.column {
            parts.push(format!("column {c}"));
        }
        parts.join(", ")
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.location();
        if !loc.is_empty() {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(v) = &self.value {
            write!(f, ": {v:?}")?;
        }
        Ok(())
    }
}

/// Valid or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fit for the lake.
    Valid,
    /// Quarantine it.
    Invalid,
}

/// The result of validating one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Valid or invalid.
    pub verdict: Verdict,
    /// The dataset it was checked against.
    pub dataset: String,
    /// The object's key (or local path).
    pub key: String,
    /// The dataset's format.
    pub format: Format,
    /// Bytes of the object read (compressed bytes for gzip; footer bytes for Parquet).
    pub bytes_read: u64,
    /// Data rows checked (Parquet: rows in the file's metadata).
    pub rows: u64,
    /// Problems found (at most the registry's `max_problems`).
    pub problems: Vec<Problem>,
    /// True when checking stopped at the problem limit: the file has at least this many.
    pub stopped_early: bool,
    /// The dataset's rules this check could not decide, as `column: rule` (Parquet: what
    /// the footer's statistics cannot show, such as `pattern` or `unique`). Empty for text
    /// formats, which check every rule on every value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
}

impl Report {
    /// The first problem's code, which names the rejection in tags and metrics.
    pub fn reason_code(&self) -> Option<ProblemCode> {
        self.problems.first().map(|p| p.code)
    }

    /// A one-line summary: `3 problems: line 2 (row 1), column amount: expected float: "x"; …`.
    pub fn summary(&self, max_chars: usize) -> String {
        if self.problems.is_empty() {
            return format!("valid: {} rows", self.rows);
        }
        let n = self.problems.len();
        let head = if self.stopped_early {
            format!("{n}+ problems (stopped at {n})")
        } else if n == 1 {
            "1 problem".to_string()
        } else {
            format!("{n} problems")
        };
        let list: Vec<String> = self.problems.iter().map(|p| p.to_string()).collect();
        shorten(&format!("{head}: {}", list.join("; ")), max_chars)
    }
}

/// The source failed (network, disk): not the file's fault, so nothing is decided.
#[derive(Debug, thiserror::Error)]
#[error("reading the object failed after {bytes_read} bytes: {source}")]
pub struct SourceError {
    /// Bytes read before the failure.
    pub bytes_read: u64,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}
