//! A local file into a table: validated and curated in one pass (the curate Lambda's engine),
//! written as a data file into the table's own location, described from its footer, and
//! committed as one delivery. For the command line (`lakeline table append`) and the tests.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use iceberg::spec::{Literal, Struct};
use iceberg::table::Table;
use lakeline_core::curate::{self, Provenance, TableShape};
use lakeline_core::registry::{Dataset, DatasetName, Format, Registry};
use lakeline_core::table::Lineage;
use lakeline_core::validate;
use parquet::file::metadata::ParquetMetaDataReader;
use sha2::{Digest, Sha256};

use crate::commit::{commit_delivery, Delivery, Outcome};
use crate::datafile::{self, FileFacts};
use crate::schema::field_ids;
use crate::sync::sync_table;
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
    let (table, _) = sync_table(tables, name, ds).await?;
    let lineage = Lineage {
        source: a.key.to_string(),
        version: version.clone(),
        date,
    };
    let shape = TableShape::new(ds, &field_ids(table.metadata().current_schema()), &lineage)
        .map_err(Error::Schema)?;
    let (uri, path) = data_file_location(&table, date)?;
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
    let md = table.metadata();
    let partition = match date {
        Some(d) => Struct::from_iter([Some(Literal::date(d))]),
        None => Struct::empty(),
    };
    let df = datafile::from_footer(
        md.current_schema(),
        &meta,
        FileFacts {
            path: uri,
            size,
            partition,
            spec_id: md.default_partition_spec_id(),
        },
    )?;
    let delivery = Delivery {
        source: a.key.to_string(),
        version: version.clone(),
        execution: a.execution.map(str::to_string),
        engine: "cli".into(),
        date,
    };
    let ident = table.identifier().clone();
    let outcome = commit_delivery(tables, &ident, &delivery, vec![df]).await;
    if !matches!(outcome, Ok(Outcome::Committed { .. })) {
        // Not referenced by the table: it must not linger as an orphan.
        let _ = std::fs::remove_file(&path);
    }
    let outcome = outcome?;
    let metadata_location = tables
        .catalog()
        .load_table(&ident)
        .await?
        .metadata_location_result()?
        .to_string();
    Ok(Appended::Done {
        outcome,
        version,
        metadata_location,
    })
}

/// A new data file's location in the table (`<table>/data/[_lakeline_date=D/]<uuid>.parquet`),
/// as the table records it and as a local path.
fn data_file_location(table: &Table, date: Option<i32>) -> Result<(String, PathBuf), Error> {
    let loc = table.metadata().location().trim_end_matches('/');
    let dir = match date {
        Some(d) => format!(
            "{loc}/data/{}={}",
            lakeline_core::table::DATE_COLUMN,
            iceberg::spec::Datum::date(d)
        ),
        None => format!("{loc}/data"),
    };
    let uri = format!("{dir}/{}.parquet", uuid::Uuid::new_v4());
    let path = PathBuf::from(uri.strip_prefix("file://").ok_or_else(|| {
        Error::Unsupported(format!(
            "{uri}: local appends write into local warehouses only"
        ))
    })?);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Catalog(format!("{}: {e}", parent.display())))?;
    }
    Ok((uri, path))
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
) -> Result<parquet::file::metadata::ParquetMetaData, Error> {
    let io = |e: std::io::Error| Error::Catalog(format!("{}: {e}", file.display()));
    let out = BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path)
            .map_err(|e| Error::Catalog(format!("{}: {e}", path.display())))?,
    );
    let (_, mut w) = if ds.format == Format::Parquet {
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
    drop(w);
    let f = std::fs::File::open(path)
        .map_err(|e| Error::Catalog(format!("{}: {e}", path.display())))?;
    ParquetMetaDataReader::new()
        .parse_and_finish(&f)
        .map_err(|e| {
            Error::Catalog(format!(
                "reading back the footer of {}: {e}",
                path.display()
            ))
        })
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
