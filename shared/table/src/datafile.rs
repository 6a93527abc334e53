//! An Iceberg `DataFile` from a Parquet footer: the statistics a table's manifests carry for
//! each file (rows, size, per-column sizes, value and null counts, lower and upper bounds).
//!
//! iceberg-rust builds these only for files its own writer wrote (the footer reader is
//! crate-private); lakeline writes data files with the curate encoder, so it reads the footer
//! it wrote. Columns are matched by their Parquet field id, so a file written under an older
//! schema is described correctly. A bound is kept only when the footer's statistic is exact:
//! a truncated string bound would claim a range the file does not have.

use std::collections::HashMap;

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, PrimitiveType, Schema,
    Struct,
};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

use crate::Error;

/// Where a data file is and what it holds beyond its footer.
pub struct FileFacts {
    /// The file's location as the table records it (`file://…`, `s3://…`).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its partition value (empty for an unpartitioned table).
    pub partition: Struct,
    /// The partition spec it was written under.
    pub spec_id: i32,
    /// Whether a statistic the footer does not flag as exact is whole anyway: true for
    /// parquet-mr 1.12 and later (Spark's writer), which writes column-chunk statistics
    /// untruncated and never writes the exactness flag ([`untagged_statistics_are_exact`]).
    pub untagged_exact: bool,
}

/// Whether a Parquet writer's column-chunk statistics are whole although it does not flag
/// them exact, from the footer's `created_by`: parquet-mr 1.12 and later truncate only the
/// column index (`parquet.columnindex.truncate.length`), not the chunk statistics
/// (`parquet.statistics.truncate.length` defaults to unlimited), and predate the flag.
pub fn untagged_statistics_are_exact(created_by: Option<&str>) -> bool {
    let Some(rest) = created_by.and_then(|c| c.strip_prefix("parquet-mr version ")) else {
        return false;
    };
    let mut v = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    matches!((v.next(), v.next()), (Some(major), Some(minor)) if major > 1 || (major == 1 && minor >= 12))
}

/// The `DataFile` of a Parquet file whose footer holds `row_groups`, described against
/// `schema`.
pub fn from_footer(
    schema: &Schema,
    row_groups: &[RowGroupMetaData],
    facts: FileFacts,
) -> Result<DataFile, Error> {
    let mut column_sizes: HashMap<i32, u64> = HashMap::new();
    let mut value_counts: HashMap<i32, u64> = HashMap::new();
    let mut null_counts: HashMap<i32, u64> = HashMap::new();
    let mut lower: HashMap<i32, Datum> = HashMap::new();
    let mut upper: HashMap<i32, Datum> = HashMap::new();
    for rg in row_groups {
        for col in rg.columns() {
            let info = col.column_descr().self_type().get_basic_info();
            if !info.has_id() {
                continue; // not a table column
            }
            let id = info.id();
            let Some(pt) = schema
                .field_by_id(id)
                .and_then(|f| f.field_type.as_primitive_type())
            else {
                continue;
            };
            *column_sizes.entry(id).or_default() += col.compressed_size() as u64;
            *value_counts.entry(id).or_default() += col.num_values() as u64;
            let Some(st) = col.statistics() else { continue };
            if let Some(n) = st.null_count_opt() {
                *null_counts.entry(id).or_default() += n;
            }
            if st.min_is_exact() || facts.untagged_exact {
                if let Some(d) = datum(pt, st, true)? {
                    match lower.get(&id) {
                        Some(cur) if *cur <= d => {}
                        _ => {
                            lower.insert(id, d);
                        }
                    }
                }
            }
            if st.max_is_exact() || facts.untagged_exact {
                if let Some(d) = datum(pt, st, false)? {
                    match upper.get(&id) {
                        Some(cur) if *cur >= d => {}
                        _ => {
                            upper.insert(id, d);
                        }
                    }
                }
            }
        }
    }
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(facts.path)
        .file_format(DataFileFormat::Parquet)
        .partition(facts.partition)
        .partition_spec_id(facts.spec_id)
        .record_count(row_groups.iter().map(|rg| rg.num_rows() as u64).sum())
        .file_size_in_bytes(facts.size)
        .column_sizes(column_sizes)
        .value_counts(value_counts)
        .null_value_counts(null_counts)
        .lower_bounds(lower)
        .upper_bounds(upper)
        .split_offsets(Some(
            row_groups
                .iter()
                .filter_map(|rg| rg.file_offset())
                .collect(),
        ))
        .build()
        .map_err(|e| Error::Catalog(format!("describing data file: {e}")))
}

/// A footer statistic as an Iceberg bound. Parquet's plain encoding of an int, date, long,
/// timestamp or string statistic is Iceberg's single-value binary form already.
fn datum(pt: &PrimitiveType, st: &Statistics, min: bool) -> Result<Option<Datum>, Error> {
    let bytes = if min {
        st.min_bytes_opt()
    } else {
        st.max_bytes_opt()
    };
    let Some(bytes) = bytes else { return Ok(None) };
    // A decimal's bound is its unscaled value big-endian in Iceberg; Parquet keeps one of
    // up to 18 digits as a little-endian INT32/INT64 (a wider one is big-endian already).
    let widened;
    let bytes = match (pt, st) {
        (PrimitiveType::Decimal { .. }, Statistics::Int32(_) | Statistics::Int64(_)) => {
            let mut le = [0u8; 8];
            let n = bytes.len().min(8);
            le[..n].copy_from_slice(&bytes[..n]);
            let v = if n == 4 {
                i64::from(i32::from_le_bytes([le[0], le[1], le[2], le[3]]))
            } else {
                i64::from_le_bytes(le)
            };
            widened = v.to_be_bytes();
            &widened[..]
        }
        _ => bytes,
    };
    Datum::try_from_bytes(bytes, pt.clone())
        .map(Some)
        .map_err(|e| Error::Catalog(format!("a column bound of type {pt}: {e}")))
}

/// The statistics of a data file another engine wrote, by its footer `meta`, described against
/// `table`'s current schema (no location, size or partition: for checking its columns' bounds
/// and nulls before it is copied into the table).
pub fn footer_statistics(
    table: &iceberg::table::Table,
    shown: &str,
    meta: &parquet::file::metadata::ParquetMetaData,
    untagged_exact: bool,
) -> Result<DataFile, Error> {
    from_footer(
        table.metadata().current_schema(),
        meta.row_groups(),
        FileFacts {
            path: shown.to_string(),
            size: 0,
            partition: iceberg::spec::Struct::empty(),
            spec_id: 0,
            untagged_exact,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::untagged_statistics_are_exact as exact;

    #[test]
    fn parquet_mr_from_1_12_writes_whole_statistics_without_the_flag() {
        for (created_by, want) in [
            (
                Some("parquet-mr version 1.13.1 (build db4183109d5b734ec5930d870cdae161e408ddba)"),
                true,
            ),
            (
                Some("parquet-mr version 1.12.3 (build f8dced182c4c1fbdec6ccb3185537b5a01e6ed6b)"),
                true,
            ),
            (Some("parquet-mr version 2.0.0"), true),
            (
                Some("parquet-mr version 1.11.1 (build 765bd5cd7fdef2af1cecd0755000694b992bfadd)"),
                false,
            ),
            (Some("parquet-mr version 1.10.1"), false),
            (Some("parquet-rs version 58.4.1"), false),
            (Some("parquet-cpp-arrow version 21.0.0"), false),
            (None, false),
        ] {
            assert_eq!(exact(created_by), want, "{created_by:?}");
        }
    }
}
