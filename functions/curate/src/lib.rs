//! curate: the `lambda` engine. One valid upload becomes one typed, zstd-compressed Parquet
//! object under its dataset's target prefix (`curated/{dataset}/{partition}/` by default).
//!
//! Input (the pipeline's Curate task passes the execution input through):
//!
//! ```json
//! {"bucket": "lake", "key": "raw/orders/dt=2026-11-25/a.csv", "etag": "…", "versionId": null,
//!  "dataset": "orders", "partition": "dt=2026-11-25", "rows": 123, "size": 4567}
//! ```
//!
//! - Every read is conditional on the ETag (or version) that validation judged, so the bytes
//!   curated are the bytes validated; a replaced object is `SUPERSEDED` (its own execution
//!   curates the new one), never an error and never a success.
//! - The conversion is validation's own engine with a row sink ([`lakeline_core::curate`]), so the
//!   rows written are exactly the rows validated, and their count must equal the execution's
//!   `rows` before anything is committed.
//! - Output goes out by multipart upload in fixed-size parts ([`upload`]): memory holds a few
//!   parts and one row group, whatever the file size. Nothing appears under the final key
//!   until the upload completes; every failure aborts it.
//! - The key is a pure function of the raw key ([`lakeline_core::curate::output_key`]), and the
//!   content a pure function of the bytes and the registry: a retry writes the same object.
//! - Curate stops itself [`DEADLINE_MARGIN`] before Lambda's timeout and fails with
//!   `Lakeline.TooLarge` naming what to set, rather than being killed silently.

mod parquet_in;
mod table;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use lakeline_aws as laws;
use lakeline_aws::Emit;
use lakeline_core::curate::{self, Curated, Provenance, TableShape};
use lakeline_core::error_names;
use lakeline_core::jobs::{self, Route};
use lakeline_core::metrics::{Emf, Unit};
use lakeline_core::registry::{Format, Registry};
use lakeline_table::Tables;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::io::SyncIoBridge;
use tracing::{info, warn};

use lakeline_aws::upload;
pub use lakeline_aws::upload::PART_SIZE;

/// The largest row group of a Parquet input curate reads (its declared columns, compressed):
/// the reader fetches a row group's column chunks whole, and at 2,048 MB a quarter of the
/// memory leaves room for their decoding and the output's row group.
pub const MAX_ROW_GROUP_BYTES: u64 = 512 << 20;

/// How long before Lambda's deadline curate gives up on its own, aborting the upload and
/// saying so: time enough to abort and answer (see [`stop_before`]).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

/// Everything the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    /// S3 client.
    pub s3: aws_sdk_s3::Client,
    /// The dataset registry.
    pub registry: Arc<Registry>,
    /// [`Registry::content_hash`], written into every curated object.
    pub registry_sha256: String,
    /// Part size of the multipart upload (tests shrink it to exercise many parts).
    pub part_size: usize,
    /// A Parquet input's largest row group (the declared columns' compressed bytes): the
    /// reader holds a row group's column chunks at once, so a larger one is refused up front
    /// ([`MAX_ROW_GROUP_BYTES`]; tests lower it).
    pub max_row_group_bytes: u64,
    /// The datasets' Iceberg tables, when the stack has them (`LAKELINE_TABLE_BUCKET_ARN`):
    /// each upload becomes a data file committed to its dataset's table. `None`: the
    /// `curated/` prefix layout, until table maintenance retires it.
    pub tables: Option<Arc<Tables>>,
}

impl Deps {
    /// Builds everything from the environment: `LAKELINE_REGISTRY`, and the tables'
    /// `LAKELINE_TABLE_BUCKET_ARN` with `LAKELINE_TABLE_NAMESPACE` (default `lakeline`).
    pub async fn from_env(
        conf: &aws_config::SdkConfig,
        env: &dyn laws::Env,
    ) -> Result<Deps, lakeline_core::Error> {
        let s3 = laws::s3_client(conf);
        let registry = laws::registry_from_env(env, &s3).await?;
        let tables = Tables::of_stack(conf, |name| env.var(name)).await?;
        Ok(Deps {
            registry_sha256: registry.content_hash(),
            registry: Arc::new(registry),
            s3,
            part_size: PART_SIZE,
            max_row_group_bytes: MAX_ROW_GROUP_BYTES,
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
pub enum CurateError {
    /// A transient AWS or read failure: the state machine retries; a retry writes the same.
    #[error("{0}")]
    Transient(String),
    /// Registry, permissions or environment: a human must fix something.
    #[error("{0}")]
    Config(String),
    /// The payload is not a curate request.
    #[error("{0}")]
    BadInput(String),
    /// The file does not pass its dataset's rules now (the registry changed since it was
    /// validated): nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// Rows written differ from rows validated: nothing was committed.
    #[error("{0}")]
    RowCount(String),
    /// The file is too large for the lambda engine: nothing was written; the message says
    /// what to set.
    #[error("{0}")]
    TooLarge(String),
    /// Validation and conversion disagree, or the output could not be produced.
    #[error("{0}")]
    Failed(String),
}

impl CurateError {
    /// The stable Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            CurateError::Transient(_) => error_names::TRANSIENT,
            CurateError::Config(_) => error_names::CONFIG,
            CurateError::BadInput(_) => error_names::BAD_INPUT,
            CurateError::Invalid(_) => error_names::INVALID,
            CurateError::RowCount(_) => error_names::ROW_COUNT,
            CurateError::TooLarge(_) => error_names::TOO_LARGE,
            CurateError::Failed(_) => error_names::CURATE_FAILED,
        }
    }

    /// Classifies an SDK error: transient ones are retried, the rest need a human.
    pub(crate) fn from_sdk<E>(what: &str, e: &SdkError<E, HttpResponse>) -> CurateError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let msg = format!("{what}: {}", laws::describe(e));
        if laws::is_transient(e) {
            CurateError::Transient(msg)
        } else {
            CurateError::Config(msg)
        }
    }

    pub(crate) fn from_lib(e: lakeline_core::Error, what: &str) -> CurateError {
        use lakeline_core::Error as L;
        let msg = format!("{what}: {e}");
        match e {
            L::Aws { transient: true, .. } => CurateError::Transient(msg),
            L::Aws { .. } => CurateError::Config(msg),
            L::Source(_) | L::Input(_) => CurateError::Transient(msg),
            L::Invalid(_) => CurateError::Invalid(format!(
                "{msg}. It passed validation, so the dataset's rules changed since: fix the file or the registry, then re-run the upload"
            )),
            L::RowCount { .. } => CurateError::RowCount(msg),
            L::Registry { .. } | L::RegistryUnreadable { .. } | L::Env { .. } => {
                CurateError::Config(msg)
            }
            L::Output(_) | L::Unconvertible { .. } => CurateError::Failed(msg),
        }
    }
}

impl From<CurateError> for lambda_runtime::Diagnostic {
    fn from(e: CurateError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// The Curate task's payload: the execution input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurateRequest {
    /// Bucket.
    pub bucket: String,
    /// Raw key (decoded).
    pub key: String,
    /// The ETag validation judged.
    #[serde(default)]
    pub etag: Option<String>,
    /// The version validation judged, on versioned buckets.
    #[serde(default)]
    pub version_id: Option<String>,
    /// Dataset.
    pub dataset: String,
    /// Partition label (`-` or absent when the dataset has none).
    #[serde(default)]
    pub partition: Option<String>,
    /// Rows validation counted; the output must have exactly these.
    #[serde(default)]
    pub rows: Option<u64>,
    /// The execution curating it, recorded in the table's snapshot.
    #[serde(default)]
    pub execution: Option<String>,
    /// `lakeline reprocess`'s rules pass: the rows are recorded at the upload's version with
    /// the pass ([`lakeline_core::table::delivery_version`]), so they replace what the table
    /// holds of the upload, once.
    #[serde(default)]
    pub reprocess: Option<String>,
}

impl CurateRequest {
    fn partition(&self) -> Option<&str> {
        self.partition
            .as_deref()
            .filter(|p| !p.is_empty() && *p != "-")
    }
}

/// The Lambda deadline (milliseconds since the epoch, from the runtime) as an `Instant`.
///
/// `None` when there is none, or when it is less than a second away as the handler starts:
/// Lambda never does that, but a local emulator that counts its own build of the function
/// against the deadline does, and a deadline already gone would stop every conversion at once.
pub fn deadline_of(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let at = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    if left < Duration::from_secs(1) {
        warn!(
            ?left,
            "the invocation deadline is already (almost) past; running without one"
        );
        return None;
    }
    Some(Instant::now() + left)
}

/// When to give up, for an invocation ending at `deadline`: [`DEADLINE_MARGIN`] before it, or
/// a tenth of the time left when that is shorter (a function configured with a short timeout
/// still gets most of it).
pub fn stop_before(deadline: Instant, now: Instant) -> Instant {
    let left = deadline.saturating_duration_since(now);
    deadline - DEADLINE_MARGIN.min(left / 10)
}

/// The raw object as validated.
pub(crate) type Source = lakeline_aws::parquet::S3Object;

/// Handles one invocation. `deadline`: when Lambda will stop this invocation.
pub async fn handle(
    deps: &Deps,
    payload: Value,
    deadline: Option<Instant>,
) -> Result<Value, CurateError> {
    let action = payload["action"].as_str().unwrap_or_default().to_string();
    let req: CurateRequest = serde_json::from_value(payload)
        .map_err(|e| CurateError::BadInput(format!("not a curate request: {e}")))?;
    if matches!(action.as_str(), "commitStaged" | "withdraw") {
        let tables = deps.tables.as_ref().ok_or_else(|| {
            CurateError::Config(format!(
                "{action}: this function has no tables (LAKELINE_TABLE_BUCKET_ARN)"
            ))
        })?;
        return match action.as_str() {
            "withdraw" => table::withdraw(deps, tables, &req).await,
            _ => table::commit_staged(deps, tables, &req).await,
        };
    }
    let started = Instant::now();
    let (name, ds) = deps.registry.dataset(&req.dataset).ok_or_else(|| {
        CurateError::Config(format!("dataset {:?} is not in the registry", req.dataset))
    })?;
    let Some(size) = head(deps, &req).await? else {
        return Ok(superseded(
            &req,
            "the object was replaced or deleted since it was validated",
        ));
    };
    let prefix = match jobs::route(
        name.as_str(),
        ds.job.as_ref(),
        ds.format,
        size,
        ds.is_gzip(&req.key),
    ) {
        Route::TooLarge(why) => return Err(CurateError::TooLarge(why)),
        Route::Lambda(p) => p,
        // The registry now sends this size to Spark, but the pipeline routed it here (the
        // registry changed in between): curating it here is still right, into the same prefix.
        Route::Spark(j) => j.target_prefix(),
    };
    let src = Source {
        bucket: req.bucket.clone(),
        key: req.key.clone(),
        etag: req.etag.clone(),
        version_id: req.version_id.clone(),
        size,
    };
    let prov = Provenance {
        source: format!("s3://{}/{}", req.bucket, req.key),
        source_version: req
            .version_id
            .clone()
            .or_else(|| req.etag.clone())
            .unwrap_or_default(),
        dataset: name.to_string(),
        registry_sha256: deps.registry_sha256.clone(),
    };
    let dest = match &deps.tables {
        Some(tables) => match table::prepare(tables, &req, name, ds).await? {
            table::Prepared::Write(w) => Dest::Table(w),
            table::Prepared::Already(answer) => return Ok(answer),
        },
        None => {
            let key = curate::output_key(&prefix.render(name.as_str(), req.partition()), &req.key);
            Dest::Prefix(upload::Target {
                bucket: req.bucket.clone(),
                key,
                metadata: vec![
                    ("lakeline-source".into(), prov.source.clone()),
                    (
                        "lakeline-source-version".into(),
                        prov.source_version.clone(),
                    ),
                    ("lakeline-dataset".into(), prov.dataset.clone()),
                ],
            })
        }
    };
    let (target, shape) = match &dest {
        Dest::Prefix(t) => (t.clone(), None),
        Dest::Table(w) => (w.target.clone(), Some(w.shape.clone())),
    };
    let out_key = target.key.clone();
    let stop_at = deadline.map(|d| stop_before(d, Instant::now()));
    let (tx, uploader) = upload::start(deps.s3.clone(), target.clone());
    let converted = convert(deps, &req, ds.format, src, prov, shape, tx, stop_at).await;
    let mut parts = uploader.await.map_err(|e| {
        CurateError::Transient(format!(
            "upload task of s3://{}/{out_key} failed: {e}",
            target.bucket
        ))
    })?;
    let (curated, tail) = match converted {
        Ok(Converted::Done(c, tail)) => (c, tail),
        Ok(Converted::Superseded(why)) => {
            parts.abort(&deps.s3, &target).await;
            return Ok(superseded(&req, &why));
        }
        Err(e) => {
            parts.abort(&deps.s3, &target).await;
            // A failed part upload surfaces in the writer as a broken pipe: name the cause.
            return Err(match parts.error {
                Some(u) => CurateError::from_lib(u, "uploading"),
                None => e,
            });
        }
    };
    if let Some(e) = parts.error.take() {
        parts.abort(&deps.s3, &target).await;
        return Err(CurateError::from_lib(e, "uploading"));
    }
    // The reader stops at `stop_at`, but the last row group's flush comes after it: when that
    // ate the margin, there is no time left to commit safely, only to abort.
    if stop_at.is_some_and(|t| Instant::now() >= t) {
        parts.abort(&deps.s3, &target).await;
        return Err(too_slow(&format!("s3://{}/{}", req.bucket, req.key), size));
    }
    if let Some(expected) = req.rows.filter(|&n| n != curated.rows) {
        parts.abort(&deps.s3, &target).await;
        return Err(CurateError::RowCount(format!(
            "s3://{}/{}: curated {} rows but validation counted {expected}; nothing was committed",
            req.bucket, req.key, curated.rows
        )));
    }
    // A newer upload of the same key gets its own execution, which writes this same curated
    // key (or replaces this key's rows in the table): committing after it would put old rows
    // back. The check is the last thing before the commit, so the window left is one request
    // long.
    let current = head(
        deps,
        &CurateRequest {
            version_id: None,
            ..req.clone()
        },
    )
    .await;
    match current {
        Ok(Some(_)) => {}
        Ok(None) => {
            parts.abort(&deps.s3, &target).await;
            return Ok(superseded(
                &req,
                "a newer upload replaced the object while it was curated",
            ));
        }
        // Not known whether the upload is still current: commit nothing, and leave no upload
        // open (the retry starts its own).
        Err(e) => {
            parts.abort(&deps.s3, &target).await;
            return Err(e);
        }
    }
    let written = parts
        .commit(&deps.s3, &target, tail)
        .await
        .map_err(|e| CurateError::from_lib(e, "committing"))?;
    let seconds = |started: Instant| (started.elapsed().as_millis() as f64) / 1000.0;
    match dest {
        Dest::Table(w) => {
            let tables = deps
                .tables
                .as_ref()
                .expect("a table destination has tables");
            let answer = table::commit(
                deps,
                &req,
                tables,
                w,
                &curated,
                written.bytes,
                seconds(started),
            )
            .await?;
            // Counted as curated only when its rows went into the table (not when another
            // execution of the same delivery had committed them first).
            if answer["status"] == "COMMITTED" {
                emit_metrics(&req.dataset, &curated, written.bytes, started.elapsed());
                emit_commit_metrics(&req.dataset, &answer);
            }
            Ok(answer)
        }
        Dest::Prefix(_) => {
            emit_metrics(&req.dataset, &curated, written.bytes, started.elapsed());
            info!(dataset = %req.dataset, source = %req.key, output = %out_key, rows = curated.rows, bytes = written.bytes, "curated");
            Ok(json!({
                "status": "CURATED",
                "engine": "lambda",
                "output": format!("s3://{}/{out_key}", req.bucket),
                "key": out_key,
                "etag": written.etag,
                "rows": curated.rows,
                "rowGroups": curated.row_groups,
                "bytes": written.bytes,
                "parts": written.parts,
                "bytesRead": curated.bytes_read,
                "columns": curated.columns,
                "seconds": seconds(started),
            }))
        }
    }
}

/// Where a curated upload goes.
enum Dest {
    /// An object under the dataset's prefix (the `curated/` layout).
    Prefix(upload::Target),
    /// A data file of the dataset's table, committed once written.
    Table(Box<table::ToWrite>),
}

fn superseded(req: &CurateRequest, why: &str) -> Value {
    warn!(key = %req.key, %why, "superseded; nothing curated");
    json!({
        "status": "SUPERSEDED",
        "engine": "lambda",
        "key": req.key,
        "why": format!("{why}; nothing was curated (the newer upload's own execution curates it)"),
    })
}

enum Converted {
    Done(Curated, Vec<u8>),
    Superseded(String),
}

/// HEAD of the raw object: its size, or `None` when it is gone or its ETag is no longer the
/// one validated (compared here rather than with If-Match, which not every S3 implementation
/// honours on HEAD).
/// Whether the request's upload is still its key's current object: the current version's id
/// is the request's (on a versioned bucket), else its ETag is.
async fn is_current(deps: &Deps, req: &CurateRequest) -> Result<bool, CurateError> {
    let res = deps
        .s3
        .head_object()
        .bucket(&req.bucket)
        .key(&req.key)
        .send()
        .await;
    match res {
        Ok(h) => Ok(match (&req.version_id, h.version_id()) {
            (Some(want), Some(got)) => want == got,
            _ => req.etag.as_deref().is_none_or(|want| {
                want.trim_matches('"') == h.e_tag().unwrap_or_default().trim_matches('"')
            }),
        }),
        Err(e) if laws::is_gone(&e) => Ok(false),
        Err(e) => Err(CurateError::from_sdk(
            &format!("HeadObject s3://{}/{}", req.bucket, req.key),
            &e,
        )),
    }
}

async fn head(deps: &Deps, req: &CurateRequest) -> Result<Option<u64>, CurateError> {
    let res = deps
        .s3
        .head_object()
        .bucket(&req.bucket)
        .key(&req.key)
        .set_version_id(req.version_id.clone())
        .send()
        .await;
    match res {
        Ok(h) => {
            let etag = h.e_tag().unwrap_or_default().trim_matches('"');
            if req
                .etag
                .as_deref()
                .is_some_and(|want| want.trim_matches('"') != etag)
            {
                return Ok(None);
            }
            Ok(Some(h.content_length().unwrap_or(0).max(0) as u64))
        }
        Err(e) if laws::is_gone(&e) => Ok(None),
        Err(e) => Err(CurateError::from_sdk(
            &format!("HeadObject s3://{}/{}", req.bucket, req.key),
            &e,
        )),
    }
}

#[allow(clippy::too_many_arguments)] // one conversion's settings, moved to a blocking thread
async fn convert(
    deps: &Deps,
    req: &CurateRequest,
    format: Format,
    src: Source,
    prov: Provenance,
    shape: Option<TableShape>,
    tx: upload::PartSender,
    stop_at: Option<Instant>,
) -> Result<Converted, CurateError> {
    let writer = upload::PartWriter::new(tx, deps.part_size);
    let registry = Arc::clone(&deps.registry);
    let name = req.dataset.clone();
    let shown = format!("s3://{}/{}", src.bucket, src.key);
    if format == Format::Parquet {
        return parquet_in::convert(
            deps.s3.clone(),
            registry,
            name,
            src,
            prov,
            shape,
            writer,
            stop_at,
            deps.max_row_group_bytes,
        )
        .await;
    }
    let get = deps
        .s3
        .get_object()
        .bucket(&src.bucket)
        .key(&src.key)
        .set_version_id(src.version_id.clone())
        .set_if_match(src.etag.clone())
        .send()
        .await;
    let body = match get {
        Ok(out) => out.body,
        Err(e) if laws::is_gone(&e) => {
            return Ok(Converted::Superseded(
                "the object was replaced or deleted since it was validated".into(),
            ))
        }
        Err(e) => return Err(CurateError::from_sdk(&format!("GetObject {shown}"), &e)),
    };
    let reader = Deadline::new(SyncIoBridge::new(body.into_async_read()), stop_at);
    let key = src.key.clone();
    let max = deps.registry.lake.max_problems;
    let res = tokio::task::spawn_blocking(move || {
        let (_, ds) = registry.dataset(&name).expect("looked up above");
        let res =
            curate::curate_stream_as(&name, ds, &key, max, reader, writer, &prov, shape.as_ref());
        res.map(|(c, w)| (c, w.into_tail()))
    })
    .await
    .map_err(|e| CurateError::Failed(format!("conversion task failed: {e}")))?;
    match res {
        Ok((c, tail)) => Ok(Converted::Done(c, tail)),
        Err(lakeline_core::Error::Source(e)) if e.source.kind() == std::io::ErrorKind::TimedOut => {
            Err(too_slow(&shown, src.size))
        }
        Err(e) => Err(CurateError::from_lib(e, &format!("curating {shown}"))),
    }
}

pub(crate) fn too_slow(shown: &str, size: u64) -> CurateError {
    CurateError::TooLarge(format!(
        "{shown} ({}) could not be curated within this function's timeout; nothing was written. Give the dataset a Spark engine for files this large (job: {{engine: glue, job_name: <job>, above: <size>}}), raise the function's memory (more CPU) or split the file",
        lakeline_core::size::ByteSize(size)
    ))
}

/// A reader that fails with `TimedOut` once `stop_at` has passed, so a conversion that would
/// outlive the invocation ends cleanly, with an error that says so.
pub(crate) struct Deadline<R> {
    inner: R,
    stop_at: Option<Instant>,
}

impl<R> Deadline<R> {
    pub(crate) fn new(inner: R, stop_at: Option<Instant>) -> Self {
        Deadline { inner, stop_at }
    }
}

impl<R: std::io::Read> std::io::Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop_at.is_some_and(|t| Instant::now() >= t) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "stopped before the Lambda timeout",
            ));
        }
        self.inner.read(buf)
    }
}

fn emit_metrics(dataset: &str, c: &Curated, bytes: u64, took: Duration) {
    Emf::new(&[("Function", "curate"), ("Dataset", dataset)])
        .metric("FilesCurated", Unit::Count, 1.0)
        .metric("RowsCurated", Unit::Count, c.rows as f64)
        .metric("BytesWritten", Unit::Bytes, bytes as f64)
        .metric("BytesRead", Unit::Bytes, c.bytes_read as f64)
        .metric(
            "CurateMilliseconds",
            Unit::Milliseconds,
            took.as_millis() as f64,
        )
        .emit();
}

/// How a committed delivery got into its table: `CommitAttempts` (more than one: it lost races
/// to other writers), and `FilesCommittedInGroup` (another writer's snapshot took it in from
/// the table's board), so a dashboard shows a table's contention.
fn emit_commit_metrics(dataset: &str, answer: &Value) {
    let attempts = answer["attempts"].as_u64().unwrap_or(1);
    let grouped = answer["committedBy"] == "group";
    Emf::new(&[("Function", "curate"), ("Dataset", dataset)])
        .metric("CommitAttempts", Unit::Count, attempts as f64)
        .metric(
            "FilesCommittedInGroup",
            Unit::Count,
            if grouped { 1.0 } else { 0.0 },
        )
        .emit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_a_margin_before_the_deadline() {
        let now = Instant::now();
        for (left, margin) in [
            (Duration::from_secs(900), DEADLINE_MARGIN),
            (Duration::from_secs(300), DEADLINE_MARGIN),
            (Duration::from_secs(30), Duration::from_secs(3)),
            (Duration::from_secs(3), Duration::from_millis(300)),
            (Duration::ZERO, Duration::ZERO),
        ] {
            assert_eq!(
                stop_before(now + left, now),
                now + left - margin,
                "{left:?}"
            );
        }
    }
}
