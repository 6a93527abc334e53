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
