//! Table mode: an upload becomes one data file of its dataset's Iceberg table, committed as one
//! delivery (the raw key at the validated version), exactly once.
//!
//! - Before anything is read, the current table is asked whether it already holds the
//!   delivery: a retried, redriven or duplicated execution answers `ALREADY_COMMITTED` and
//!   writes nothing (a table bucket refuses the delete that would take a stray file away).
//! - The data file is streamed into the table's own location by the same bounded multipart
//!   upload as the prefix layout, under a fresh name, with the table's field ids and the
//!   delivery's lineage columns; its statistics come from the footer the encoder wrote.
//! - The commit ([`lakeline_table::write::commit_written`]) decides again on the table it
//!   commits to: an older version of the key is replaced in the same snapshot, a race lost to
//!   another writer is decided and built again, and the snapshot names the source, its version
//!   and this execution.
//! - This role neither creates nor evolves tables (`registry push` does): a missing table or
//!   one behind the registry is `Lakeline.Config`, naming the command.

use iceberg::table::Table;
use lakeline_core::curate::{Curated, TableShape};
use lakeline_core::registry::{Dataset, DatasetName};
use lakeline_core::table::Lineage;
use lakeline_table::commit::{already_committed, Delivery, Outcome};
use lakeline_table::schema::write_ids;
use lakeline_table::write::{commit_written, data_file_uri, Written};
use lakeline_table::Tables;
use serde_json::{json, Value};
use tracing::info;

use crate::{CurateError, CurateRequest};
use lakeline_aws::upload;

/// A delivery ready to be written.
pub(crate) struct ToWrite {
    /// The table, as loaded before the conversion.
    table: Table,
    /// The delivery.
    delivery: Delivery,
    /// Where the data file is uploaded.
    pub(crate) target: upload::Target,
    /// Its location as the table records it.
    uri: String,
    /// Its columns and lineage values.
    pub(crate) shape: TableShape,
}

/// What [`prepare`] found.
pub(crate) enum Prepared {
    /// Write the data file, then [`commit`] it.
    Write(Box<ToWrite>),
    /// The current table already holds the delivery: the answer, nothing to write.
    Already(Value),
}

/// The dataset's table and the request's delivery, or the answer when the table already
/// holds it.
enum Opened {
    /// Write (or copy) the delivery's data files, then commit them.
    Ready(Box<Table>, Delivery),
    /// The current table holds the delivery already: nothing to do.
    Already(Value),
}

/// Loads the dataset's table (which must fit the registry) and checks, before anything is
/// read or written, whether it already holds the request's delivery.
async fn open(
    tables: &Tables,
    req: &CurateRequest,
    name: &DatasetName,
    ds: &Dataset,
    engine: &str,
) -> Result<Opened, CurateError> {
    let (date, version) = delivery_of(req, name, ds)?;
    let table = lakeline_table::sync::table_to_write(tables, name, ds)
        .await
        .map_err(table_error)?;
    let delivery = Delivery {
        source: req.key.clone(),
        version,
        execution: req.execution.clone(),
        engine: engine.into(),
        date,
    };
    match already_committed(&table, &delivery)
        .await
        .map_err(table_error)?
    {
        Some(Outcome::AlreadyCommitted { files, .. }) => {
            info!(dataset = %name, source = %req.key, version = %delivery.version, "already committed; nothing written");
            Ok(Opened::Already(already(
                &table,
                &delivery.version,
                files,
                engine,
            )))
        }
        _ => Ok(Opened::Ready(Box::new(table), delivery)),
    }
}

/// Loads the dataset's table, decides whether the delivery is already in it, and names the
/// data file to write.
pub(crate) async fn prepare(
    tables: &Tables,
    req: &CurateRequest,
    name: &DatasetName,
    ds: &Dataset,
) -> Result<Prepared, CurateError> {
    let (table, delivery) = match open(tables, req, name, ds, "lambda").await? {
        Opened::Ready(table, delivery) => (*table, delivery),
        Opened::Already(answer) => return Ok(Prepared::Already(answer)),
    };
    let (date, version) = (delivery.date, delivery.version.clone());
    let lineage = Lineage {
        source: req.key.clone(),
        version,
        date,
    };
    let shape =
        TableShape::new(ds, &write_ids(table.metadata()), &lineage).map_err(CurateError::Config)?;
    let uri = data_file_uri(&table, date);
    let target = s3_target(&table, &uri)?;
    Ok(Prepared::Write(Box::new(ToWrite {
        table,
        delivery,
        target,
        uri,
        shape,
    })))
}

/// Commits the data file written for `w` and answers the Curate task.
pub(crate) async fn commit(
    deps: &crate::Deps,
    req: &CurateRequest,
    tables: &Tables,
    w: Box<ToWrite>,
    curated: &Curated,
    bytes: u64,
    seconds: f64,
) -> Result<Value, CurateError> {
    let ToWrite {
        table,
        delivery,
        uri,
        ..
    } = *w;
    let written = vec![Written {
        uri: uri.clone(),
        size: bytes,
        row_groups: curated.footer.clone(),
        untagged_exact: false,
    }];
    commit_and_answer(
        deps,
        req,
        tables,
        &table,
        &delivery,
        written,
        json!({
            "output": uri,
            "rowGroups": curated.row_groups,
            "bytes": bytes,
            "bytesRead": curated.bytes_read,
            "columns": curated.columns,
            "seconds": seconds,
        }),
    )
    .await
}

/// Commits `written` as `delivery` and answers the task: `COMMITTED` with the snapshot and
/// `details` merged in, or `ALREADY_COMMITTED` when another execution of the same delivery
/// committed first (the files written are then not in the table; S3 Tables removes them as
/// unreferenced).
async fn commit_and_answer(
    deps: &crate::Deps,
    req: &CurateRequest,
    tables: &Tables,
    table: &Table,
    delivery: &Delivery,
    written: Vec<Written>,
    details: Value,
) -> Result<Value, CurateError> {
    let files = written.len();
    let guard = CurrentUpload { deps, req };
    let outcome = commit_written(tables, table, delivery, &guard, written)
        .await
        .map_err(table_error)?;
    let ident = table.identifier().to_string();
    Ok(match outcome {
        Outcome::Committed {
            snapshot_id,
            operation,
            added_rows,
            removed_files,
            removed_rows,
            attempts,
            ..
        } => {
            info!(table = %ident, source = %delivery.source, engine = %delivery.engine, snapshot_id, %operation, rows = added_rows, files, removed_rows, attempts, "committed");
            let mut v = json!({
                "status": "COMMITTED",
                "engine": delivery.engine,
                "table": ident,
                "snapshotId": snapshot_id,
                "operation": operation,
                "version": delivery.version,
                "files": files,
                "rows": added_rows,
                "removedFiles": removed_files,
                "removedRows": removed_rows,
                "attempts": attempts,
            });
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), details) {
                v.extend(extra);
            }
            v
        }
        Outcome::CommittedInGroup {
            snapshot_id,
            files,
            attempts,
        } => {
            info!(table = %ident, source = %delivery.source, engine = %delivery.engine, snapshot_id, files, attempts, "committed with another writer's snapshot (group commit)");
            let mut v = json!({
                "status": "COMMITTED",
                "engine": delivery.engine,
                "table": ident,
                "snapshotId": snapshot_id,
                "operation": "append",
                "version": delivery.version,
                "files": files,
                "attempts": attempts,
                "committedBy": "group",
                "why": "this upload lost a commit race, waited on the table's board, and another writer's commit took its data file in (one snapshot, several sources)",
            });
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), details) {
                v.extend(extra);
            }
            v
        }
        Outcome::AlreadyCommitted { files, .. } => {
            let mut v = already(table, &delivery.version, files, &delivery.engine);
            v["why"] = "another execution committed this key at this version while this one worked on it; nothing was added".into();
            v
        }
        Outcome::Superseded { .. } => {
            let mut v = crate::superseded(
                req,
                "a newer upload of the key replaced this one before its rows were committed",
            );
            v["engine"] = delivery.engine.clone().into();
            v
        }
    })
}

/// The delivery's upload, asked by the commit before it replaces another version's rows of
/// the key: still the key's current object (a HEAD of the key: its version id, else its ETag)?
struct CurrentUpload<'a> {
    deps: &'a crate::Deps,
    req: &'a CurateRequest,
}

impl lakeline_table::commit::Guard for CurrentUpload<'_> {
    fn still_current(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<bool, lakeline_table::Error>> {
        Box::pin(async move {
            crate::is_current(self.deps, self.req)
                .await
                .map_err(|e| lakeline_table::Error::Catalog(e.to_string()))
        })
    }
}

/// A table-layer error as the function's: a lost race is retried by the state machine (a
/// retry decides again), a table the registry is ahead of needs `registry push`.
fn table_error(e: lakeline_table::Error) -> CurateError {
    use lakeline_table::Error as T;
    match e {
        T::Conflict { .. } | T::Catalog(_) | T::Changed(_) => CurateError::Transient(e.to_string()),
        T::Schema(m) => CurateError::Config(m),
        T::Unsupported(m) => CurateError::Failed(m),
        T::Curate(e) => CurateError::from_lib(e, "curating"),
    }
}

/// The pipeline's commit step after a Spark run in table mode (`{"action": "commitStaged"}`):
/// the data files the run staged for this delivery under
/// [`lakeline_core::curate::staged_prefix`] are checked against the table (field ids, lineage,
/// rows = the rows validation counted), copied into the table's location (streamed, bounded
/// memory) and committed as one delivery, exactly once, like the Lambda's own file. A run
/// that staged nothing commits nothing and says so.
pub(crate) async fn commit_staged(
    deps: &crate::Deps,
    tables: &Tables,
    req: &CurateRequest,
) -> Result<Value, CurateError> {
    let (name, ds) = dataset_of(deps, req)?;
    let (table, delivery) = match open(tables, req, name, ds, "spark").await? {
        Opened::Ready(table, delivery) => (*table, delivery),
        Opened::Already(answer) => return Ok(answer),
    };
    let (date, version) = (delivery.date, delivery.version.clone());
    let prefix = lakeline_core::curate::staged_prefix(name.as_str(), &req.key, &version);
    let staged = lakeline_aws::staged::list_parquet(&deps.s3, &req.bucket, &prefix)
        .await
        .map_err(|e| CurateError::from_lib(e, "listing the staged data files"))?;
    if staged.is_empty() {
        return Err(CurateError::Failed(format!(
            "the Spark run of s3://{}/{} succeeded but staged no data file under s3://{}/{prefix}: nothing was committed (run it again: lakeline rerun)",
            req.bucket, req.key, req.bucket
        )));
    }
    let mut checked = Vec::new();
    let mut rows = 0u64;
    for obj in staged {
        let uri = obj.uri();
        let mut file = lakeline_aws::parquet::S3File::new(deps.s3.clone(), obj.clone());
        let meta = file
            .metadata()
            .await
            .map_err(|e| CurateError::Failed(format!("{uri}: not a readable Parquet file: {e}")))?;
        let untagged = lakeline_table::datafile::untagged_statistics_are_exact(
            meta.file_metadata().created_by(),
        );
        lakeline_table::write::check_staged(&table, ds, &uri, &meta, &delivery, untagged)
            .map_err(|e| CurateError::Failed(e.to_string()))?;
        rows += meta.file_metadata().num_rows().max(0) as u64;
        checked.push((obj, meta, untagged));
    }
    if let Some(expected) = req.rows.filter(|&n| n != rows) {
        return Err(CurateError::RowCount(format!(
            "s3://{}/{}: the Spark run staged {rows} rows but validation counted {expected}; nothing was committed",
            req.bucket, req.key
        )));
    }
    let mut written = Vec::new();
    for (obj, meta, untagged_exact) in checked {
        let uri = data_file_uri(&table, date);
        let target = s3_target(&table, &uri)?;
        let bytes = lakeline_aws::staged::stream_copy(&deps.s3, &obj, &target)
            .await
            .map_err(|e| CurateError::from_lib(e, "copying a staged data file"))?;
        written.push(Written {
            uri,
            size: bytes,
            row_groups: meta.row_groups().into(),
            untagged_exact,
        });
    }
    commit_and_answer(deps, req, tables, &table, &delivery, written, json!({})).await
}

/// The request's dataset, `Lakeline.Config` when the registry has none of that name.
fn dataset_of<'a>(
    deps: &'a crate::Deps,
    req: &CurateRequest,
) -> Result<(&'a DatasetName, &'a Dataset), CurateError> {
    deps.registry.dataset(&req.dataset).ok_or_else(|| {
        CurateError::Config(format!("dataset {:?} is not in the registry", req.dataset))
    })
}

/// A delivery's partition date and version, from the request.
fn delivery_of(
    req: &CurateRequest,
    name: &DatasetName,
    ds: &Dataset,
) -> Result<(Option<i32>, String), CurateError> {
    let m = ds.key_pattern.matches(&req.key).map_err(|why| {
        CurateError::Invalid(format!(
            "{}: the key no longer matches dataset {name}'s key pattern {} ({}): the registry changed since it was validated; nothing was written",
            req.key,
            ds.key_pattern.as_str(),
            why.0
        ))
    })?;
    let date = match &m.date {
        Some(d) => Some(
            lakeline_core::types::parse_date(d.as_bytes()).ok_or_else(|| {
                CurateError::Invalid(format!(
                    "{}: its partition date {d:?} is not a date",
                    req.key
                ))
            })?,
        ),
        None => None,
    };
    let version = req
        .version_id
        .clone()
        .or_else(|| req.etag.as_ref().map(|e| e.trim_matches('"').to_string()))
        .ok_or_else(|| {
            CurateError::BadInput(format!(
                "{}: the request names neither the version nor the ETag validated, so the delivery has no identity",
                req.key
            ))
        })?;
    Ok((
        date,
        lakeline_core::table::delivery_version(&version, req.reprocess.as_deref()),
    ))
}

/// `{"action": "withdraw"}`: a file `lakeline reprocess` found invalid under today's rules
/// went to quarantine, so its rows leave its table in one snapshot (the upload's rows, under
/// any pass; a newer upload of the key keeps its own). A table that holds none of them
/// answers so and commits nothing.
pub(crate) async fn withdraw(
    deps: &crate::Deps,
    tables: &Tables,
    req: &CurateRequest,
) -> Result<Value, CurateError> {
    let (name, ds) = dataset_of(deps, req)?;
    let (date, version) = delivery_of(req, name, ds)?;
    let upload = lakeline_core::table::upload_version(&version);
    let ident = tables.ident(name);
    let done = lakeline_table::maintain::undo(tables, &ident, &req.key, date, Some(upload), false)
        .await
        .map_err(table_error)?;
    info!(dataset = %name, source = %req.key, version = %upload, rows = done.rows, committed = done.committed, "withdrawn");
    Ok(json!({
        "status": if done.committed { "WITHDRAWN" } else { "NOTHING_TO_WITHDRAW" },
        "engine": "lambda",
        "table": done.table,
        "source": req.key,
        "version": upload,
        "snapshotId": done.snapshot_id,
        "removedRows": done.rows,
        "removedFiles": done.removed_files.len(),
        "rewrittenFiles": done.rewritten_files.len(),
    }))
}

/// The answer for a delivery the current table already holds.
fn already(table: &Table, version: &str, files: usize, engine: &str) -> Value {
    json!({
        "status": "ALREADY_COMMITTED",
        "engine": engine,
        "table": table.identifier().to_string(),
        "snapshotId": table.metadata().current_snapshot().map_or(-1, |s| s.snapshot_id()),
        "version": version,
        "files": files,
        "why": "the table's current snapshot already holds this key's rows at this version; nothing was written",
    })
}

/// A table location `s3://bucket/key` as an upload target.
fn s3_target(table: &Table, uri: &str) -> Result<upload::Target, CurateError> {
    lakeline_aws::staged::target_of(uri).ok_or_else(|| {
        CurateError::Config(format!(
            "table {}: its location {uri} is not an s3:// location",
            table.identifier()
        ))
    })
}
