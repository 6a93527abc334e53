//! The compact function's part in a Spark rewrite of a table partition (a dataset's
//! `compaction.job`, for partitions whose small files reach its `above`):
//!
//! - `planRewrite` plans the partition on the table as it is and writes the plan
//!   ([`lakeline_table::spark::RewritePlan`]) to
//!   `_lakeline/staging/rewrite/<table>/<plan id>/plan.json` in the lake bucket, once: the run
//!   reads it. `PLANNED`, or `NOTHING_DUE`.
//! - `commitRewrite`, after the run succeeded: what it wrote under the plan's `output` is
//!   checked against the table (field ids, lineage, the partition), streamed into the table's
//!   location and committed as one `replace` snapshot, when it holds exactly the inputs' rows.
//!   `COMPACTED`, or `SUPERSEDED` when another commit replaced an input meanwhile (nothing
//!   committed; the next sweep plans again). A run that wrote nothing fails the item.
//!
//! The run never commits: one committer per table, the same swap as the function's own
//! compaction.

use std::time::{SystemTime, UNIX_EPOCH};

use lakeline_aws::parquet::S3File;
use lakeline_aws::staged::{list_parquet, stream_copy, target_of};
use lakeline_aws::Emit;
use lakeline_core::metrics::{Emf, Unit};
use lakeline_table::maintain::live_files;
use lakeline_table::spark::{self, RewritePlan, PLAN_VERSION};
use lakeline_table::write::{data_file_uri, Written};
use lakeline_table::Tables;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::table::table_error;
use crate::{CompactError, Deps};

/// Where the plans and outputs of a table's Spark rewrites live in the lake bucket.
pub const REWRITE_PREFIX: &str = "_lakeline/staging/rewrite/";

/// The payload of `planRewrite` (a sweep's item for a Spark engine).
#[derive(Debug, Clone, Deserialize)]
pub struct PlanRequest {
    /// The lake bucket, where the plan and the run's output go.
    pub bucket: String,
    /// Dataset.
    pub dataset: String,
    /// The partition, as the sweep labelled it.
    pub partition: String,
    /// The sweep's "now" (Unix seconds); default: the clock.
    #[serde(default)]
    pub now: Option<i64>,
}

/// The payload of `commitRewrite`.
#[derive(Debug, Clone, Deserialize)]
pub struct CommitRequest {
    /// Dataset.
    pub dataset: String,
    /// The plan's location (`s3://…/plan.json`), as `planRewrite` answered it.
    pub plan: String,
    /// The engine that ran (`glue`, `emr-serverless`), named in the snapshot.
    pub engine: String,
    /// The execution, named in the snapshot.
    #[serde(default)]
    pub execution: Option<String>,
}

fn lib_error(what: &str, e: lakeline_core::Error) -> CompactError {
    let msg = format!("{what}: {e}");
    match e {
        lakeline_core::Error::Aws {
            transient: false, ..
        } => CompactError::Config(msg),
        lakeline_core::Error::Aws { .. } => CompactError::Transient(msg),
        _ => CompactError::Failed(msg),
    }
}

fn dataset_table(
    deps: &Deps,
    tables: &Tables,
    dataset: &str,
) -> Result<iceberg::TableIdent, CompactError> {
    let (name, _) = deps.registry.dataset(dataset).ok_or_else(|| {
        CompactError::Config(format!("dataset {dataset:?} is not in the registry"))
    })?;
    Ok(tables.ident(name))
}

/// Plans a partition's Spark rewrite and writes the plan once.
pub async fn plan_rewrite(
    deps: &Deps,
    tables: &Tables,
    req: PlanRequest,
) -> Result<Value, CompactError> {
    let ident = dataset_table(deps, tables, &req.dataset)?;
    let settings = deps
        .registry
        .dataset(&req.dataset)
        .and_then(|(_, d)| d.compaction.clone())
        .unwrap_or_default();
    let table = tables.load_table(&ident).await.map_err(table_error)?;
    let files = live_files(&table).await.map_err(table_error)?;
    let now = req.now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let root = format!("s3://{}/{REWRITE_PREFIX}{ident}/", req.bucket);
    let target =
        json!({"dataset": req.dataset, "partition": req.partition, "table": ident.to_string()});
    let Some(plan) = spark::plan(
        &table,
        &req.dataset,
        &files,
        &req.partition,
        &settings,
        now,
        &root,
    )
    .map_err(table_error)?
    else {
        return Ok(json!({"status": "NOTHING_DUE", "target": target,
            "why": "nothing in the partition is due on the table as it is now (another compaction, or late data)"}));
    };
    let location = plan.location();
    let at = target_of(&location).expect("an s3:// plan location");
    let body = serde_json::to_vec_pretty(&plan).expect("a plan serialises");
    // Written once: a retried plan on the same table is the same plan, already there.
    match deps
        .s3
        .put_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .if_none_match("*")
        .body(body.into())
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if lakeline_aws::error_code(&e).as_deref() == Some("PreconditionFailed") => {}
        Err(e) => {
            return Err(lib_error(
                "writing the rewrite plan",
                lakeline_aws::sdk_error(&format!("PutObject {location}"), &e),
            ))
        }
    }
    tracing::info!(table = %ident, partition = %req.partition, plan = %plan.id, files = plan.inputs.len(),
        bytes = plan.bytes, "Spark rewrite planned");
    Ok(json!({
        "status": "PLANNED",
        "target": target,
        "plan": location,
        "planId": plan.id,
        "output": plan.output,
        "filesIn": plan.inputs.len(),
        "rowsIn": plan.rows,
        "bytesIn": plan.bytes,
        "outputFiles": plan.output_files,
    }))
}

/// Checks and commits what a Spark run wrote for a plan.
pub async fn commit_rewrite(
    deps: &Deps,
    tables: &Tables,
    req: CommitRequest,
) -> Result<Value, CompactError> {
    let ident = dataset_table(deps, tables, &req.dataset)?;
    let at = target_of(&req.plan).ok_or_else(|| {
        CompactError::BadInput(format!("plan {:?} is not an s3:// location", req.plan))
    })?;
    let body = deps
        .s3
        .get_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .send()
        .await
        .map_err(|e| {
            lib_error(
                "reading the rewrite plan",
                lakeline_aws::sdk_error(&format!("GetObject {}", req.plan), &e),
            )
        })?
        .body
        .collect()
        .await
        .map_err(|e| CompactError::Transient(format!("reading {}: {e}", req.plan)))?
        .into_bytes();
    let plan: RewritePlan = serde_json::from_slice(&body)
        .map_err(|e| CompactError::BadInput(format!("{}: not a rewrite plan: {e}", req.plan)))?;
    if plan.version != PLAN_VERSION || plan.table != ident.to_string() {
        return Err(CompactError::BadInput(format!(
            "{}: a plan (version {}) of table {}, not of {ident} (version {PLAN_VERSION})",
            req.plan, plan.version, plan.table
        )));
    }
    let target = json!({"dataset": req.dataset, "partition": plan.partition, "table": ident.to_string(), "plan": plan.id});
    let table = tables.load_table(&ident).await.map_err(table_error)?;
    if let Some(snapshot) = spark::committed_plan(&table, &plan.id) {
        return Ok(json!({
            "status": "COMPACTED", "target": target, "engine": req.engine, "snapshotId": snapshot,
            "filesIn": plan.inputs.len(), "rowsIn": plan.rows, "rowsOut": plan.rows,
            "already": "an earlier attempt committed this plan; nothing was written again",
        }));
    }
    let out = target_of(&plan.output).ok_or_else(|| {
        CompactError::BadInput(format!(
            "{}: output {:?} is not an s3:// folder",
            req.plan, plan.output
        ))
    })?;
    let staged = list_parquet(&deps.s3, &out.bucket, &out.key)
        .await
        .map_err(|e| lib_error("listing the rewrite's output", e))?;
    if staged.is_empty() {
        return Err(CompactError::Failed(format!(
            "the {} run of rewrite plan {} ended SUCCEEDED but wrote no data file under {}: nothing was committed, the partition is as it was",
            req.engine, plan.id, plan.output
        )));
    }
    let mut checked = Vec::new();
    for obj in staged {
        let uri = obj.uri();
        let mut file = S3File::new(deps.s3.clone(), obj.clone());
        let meta = file.metadata().await.map_err(|e| {
            CompactError::Failed(format!("{uri}: not a readable Parquet file: {e}"))
        })?;
        let untagged = lakeline_table::datafile::untagged_statistics_are_exact(
            meta.file_metadata().created_by(),
        );
        spark::check_rewritten(&table, &plan, &uri, &meta, untagged).map_err(table_error)?;
        checked.push((obj, meta, untagged));
    }
    let mut written = Vec::new();
    for (obj, meta, untagged_exact) in checked {
        let uri = data_file_uri(&table, plan.date());
        let to = target_of(&uri).ok_or_else(|| {
            CompactError::Config(format!(
                "table {ident}: its location {uri} is not an s3:// location"
            ))
        })?;
        let size = stream_copy(&deps.s3, &obj, &to)
            .await
            .map_err(|e| lib_error("copying the rewrite's output into the table", e))?;
        written.push(Written {
            uri,
            size,
            row_groups: meta.row_groups().into(),
            untagged_exact,
        });
    }
    let files_out = written.len();
    match spark::commit_rewritten(
        tables,
        table,
        &plan,
        written,
        &req.engine,
        req.execution.as_deref(),
    )
    .await
    {
        Ok(snapshot) => {
            Emf::new(&[("Function", "compact"), ("Dataset", req.dataset.as_str())])
                .metric("FilesCompacted", Unit::Count, plan.inputs.len() as f64)
                .metric("RowsCompacted", Unit::Count, plan.rows as f64)
                .emit();
            tracing::info!(table = %ident, plan = %plan.id, files_in = plan.inputs.len(), files_out,
                rows = plan.rows, engine = %req.engine, "Spark rewrite committed");
            Ok(json!({
                "status": "COMPACTED",
                "target": target,
                "engine": req.engine,
                "snapshotId": snapshot,
                "filesIn": plan.inputs.len(),
                "filesOut": files_out,
                "rowsIn": plan.rows,
                "rowsOut": plan.rows,
            }))
        }
        Err(lakeline_table::Error::Changed(why)) => {
            tracing::info!(table = %ident, plan = %plan.id, %why, "Spark rewrite superseded");
            Ok(json!({"status": "SUPERSEDED", "why": why, "target": target}))
        }
        Err(e) => Err(table_error(e)),
    }
}
