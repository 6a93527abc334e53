//! Compaction of a table partition (`{"action": "compactTable", "dataset", "partition"}`, an
//! item of a table sweep): the partition is planned again from the table's manifests (the
//! sweep's plan, on the table as it is now), its groups are rewritten in bounded memory, and
//! the inputs are swapped for the outputs by one `replace` snapshot. Nothing is deleted: the
//! replaced files leave storage with snapshot expiry.
//!
//! Answers: `COMPACTED` (committed: files and rows in and out, the snapshot), `NOTHING_DUE`
//! (the partition no longer needs it, e.g. another compaction did it), `SUPERSEDED` (another
//! commit replaced an input while this one ran: nothing committed, the next sweep plans
//! again). Only `COMPACTED` means something was written.

use std::time::{SystemTime, UNIX_EPOCH};

use lakeline_aws::Emit;
use lakeline_core::metrics::{Emf, Unit};
use lakeline_table::maintain::compact;
use lakeline_table::Tables;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{CompactError, Deps};

/// The payload of `compactTable`.
#[derive(Debug, Clone, Deserialize)]
pub struct TableRequest {
    /// Dataset.
    pub dataset: String,
    /// The partition, as the sweep labelled it (`_lakeline_date=YYYY-MM-DD`).
    pub partition: String,
    /// The execution, for the logs.
    #[serde(default)]
    pub execution: Option<String>,
    /// The sweep's "now" (Unix seconds): the partition is judged on the sweep's clock (its
    /// grace days and quiet minutes), as the sweep judged it; default: the clock.
    #[serde(default)]
    pub now: Option<i64>,
}

pub(crate) fn table_error(e: lakeline_table::Error) -> CompactError {
    use lakeline_table::Error as T;
    match e {
        T::Conflict { .. } | T::Catalog(_) => CompactError::Transient(e.to_string()),
        T::Schema(m) => CompactError::Config(m),
        T::Changed(m) | T::Unsupported(m) => CompactError::Failed(m),
        T::Curate(e) => CompactError::Failed(e.to_string()),
    }
}

/// Compacts one partition of a dataset's table.
pub async fn compact_table(
    deps: &Deps,
    tables: &Tables,
    req: TableRequest,
) -> Result<Value, CompactError> {
    let (name, ds) = deps.registry.dataset(&req.dataset).ok_or_else(|| {
        CompactError::Config(format!("dataset {:?} is not in the registry", req.dataset))
    })?;
    let settings = ds.compaction.clone().unwrap_or_default();
    let ident = tables.ident(name);
    let now = req.now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let base =
        json!({"dataset": req.dataset, "partition": req.partition, "table": ident.to_string()});
    let done = match compact(
        tables,
        &ident,
        &settings,
        now,
        Some(&req.partition),
        false,
        &mut (),
    )
    .await
    {
        Ok(done) => done,
        Err(lakeline_table::Error::Changed(why)) => {
            tracing::info!(table = %ident, partition = %req.partition, %why, "compaction superseded");
            return Ok(json!({"status": "SUPERSEDED", "why": why, "target": base}));
        }
        Err(e) => return Err(table_error(e)),
    };
    if !done.committed {
        let why = done
            .partitions
            .first()
            .map_or("the partition holds no data files".to_string(), |p| {
                p.report.reason.clone()
            });
        return Ok(json!({"status": "NOTHING_DUE", "why": why, "target": base}));
    }
    Emf::new(&[("Function", "compact"), ("Dataset", req.dataset.as_str())])
        .metric("FilesCompacted", Unit::Count, done.files_in as f64)
        .metric("RowsCompacted", Unit::Count, done.rows as f64)
        .emit();
    tracing::info!(table = %ident, partition = %req.partition, files_in = done.files_in,
        files_out = done.files_out, rows = done.rows, execution = ?req.execution, "compacted");
    Ok(json!({
        "status": "COMPACTED",
        "target": base,
        "snapshotId": done.snapshot_id,
        "filesIn": done.files_in,
        "filesOut": done.files_out,
        "rowsIn": done.rows,
        "rowsOut": done.rows,
    }))
}

/// How long a Glue-catalog table keeps its history (`maintainTable`; S3 Tables keeps its own):
/// the template's `TableSnapshotRetentionDays`, `TableSnapshotsKept` and
/// `TableOrphanRetentionDays`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Snapshots older than this many days are expired...
    pub snapshot_days: u32,
    /// ...except the newest this many of the current lineage (and any branch or tag).
    pub keep: usize,
    /// Unreferenced files older than this many days are deleted: far longer than any commit
    /// or Spark run, whose files no snapshot references until it commits.
    pub orphan_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            snapshot_days: 5,
            keep: 1,
            orphan_days: 3,
        }
    }
}

/// The payload of `maintainTable`, an item of a full sweep of a Glue-catalog stack.
#[derive(Debug, Clone, Deserialize)]
pub struct MaintainRequest {
    /// Dataset.
    pub dataset: String,
    /// The execution, for the logs.
    #[serde(default)]
    pub execution: Option<String>,
    /// The sweep's "now" (Unix seconds); default: the clock.
    #[serde(default)]
    pub now: Option<i64>,
}

/// Expires a dataset's old snapshots and deletes its table's orphan files
/// (`{"action": "maintainTable", "dataset", "now"}`), as `lakeline table expire` and
/// `remove-orphans` do by hand. Snapshots are judged on the sweep's clock; orphans on the
/// earlier of it and this function's own, so a sweep started with a "now" in the future
/// cannot make a commit's not yet published files look old. `MAINTAINED` says what went.
pub async fn maintain_table(
    deps: &Deps,
    tables: &Tables,
    req: MaintainRequest,
) -> Result<Value, CompactError> {
    use lakeline_table::maintain::{expire, remove_orphans};
    let retention = deps.retention;
    let (name, _) = deps.registry.dataset(&req.dataset).ok_or_else(|| {
        CompactError::Config(format!("dataset {:?} is not in the registry", req.dataset))
    })?;
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let now = req.now.map_or(clock, |s| s * 1000);
    let ident = tables.ident(name);
    const DAY_MS: i64 = 86_400_000;
    let expired = expire(
        tables,
        &ident,
        now - i64::from(retention.snapshot_days) * DAY_MS,
        retention.keep,
        false,
    )
    .await
    .map_err(table_error)?;
    let table = tables.load_table(&ident).await.map_err(table_error)?;
    let listed = tables.list_files(&table).await.map_err(table_error)?;
    let orphans = remove_orphans(
        tables,
        &ident,
        listed,
        now.min(clock) - i64::from(retention.orphan_days) * DAY_MS,
        false,
    )
    .await
    .map_err(table_error)?;
    Emf::new(&[("Function", "compact"), ("Dataset", req.dataset.as_str())])
        .metric(
            "SnapshotsExpired",
            Unit::Count,
            expired.snapshots.len() as f64,
        )
        .metric(
            "FilesDeleted",
            Unit::Count,
            (expired.files.len() + orphans.files.len()) as f64,
        )
        .emit();
    tracing::info!(table = %ident, expired = expired.snapshots.len(), files = expired.files.len(),
        orphans = orphans.files.len(), execution = ?req.execution, "table maintained");
    Ok(json!({
        "status": "MAINTAINED",
        "target": {"dataset": req.dataset, "table": ident.to_string()},
        "expiredSnapshots": expired.snapshots.len(),
        "expiredFilesDeleted": expired.files.len(),
        "filesListed": orphans.listed,
        "orphansDeleted": orphans.files.len(),
        "orphansTooYoung": orphans.young,
        "retention": {"snapshotDays": retention.snapshot_days, "keep": retention.keep,
                      "orphanDays": retention.orphan_days},
    }))
}
