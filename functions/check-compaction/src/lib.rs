//! check-compaction: finds partitions of a dataset's curated output that hold too many small
//! files, and requests their compaction.
//!
//! Input (one JSON object; unknown fields are ignored so the pipeline can pass its own input):
//!
//! - `{"bucket":"lake","dataset":"orders","partition":"dt=2026-11-24"}`: check one partition
//!   (from the pipeline, after the dataset's job wrote it).
//! - `{"bucket":"lake","dataset":"orders","from":"2026-11-01","to":"2026-11-24"}` or
//!   `{"bucket":"lake","dataset":"orders","prefix":"dt=2026-11"}` or neither: a sweep of every
//!   partition under the dataset's curated prefix (from a schedule).
//! - `{"action":"clear","bucket":"lake","dataset":"orders","partition":"dt=2026-11-24"}`: delete
//!   the partition's compaction marker (when its compaction finished or failed).
//! - Optional: `"execution"` (recorded in the marker), `"dry_run": true` (report only).
//!
//! Output: `{"dataset","bucket","compact":bool,"partitions":[report…],"jobs":[request…],
//! "totals":{…},"omitted":n}`. `compact` is what the state machine's Choice reads; each job is a
//! [`lakeline::compaction::CompactionJobRequest`] for start-job.
//!
//! Every decision is [`lakeline::compaction::decide`]; this crate lists S3 and writes markers.
//! A partition due for compaction gets a marker object (`<partition>/_lakeline_compaction.json`,
//! created only if absent) before its job is requested, so two overlapping checks never
//! request the same compaction twice, and later checks skip it until it is cleared or stale.

mod list;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use lakeline::compaction::{
    self, CompactionJobRequest, CompactionSettings, Decision, PartitionReport, Reason, Totals,
};
use lakeline::metrics::{Emf, Unit};
use lakeline::registry::Registry;
use lakeline::{aws as laws, error_names};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

pub use list::{discover_partitions, list_partition, list_partitions};

/// Settings from the environment, read once per cold start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Partitions listed at the same time (`LAKELINE_LIST_CONCURRENCY`, default 16).
    pub concurrency: usize,
    /// Keys per ListObjectsV2 page (1,000 is the S3 maximum; tests lower it to force pages).
    pub page_size: i32,
    /// Most compactions one invocation requests (`LAKELINE_MAX_COMPACTIONS`, default 50): a sweep
    /// over a neglected lake must not start hundreds of jobs at once.
    pub max_compactions: usize,
    /// Most partition reports in the output (`LAKELINE_MAX_REPORTED`, default 100), worst first:
    /// Step Functions payloads stop at 256 KB. Totals always cover every partition.
    pub max_reported: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            concurrency: 16,
            page_size: 1000,
            max_compactions: 50,
            max_reported: 100,
        }
    }
}

impl Config {
    /// Reads the optional variables above.
    pub fn from_env(env: &dyn lakeline::aws::Env) -> Result<Config, lakeline::Error> {
        let d = Config::default();
        Ok(Config {
            concurrency: env.positive("LAKELINE_LIST_CONCURRENCY", d.concurrency)?,
            page_size: d.page_size,
            max_compactions: env.positive("LAKELINE_MAX_COMPACTIONS", d.max_compactions)?,
            max_reported: env.positive("LAKELINE_MAX_REPORTED", d.max_reported)?,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub struct Deps {
    /// S3 client.
    pub s3: aws_sdk_s3::Client,
    /// The dataset registry.
    pub registry: Arc<Registry>,
    /// Settings.
    pub config: Config,
}

impl Deps {
    /// Builds everything from the environment: `LAKELINE_REGISTRY` and the optional settings.
    pub async fn from_env(
        conf: &aws_config::SdkConfig,
        env: &dyn lakeline::aws::Env,
    ) -> Result<Deps, lakeline::Error> {
        let s3 = lakeline::aws::s3_client(conf);
        let registry = lakeline::aws::registry_from_env(env, &s3).await?;
        Ok(Deps {
            s3,
            registry: Arc::new(registry),
            config: Config::from_env(env)?,
        })
    }
}

/// The function's error; its `errorType` is one of [`lakeline::error_names`].
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A transient AWS failure: retrying the invocation is safe.
    #[error("{0}")]
    Transient(String),
    /// Configuration or permissions: a human must fix something.
    #[error("{0}")]
    Config(String),
    /// The input names no known dataset, or is malformed.
    #[error("{0}")]
    BadInput(String),
}

impl HandlerError {
    /// The stable Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Transient(_) => error_names::TRANSIENT,
            HandlerError::Config(_) => error_names::CONFIG,
            HandlerError::BadInput(_) => error_names::BAD_INPUT,
        }
    }

    fn from_sdk<E>(what: &str, e: &SdkError<E, HttpResponse>) -> HandlerError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let msg = format!("{what}: {}", laws::describe(e));
        if laws::is_transient(e) {
            HandlerError::Transient(msg)
        } else {
            HandlerError::Config(msg)
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// What the invocation should do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Check one partition, or sweep when no partition is given.
    #[default]
    Check,
    /// Remove a partition's compaction marker.
    Clear,
}

/// The invocation input (see the crate documentation).
#[derive(Debug, Clone, Deserialize)]
pub struct Input {
    /// What to do.
    #[serde(default)]
    pub action: Action,
    /// The lake bucket.
    pub bucket: String,
    /// The dataset.
    pub dataset: String,
    /// One partition, e.g. `dt=2026-11-24`.
    #[serde(default)]
    pub partition: Option<String>,
    /// Sweep: first date (inclusive) of `dt=` partitions.
    #[serde(default)]
    pub from: Option<String>,
    /// Sweep: last date (inclusive).
    #[serde(default)]
    pub to: Option<String>,
    /// Sweep: only partitions whose name starts with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The pipeline execution asking, recorded in the marker.
    #[serde(default)]
    pub execution: Option<String>,
    /// Report only: write no marker, request nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The result of a check or sweep.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutput {
    /// Dataset.
    pub dataset: String,
    /// Bucket.
    pub bucket: String,
    /// Whether any compaction was requested (`jobs` is not empty).
    pub compact: bool,
    /// Partition reports, worst first, at most `max_reported`.
    pub partitions: Vec<PartitionReport>,
    /// Reports left out of `partitions`.
    pub omitted: usize,
    /// One request per partition to compact.
    pub jobs: Vec<CompactionJobRequest>,
    /// Sums over every partition checked.
    pub totals: Totals,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Handles one invocation.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let input: Input = serde_json::from_value(payload)
        .map_err(|e| HandlerError::BadInput(format!("not a check-compaction input: {e}")))?;
    let (_, dataset) = deps.registry.dataset(&input.dataset).ok_or_else(|| {
        HandlerError::BadInput(format!("no dataset {:?} in the registry", input.dataset))
    })?;
    let settings = dataset.compaction.clone().unwrap_or_default();
    let curated = settings.curated_prefix(&input.dataset);
    let partition = match input.partition.as_deref() {
        Some(p)
            if p.is_empty()
                || p == "-"
                || p.starts_with('/')
                || p.split('/').any(|s| s == "..") =>
        {
            return Err(HandlerError::BadInput(format!(
                "partition {p:?} names no partition folder"
            )))
        }
        p => p.map(|p| p.trim_end_matches('/').to_string()),
    };
    match (input.action, partition) {
        (Action::Clear, Some(p)) => clear(deps, &input.bucket, &curated, &p).await,
        (Action::Clear, None) => Err(HandlerError::BadInput("clear needs a partition".into())),
        (Action::Check, p) => {
            let out = check(deps, &input, &settings, &curated, p, now_secs()).await?;
            Ok(serde_json::to_value(out).expect("output serialises"))
        }
    }
}

async fn clear(
    deps: &Deps,
    bucket: &str,
    curated: &str,
    partition: &str,
) -> Result<Value, HandlerError> {
    let key = compaction::marker_key(&compaction::partition_prefix(curated, partition));
    // DeleteObject succeeds whether or not the marker exists, so a retried clear is a no-op.
    deps.s3
        .delete_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("DeleteObject (compaction marker)", &e))?;
    info!(%bucket, %key, "compaction marker cleared");
    Ok(json!({"action": "clear", "bucket": bucket, "partition": partition, "marker_key": key}))
}

/// Parses an inclusive sweep bound into days since the epoch.
fn date_bound(v: Option<&str>, what: &str) -> Result<Option<i64>, HandlerError> {
    v.map(|d| {
        compaction::partition_date(&format!("dt={d}"))
            .ok_or_else(|| HandlerError::BadInput(format!("{what} {d:?} is not a date YYYY-MM-DD")))
    })
    .transpose()
}

/// Checks one partition or sweeps, requests compactions, emits metrics. `now` in epoch seconds.
pub async fn check(
    deps: &Deps,
    input: &Input,
    settings: &CompactionSettings,
    curated: &str,
    partition: Option<String>,
    now: i64,
) -> Result<CheckOutput, HandlerError> {
    let (s3, bucket, cfg) = (&deps.s3, input.bucket.as_str(), &deps.config);
    let names = match partition {
        Some(p) => vec![p],
        None => {
            let (from, to) = (
                date_bound(input.from.as_deref(), "from")?,
                date_bound(input.to.as_deref(), "to")?,
            );
            let all = discover_partitions(s3, bucket, curated, cfg.page_size)
                .await
                .map_err(|e| HandlerError::from_sdk("ListObjectsV2 (partitions)", &e))?;
            all.into_iter()
                .filter(|p| input.prefix.as_deref().is_none_or(|pre| p.starts_with(pre)))
                .filter(|p| {
                    // A date range selects dated partitions only.
                    if from.is_none() && to.is_none() {
                        return true;
                    }
                    compaction::partition_date(p)
                        .is_some_and(|d| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t))
                })
                .collect()
        }
    };
    let parts: Vec<(String, String)> = names
        .into_iter()
        .map(|p| {
            let pre = compaction::partition_prefix(curated, &p);
            (p, pre)
        })
        .collect();
    let listed = list_partitions(
        s3,
        bucket,
        &parts,
        cfg.concurrency,
        cfg.page_size,
        settings.small_below(),
    )
    .await
    .map_err(|e| HandlerError::from_sdk("ListObjectsV2", &e))?;

    let mut reports: Vec<PartitionReport> = listed
        .iter()
        .map(|(p, st)| compaction::decide(p, st, settings, now))
        .collect();
    compaction::sort_worst_first(&mut reports);

    let mut jobs = Vec::new();
    for r in reports
        .iter_mut()
        .filter(|r| r.decision == Decision::Compact)
    {
        if input.dry_run {
            continue;
        }
        if jobs.len() >= cfg.max_compactions {
            r.decision = Decision::Skip;
            r.reason_code = Reason::Deferred;
            r.reason = format!(
                "due, but this run already requested {} compactions",
                cfg.max_compactions
            );
            continue;
        }
        let prefix = compaction::partition_prefix(curated, &r.partition);
        let job = compaction::job_request(&input.dataset, bucket, &prefix, r, settings);
        let stale = listed
            .iter()
            .any(|(p, st)| *p == r.partition && st.marker.is_some());
        if mark(
            s3,
            bucket,
            &prefix,
            &job,
            input.execution.as_deref(),
            now,
            stale,
        )
        .await?
        {
            info!(partition = %r.partition, files = r.files, outputs = r.recommended_files, "compaction requested");
            jobs.push(job);
        } else {
            r.decision = Decision::Skip;
            r.reason_code = Reason::Running;
            r.reason = "another check marked this partition a moment ago".into();
        }
    }

    let totals = compaction::totals(&reports);
    Emf::new(&[
        ("Function", "check-compaction"),
        ("Dataset", input.dataset.as_str()),
    ])
    .metric("PartitionsChecked", Unit::Count, totals.partitions as f64)
    .metric("SmallFilesFound", Unit::Count, totals.small_files as f64)
    .metric("BytesInSmallFiles", Unit::Bytes, totals.small_bytes as f64)
    .metric("CompactionsRequested", Unit::Count, jobs.len() as f64)
    .emit();
    let omitted = reports.len().saturating_sub(cfg.max_reported);
    reports.truncate(cfg.max_reported);
    Ok(CheckOutput {
        dataset: input.dataset.clone(),
        bucket: bucket.to_string(),
        compact: !jobs.is_empty(),
        partitions: reports,
        omitted,
        jobs,
        totals,
    })
}

/// Writes the partition's compaction marker. Returns false when another check created it
/// first. The write is conditional (`If-None-Match: *`) unless the marker found was stale,
/// which is then replaced.
async fn mark(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    partition_prefix: &str,
    job: &CompactionJobRequest,
    execution: Option<&str>,
    now: i64,
    replace_stale: bool,
) -> Result<bool, HandlerError> {
    let key = compaction::marker_key(partition_prefix);
    let body = json!({"execution": execution, "requested_at": now, "client_token": job.client_token, "job": job});
    let mut put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .body(body.to_string().into_bytes().into());
    if replace_stale {
        warn!(%key, "replacing a stale compaction marker");
    } else {
        put = put.if_none_match("*");
    }
    match put.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
        {
            Ok(false)
        }
        Err(e) => Err(HandlerError::from_sdk("PutObject (compaction marker)", &e)),
    }
}
