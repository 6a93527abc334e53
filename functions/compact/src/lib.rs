//! compact: the `lambda` compaction engine. One invocation merges one planned group
//! ([`lakeline_core::compaction::plan::Group`]) of a partition's small Parquet files into one file,
//! streaming row groups (never a whole input in memory) into a multipart upload.
//!
//! Input (one item of the maintenance state machine's Map):
//!
//! ```json
//! {"bucket": "lake", "dataset": "orders", "partition": "dt=2026-11-24", "execution": "…",
//!  "group": {"id": "…", "inputs": [{"key", "size", "etag"}…], "bytes": n, "output": "…"}}
//! ```
//!
//! The commit, and what a crash at each step leaves ([`lakeline_core::compaction::plan::Manifest`]):
//!
//! 1. every input's footer is read at its planned ETag (a changed input: `STALE_PLAN`, nothing
//!    done); schemas must agree, or the group is refused naming the file that differs;
//! 2. the manifest is written (`writing`) — crash: the next run deletes any output, starts over;
//! 3. the output is written and completed; rows out must equal rows in, or it is aborted;
//! 4. the manifest becomes `committed` — crash: the next run finishes the deletes;
//! 5. the inputs are deleted, each only at its planned ETag (a re-written input is kept);
//! 6. the manifest is deleted.
//!
//! What a query engine sees: between 3 and 5 both the output and (some of) its inputs, so rows
//! appear twice for the time the deletes take (milliseconds per input); after a crash in that
//! window, until the next run (the maintenance schedule) recovers it. Never fewer rows.

use std::sync::Arc;
use std::time::Instant;

use lakeline_aws as laws;
use lakeline_aws::parquet::{Batches, S3File, S3Object};
use lakeline_aws::upload::{self, PartWriter};
use lakeline_aws::Emit;
use lakeline_core::compaction::plan::{DataFile, Group, Manifest, ManifestState, Recovery};
use lakeline_core::curate::{self, Provenance};
use lakeline_core::error_names;
use lakeline_core::metrics::{Emf, Unit};
use lakeline_core::registry::Registry;
use parquet::arrow::ArrowWriter;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, warn};

mod table;

/// A step after which a test may ask the handler to stop as if the invocation had crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The `writing` manifest is in place.
    ManifestWritten,
    /// The output is complete (the manifest still says `writing`).
    OutputWritten,
    /// The manifest says `committed`.
    Committed,
    /// The first input is deleted.
    FirstInputDeleted,
}

/// Everything the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    /// S3 client.
    pub s3: aws_sdk_s3::Client,
    /// The dataset registry.
    pub registry: Arc<Registry>,
    /// [`Registry::content_hash`], written into every output.
    pub registry_sha256: String,
    /// Multipart part size.
    pub part_size: usize,
    /// Tests only: stop after this step, as a crash would. Never set from the environment.
    pub crash_after: Option<Step>,
    /// The stack's tables (from the environment), for `compactTable` and `maintainTable`.
    pub tables: Option<Arc<lakeline_table::Tables>>,
    /// How long a Glue-catalog table keeps its history (`maintainTable`):
    /// `LAKELINE_SNAPSHOT_RETENTION_DAYS`, `LAKELINE_SNAPSHOTS_KEPT`,
    /// `LAKELINE_ORPHAN_RETENTION_DAYS`.
    pub retention: table::Retention,
}

impl Deps {
    /// Builds everything from the environment: `LAKELINE_REGISTRY`.
    pub async fn from_env(
        conf: &aws_config::SdkConfig,
        env: &dyn laws::Env,
    ) -> Result<Deps, lakeline_core::Error> {
        let s3 = laws::s3_client(conf);
        let registry = laws::registry_from_env(env, &s3).await?;
        let tables = lakeline_table::Tables::of_stack(conf, |n| env.var(n)).await?;
        let d = table::Retention::default();
        let days = |name, default: u32| {
            env.positive(name, default as usize)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        let retention = table::Retention {
            snapshot_days: days("LAKELINE_SNAPSHOT_RETENTION_DAYS", d.snapshot_days)?,
            keep: env.positive("LAKELINE_SNAPSHOTS_KEPT", d.keep)?,
            orphan_days: days("LAKELINE_ORPHAN_RETENTION_DAYS", d.orphan_days)?,
        };
        Ok(Deps {
            retention,
            registry_sha256: registry.content_hash(),
            registry: Arc::new(registry),
            s3,
            part_size: upload::PART_SIZE,
            crash_after: None,
            tables,
        })
    }
    /// The same dependencies around another registry: a reload
    /// ([`lakeline_aws::live::Live`]) without a cold start.
    pub fn with_registry(&self, registry: Registry) -> Deps {
        Deps {
            registry_sha256: registry.content_hash(),
            registry: Arc::new(registry),
            ..self.clone()
        }
    }
}

/// The function's error; its `errorType` is one of [`lakeline_core::error_names`].
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// A transient AWS failure: the state machine retries; a retry recovers from the manifest.
    #[error("{0}")]
    Transient(String),
    /// Registry or permissions.
    #[error("{0}")]
    Config(String),
    /// Not a compact request.
    #[error("{0}")]
    BadInput(String),
    /// The inputs' schemas differ: nothing merged.
    #[error("{0}")]
    SchemaDrift(String),
    /// Rows out differ from rows in: nothing committed.
    #[error("{0}")]
    RowCount(String),
    /// Anything else (including an injected crash in tests).
    #[error("{0}")]
    Failed(String),
}

impl CompactError {
    /// The stable Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            CompactError::Transient(_) => error_names::TRANSIENT,
            CompactError::Config(_) => error_names::CONFIG,
            CompactError::BadInput(_) => error_names::BAD_INPUT,
            CompactError::SchemaDrift(_) => error_names::SCHEMA_DRIFT,
            CompactError::RowCount(_) => error_names::ROW_COUNT,
            CompactError::Failed(_) => error_names::COMPACT_FAILED,
        }
    }

    fn from_lib(e: lakeline_core::Error, what: &str) -> CompactError {
        use lakeline_core::Error as L;
        let msg = format!("{what}: {e}");
        match e {
            L::Aws {
                transient: false, ..
            } => CompactError::Config(msg),
            L::Aws { .. } | L::Source(_) | L::Input(_) => CompactError::Transient(msg),
            L::SchemaDrift(_) => CompactError::SchemaDrift(msg),
            L::RowCount { .. } => CompactError::RowCount(msg),
            _ => CompactError::Failed(msg),
        }
    }
}

impl From<CompactError> for lambda_runtime::Diagnostic {
    fn from(e: CompactError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// One compact invocation's payload.
#[derive(Debug, Clone, Deserialize)]
pub struct CompactRequest {
    /// Bucket.
    pub bucket: String,
    /// Dataset.
    pub dataset: String,
    /// Partition.
    pub partition: String,
    /// The planned group.
    pub group: Group,
    /// The execution (recorded in the manifest).
    #[serde(default)]
    pub execution: Option<String>,
}

fn crash(deps: &Deps, at: Step) -> Result<(), CompactError> {
    if deps.crash_after == Some(at) {
        return Err(CompactError::Failed(format!("injected crash after {at:?}")));
    }
    Ok(())
}

/// Handles one invocation.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, CompactError> {
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(action @ ("compactTable" | "maintainTable")) = action.as_deref() {
        let Some(tables) = &deps.tables else {
            return Err(CompactError::Config(format!(
                "{action}: this function has no tables (LAKELINE_TABLE_BUCKET_ARN or LAKELINE_TABLE_GLUE_DATABASE)"
            )));
        };
        let bad =
            |e: serde_json::Error| CompactError::BadInput(format!("not a {action} request: {e}"));
        return match action {
            "compactTable" => {
                table::compact_table(deps, tables, serde_json::from_value(payload).map_err(bad)?)
                    .await
            }
            _ => {
                table::maintain_table(deps, tables, serde_json::from_value(payload).map_err(bad)?)
                    .await
            }
        };
    }
    let req: CompactRequest = serde_json::from_value(payload)
        .map_err(|e| CompactError::BadInput(format!("not a compact request: {e}")))?;
    let started = Instant::now();
    let g = &req.group;
    if g.inputs.len() < 2 {
        return Err(CompactError::BadInput(format!(
            "group {} has {} input(s): nothing to merge",
            g.id,
            g.inputs.len()
        )));
    }
    let (name, _) = deps.registry.dataset(&req.dataset).ok_or_else(|| {
        CompactError::Config(format!("dataset {:?} is not in the registry", req.dataset))
    })?;
    let mkey = Manifest::key(&req.dataset, &req.partition, &g.id);
    let s3 = &deps.s3;

    // A manifest left by a crash is finished or rolled back first.
    if let Some(m) = get_manifest(s3, &req.bucket, &mkey).await? {
        match m.recovery() {
            Recovery::Finish { inputs } => {
                let deleted = delete_inputs(deps, &req.bucket, &inputs).await?;
                delete(s3, &req.bucket, &mkey).await?;
                info!(group = %g.id, deleted, "recovered a committed compaction");
                return Ok(json!({
                    "status": "COMPACTED", "recovered": "finished the commit of an earlier run",
                    "output": format!("s3://{}/{}", req.bucket, g.output),
                    "inputs": inputs.len(), "rowsIn": m.rows_in, "rowsOut": m.rows_in,
                }));
            }
            Recovery::RollBack { outputs } => {
                for o in &outputs {
                    delete(s3, &req.bucket, o).await?;
                }
                delete(s3, &req.bucket, &mkey).await?;
                warn!(group = %g.id, "rolled back an unfinished compaction; starting over");
            }
        }
    }

    // 1. Footers at the planned ETags: rows and schemas.
    let mut metas = Vec::with_capacity(g.inputs.len());
    let mut rows_in = 0u64;
    let mut schema: Option<(String, arrow_schema::SchemaRef)> = None;
    for f in &g.inputs {
        let mut file = S3File::new(s3.clone(), object(&req.bucket, f));
        let meta = match file.metadata().await {
            Ok(m) => m,
            Err(_) if file.replaced() => return Ok(stale(&req, f)),
            Err(e) => {
                return Err(CompactError::Transient(format!(
                    "reading the footer of s3://{}/{}: {e}",
                    req.bucket, f.key
                )))
            }
        };
        let fm = meta.file_metadata();
        let this =
            parquet::arrow::parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata())
                .map_err(|e| {
                    CompactError::Failed(format!("schema of s3://{}/{}: {e}", req.bucket, f.key))
                })?;
        match &schema {
            None => schema = Some((f.key.clone(), Arc::new(this))),
            Some((first, s)) => {
                if let Some(diff) = schema_difference(s, &this) {
                    return Err(CompactError::SchemaDrift(format!(
                        "s3://{}/{} does not match s3://{}/{first}: {diff}; nothing was merged. Re-curate the file under the current registry, or move it out of the partition",
                        req.bucket, f.key, req.bucket
                    )));
                }
            }
        }
        rows_in += u64::try_from(fm.num_rows()).unwrap_or(0);
        metas.push(meta);
    }
    let (_, schema) = schema.expect("at least two inputs");

    // 2. The manifest, created only if absent: one run per group at a time.
    let mut manifest = Manifest {
        version: 1,
        dataset: req.dataset.clone(),
        partition: req.partition.clone(),
        group: g.id.clone(),
        inputs: g.inputs.clone(),
        outputs: vec![g.output.clone()],
        rows_in,
        state: ManifestState::Writing,
        execution: req.execution.clone(),
    };
    if !put_manifest(s3, &req.bucket, &mkey, &manifest, true).await? {
        return Err(CompactError::Transient(format!(
            "another run is compacting group {} right now (its manifest {mkey} exists)",
            g.id
        )));
    }
    crash(deps, Step::ManifestWritten)?;

    // 3. The output.
    let prov = Provenance {
        source: format!(
            "s3://{}/{} ({} files compacted)",
            req.bucket,
            g.output.rsplit_once('/').map_or("", |(p, _)| p),
            g.inputs.len()
        ),
        source_version: g.id.clone(),
        dataset: name.to_string(),
        registry_sha256: deps.registry_sha256.clone(),
    };
    let target = upload::Target {
        bucket: req.bucket.clone(),
        key: g.output.clone(),
        metadata: vec![
            ("lakeline-compacted-from".into(), g.inputs.len().to_string()),
            ("lakeline-group".into(), g.id.clone()),
        ],
    };
    let (tx, uploader) = upload::start(s3.clone(), target.clone());
    let writer = PartWriter::new(tx, deps.part_size);
    let merged = merge(deps, &req, schema, metas, writer, &prov).await;
    let mut parts = uploader
        .await
        .map_err(|e| CompactError::Transient(format!("upload task failed: {e}")))?;
    let (rows_out, tail) = match merged {
        Ok(Merged::Done(rows, tail)) => (rows, tail),
        Ok(Merged::Stale(f)) => {
            parts.abort(s3, &target).await;
            delete(s3, &req.bucket, &mkey).await?;
            return Ok(stale(&req, &f));
        }
        Err(e) => {
            parts.abort(s3, &target).await;
            delete(s3, &req.bucket, &mkey).await?;
            return Err(match parts.error.take() {
                Some(u) => CompactError::from_lib(u, "uploading the output"),
                None => e,
            });
        }
    };
    if let Some(e) = parts.error.take() {
        parts.abort(s3, &target).await;
        delete(s3, &req.bucket, &mkey).await?;
        return Err(CompactError::from_lib(e, "uploading the output"));
    }
    if rows_out != rows_in {
        parts.abort(s3, &target).await;
        delete(s3, &req.bucket, &mkey).await?;
        return Err(CompactError::RowCount(format!(
            "group {}: {rows_out} rows written but its inputs hold {rows_in}; nothing was committed",
            g.id
        )));
    }
    let written = parts
        .commit(s3, &target, tail)
        .await
        .map_err(|e| CompactError::from_lib(e, "committing the output"))?;
    crash(deps, Step::OutputWritten)?;

    // 4.-6. Commit: from here on the next run finishes rather than rolls back.
    manifest.state = ManifestState::Committed;
    put_manifest(s3, &req.bucket, &mkey, &manifest, false).await?;
    crash(deps, Step::Committed)?;
    let deleted = delete_inputs(deps, &req.bucket, &g.inputs).await?;
    delete(s3, &req.bucket, &mkey).await?;

    Emf::new(&[("Function", "compact"), ("Dataset", req.dataset.as_str())])
        .metric("FilesCompacted", Unit::Count, g.inputs.len() as f64)
        .metric("RowsCompacted", Unit::Count, rows_out as f64)
        .metric("BytesIn", Unit::Bytes, g.bytes as f64)
        .metric("BytesOut", Unit::Bytes, written.bytes as f64)
        .metric(
            "CompactMilliseconds",
            Unit::Milliseconds,
            started.elapsed().as_millis() as f64,
        )
        .emit();
    info!(dataset = %req.dataset, partition = %req.partition, group = %g.id, inputs = g.inputs.len(), rows = rows_out, bytes = written.bytes, "compacted");
    Ok(json!({
        "status": "COMPACTED",
        "output": format!("s3://{}/{}", req.bucket, g.output),
        "key": g.output,
        "inputs": g.inputs.len(),
        "inputsDeleted": deleted,
        "rowsIn": rows_in,
        "rowsOut": rows_out,
        "bytesIn": g.bytes,
        "bytesOut": written.bytes,
        "seconds": started.elapsed().as_millis() as f64 / 1000.0,
    }))
}

fn object(bucket: &str, f: &DataFile) -> S3Object {
    S3Object {
        bucket: bucket.to_string(),
        key: f.key.clone(),
        etag: Some(f.etag.clone()),
        version_id: None,
        size: f.size,
    }
}

fn stale(req: &CompactRequest, f: &DataFile) -> Value {
    warn!(key = %f.key, group = %req.group.id, "an input changed since the plan; nothing done");
    json!({
        "status": "STALE_PLAN",
        "why": format!("s3://{}/{} changed or disappeared since the partition was planned; nothing was merged or deleted (the next sweep plans again)", req.bucket, f.key),
    })
}

/// What differs between two schemas (names, types, nullability; metadata ignored).
fn schema_difference(a: &arrow_schema::Schema, b: &arrow_schema::Schema) -> Option<String> {
    let show = |s: &arrow_schema::Schema| {
        s.fields()
            .iter()
            .map(|f| {
                format!(
                    "{} {}{}",
                    f.name(),
                    f.data_type(),
                    if f.is_nullable() { "" } else { " not null" }
                )
            })
            .collect::<Vec<_>>()
    };
    let (x, y) = (show(a), show(b));
    if x == y {
        return None;
    }
    let first = x
        .iter()
        .zip(&y)
        .find(|(p, q)| p != q)
        .map(|(p, q)| format!("column {q:?} where the group has {p:?}"))
        .unwrap_or_else(|| format!("{} columns where the group has {}", y.len(), x.len()));
    Some(first)
}

enum Merged {
    Done(u64, Vec<u8>),
    Stale(DataFile),
}

/// Streams every input's batches, in key order, into one writer on a blocking thread.
async fn merge(
    deps: &Deps,
    req: &CompactRequest,
    schema: arrow_schema::SchemaRef,
    metas: Vec<Arc<parquet::file::metadata::ParquetMetaData>>,
    writer: PartWriter,
    prov: &Provenance,
) -> Result<Merged, CompactError> {
    let rt = tokio::runtime::Handle::current();
    let registry = Arc::clone(&deps.registry);
    let (s3, req, prov) = (deps.s3.clone(), req.clone(), prov.clone());
    tokio::task::spawn_blocking(move || {
        let (_, ds) = registry
            .dataset(&req.dataset)
            .expect("looked up by the handler");
        let props = curate::writer_properties(ds, &prov);
        let mut w = ArrowWriter::try_new(writer, schema, Some(props))
            .map_err(|e| CompactError::Failed(format!("starting the Parquet writer: {e}")))?;
        let mut rows = 0u64;
        for (f, meta) in req.group.inputs.iter().zip(metas) {
            let file = S3File::new(s3.clone(), object(&req.bucket, f));
            let probe = file.clone();
            let batches = Batches::open(&rt, file, None, Some(meta), curate::BATCH_ROWS)
                .map_err(|e| CompactError::Transient(format!("reading {}: {e}", f.key)))?;
            for b in batches {
                let b = match b {
                    Ok(b) => b,
                    Err(_) if probe.replaced() => return Ok(Merged::Stale(f.clone())),
                    Err(e) => {
                        return Err(CompactError::Transient(format!("reading {}: {e}", f.key)))
                    }
                };
                rows += b.num_rows() as u64;
                w.write(&b)
                    .map_err(|e| CompactError::Failed(format!("writing Parquet: {e}")))?;
            }
        }
        let out = w
            .into_inner()
            .map_err(|e| CompactError::Failed(format!("finishing the Parquet file: {e}")))?;
        Ok(Merged::Done(rows, out.into_tail()))
    })
    .await
    .map_err(|e| CompactError::Failed(format!("merge task failed: {e}")))?
}

async fn get_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Manifest>, CompactError> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| CompactError::Transient(format!("reading {key}: {e}")))?
                .into_bytes();
            serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| CompactError::Failed(format!("manifest s3://{bucket}/{key} is unreadable ({e}): inspect it, then delete it to let the group run again")))
        }
        Err(e) if laws::is_gone(&e) => Ok(None),
        Err(e) => Err(CompactError::from_lib(
            laws::sdk_error(&format!("GetObject {key}"), &e),
            "reading the manifest",
        )),
    }
}

/// Writes the manifest; `create`: only if absent (false when it exists).
async fn put_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    m: &Manifest,
    create: bool,
) -> Result<bool, CompactError> {
    let mut put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(serde_json::to_vec(m).expect("manifest serialises").into());
    if create {
        put = put.if_none_match("*");
    }
    match put.send().await {
        Ok(_) => Ok(true),
        Err(e) if create && e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
            Ok(false)
        }
        Err(e) => Err(CompactError::from_lib(
            laws::sdk_error(&format!("PutObject {key}"), &e),
            "writing the manifest",
        )),
    }
}

async fn delete(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), CompactError> {
    match s3.delete_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(()),
        Err(e) if laws::is_gone(&e) => Ok(()),
        Err(e) => Err(CompactError::from_lib(
            laws::sdk_error(&format!("DeleteObject {key}"), &e),
            "deleting",
        )),
    }
}

/// Deletes inputs at their planned ETags; one gone or re-written meanwhile is left alone (a
/// re-written input holds new rows the output does not have). Returns how many were deleted.
async fn delete_inputs(
    deps: &Deps,
    bucket: &str,
    inputs: &[DataFile],
) -> Result<usize, CompactError> {
    let mut n = 0;
    for f in inputs {
        let res = deps
            .s3
            .delete_object()
            .bucket(bucket)
            .key(&f.key)
            .if_match(&f.etag)
            .send()
            .await;
        match res {
            Ok(_) => n += 1,
            Err(e) if laws::is_gone(&e) => {
                warn!(key = %f.key, "input already gone or re-written; kept as it is")
            }
            Err(e) => {
                return Err(CompactError::from_lib(
                    laws::sdk_error(&format!("DeleteObject {}", f.key), &e),
                    "deleting an input",
                ))
            }
        }
        if n == 1 {
            crash(deps, Step::FirstInputDeleted)?;
        }
    }
    Ok(n)
}
