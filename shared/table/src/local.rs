//! A local file into a table: validated and curated in one pass (the curate Lambda's engine),
//! written as a data file into the table's own location, described from its footer, and
//! committed as one delivery. For the command line (`lakeline table append`) and the tests.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iceberg::table::Table;
use lakeline_core::curate::{self, Provenance, TableShape};
use lakeline_core::registry::{Dataset, DatasetName, Format, Registry};
use lakeline_core::table::Lineage;
use lakeline_core::validate;
use parquet::file::metadata::{ParquetMetaDataReader, RowGroupMetaData};
use sha2::{Digest, Sha256};

use crate::commit::{already_committed, Delivery, Outcome};
use crate::datafile;
use crate::schema::write_ids;
use crate::sync::table_for_append;
use crate::write::{check_staged, commit_written, data_file_uri, Written};
use crate::{Error, Tables};

/// One local file to append.
pub struct Append<'a> {
    /// The file.
    pub file: &'a Path,
    /// The raw key it stands for (it decides the partition date, gzip and the lineage).
    pub key: &'a str,
    /// Its version; default: the SHA-256 of its bytes, so the same bytes are the same delivery.
    pub version: Option<&'a str>,
    /// Recorded in the snapshot as the committing execution.
    pub execution: Option<&'a str>,
}

/// What an append did.
#[derive(Debug)]
pub enum Appended {
    /// The file is invalid for its dataset: nothing was committed. The report says why.
    Invalid(Box<validate::Report>),
    /// Committed, or already committed.
    Done {
        /// The outcome.
        outcome: Outcome,
        /// The delivery's version.
        version: String,
        /// The table's metadata file after the commit.
        metadata_location: String,
    },
}

/// The partition date (days since 1970-01-01) of raw key `key` of dataset `ds`: its `{date}`,
/// `None` for a dataset whose key has none. A key the dataset's pattern does not match is an
/// error naming the pattern.
pub fn key_date(ds: &Dataset, key: &str) -> Result<Option<i32>, Error> {
    let m = ds.key_pattern.matches(key).map_err(|why| {
        Error::Schema(format!(
            "{key} does not match the dataset's key pattern {}: {}",
            ds.key_pattern.as_str(),
            why.0
        ))
    })?;
    m.date
        .map(|d| {
            lakeline_core::types::parse_date(d.as_bytes())
                .ok_or_else(|| Error::Schema(format!("{key}: partition date {d:?} is not a date")))
        })
        .transpose()
}

/// Validates, curates and commits `a` into the table of dataset `name` (created or brought up
/// to the registry's schema first).
pub async fn append_file(
    tables: &Tables,
    reg: &Registry,
    name: &DatasetName,
    ds: &Dataset,
    a: &Append<'_>,
) -> Result<Appended, Error> {
    let m = match ds.key_pattern.matches(a.key) {
        Ok(m) => m,
        Err(why) => {
            let p = validate::key_problem(&why.0, ds.key_pattern.as_str());
            return Ok(Appended::Invalid(Box::new(validate::rejected_unread(
                name.as_str(),
                ds,
                a.key,
                vec![p],
            ))));
        }
    };
    let size = std::fs::metadata(a.file)
        .map_err(|e| Error::Catalog(format!("{}: {e}", a.file.display())))?
        .len();
    let file_name = a.key.rsplit('/').next().unwrap_or(a.key);
    let early = validate::precheck(ds, file_name, size);
    if !early.is_empty() {
        return Ok(Appended::Invalid(Box::new(validate::rejected_unread(
            name.as_str(),
            ds,
            a.key,
            early,
        ))));
    }
    let date = match &m.date {
        Some(d) => Some(
            lakeline_core::types::parse_date(d.as_bytes()).ok_or_else(|| {
                Error::Schema(format!("{}: partition date {d:?} is not a date", a.key))
            })?,
        ),
        None => None,
    };
    let version = match a.version {
        Some(v) => v.to_string(),
        None => sha256_of(a.file)?,
    };
    let table = table_for_append(tables, name, ds).await?;
    let delivery = Delivery {
        source: a.key.to_string(),
        version: version.clone(),
        execution: a.execution.map(str::to_string),
        engine: "cli".into(),
        date,
    };
    if let Some(outcome) = already_committed(&table, &delivery).await? {
        return Ok(Appended::Done {
            outcome,
            version,
            metadata_location: table.metadata_location_result()?.to_string(),
        });
    }
    let lineage = Lineage {
        source: a.key.to_string(),
        version: version.clone(),
        date,
    };
    let shape =
        TableShape::new(ds, &write_ids(table.metadata()), &lineage).map_err(Error::Schema)?;
    let place = data_file_location(&table, date)?;
    let path = place.local_path().to_path_buf();
    let prov = Provenance {
        source: a.key.to_string(),
        source_version: version.clone(),
        dataset: name.to_string(),
        registry_sha256: reg.content_hash(),
    };
    let written = {
        let (file, key, path, max) = (
            a.file.to_path_buf(),
            a.key.to_string(),
            path.clone(),
            reg.lake.max_problems,
        );
        let (name, ds) = (name.to_string(), ds.clone());
        tokio::task::spawn_blocking(move || {
            write_data_file(&name, &ds, &file, &key, max, &path, &prov, &shape)
        })
        .await
        .map_err(|e| Error::Catalog(format!("the curate task failed: {e}")))?
    };
    let meta = match written {
        Ok(meta) => meta,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return match e {
                Error::Curate(lakeline_core::Error::Invalid(report)) => {
                    Ok(Appended::Invalid(report))
                }
                e => Err(e),
            };
        }
    };
    let size = std::fs::metadata(&path)
        .map_err(|e| Error::Catalog(format!("{}: {e}", path.display())))?
        .len();
    let uri = match &place {
        Place::Local { uri, .. } => uri.clone(),
        Place::Remote { uri, temp } => {
            // Curated into a local file (the encoder writes a plain `Write`); the table gets its bytes.
            let up = upload(&table, temp, uri).await;
            let _ = std::fs::remove_file(temp);
            if let Err(e) = up {
                tables.discard(&table, std::slice::from_ref(uri)).await;
                return Err(e);
            }
            uri.clone()
        }
    };
    let outcome = commit_written(
        tables,
        &table,
        &delivery,
        &crate::commit::Unguarded,
        vec![Written {
            uri,
            size,
            row_groups: meta,
            untagged_exact: false,
        }],
    )
    .await?;
    done(tables, &table, outcome, version).await
}

/// What a commit of `table` did, with the table's metadata location after it.
async fn done(
    tables: &Tables,
    table: &Table,
    outcome: Outcome,
    version: String,
) -> Result<Appended, Error> {
    let metadata_location = tables
        .load_table(table.identifier())
        .await?
        .metadata_location_result()?
        .to_string();
    Ok(Appended::Done {
        outcome,
        version,
        metadata_location,
    })
}

/// Where a new data file is written: in a local warehouse straight into the table's
/// directory; elsewhere (S3 Tables) curated into a local temporary file first, then uploaded
/// whole, so the core's encoder keeps writing into a plain `Write`.
enum Place {
    /// A `file://` table: the file is written at `path`, the table records `uri`.
    Local { uri: String, path: PathBuf },
    /// Any other table: written at `temp`, uploaded to `uri` through the table's FileIO.
    Remote { uri: String, temp: PathBuf },
}

impl Place {
    fn local_path(&self) -> &Path {
        match self {
            Place::Local { path, .. } => path,
            Place::Remote { temp, .. } => temp,
        }
    }
}

/// Where a new data file of `table` (partition `date`) is written ([`data_file_uri`]).
fn data_file_location(table: &Table, date: Option<i32>) -> Result<Place, Error> {
    let uri = data_file_uri(table, date);
    let Some(path) = uri.strip_prefix("file://").map(PathBuf::from) else {
        let temp = std::env::temp_dir().join(format!("lakeline-{}.parquet", uuid::Uuid::new_v4()));
        return Ok(Place::Remote { uri, temp });
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Catalog(format!("{}: {e}", parent.display())))?;
    }
    Ok(Place::Local { uri, path })
}

/// Bytes per write of an upload: the FileIO's S3 writer sends a part per write beyond the
/// first, so this also bounds the memory an upload holds.
const UPLOAD_CHUNK: usize = 8 << 20;

/// Copies the local file `from` to `uri` through the table's FileIO (a multipart upload for a
/// large file); the object appears only when the upload completes.
async fn upload(table: &Table, from: &Path, uri: &str) -> Result<(), Error> {
    use tokio::io::AsyncReadExt;
    let io = |e: std::io::Error| Error::Catalog(format!("{}: {e}", from.display()));
    let mut f = tokio::fs::File::open(from).await.map_err(io)?;
    let mut w = table.file_io().new_output(uri)?.writer().await?;
    loop {
        let mut buf = Vec::with_capacity(UPLOAD_CHUNK);
        let n = (&mut f)
            .take(UPLOAD_CHUNK as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(io)?;
        if n == 0 {
            break;
        }
        w.write(buf.into()).await?;
    }
    w.close().await?;
    Ok(())
}

/// Curates `file` into a data file of `shape` at `path`; the footer written.
#[allow(clippy::too_many_arguments)] // one delivery's settings, passed to a blocking thread
fn write_data_file(
    name: &str,
    ds: &Dataset,
    file: &Path,
    key: &str,
    max_problems: usize,
    path: &Path,
    prov: &Provenance,
    shape: &TableShape,
) -> Result<Arc<[RowGroupMetaData]>, Error> {
    let io = |e: std::io::Error| Error::Catalog(format!("{}: {e}", file.display()));
    let out = BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path)
            .map_err(|e| Error::Catalog(format!("{}: {e}", path.display())))?,
    );
    let (curated, mut w) = if ds.format == Format::Parquet {
        let f = std::fs::File::open(file).map_err(io)?;
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).map_err(
            |e| {
                Error::Curate(lakeline_core::Error::Input(format!(
                    "reading the Parquet footer of {}: {e}",
                    file.display()
                )))
            },
        )?;
        let mask = parquet::arrow::ProjectionMask::columns(
            b.parquet_schema(),
            ds.columns.iter().map(|c| c.name.as_str()),
        );
        let batches = b
            .with_projection(mask)
            .with_batch_size(curate::BATCH_ROWS)
            .build()
            .map_err(|e| Error::Curate(lakeline_core::Error::Input(e.to_string())))?;
        curate::curate_batches_as(name, ds, key, batches, out, prov, Some(shape))?
    } else {
        let source: Box<dyn Read> = Box::new(std::fs::File::open(file).map_err(io)?);
        curate::curate_stream_as(name, ds, key, max_problems, source, out, prov, Some(shape))?
    };
    w.flush()
        .map_err(|e| Error::Catalog(format!("{}: {e}", path.display())))?;
    Ok(curated.footer)
}

fn sha256_of(file: &Path) -> Result<String, Error> {
    let mut f = std::fs::File::open(file)
        .map_err(|e| Error::Catalog(format!("{}: {e}", file.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::Catalog(format!("{}: {e}", file.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", h.finalize()))
}

/// Data files another engine wrote for one delivery (the Spark curate job's, staged under
/// `_lakeline/staging/tables/`), to commit as that delivery.
pub struct AddFiles<'a> {
    /// The files (local copies).
    pub files: &'a [PathBuf],
    /// The raw key they were curated from.
    pub key: &'a str,
    /// Its version (what the files' `_lakeline_version` says).
    pub version: &'a str,
    /// Recorded in the snapshot as the committing execution.
    pub execution: Option<&'a str>,
    /// The engine that wrote them, recorded in the snapshot.
    pub engine: &'a str,
}

/// Commits `a.files` into the table of dataset `name` as one delivery: each file is checked
/// against the table (every column carries the table's field id; its rows are all of `a.key`
/// at `a.version`, read from its exact footer statistics), copied into the table's own
/// location, and committed exactly once, as a file the Lambda wrote would be. Nothing is
/// copied or committed when a file does not fit.
pub async fn add_files(
    tables: &Tables,
    name: &DatasetName,
    ds: &Dataset,
    a: &AddFiles<'_>,
) -> Result<Appended, Error> {
    if a.files.is_empty() {
        return Err(Error::Schema("no data files to add".into()));
    }
    let date =
        match ds.key_pattern.matches(a.key) {
            Ok(m) => match &m.date {
                Some(d) => Some(lakeline_core::types::parse_date(d.as_bytes()).ok_or_else(
                    || Error::Schema(format!("{}: partition date {d:?} is not a date", a.key)),
                )?),
                None => None,
            },
            Err(why) => {
                return Err(Error::Schema(format!(
                    "{} does not match dataset {name}'s key pattern {}: {}",
                    a.key,
                    ds.key_pattern.as_str(),
                    why.0
                )))
            }
        };
    let table = table_for_append(tables, name, ds).await?;
    let delivery = Delivery {
        source: a.key.to_string(),
        version: a.version.to_string(),
        execution: a.execution.map(str::to_string),
        engine: a.engine.to_string(),
        date,
    };
    if let Some(outcome) = already_committed(&table, &delivery).await? {
        return Ok(Appended::Done {
            outcome,
            version: a.version.to_string(),
            metadata_location: table.metadata_location_result()?.to_string(),
        });
    }
    let mut checked = Vec::new();
    for f in a.files {
        let (size, meta, untagged_exact) = read_footer(f)?;
        check_staged(
            &table,
            ds,
            &f.display().to_string(),
            &meta,
            &delivery,
            untagged_exact,
        )?;
        checked.push((
            f,
            size,
            Arc::<[RowGroupMetaData]>::from(meta.row_groups()),
            untagged_exact,
        ));
    }
    let written = copy_into(tables, &table, date, checked).await?;
    let outcome = commit_written(
        tables,
        &table,
        &delivery,
        &crate::commit::Unguarded,
        written,
    )
    .await?;
    done(tables, &table, outcome, a.version.to_string()).await
}

/// A local Parquet file another engine wrote: its size, its footer, and whether its untagged
/// statistics are exact ([`datafile::untagged_statistics_are_exact`]).
fn read_footer(f: &Path) -> Result<(u64, parquet::file::metadata::ParquetMetaData, bool), Error> {
    let file =
        std::fs::File::open(f).map_err(|e| Error::Catalog(format!("{}: {e}", f.display())))?;
    let size = file
        .metadata()
        .map_err(|e| Error::Catalog(format!("{}: {e}", f.display())))?
        .len();
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| Error::Schema(format!("{}: not a readable Parquet file: {e}", f.display())))?;
    let untagged_exact = datafile::untagged_statistics_are_exact(meta.file_metadata().created_by());
    Ok((size, meta, untagged_exact))
}

/// Copies checked local files (path, size, footer row groups, exact untagged statistics) into
/// `table`'s location under partition `date`, each under a fresh name; on a failure, what was
/// copied is discarded and nothing is left for the table to hold.
async fn copy_into(
    tables: &Tables,
    table: &Table,
    date: Option<i32>,
    checked: Vec<(&PathBuf, u64, Arc<[RowGroupMetaData]>, bool)>,
) -> Result<Vec<Written>, Error> {
    let mut written = Vec::new();
    for (f, size, row_groups, untagged_exact) in checked {
        let uri = data_file_uri(table, date);
        let copied = match uri.strip_prefix("file://") {
            Some(path) => {
                let path = Path::new(path);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::Catalog(format!("{}: {e}", dir.display())))?;
                }
                std::fs::copy(f, path).map(|_| ()).map_err(|e| {
                    Error::Catalog(format!("copying {} into the table: {e}", f.display()))
                })
            }
            None => upload(table, f, &uri).await,
        };
        if let Err(e) = copied {
            let uris: Vec<String> = written.iter().map(|w: &Written| w.uri.clone()).collect();
            tables.discard(table, &uris).await;
            return Err(e);
        }
        written.push(Written {
            uri,
            size,
            row_groups,
            untagged_exact,
        });
    }
    Ok(written)
}

/// Commits what a Spark rewrite wrote for `plan` (of table `ident`) into the local folder
/// `plan.output`: each
/// `.parquet` file there checked against the table ([`crate::spark::check_rewritten`]),
/// copied into the table's location, and swapped for the plan's inputs by one `replace`
/// snapshot ([`crate::spark::commit_rewritten`]). The snapshot id (the earlier one when the plan
/// was committed already); [`Error::Changed`] when
/// another commit replaced an input meanwhile (nothing committed).
pub async fn commit_rewrite_files(
    tables: &Tables,
    ident: &iceberg::TableIdent,
    plan: &crate::spark::RewritePlan,
    engine: &str,
    execution: Option<&str>,
) -> Result<i64, Error> {
    if plan.table != ident.to_string() {
        return Err(Error::Schema(format!(
            "plan {} is of table {}, not of {ident}",
            plan.id, plan.table
        )));
    }
    let table = tables.load_table(ident).await?;
    if let Some(snapshot) = crate::spark::committed_plan(&table, &plan.id) {
        return Ok(snapshot);
    }
    let dir = Path::new(plan.output.strip_prefix("file://").unwrap_or(&plan.output));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::Catalog(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Unsupported(format!(
            "{}: the rewrite {} wrote no data file: nothing was committed",
            dir.display(),
            plan.id
        )));
    }
    let mut checked = Vec::new();
    for f in &files {
        let (size, meta, untagged_exact) = read_footer(f)?;
        crate::spark::check_rewritten(
            &table,
            plan,
            &f.display().to_string(),
            &meta,
            untagged_exact,
        )?;
        checked.push((
            f,
            size,
            Arc::<[RowGroupMetaData]>::from(meta.row_groups()),
            untagged_exact,
        ));
    }
    let written = copy_into(tables, &table, plan.date(), checked).await?;
    crate::spark::commit_rewritten(tables, table, plan, written, engine, execution).await
}
