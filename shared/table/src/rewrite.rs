//! Rewriting a table's data files: live files read back in the table's current schema
//! (iceberg-rust's Arrow reader, which maps a file written under an older schema by field id),
//! the rows a filter keeps written as new data files of about a target size, a row group at a
//! time. Compaction (keep every row, fewer files), undo and erase (keep the rows that are not
//! the source's or the request's) and the replacement of a key whose old rows sit in a
//! compacted file are all rewrites; each is published as one snapshot that swaps the inputs
//! for the outputs (`commit`).
//!
//! Memory is bounded by one reader batch and the writer's row group in progress: the output
//! goes to storage (the table's FileIO: S3, a table bucket or a local directory) each time
//! the encoded bytes pass [`FLUSH_BYTES`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch, StringArray};
use futures_util::{StreamExt, TryStreamExt};
use iceberg::io::FileWrite;
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataFile, Struct};
use iceberg::table::Table;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::datafile::{self, FileFacts};
use crate::Error;
use lakeline_core::table::{SOURCE_COLUMN, VERSION_COLUMN};

/// Encoded bytes held before they go to storage.
pub const FLUSH_BYTES: usize = 8 << 20;
/// Rows per batch read back.
const BATCH_ROWS: usize = 8192;

/// Which rows of a batch to keep.
pub type Keep<'a> = &'a (dyn Fn(&RecordBatch) -> Result<BooleanArray, Error> + Sync);

/// What a rewrite read and wrote.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// The new data files (not yet in the table).
    pub files: Vec<DataFile>,
    /// Rows read, per input path.
    pub rows_in: BTreeMap<String, u64>,
    /// Rows dropped by the filter, per input path.
    pub rows_dropped: BTreeMap<String, u64>,
}

impl Rewritten {
    /// Rows written.
    pub fn rows_out(&self) -> u64 {
        self.files.iter().map(|f| f.record_count()).sum()
    }
}

/// The scan tasks of `paths`, live data files of `table`'s current snapshot (of partition
/// `date`, for a dated table: only the manifests that may hold it are read), projecting
/// `columns` (all when `None`; in the schema's order, see `erase`).
async fn tasks_of(
    table: &Table,
    paths: &HashSet<&str>,
    columns: Option<&[&str]>,
    date: Option<i32>,
) -> Result<Vec<FileScanTask>, Error> {
    let mut scan = match columns {
        Some(c) => table.scan().select(c.iter().copied()),
        None => table.scan().select_all(),
    };
    let dated = date.filter(|_| {
        table
            .metadata()
            .current_schema()
            .field_by_name(lakeline_core::table::DATE_COLUMN)
            .is_some()
    });
    if let Some(d) = dated {
        scan = scan.with_filter(
            iceberg::expr::Reference::new(lakeline_core::table::DATE_COLUMN)
                .equal_to(iceberg::spec::Datum::date(d)),
        );
    }
    let tasks: Vec<FileScanTask> = scan
        .build()?
        .plan_files()
        .await?
        .try_filter(|t| futures_util::future::ready(paths.contains(t.data_file_path.as_str())))
        .map_ok(|mut t| {
            // The filter is for pruning manifests: every row of a task is read.
            t.predicate = None;
            t
        })
        .try_collect()
        .await?;
    if tasks.len() != paths.len() {
        let found: HashSet<&str> = tasks.iter().map(|t| t.data_file_path.as_str()).collect();
        let missing: Vec<&&str> = paths.iter().filter(|p| !found.contains(**p)).collect();
        return Err(Error::Catalog(format!(
            "table {}: {missing:?} are not live data files of its current snapshot",
            table.identifier()
        )));
    }
    Ok(tasks)
}

/// The batches of one scan task.
async fn read_task(
    table: &Table,
    task: FileScanTask,
) -> Result<impl futures_util::Stream<Item = Result<RecordBatch, Error>>, Error> {
    let reader = table
        .reader_builder()
        .with_batch_size(BATCH_ROWS)
        .with_data_file_concurrency_limit(1)
        .build();
    let tasks = futures_util::stream::iter([Ok(task)]).boxed();
    Ok(reader.read(tasks)?.stream().map(|b| b.map_err(Error::from)))
}

/// For each of `paths`, how many of its rows are of raw key `source`, and at which versions:
/// only the two lineage columns are read (dictionary-encoded, a small part of a file). Files a
/// manifest cannot rule out (a compacted file's source bounds span many keys) are settled here.
pub async fn source_rows(
    table: &Table,
    paths: &[String],
    source: &str,
    date: Option<i32>,
) -> Result<BTreeMap<String, BTreeMap<String, u64>>, Error> {
    let set: HashSet<&str> = paths.iter().map(String::as_str).collect();
    let mut out = BTreeMap::new();
    for task in tasks_of(table, &set, Some(&[SOURCE_COLUMN, VERSION_COLUMN]), date).await? {
        let path = task.data_file_path.clone();
        let mut versions: BTreeMap<String, u64> = BTreeMap::new();
        let mut batches = Box::pin(read_task(table, task).await?);
        while let Some(b) = batches.next().await {
            let b = b?;
            let (src, ver) = (lineage(&b, SOURCE_COLUMN)?, lineage(&b, VERSION_COLUMN)?);
            for i in 0..b.num_rows() {
                if src.is_valid(i) && src.value(i) == source {
                    let v = if ver.is_valid(i) { ver.value(i) } else { "" };
                    *versions.entry(v.to_string()).or_default() += 1;
                }
            }
        }
        out.insert(path, versions);
    }
    Ok(out)
}

/// A lineage column of a batch read back, as strings.
pub fn lineage<'b>(b: &'b RecordBatch, name: &str) -> Result<&'b StringArray, Error> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| Error::Schema(format!("a data file read back has no string column {name}")))
}

/// Keeps the rows whose `_lakeline_source` is not `source`.
pub fn without_source(
    source: &str,
) -> impl Fn(&RecordBatch) -> Result<BooleanArray, Error> + Sync + '_ {
    move |b| {
        let src = lineage(b, SOURCE_COLUMN)?;
        Ok((0..b.num_rows())
            .map(|i| Some(!(src.is_valid(i) && src.value(i) == source)))
            .collect())
    }
}

/// Keeps the rows that are not of `source` at upload version `upload` (any reprocess pass of
/// it: [`lakeline_core::table::upload_version`]).
pub fn without_upload<'a>(
    source: &'a str,
    upload: &'a str,
) -> impl Fn(&RecordBatch) -> Result<BooleanArray, Error> + Sync + 'a {
    move |b| {
        let src = lineage(b, SOURCE_COLUMN)?;
        let ver = lineage(b, VERSION_COLUMN)?;
        Ok((0..b.num_rows())
            .map(|i| {
                let of_upload = src.is_valid(i)
                    && src.value(i) == source
                    && ver.is_valid(i)
                    && lakeline_core::table::upload_version(ver.value(i)) == upload;
                Some(!of_upload)
            })
            .collect())
    }
}

/// The writer settings of a rewritten data file: those of curate's table files (zstd, page
/// statistics kept whole, so the lineage bounds stay exact).
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(lakeline_core::curate::ZSTD_LEVEL).expect("valid zstd level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_statistics_truncate_length(None)
        .set_max_row_group_row_count(Some(lakeline_core::curate::ROW_GROUP_ROWS))
        .build()
}

/// One output file being written.
struct Output {
    path: String,
    writer: ArrowWriter<Vec<u8>>,
    sink: Box<dyn FileWrite>,
    size: u64,
}

impl Output {
    /// Closes the file and describes it from its footer.
    async fn finish(
        mut self,
        schema: &iceberg::spec::Schema,
        partition: &Struct,
        spec_id: i32,
    ) -> Result<DataFile, Error> {
        let footer = self
            .writer
            .finish()
            .map_err(|e| Error::Catalog(format!("writing {}: {e}", self.path)))?;
        self.drain().await?;
        self.sink.close().await?;
        datafile::from_footer(
            schema,
            footer.row_groups(),
            FileFacts {
                path: self.path,
                size: self.size,
                partition: partition.clone(),
                spec_id,
                untagged_exact: false,
            },
        )
    }

    async fn drain(&mut self) -> Result<(), Error> {
        let bytes = std::mem::take(self.writer.inner_mut());
        if !bytes.is_empty() {
            self.size += bytes.len() as u64;
            self.sink.write(bytes.into()).await?;
        }
        Ok(())
    }
}

/// Rewrites `inputs` (live data files of `table`, all of one partition `partition` under spec
/// `spec_id`) into new data files of about `target_size` bytes, keeping the rows `keep` keeps,
/// in the inputs' order. Output files are written under `<table>/data/…`; on error, those
/// already written are returned in the error path's cleanup by the caller (their paths are
/// in [`Rewritten::files`] only on success, so a failed rewrite deletes its own here).
pub async fn rewrite(
    table: &Table,
    inputs: &[String],
    partition: &Struct,
    spec_id: i32,
    date: Option<i32>,
    keep: Keep<'_>,
    target_size: u64,
) -> Result<Rewritten, Error> {
    let mut done = Rewritten::default();
    let mut written: Vec<String> = Vec::new();
    let result = rewrite_into(
        table,
        inputs,
        partition,
        spec_id,
        date,
        keep,
        target_size,
        &mut done,
        &mut written,
    )
    .await;
    if let Err(e) = result {
        for p in &written {
            let _ = table.file_io().delete(p).await;
        }
        return Err(e);
    }
    Ok(done)
}

#[allow(clippy::too_many_arguments)]
async fn rewrite_into(
    table: &Table,
    inputs: &[String],
    partition: &Struct,
    spec_id: i32,
    date: Option<i32>,
    keep: Keep<'_>,
    target_size: u64,
    done: &mut Rewritten,
    written: &mut Vec<String>,
) -> Result<(), Error> {
    let md = table.metadata();
    let schema = md.current_schema().clone();
    let arrow = Arc::new(iceberg::arrow::schema_to_arrow_schema(&schema)?);
    let set: HashSet<&str> = inputs.iter().map(String::as_str).collect();
    let mut tasks = tasks_of(table, &set, None, date).await?;
    // In the inputs' order, so a rewrite of the same plan writes the same rows in order.
    tasks.sort_by_key(|t| inputs.iter().position(|p| *p == t.data_file_path));
    let mut out: Option<Output> = None;
    for task in tasks {
        let path = task.data_file_path.clone();
        let mut batches = Box::pin(read_task(table, task).await?);
        while let Some(b) = batches.next().await {
            let b = b?;
            *done.rows_in.entry(path.clone()).or_default() += b.num_rows() as u64;
            let mask = keep(&b)?;
            let kept = arrow_select::filter::filter_record_batch(&b, &mask)
                .map_err(|e| Error::Catalog(format!("filtering {path}: {e}")))?;
            *done.rows_dropped.entry(path.clone()).or_default() +=
                (b.num_rows() - kept.num_rows()) as u64;
            if kept.num_rows() == 0 {
                continue;
            }
            let kept =
                RecordBatch::try_new(arrow.clone(), kept.columns().to_vec()).map_err(|e| {
                    Error::Schema(format!(
                        "{path} read back does not match the table's schema: {e}"
                    ))
                })?;
            if out.is_none() {
                let uri = crate::write::data_file_uri(table, date);
                let sink = table.file_io().new_output(&uri)?.writer().await?;
                written.push(uri.clone());
                let writer =
                    ArrowWriter::try_new(Vec::new(), arrow.clone(), Some(writer_properties()))
                        .map_err(|e| Error::Catalog(format!("writing {uri}: {e}")))?;
                out = Some(Output {
                    path: uri,
                    writer,
                    sink,
                    size: 0,
                });
            }
            let o = out.as_mut().expect("set above");
            o.writer
                .write(&kept)
                .map_err(|e| Error::Catalog(format!("writing {}: {e}", o.path)))?;
            if o.writer.inner_mut().len() >= FLUSH_BYTES {
                o.drain().await?;
            }
            if (o.writer.bytes_written() + o.writer.in_progress_size()) as u64 >= target_size {
                let o = out.take().expect("set above");
                done.files
                    .push(o.finish(&schema, partition, spec_id).await?);
            }
        }
    }
    if let Some(o) = out.take() {
        done.files
            .push(o.finish(&schema, partition, spec_id).await?);
    }
    Ok(())
}
