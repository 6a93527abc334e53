//! The validation engine: decides whether one object of a dataset is fit for the lake.
//!
//! It reads through [`std::io::Read`] so that the Lambda (an S3 body stream) and the command
//! line (a local file) share every rule, and it never holds more than one record in memory.
//! Problems in the *data* become [`Problem`]s in the [`Report`]; failures of the *source* (the
//! network, the disk) come back as [`SourceError`] so a flaky read never quarantines a good file.

mod csv;
mod jsonl;
mod keyset;
mod parquet;
mod rules;
mod stream;

use std::io::Read;

use crate::registry::{Dataset, Format, KeyMatch};
use crate::text::shorten;

pub use self::csv::TextRow;
pub use self::keyset::BYTES_PER_KEY_MAX;
pub use self::parquet::{
    check_parquet_footer, check_parquet_metadata, parquet_finish, parquet_footer, parquet_tail,
    FooterCheck, ParquetFooter, ParquetStep, PARQUET_TAIL_LEN,
};

pub use crate::report::{Problem, ProblemCode, Report, SourceError, Verdict, VALUE_SHOWN};

/// Collects problems up to a bound.
#[derive(Debug)]
pub(crate) struct Problems {
    list: Vec<Problem>,
    max: usize,
}

impl Problems {
    pub(crate) fn new(max: usize) -> Problems {
        Problems {
            list: Vec::new(),
            max: max.max(1),
        }
    }

    /// Adds a problem; returns true when the list is full and checking should stop.
    pub(crate) fn push(&mut self, p: Problem) -> bool {
        if self.list.len() < self.max {
            self.list.push(p);
        }
        self.full()
    }

    pub(crate) fn full(&self) -> bool {
        self.list.len() >= self.max
    }
}

/// Checks the key's file name and the object size before anything is downloaded.
///
/// Returns the problems; an empty list means the object is worth reading.
pub fn precheck(dataset: &Dataset, file_name: &str, size: u64) -> Vec<Problem> {
    let mut out = Vec::new();
    let exts = dataset.allowed_extensions();
    let lower = file_name.to_ascii_lowercase();
    if !exts.iter().any(|e| lower.ends_with(e.as_str())) {
        out.push(Problem::object(
            ProblemCode::Extension,
            format!(
                "file name {:?} does not end in {} (dataset format {})",
                shorten(file_name, 60),
                exts.join(" or "),
                dataset.format.as_str()
            ),
        ));
    }
    let b = dataset.size;
    if size == 0 {
        out.push(Problem::object(
            ProblemCode::Empty,
            "the object is empty (0 bytes)",
        ));
    } else if size < b.min.0 {
        out.push(Problem::object(
            ProblemCode::TooSmall,
            format!("{size} bytes is below the dataset minimum of {}", b.min),
        ));
    } else if size > b.max.0 {
        out.push(Problem::object(
            ProblemCode::TooLarge,
            format!(
                "{} ({size} bytes) is above the dataset maximum of {}",
                crate::size::ByteSize(size),
                b.max
            ),
        ));
    }
    out
}

/// Builds the report for a rejection found before reading.
pub fn rejected_unread(name: &str, dataset: &Dataset, key: &str, problems: Vec<Problem>) -> Report {
    Report {
        verdict: Verdict::Invalid,
        dataset: name.to_string(),
        key: key.to_string(),
        format: dataset.format,
        bytes_read: 0,
        rows: 0,
        problems,
        stopped_early: false,
        unchecked: Vec::new(),
    }
}

/// Receives each data row that passed every check, while the engine validates. Curation builds
/// its columns from it, so the rows curated are exactly the rows validated, under the same
/// rules (header, delimiter, nulls, BOM, CRLF, quotes, gzip) in the same single pass.
///
/// A method returns true to stop reading (the sink failed and keeps its own error); the report
/// then ends early, so a caller must look at the sink's error before the report.
pub trait RowSink {
    /// A CSV/TSV data row.
    fn text_row(&mut self, row: &TextRow<'_>) -> bool;
    /// A JSON Lines row: the object, every declared field of the right JSON type or null.
    fn json_row(&mut self, obj: &serde_json::Map<String, serde_json::Value>) -> bool;
}

/// The sink of plain validation: rows are checked, then forgotten.
pub struct NoRows;

impl RowSink for NoRows {
    #[inline]
    fn text_row(&mut self, _: &TextRow<'_>) -> bool {
        false
    }
    #[inline]
    fn json_row(&mut self, _: &serde_json::Map<String, serde_json::Value>) -> bool {
        false
    }
}

/// Validates the content of a CSV, TSV or JSON Lines object from a reader, streaming.
///
/// `key` decides gzip (with `compression: auto`) and is quoted in the report. Parquet is not
/// read this way (see [`parquet_tail`]); asking for it is a [`SourceError`].
pub fn validate_stream<R: Read>(
    name: &str,
    dataset: &Dataset,
    key: &str,
    max_problems: usize,
    source: R,
) -> Result<Report, SourceError> {
    validate_stream_into(name, dataset, key, max_problems, source, &mut NoRows)
}

/// [`validate_stream`], handing every valid row to `sink` as it goes.
pub fn validate_stream_into<R: Read, S: RowSink>(
    name: &str,
    dataset: &Dataset,
    key: &str,
    max_problems: usize,
    source: R,
    sink: &mut S,
) -> Result<Report, SourceError> {
    if dataset.format == Format::Parquet {
        // A caller error, not the file's: answer it as a failed read, never with a verdict.
        return Err(SourceError {
            bytes_read: 0,
            source: std::io::Error::other(
                "Parquet is checked by its footer (parquet_tail), not streamed",
            ),
        });
    }
    let mut problems = Problems::new(max_problems);
    let (rows, bytes_read) =
        stream::run(dataset, key, source, &mut problems, |r, p| {
            match dataset.format {
                Format::Csv | Format::Tsv => csv::check(r, dataset, p, sink),
                Format::Jsonl => jsonl::check(r, dataset, p, sink),
                Format::Parquet => unreachable!("returned above"),
            }
        })?;
    Ok(finish(name, dataset, key, bytes_read, rows, problems))
}

pub(crate) fn finish(
    name: &str,
    dataset: &Dataset,
    key: &str,
    bytes_read: u64,
    rows: u64,
    problems: Problems,
) -> Report {
    let mut problems = problems;
    // The count is the file's only when it was read to the end: no stop at the problem limit,
    // no unreadable content (those are the problems without a line).
    let complete = !problems.full() && problems.list.iter().all(|p| p.line.is_some());
    for p in rules::rows_problems(dataset, rows, complete) {
        problems.push(p);
    }
    let stopped_early = problems.full();
    redact(dataset, &mut problems.list);
    Report {
        verdict: if problems.list.is_empty() {
            Verdict::Valid
        } else {
            Verdict::Invalid
        },
        dataset: name.to_string(),
        key: key.to_string(),
        format: dataset.format,
        bytes_read,
        rows,
        problems: problems.list,
        stopped_early,
        unchecked: Vec::new(),
    }
}

/// Drops the values of problems in columns whose values may not be shown (`sensitive`,
/// `lake.redact_values`), saying so.
pub(crate) fn redact(dataset: &Dataset, problems: &mut [Problem]) {
    for p in problems {
        if p.value.is_some() && !dataset.shows_value(p.column.as_deref()) {
            p.value = None;
            p.message.push_str(" (value not shown: sensitive)");
        }
    }
}

/// The dataset's `partition_freshness` rule against the key's `{date}`: a problem when the
/// partition is after `today` or more than `max_age_days` before it. `today` is days since
/// 1970-01-01 (UTC), given by the caller (the handler's clock, or the command line's): the
/// engine never reads a clock. Judged on arrival only: curation, which may run later, does not
/// re-judge it.
pub fn partition_problem(dataset: &Dataset, m: &KeyMatch, today: i32) -> Option<Problem> {
    let f = dataset.partition_freshness?;
    let date = m.date.as_deref()?;
    let day = crate::types::parse_date(date.as_bytes())?;
    let age = i64::from(today) - i64::from(day);
    let message = if age < 0 {
        format!(
            "partition date {date} is {} day(s) in the future (partition_freshness: today is {})",
            -age,
            day_text(today)
        )
    } else if age > i64::from(f.max_age_days) {
        format!(
            "partition date {date} is {age} days old, older than partition_freshness.max_age_days {} (today is {})",
            f.max_age_days,
            day_text(today)
        )
    } else {
        return None;
    };
    Some(Problem::object(ProblemCode::PartitionFreshness, message))
}

/// The `checksum:` rule on arrival: `stored` is the algorithm of the checksum S3 keeps for the
/// object (`None`: none). S3 verified it against the bytes at upload, so its presence is what
/// the rule needs; a file checked before upload (`lakeline validate`) cannot be judged.
pub fn checksum_problem(dataset: &Dataset, stored: Option<&str>) -> Option<Problem> {
    let crate::registry::ChecksumRule::Sha256 = dataset.checksum?;
    if stored == Some("SHA256") {
        return None;
    }
    let had = match stored {
        Some(a) => format!("only a {a} checksum (S3's own, or another algorithm)"),
        None => "no checksum".to_string(),
    };
    Some(Problem::object(
        ProblemCode::Checksum,
        format!(
            "the upload carries {had}; this dataset requires checksum: sha256, an x-amz-checksum-sha256 that S3 verifies on upload (aws s3 cp --checksum-algorithm SHA256, or the SDKs' ChecksumAlgorithm SHA256)"
        ),
    ))
}

/// Days since 1970-01-01 of a Unix time in seconds: "today" for [`partition_problem`].
pub fn day_of_unix_seconds(secs: i64) -> i32 {
    i32::try_from(secs.div_euclid(86_400)).unwrap_or(i32::MAX)
}

/// `YYYY-MM-DD` of days since 1970-01-01 (the day itself when out of the calendar's range).
pub fn day_text(day: i32) -> String {
    chrono::NaiveDate::default()
        .checked_add_signed(chrono::TimeDelta::days(i64::from(day)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| day.to_string())
}

/// Everything a key told us, for callers that route keys (kept here so the CLI and the Lambda
/// build the same report from a key mismatch).
pub fn key_problem(why: &str, pattern: &str) -> Problem {
    Problem::object(
        ProblemCode::KeyPattern,
        format!("key does not follow the dataset pattern {pattern}: {why}"),
    )
}

/// The partition label of a matched key, e.g. `dt=2026-11-25` (or `-` when there is none).
pub fn partition_label(m: &KeyMatch) -> &str {
    if m.partition.is_empty() {
        "-"
    } else {
        &m.partition
    }
}

#[cfg(test)]
mod checksum_tests {
    use super::*;
    use crate::registry::Registry;

    /// (the dataset's rule, the stored checksum, refused?).
    #[test]
    fn checksum_rule_on_arrival() {
        let yaml = |rule: &str| {
            format!("version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/dt={{date}}/{{file}}\n    format: csv\n{rule}    columns:\n      - {{name: id, type: int}}\n")
        };
        let cases = [
            ("    checksum: sha256\n", None, true),
            ("    checksum: sha256\n", Some("CRC64NVME"), true),
            ("    checksum: sha256\n", Some("SHA256"), false),
            ("", None, false),
            ("", Some("CRC32"), false),
        ];
        for (rule, stored, refused) in cases {
            let reg = Registry::from_yaml(&yaml(rule), "r.yaml").unwrap();
            let (_, ds) = reg.dataset("orders").unwrap();
            let p = checksum_problem(ds, stored);
            assert_eq!(p.is_some(), refused, "{rule:?} {stored:?}");
            if let Some(p) = p {
                assert_eq!(p.code.as_str(), "checksum");
                assert!(p.message.contains("x-amz-checksum-sha256"), "{}", p.message);
            }
        }
        assert!(Registry::from_yaml(&yaml("    checksum: md5\n"), "r.yaml").is_err());
    }
}
