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
use lakeline_table::commit::{decide, held, Decision, Delivery, Outcome};
use lakeline_table::schema::field_ids;
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

/// Loads the dataset's table, decides whether the delivery is already in it, and names the
/// data file to write.
pub(crate) async fn prepare(
    tables: &Tables,
    req: &CurateRequest,
    name: &DatasetName,
    ds: &Dataset,
) -> Result<Prepared, CurateError> {
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
    let table = lakeline_table::sync::table_to_write(tables, name, ds)
        .await
        .map_err(table_error)?;
    let delivery = Delivery {
        source: req.key.clone(),
        version: version.clone(),
        execution: req.execution.clone(),
        engine: "lambda".into(),
        date,
    };
    let found = held(&table, &req.key, date).await.map_err(table_error)?;
    if decide(&found, &delivery).map_err(table_error)? == Decision::Already {
        let snapshot_id = table
            .metadata()
            .current_snapshot()
            .map_or(-1, |s| s.snapshot_id());
        info!(dataset = %name, source = %req.key, %version, snapshot_id, "already committed; nothing written");
        return Ok(Prepared::Already(json!({
            "status": "ALREADY_COMMITTED",
            "engine": "lambda",
            "table": table.identifier().to_string(),
            "snapshotId": snapshot_id,
            "version": version,
            "files": found.len(),
            "why": "the table's current snapshot already holds this key's rows at this version; nothing was written",
        })));
    }
    let lineage = Lineage {
        source: req.key.clone(),
        version,
        date,
    };
    let shape = TableShape::new(ds, &field_ids(table.metadata().current_schema()), &lineage)
        .map_err(CurateError::Config)?;
    let uri = data_file_uri(&table, date);
    let (bucket, key) = uri
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
        .ok_or_else(|| {
            CurateError::Config(format!(
                "table {}: its location {uri} is not an s3:// location",
                table.identifier()
            ))
        })?;
    let target = upload::Target {
        bucket: bucket.to_string(),
        key: key.to_string(),
        metadata: Vec::new(),
    };
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
    tables: &Tables,
    req: &CurateRequest,
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
    let outcome = commit_written(
        tables,
        &table,
        &delivery,
        vec![Written {
            uri: uri.clone(),
            size: bytes,
            row_groups: curated.footer.clone(),
            untagged_exact: false,
        }],
    )
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
            info!(table = %ident, source = %req.key, snapshot_id, %operation, rows = added_rows, removed_rows, attempts, "committed");
            json!({
                "status": "COMMITTED",
                "engine": "lambda",
                "table": ident,
                "snapshotId": snapshot_id,
                "operation": operation,
                "version": delivery.version,
                "output": uri,
                "rows": added_rows,
                "rowGroups": curated.row_groups,
                "bytes": bytes,
                "bytesRead": curated.bytes_read,
                "removedFiles": removed_files,
                "removedRows": removed_rows,
                "attempts": attempts,
                "columns": curated.columns,
                "seconds": seconds,
            })
        }
        // Another execution of the same delivery committed while this one converted: the
        // file just written is not in the table (S3 Tables removes it as unreferenced).
        Outcome::AlreadyCommitted { snapshot_id, files } => json!({
            "status": "ALREADY_COMMITTED",
            "engine": "lambda",
            "table": ident,
            "snapshotId": snapshot_id,
            "version": delivery.version,
            "files": files,
            "why": "another execution committed this key at this version while this one converted it; nothing was added",
        }),
    })
}

/// A table-layer error as the function's: a lost race is retried by the state machine (a
/// retry decides again), a table the registry is ahead of needs `registry push`, a file that
/// mixes sources cannot be replaced yet.
fn table_error(e: lakeline_table::Error) -> CurateError {
    use lakeline_table::Error as T;
    match e {
        T::Conflict { .. } | T::Catalog(_) => CurateError::Transient(e.to_string()),
        T::Schema(m) => CurateError::Config(m),
        T::Unsupported(m) => CurateError::Failed(m),
        T::Curate(e) => CurateError::from_lib(e, "curating"),
    }
}
