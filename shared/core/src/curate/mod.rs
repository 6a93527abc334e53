//! Curation: one valid upload becomes one typed Parquet object.
//!
//! CSV, TSV and JSON Lines are converted *while they are validated*, in the same pass of the
//! same engine ([`crate::validate::validate_stream_into`]): every valid row goes to a
//! [`columns::Columns`] builder, full batches go to the `parquet` crate's encoder (`writer`),
//! and it streams into any [`Write`] (a local file, or the Lambda's multipart upload). So
//! the header, delimiter, null values, BOM, CRLF, quoting and gzip rules are validation's own,
//! memory holds one batch and one row group, and a file that turns out invalid is refused with
//! the same report validation gives.
//!
//! Parquet inputs are re-written to the declared schema ([`curate_batches`]): declared columns
//! in declared order, cast to the curated types with `arrow-cast`.
//!
//! Nothing here does I/O of its own; callers hand in readers and writers.

pub mod columns;
pub mod input;
mod shape;
mod writer;

pub use shape::TableShape;

use std::io::{Read, Write};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, RowGroupMetaData};
use parquet::file::properties::{
    EnabledStatistics, WriterProperties, WriterPropertiesBuilder, WriterVersion,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::registry::Dataset;
use crate::types::ColumnType;
use crate::validate::{self, Problem, ProblemCode, RowSink, TextRow, Verdict};
use crate::Error;
use writer::ParquetOut;

pub use columns::{schema, Columns};

/// Rows per Arrow batch handed to the writer: large enough that per-batch costs vanish, small
/// enough (a few MiB for typical rows) to be irrelevant for memory.
pub const BATCH_ROWS: usize = 64 * 1024;

/// Text bytes per Arrow batch: wide rows end a batch before [`BATCH_ROWS`] (40 KB rows would
/// otherwise make a 2.6 GB batch, past a string column's 32-bit offsets).
pub const BATCH_BYTES: usize = 64 << 20;

/// Rows per Parquet row group. One row group is buffered (encoded and compressed) before it is
/// written, so this bounds the writer's memory; 1 Mi rows is the parquet crate's default and
/// gives Athena/Spark row groups of tens of MiB for typical rows.
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;

/// Most encoded bytes one row group may buffer before it is written: wide rows get fewer rows
/// per group, so the writer's memory stays bounded whatever the row width.
pub const ROW_GROUP_BYTES: usize = 128 << 20;

/// zstd level of curated Parquet. Chosen by measurement (README, Performance): level 3 is
/// where output size stops shrinking faster than time grows.
pub const ZSTD_LEVEL: i32 = 3;

/// Where a curated object came from; written into its Parquet key/value metadata, so any
/// reader can trace a row back to the upload and the rules that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// `s3://bucket/key` of the raw upload (or a local path).
    pub source: String,
    /// The upload's ETag (or version id) that was read.
    pub source_version: String,
    /// The dataset.
    pub dataset: String,
    /// SHA-256 of the registry that decided the schema ([`crate::registry::Registry::content_hash`]).
    pub registry_sha256: String,
}

impl Provenance {
    fn key_value_metadata(&self) -> Vec<KeyValue> {
        vec![
            KeyValue::new("lakeline.source".into(), self.source.clone()),
            KeyValue::new(
                "lakeline.source_version".into(),
                self.source_version.clone(),
            ),
            KeyValue::new("lakeline.dataset".into(), self.dataset.clone()),
            KeyValue::new(
                "lakeline.registry_sha256".into(),
                self.registry_sha256.clone(),
            ),
        ]
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Curated {
    /// Rows written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: usize,
    /// The columns, with their declared types.
    pub columns: Vec<CuratedColumn>,
    /// Bytes of the input read (compressed bytes for gzip).
    pub bytes_read: u64,
    /// The row groups as the footer records them (sizes, counts, statistics): a table's
    /// `DataFile` is described from them without reading the file back.
    #[serde(skip)]
    pub footer: Arc<[RowGroupMetaData]>,
}

/// One column of a curated object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CuratedColumn {
    /// Name.
    pub name: String,
    /// Declared type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// The Parquet writer settings of curated (and compacted) objects, with `prov` in the footer.
///
/// - zstd at [`ZSTD_LEVEL`]: the best size/speed trade of the codecs every engine reads.
/// - dictionary encoding (the default) for every column: the parquet crate falls back to plain
///   per column chunk when a dictionary grows past its page limit, so unique columns pay
///   nothing; repeated strings, dates and amounts shrink a lot.
/// - page-level statistics (min/max/nulls): engines prune row groups and pages on them.
/// - Parquet 1.0 data pages, which every reader of the lake (Athena engine 2, older Spark)
///   reads.
pub fn writer_properties(ds: &Dataset, prov: &Provenance) -> WriterProperties {
    writer_builder(ds, prov).build()
}

/// The settings of a table's data file: those of [`writer_properties`], with statistics kept
/// whole. A long `_lakeline_source` cut to parquet's default 64 bytes would be inexact, and an
/// inexact bound is no bound to Iceberg: the delivery could not be found from the manifests.
pub fn table_writer_properties(ds: &Dataset, prov: &Provenance) -> WriterProperties {
    writer_builder(ds, prov)
        .set_statistics_truncate_length(None)
        .build()
}

fn writer_builder(ds: &Dataset, prov: &Provenance) -> WriterPropertiesBuilder {
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).expect("valid zstd level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_key_value_metadata(Some(prov.key_value_metadata()));
    // Integers and timestamps that do not fit a dictionary are mostly ordered ids and times:
    // delta encoding stores them in a few bits a value where plain needs eight bytes.
    for c in ds.columns.iter() {
        if matches!(c.ty, ColumnType::Int | ColumnType::Timestamp) {
            b = b.set_column_encoding(c.name.as_str().into(), Encoding::DELTA_BINARY_PACKED);
        }
    }
    b
}

/// The key of the curated object of one upload:
/// `<target prefix><file stem>-<12 hex of sha256(raw key)>.parquet`.
///
/// A pure function of the raw key, so a retry, a redelivery or a re-run writes the same key
/// (never a second object), and a later upload that replaces the raw object replaces its
/// curated object too. The hash keeps `a.csv` and `a.csv.gz` (or the same stem in two
/// folders) apart.
pub fn output_key(target_prefix: &str, raw_key: &str) -> String {
    let file = raw_key.rsplit('/').next().unwrap_or(raw_key);
    let stem = file.strip_suffix(".gz").unwrap_or(file);
    let stem = match stem.rfind('.') {
        Some(i) if i > 0 => &stem[..i],
        _ => stem,
    };
    let digest = Sha256::digest(raw_key.as_bytes());
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{target_prefix}{stem}-{hash}.parquet")
}

/// Where a Spark run stages the data files of one delivery for its dataset's table:
/// `_lakeline/staging/tables/<dataset>/<stem>-<hash>/<version>/` (stem and hash as in
/// [`output_key`], the version with every character outside `[A-Za-z0-9_.=-]` as `_`).
/// `jobs/curate.py` writes there (a table bucket refuses the listing Hadoop's committers need);
/// the pipeline's commit step reads there. Both sides follow this one rule.
pub fn staged_prefix(dataset: &str, raw_key: &str, version: &str) -> String {
    let stem = output_key("", raw_key);
    let stem = stem.strip_suffix(".parquet").unwrap_or(&stem);
    let safe: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '=' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{STAGING_TABLES}{dataset}/{stem}/{safe}/")
}

/// The prefix under which Spark runs stage tables' data files.
pub const STAGING_TABLES: &str = "_lakeline/staging/tables/";

/// The columns of the curated schema, for reports.
pub fn curated_columns(ds: &Dataset) -> Vec<CuratedColumn> {
    ds.columns
        .iter()
        .map(|c| CuratedColumn {
            name: c.name.clone(),
            ty: c.ty,
            nullable: !c.required,
        })
        .collect()
}

/// The row sink that feeds the writer.
struct Sink<W: Write + Send> {
    cols: Columns,
    /// A table's data file: the added columns appended to every batch.
    writer: ParquetOut<W>,
    written: u64,
    /// The first failure: a write error, or a value validation accepted and curation could not
    /// convert. Reading stops at it.
    failed: Option<Error>,
    /// Whether a value may appear in an error (no sensitive column, no lake-wide redaction).
    show_values: bool,
}

impl<W: Write + Send> Sink<W> {
    fn flush_batch(&mut self) -> bool {
        if self.cols.is_empty() {
            return false;
        }
        let n = self.cols.len() as u64;
        let res = self
            .cols
            .finish()
            .map_err(|e| Error::Output(format!("building a batch: {e}")))
            .and_then(|b| {
                self.writer
                    .write(&b)
                    .map_err(|e| Error::Output(format!("writing Parquet: {e}")))
            });
        match res {
            Ok(()) => {
                self.written += n;
                false
            }
            Err(e) => {
                self.failed = Some(e);
                true
            }
        }
    }

    fn after_push(&mut self, r: Result<(), columns::Unconvertible>, row: u64) -> bool {
        match r {
            Ok(()) if self.cols.full() => self.flush_batch(),
            Ok(()) => false,
            Err(u) => {
                let value = if self.show_values {
                    u.value
                } else {
                    "(not shown: sensitive)".into()
                };
                self.failed = Some(Error::Unconvertible {
                    row,
                    column: u.column,
                    value,
                });
                true
            }
        }
    }
}

impl<W: Write + Send> RowSink for Sink<W> {
    #[inline]
    fn text_row(&mut self, row: &TextRow<'_>) -> bool {
        let r = self.cols.push_text(|i| row.value(i));
        let n = self.written + self.cols.len() as u64 + 1;
        self.after_push(r, n)
    }

    fn json_row(&mut self, obj: &serde_json::Map<String, serde_json::Value>) -> bool {
        let r = self.cols.push_json(obj);
        let n = self.written + self.cols.len() as u64 + 1;
        self.after_push(r, n)
    }
}

/// Converts a CSV, TSV or JSON Lines object into Parquet written to `out`, validating it in
/// the same pass. Returns what was written and the writer, flushed and finished (the caller
/// commits it: renames a file, completes an upload).
///
/// An invalid file is [`Error::Invalid`] with validation's report: the caller must discard
/// what `out` received.
pub fn curate_stream<R: Read, W: Write + Send>(
    name: &str,
    ds: &Dataset,
    key: &str,
    max_problems: usize,
    source: R,
    out: W,
    prov: &Provenance,
) -> Result<(Curated, W), Error> {
    curate_stream_as(name, ds, key, max_problems, source, out, prov, None)
}

/// [`curate_stream`] into a table's data file of `shape`: the declared columns, then the
/// lineage (and partition) columns of one delivery, with Iceberg field ids and whole
/// statistics ([`table_writer_properties`]).
#[allow(clippy::too_many_arguments)] // curate_stream's arguments and the shape
pub fn curate_stream_as<R: Read, W: Write + Send>(
    name: &str,
    ds: &Dataset,
    key: &str,
    max_problems: usize,
    source: R,
    out: W,
    prov: &Provenance,
    shape: Option<&TableShape>,
) -> Result<(Curated, W), Error> {
    let cols = Columns::new(ds, BATCH_ROWS);
    let props = match shape {
        Some(_) => table_writer_properties(ds, prov),
        None => writer_properties(ds, prov),
    };
    let writer = ParquetOut::new(out, cols.schema().clone(), shape, props)
        .map_err(|e| Error::Output(format!("starting the Parquet writer: {e}")))?;
    let mut sink = Sink {
        cols,
        writer,
        written: 0,
        failed: None,
        show_values: ds.shows_value(None),
    };
    let report = validate::validate_stream_into(name, ds, key, max_problems, source, &mut sink)
        .map_err(Error::Source)?;
    if let Some(e) = sink.failed.take() {
        return Err(e);
    }
    if report.verdict == Verdict::Invalid {
        return Err(Error::Invalid(Box::new(report)));
    }
    if sink.flush_batch() {
        return Err(sink.failed.take().expect("flush failure is kept"));
    }
    let written = sink.written;
    if written != report.rows {
        return Err(Error::RowCount {
            expected: report.rows,
            written,
        });
    }
    finish(ds, sink.writer, written, report.bytes_read)
}

fn finish<W: Write + Send>(
    ds: &Dataset,
    writer: ParquetOut<W>,
    rows: u64,
    bytes_read: u64,
) -> Result<(Curated, W), Error> {
    let (groups, out) = writer
        .finish()
        .map_err(|e| Error::Output(format!("finishing the Parquet file: {e}")))?;
    Ok((
        Curated {
            rows,
            row_groups: groups.len(),
            columns: curated_columns(ds),
            bytes_read,
            footer: groups.into(),
        },
        out,
    ))
}

/// Re-writes the record batches of a Parquet input to the dataset's curated schema: the
/// declared columns, in declared order, cast to the curated types (INT32 → INT64, FLOAT →
/// DOUBLE, DECIMAL → DOUBLE, INT96 and milli/nano timestamps → microseconds UTC, …).
///
/// `key` names the input in errors. A declared column missing from a batch, or nulls in a
/// required column (which footer statistics may not show), make the file invalid.
pub fn curate_batches<I, W>(
    name: &str,
    ds: &Dataset,
    key: &str,
    batches: I,
    out: W,
    prov: &Provenance,
) -> Result<(Curated, W), Error>
where
    I: IntoIterator<Item = Result<RecordBatch, ArrowError>>,
    W: Write + Send,
{
    curate_batches_as(name, ds, key, batches, out, prov, None)
}

/// [`curate_batches`] into a table's data file of `shape` (see [`curate_stream_as`]).
pub fn curate_batches_as<I, W>(
    name: &str,
    ds: &Dataset,
    key: &str,
    batches: I,
    out: W,
    prov: &Provenance,
    shape: Option<&TableShape>,
) -> Result<(Curated, W), Error>
where
    I: IntoIterator<Item = Result<RecordBatch, ArrowError>>,
    W: Write + Send,
{
    let target = schema(ds);
    let props = match shape {
        Some(_) => table_writer_properties(ds, prov),
        None => writer_properties(ds, prov),
    };
    let mut writer = ParquetOut::new(out, target.clone(), shape, props)
        .map_err(|e| Error::Output(format!("starting the Parquet writer: {e}")))?;
    let mut rows = 0u64;
    for batch in batches {
        let batch = batch.map_err(|e| Error::Input(format!("reading Parquet {key}: {e}")))?;
        let batch = conform(name, ds, key, &target, &batch, rows)?;
        writer
            .write(&batch)
            .map_err(|e| Error::Output(format!("writing Parquet: {e}")))?;
        rows += batch.num_rows() as u64;
    }
    finish(ds, writer, rows, 0)
}

/// One input batch in the curated schema; `before` rows came earlier (for error positions).
fn conform(
    name: &str,
    ds: &Dataset,
    key: &str,
    target: &SchemaRef,
    batch: &RecordBatch,
    before: u64,
) -> Result<RecordBatch, Error> {
    let invalid = |column: &str, code, message: String| {
        let p = Problem {
            code,
            line: None,
            row: None,
            column: Some(column.to_string()),
            value: None,
            message,
        };
        Error::Invalid(Box::new(validate::rejected_unread(name, ds, key, vec![p])))
    };
    let mut arrays = Vec::with_capacity(target.fields().len());
    for (i, field) in target.fields().iter().enumerate() {
        let Some(col) = batch.column_by_name(field.name()) else {
            return Err(invalid(
                field.name(),
                ProblemCode::MissingColumn,
                "declared column is not in the file".into(),
            ));
        };
        if let arrow_schema::DataType::Decimal128(p, s) = field.data_type() {
            // Exact only from a decimal of the same scale and no more digits (validation
            // refuses the rest by the footer; this keeps curate from ever rounding).
            let exact = matches!(col.data_type(),
                arrow_schema::DataType::Decimal128(fp, fs) | arrow_schema::DataType::Decimal256(fp, fs)
                    if fs == s && fp <= p);
            if !exact {
                return Err(invalid(
                    field.name(),
                    ProblemCode::ParquetType,
                    format!(
                        "declared decimal({p},{s}), the file has {}: not converted exactly",
                        col.data_type()
                    ),
                ));
            }
        }
        let cast = arrow_cast::cast(col, field.data_type()).map_err(|e| {
            invalid(
                field.name(),
                ProblemCode::ParquetType,
                format!(
                    "cannot convert {} to {}: {e}",
                    col.data_type(),
                    field.data_type()
                ),
            )
        })?;
        let cast = match &ds.columns[i].default {
            Some(d) if cast.null_count() > 0 => with_default(ds, i, d, &cast)?,
            _ => cast,
        };
        if !field.is_nullable() && cast.null_count() > 0 {
            let first = (0..cast.len()).find(|&i| cast.is_null(i)).unwrap_or(0) as u64;
            return Err(invalid(
                field.name(),
                ProblemCode::ParquetNulls,
                format!(
                    "required column holds {} nulls, the first in row {}",
                    cast.null_count(),
                    before + first + 1
                ),
            ));
        }
        arrays.push(cast);
    }
    RecordBatch::try_new(target.clone(), arrays)
        .map_err(|e| Error::Output(format!("building a batch: {e}")))
}

/// `values` (column `i` of `ds`, in the curated type) with its nulls replaced by the column's
/// `default` text, converted as a text value of the column is.
fn with_default(
    ds: &Dataset,
    i: usize,
    default: &str,
    values: &arrow_array::ArrayRef,
) -> Result<arrow_array::ArrayRef, Error> {
    let mut one = Columns::new(ds, 1);
    one.push_text(|j| (j == i).then_some(default.as_bytes()))
        .map_err(|u| Error::Output(format!("the default of {}: {}", u.column, u.value)))?;
    let row = one
        .finish()
        .map_err(|e| Error::Output(format!("building a default: {e}")))?;
    let nulls =
        arrow_array::BooleanArray::from_iter((0..values.len()).map(|k| Some(values.is_null(k))));
    arrow_select::zip::zip(
        &nulls,
        &arrow_array::Scalar::new(row.column(i).clone()),
        values,
    )
    .map_err(|e| {
        Error::Output(format!(
            "filling the default of {}: {e}",
            ds.columns[i].name
        ))
    })
}

#[cfg(test)]
mod tests;
