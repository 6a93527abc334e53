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
            if st.min_is_exact() {
                if let Some(d) = datum(pt, st, true)? {
                    match lower.get(&id) {
                        Some(cur) if *cur <= d => {}
                        _ => {
                            lower.insert(id, d);
                        }
                    }
                }
            }
            if st.max_is_exact() {
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
    Datum::try_from_bytes(bytes, pt.clone())
        .map(Some)
        .map_err(|e| Error::Catalog(format!("a column bound of type {pt}: {e}")))
}
