//! What a dataset's Apache Iceberg table looks like, decided from the registry: the columns
//! lakeline adds to every row (lineage and the partition date). Its name is
//! [`crate::registry::DatasetName::table_name`]. The table layer (`lakeline-table`) turns these into Iceberg metadata and commits;
//! [`crate::curate`] writes data files of this shape ([`crate::curate::TableShape`]).
//!
//! Every row carries where it came from, so a delivery is found, replaced or undone from the
//! table alone:
//! - [`SOURCE_COLUMN`] `_lakeline_source`: the raw key the row was curated from;
//! - [`VERSION_COLUMN`] `_lakeline_version`: the upload's version (S3 version id, else ETag;
//!   locally the content's SHA-256);
//! - [`DATE_COLUMN`] `_lakeline_date`: the key's `{date}`, the table's identity partition (only
//!   for datasets whose key pattern has a `{date}`; others are unpartitioned).
//!
//! A data file holds the rows of one delivery, so these columns are constant within it, and
//! the file's column bounds (kept untruncated) name its delivery.

use arrow_schema::DataType;

use crate::registry::Dataset;

/// The raw key a row was curated from.
pub const SOURCE_COLUMN: &str = "_lakeline_source";
/// The version of the upload a row was curated from.
pub const VERSION_COLUMN: &str = "_lakeline_version";
/// The key's `{date}`, the identity partition of a dated dataset's table.
pub const DATE_COLUMN: &str = "_lakeline_date";
/// The Parquet field metadata key Iceberg readers map columns by.
pub const FIELD_ID_KEY: &str = "PARQUET:field_id";

/// What separates an upload's version from the rules pass that re-curated it in
/// [`VERSION_COLUMN`]: `<version>+rules.<hash12>`.
pub const PASS_SEPARATOR: &str = "+rules.";

/// The version recorded for a delivery: the upload's own, or, when `lakeline reprocess`
/// re-curated it under the dataset's rules `pass` (the first 12 hex digits of
/// [`Dataset::rules_hash`]), the upload's version followed by the pass. Rows re-curated under
/// other rules are then of another version, and are replaced in one snapshot; a second pass
/// under the same rules finds its rows there and adds nothing.
pub fn delivery_version(upload: &str, pass: Option<&str>) -> String {
    match pass {
        Some(p) => format!("{upload}{PASS_SEPARATOR}{p}"),
        None => upload.to_string(),
    }
}

/// The upload's version of a recorded [`delivery_version`] (the pass taken off).
pub fn upload_version(recorded: &str) -> &str {
    recorded
        .split_once(PASS_SEPARATOR)
        .map_or(recorded, |(v, _)| v)
}

/// Whether rows recorded at version `held` are what a delivery at version `wanted` would
/// write: the same version, or, for a plain delivery (an upload's own event, redelivered),
/// rows of the same upload that a reprocess pass re-curated since (that pass ran under newer
/// rules: the redelivery must not take them back).
pub fn covers(held: &str, wanted: &str) -> bool {
    held == wanted || (!wanted.contains(PASS_SEPARATOR) && upload_version(held) == wanted)
}

/// The columns lakeline adds to every row of `ds`'s table, in order, with their Arrow types.
pub fn added_columns(ds: &Dataset) -> Vec<(&'static str, DataType)> {
    let mut out = vec![
        (SOURCE_COLUMN, DataType::Utf8),
        (VERSION_COLUMN, DataType::Utf8),
    ];
    if ds.key_pattern.has_date() {
        out.push((DATE_COLUMN, DataType::Date32));
    }
    out
}

/// The lineage of one delivery: what the added columns hold in each of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// The raw key.
    pub source: String,
    /// The upload's version.
    pub version: String,
    /// The key's `{date}` as days since 1970-01-01, for a dated dataset.
    pub date: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (held, wanted, covered).
    #[test]
    fn versions_of_a_reprocess_pass_cover_their_upload_but_not_another_pass() {
        let v = delivery_version("abc", Some("0123456789ab"));
        assert_eq!(v, "abc+rules.0123456789ab");
        assert_eq!(upload_version(&v), "abc");
        assert_eq!(upload_version("abc"), "abc");
        let cases = [
            ("abc", "abc", true),
            ("abc", "abd", false),
            // The upload's own event again after a pass: the pass's rows stand.
            ("abc+rules.0123456789ab", "abc", true),
            ("abc+rules.0123456789ab", "abd", false),
            // A pass finds its own rows, and replaces the upload's or another pass's.
            ("abc+rules.0123456789ab", "abc+rules.0123456789ab", true),
            ("abc", "abc+rules.0123456789ab", false),
            ("abc+rules.ffffffffffff", "abc+rules.0123456789ab", false),
        ];
        for (held, wanted, want) in cases {
            assert_eq!(covers(held, wanted), want, "{held} covers {wanted}");
        }
    }
}
