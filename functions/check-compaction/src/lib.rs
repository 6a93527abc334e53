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
//! - `{"action":"deliveries","bucket":"lake"}` (optionally `"dataset"`, `"now"`): the delivery
//!   check of every dataset that declares `expect:` (see `deliveries`): one alert per missed
//!   period (needs `ALERT_TOPIC_ARN`).
//! - Optional: `"execution"` (recorded in the marker), `"dry_run": true` (report only).
//!
//! Output: `{"dataset","bucket","compact":bool,"partitions":[report…],"jobs":[request…],
//! "totals":{…},"omitted":n}`. `compact` is what the state machine's Choice reads; each job is a
//! [`lakeline_core::compaction::CompactionJobRequest`] for start-job.
//!
//! Every decision is [`lakeline_core::compaction::decide`]; this crate lists S3 and writes markers.
//! A partition due for compaction gets a marker object (`<partition>/_lakeline_compaction.json`,
//! created only if absent) before its job is requested, so two overlapping checks never
//! request the same compaction twice, and later checks skip it until it is cleared or stale.

mod deliveries;
mod list;
mod tables;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use lakeline_aws as laws;
use lakeline_aws::Emit;
use lakeline_core::compaction::{
    self, CompactionJobRequest, CompactionSettings, Decision, PartitionReport, Reason, Totals,
};
use lakeline_core::error_names;
use lakeline_core::metrics::{Emf, Unit};
use lakeline_core::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

pub use list::{discover_partitions, list_files, list_partition, list_partitions};

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
    pub fn from_env(env: &dyn lakeline_aws::Env) -> Result<Config, lakeline_core::Error> {
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
#[derive(Clone)]
pub struct Deps {
    /// S3 client.
    pub s3: aws_sdk_s3::Client,
    /// The dataset registry.
    pub registry: Arc<Registry>,
    /// Settings.
    pub config: Config,
    /// Where delivery alerts go (`ALERT_TOPIC_ARN`); only the `deliveries` action needs it.
    pub alerts: Option<Alerts>,
    /// The stack's tables (S3 Tables or a Glue database, from the environment): when set, a
    /// sweep plans each dataset's table from its manifests (no listing, no markers) instead of
    /// the `curated/` layout.
    pub tables: Option<Arc<lakeline_table::Tables>>,
}

/// The alert topic and its client.
#[derive(Clone)]
pub struct Alerts {
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// The topic's ARN.
    pub topic_arn: String,
}

impl Deps {
    /// Builds everything from the environment: `LAKELINE_REGISTRY` and the optional settings.
    pub async fn from_env(
        conf: &aws_config::SdkConfig,
        env: &dyn lakeline_aws::Env,
    ) -> Result<Deps, lakeline_core::Error> {
        let s3 = lakeline_aws::s3_client(conf);
        let registry = lakeline_aws::registry_from_env(env, &s3).await?;
        let alerts = env
            .var("ALERT_TOPIC_ARN")
            .filter(|t| !t.trim().is_empty())
            .map(|topic_arn| Alerts {
                sns: aws_sdk_sns::Client::new(conf),
                topic_arn,
            });
        let tables = lakeline_table::Tables::of_stack(conf, |n| env.var(n)).await?;
        Ok(Deps {
            s3,
            registry: Arc::new(registry),
            config: Config::from_env(env)?,
            alerts,
            tables,
        })
    }
    /// The same dependencies around another registry: a reload
    /// ([`lakeline_aws::live::Live`]) without a cold start.
    pub fn with_registry(&self, registry: Registry) -> Deps {
        Deps {
            registry: Arc::new(registry),
            ..self.clone()
        }
    }
}

/// The function's error; its `errorType` is one of [`lakeline_core::error_names`].
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
    /// Check partitions and request compactions.
    #[default]
    Check,
    /// Delete a partition's compaction marker (only the owner's, when an execution is named).
    Clear,
    /// Check the delivery expectations (`expect:`) and alert each missed period once.
    Deliveries,
}

/// The handler's input.
#[derive(Debug, Clone, Deserialize)]
pub struct Input {
    /// What to do.
    #[serde(default)]
    pub action: Action,
    /// The lake bucket.
    pub bucket: String,
    /// The dataset; absent: sweep every dataset whose compaction is enabled.
    #[serde(default)]
    pub dataset: Option<String>,
    /// One partition to check (or clear).
    #[serde(default)]
    pub partition: Option<String>,
    /// Sweep: first partition date (inclusive, `YYYY-MM-DD`).
    #[serde(default)]
    pub from: Option<String>,
    /// Sweep: last partition date (inclusive).
    #[serde(default)]
    pub to: Option<String>,
    /// Sweep: only partitions whose name starts with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The execution asking: owner of the markers it writes; a retry recognises its own.
    #[serde(default)]
    pub execution: Option<String>,
    /// "Now" as an RFC 3339 time (Step Functions passes `$$.Execution.StartTime`), so grace
    /// days and quiet minutes are judged against the sweep's own clock; default: the clock.
    #[serde(default)]
    pub now: Option<String>,
    /// Report only: no markers, no compactions.
    #[serde(default)]
    pub dry_run: bool,
    /// Partitions compacted at the same time by the maintenance state machine (echoed in the
    /// output for its Map's `MaxConcurrencyPath`); default [`DEFAULT_MAX_CONCURRENCY`].
    #[serde(default, rename = "maxConcurrency")]
    pub max_concurrency: Option<u32>,
}

/// Partitions compacted at once when the sweep's input does not say.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 4;

/// The maintenance state machine passes `{"sweep": <its input>, "execution", "startTime"}`:
/// the sweep's own fields win, the execution names the markers' owner, and the start time is
/// "now" unless the input sets one (tests do).
fn normalise(payload: Value) -> Value {
    let Some(mut sweep) = payload.get("sweep").and_then(Value::as_object).cloned() else {
        return payload;
    };
    for (from, to) in [("execution", "execution"), ("startTime", "now")] {
        if !sweep.contains_key(to) {
            if let Some(v) = payload.get(from) {
                sweep.insert(to.to_string(), v.clone());
            }
        }
    }
    Value::Object(sweep)
}

/// One partition to compact: what the maintenance state machine's Map runs.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Bucket.
    pub bucket: String,
    /// Dataset.
    pub dataset: String,
    /// Partition.
    pub partition: String,
    /// `lambda`, `emr-serverless` or `glue`.
    pub engine: String,
    /// Lambda engine: the planned groups, one compact invocation each.
    pub groups: Vec<lakeline_core::compaction::plan::Group>,
    /// Spark engines: the job request for start-job's `compact` action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<CompactionJobRequest>,
    /// The marker key this partition holds while it is compacted.
    pub marker: String,
    /// The marker's owner (the execution), for its clear.
    pub execution: Option<String>,
    /// A table item: the sweep's "now" (Unix seconds), so the compaction judges the partition
    /// on the sweep's clock, as the sweep did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<i64>,
}

/// The handler's output.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutput {
    /// The bucket.
    pub bucket: String,
    /// Whether any partition is to be compacted (the state machine's Choice reads it).
    pub compact: bool,
    /// Reports, worst first, at most `max_reported`.
    pub partitions: Vec<DatasetReport>,
    /// Reports left out.
    pub omitted: usize,
    /// Partitions marked and planned.
    pub items: Vec<Item>,
    /// Sums over all partitions checked.
    pub totals: Totals,
    /// Partitions to compact at the same time.
    #[serde(rename = "maxConcurrency")]
    pub max_concurrency: u32,
}

/// One partition's report, with its dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    /// Dataset.
    pub dataset: String,
    /// The decision.
    #[serde(flatten)]
    pub report: PartitionReport,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `now` from the input (RFC 3339), or the clock.
fn now_of(input: &Input) -> Result<i64, HandlerError> {
    match input.now.as_deref() {
        None => Ok(now_secs()),
        Some(t) => lakeline_core::types::parse_timestamp(t.as_bytes())
            .map(|us| us.div_euclid(1_000_000))
            .ok_or_else(|| HandlerError::BadInput(format!("now {t:?} is not an RFC 3339 time"))),
    }
}

/// Handles one invocation.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let input: Input = serde_json::from_value(normalise(payload))
        .map_err(|e| HandlerError::BadInput(format!("not a check-compaction input: {e}")))?;
    let now = now_of(&input)?;
    if input.action == Action::Deliveries {
        if let Some(d) = input.dataset.as_deref() {
            if deps.registry.dataset(d).is_none() {
                return Err(HandlerError::BadInput(format!(
                    "no dataset {d:?} in the registry"
                )));
            }
        }
        return deliveries::check(deps, &input.bucket, input.dataset.as_deref(), now).await;
    }
    let datasets: Vec<String> = match &input.dataset {
        Some(d) => {
            if deps.registry.dataset(d).is_none() {
                return Err(HandlerError::BadInput(format!(
                    "no dataset {d:?} in the registry"
                )));
            }
            vec![d.clone()]
        }
        None => deps
            .registry
            .datasets
            .iter()
            .filter(|(_, d)| d.compaction.as_ref().is_none_or(|c| c.enabled))
            .map(|(n, _)| n.to_string())
            .collect(),
    };
    let partition = match input.partition.as_deref() {
        // A dataset without partitions has nothing to compact per partition: say so, do nothing.
        Some("-") | Some("") => {
            return Ok(
                json!({"bucket": input.bucket, "compact": false, "partitions": [], "items": [],
                "skipped": "the dataset has no partitions: nothing to compact"}),
            )
        }
        Some(p) if p.starts_with('/') || p.split('/').any(|s| s == "..") => {
            return Err(HandlerError::BadInput(format!(
                "partition {p:?} names no partition folder"
            )))
        }
        p => p.map(|p| p.trim_end_matches('/').to_string()),
    };
    if input.action == Action::Clear {
        let (Some(p), [d]) = (partition, datasets.as_slice()) else {
            return Err(HandlerError::BadInput(
                "clear needs a dataset and a partition".into(),
            ));
        };
        let settings = settings_of(deps, d);
        let curated = settings.curated_prefix(d);
        return clear(
            deps,
            &input.bucket,
            &curated,
            &p,
            input.execution.as_deref(),
        )
        .await;
    }
    // A stack with tables plans them from their manifests; the `curated/` layout (a stack
    // without tables, or Parquet a stack kept from before its tables) is swept as before.
    let (mut all, mut items) = match &deps.tables {
        Some(tables) => {
            tables::sweep(deps, tables, &input, &datasets, partition.as_deref(), now).await?
        }
        None => (Vec::new(), Vec::new()),
    };
    // A whole sweep (not one partition, range or prefix, not a report) also maintains the
    // tables lakeline keeps the history of: snapshot expiry, orphan removal.
    let whole = partition.is_none()
        && input.from.is_none()
        && input.to.is_none()
        && input.prefix.is_none()
        && !input.dry_run;
    if let (Some(tables), true) = (&deps.tables, whole) {
        items.extend(tables::maintenance_items(deps, tables, &input, now).await?);
    }
    for d in &datasets {
        let settings = settings_of(deps, d);
        let curated = settings.curated_prefix(d);
        let (reports, its) =
            check(deps, &input, d, &settings, &curated, partition.clone(), now).await?;
        all.extend(reports.into_iter().map(|report| DatasetReport {
            dataset: d.clone(),
            report,
        }));
        items.extend(its);
    }
    let totals = compaction::totals(&all.iter().map(|r| r.report.clone()).collect::<Vec<_>>());
    let omitted = all.len().saturating_sub(deps.config.max_reported);
    all.truncate(deps.config.max_reported);
    let out = CheckOutput {
        bucket: input.bucket.clone(),
        compact: !items.is_empty(),
        partitions: all,
        omitted,
        items,
        totals,
        max_concurrency: input
            .max_concurrency
            .unwrap_or(DEFAULT_MAX_CONCURRENCY)
            .max(1),
    };
    Ok(serde_json::to_value(out).expect("output serialises"))
}

pub(crate) fn settings_of(deps: &Deps, dataset: &str) -> CompactionSettings {
    deps.registry
        .dataset(dataset)
        .and_then(|(_, d)| d.compaction.clone())
        .unwrap_or_default()
}

/// A marker's owner, ETag, and when it was requested (on the requesting sweep's clock).
struct Marker {
    etag: String,
    owner: Option<String>,
    requested_at: Option<i64>,
}

async fn read_marker(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Marker>, HandlerError> {
    Ok(get_with_etag(s3, bucket, key, "compaction marker")
        .await?
        .map(|(body, etag)| {
            let v = serde_json::from_slice::<Value>(&body).unwrap_or_default();
            Marker {
                etag,
                owner: v["execution"].as_str().map(str::to_string),
                requested_at: v["requested_at"].as_i64(),
            }
        }))
}

/// A small object's body and ETag (a marker), `None` when it is gone; `what` names it in errors.
pub(crate) async fn get_with_etag(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    what: &str,
) -> Result<Option<(Vec<u8>, String)>, HandlerError> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag().unwrap_or_default().to_string();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| HandlerError::Transient(format!("reading {what} {key}: {e}")))?
                .into_bytes()
                .to_vec();
            Ok(Some((body, etag)))
        }
        Err(e) if laws::is_gone(&e) => Ok(None),
        Err(e) => Err(HandlerError::from_sdk(&format!("GetObject ({what})"), &e)),
    }
}

/// Deletes a partition's marker: only the owner's when `execution` is given (a marker taken
/// over by a later sweep belongs to that sweep), conditionally on the ETag it was read at.
async fn clear(
    deps: &Deps,
    bucket: &str,
    curated: &str,
    partition: &str,
    execution: Option<&str>,
) -> Result<Value, HandlerError> {
    let key = compaction::marker_key(&compaction::partition_prefix(curated, partition));
    let Some(m) = read_marker(&deps.s3, bucket, &key).await? else {
        return Ok(
            json!({"action": "clear", "bucket": bucket, "partition": partition, "marker_key": key, "cleared": false, "why": "no marker"}),
        );
    };
    if let (Some(want), Some(owner)) = (execution, m.owner.as_deref()) {
        if want != owner {
            warn!(%key, %owner, %want, "marker belongs to another execution; left in place");
            return Ok(
                json!({"action": "clear", "bucket": bucket, "partition": partition, "marker_key": key, "cleared": false, "why": format!("owned by {owner}")}),
            );
        }
    }
    let res = deps
        .s3
        .delete_object()
        .bucket(bucket)
        .key(&key)
        .if_match(&m.etag)
        .send()
        .await;
    match res {
        Ok(_) => {}
        // Gone or replaced meanwhile: no longer ours to delete.
        Err(e) if laws::is_gone(&e) => {}
        Err(e) => {
            return Err(HandlerError::from_sdk(
                "DeleteObject (compaction marker)",
                &e,
            ))
        }
    }
    info!(%bucket, %key, "compaction marker cleared");
    Ok(
        json!({"action": "clear", "bucket": bucket, "partition": partition, "marker_key": key, "cleared": true}),
    )
}

fn date_bound(v: Option<&str>, what: &str) -> Result<Option<i64>, HandlerError> {
    v.map(|d| {
        compaction::partition_date(&format!("dt={d}"))
            .ok_or_else(|| HandlerError::BadInput(format!("{what} {d:?} is not a date YYYY-MM-DD")))
    })
    .transpose()
}

/// Checks one dataset's partitions (one, or a sweep); marks and plans those due.
pub async fn check(
    deps: &Deps,
    input: &Input,
    dataset: &str,
    settings: &CompactionSettings,
    curated: &str,
    partition: Option<String>,
    now: i64,
) -> Result<(Vec<PartitionReport>, Vec<Item>), HandlerError> {
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
    let mut listed = list_partitions(
        s3,
        bucket,
        &parts,
        cfg.concurrency,
        cfg.page_size,
        settings.small_below(),
    )
    .await
    .map_err(|e| HandlerError::from_sdk("ListObjectsV2", &e))?;

    // A marker this execution wrote (a retried check) is its own, not a running compaction.
    let mut markers = std::collections::BTreeMap::new();
    for ((p, st), (_, prefix)) in listed.iter_mut().zip(&parts) {
        if st.marker.is_none() {
            continue;
        }
        let key = compaction::marker_key(prefix);
        if let Some(m) = read_marker(s3, bucket, &key).await? {
            // Its age on the sweeps' own clock (the time it records), so a sweep given "now"
            // judges it on the same clock; its LastModified only when it records none.
            if let Some(t) = m.requested_at {
                st.marker = Some(t);
            }
            if m.owner.is_some() && m.owner.as_deref() == input.execution.as_deref() {
                st.marker = None;
            }
            markers.insert(p.clone(), m);
        }
    }

    let mut reports: Vec<PartitionReport> = listed
        .iter()
        .map(|(p, st)| compaction::decide(p, st, settings, now))
        .collect();
    compaction::sort_worst_first(&mut reports);

    let mut items = Vec::new();
    for r in reports
        .iter_mut()
        .filter(|r| r.decision == Decision::Compact)
    {
        if input.dry_run {
            continue;
        }
        if items.len() >= cfg.max_compactions {
            r.decision = Decision::Skip;
            r.reason_code = Reason::Deferred;
            r.reason = format!(
                "due, but this run already requested {} compactions",
                cfg.max_compactions
            );
            continue;
        }
        let prefix = compaction::partition_prefix(curated, &r.partition);
        let marker = compaction::marker_key(&prefix);
        let existing = markers.get(&r.partition);
        let ours = existing
            .is_some_and(|m| m.owner.is_some() && m.owner.as_deref() == input.execution.as_deref());
        if !ours {
            // No marker: create it if still absent. A stale one: take it over only as it was
            // read, so of two sweeps over the same stale marker exactly one wins.
            let body = json!({"execution": input.execution, "requested_at": now, "dataset": dataset, "partition": r.partition});
            if !mark(
                s3,
                bucket,
                &marker,
                &body,
                existing.map(|m| m.etag.as_str()),
            )
            .await?
            {
                r.decision = Decision::Skip;
                r.reason_code = Reason::Running;
                r.reason = "another check marked this partition a moment ago".into();
                continue;
            }
        }
        let item = match settings.job.engine {
            compaction::Engine::Lambda => {
                // A compaction that crashed left its manifest (and maybe its output next to its
                // inputs): its own group runs again and finishes or rolls back. A fresh plan
                // would take that output for one more small input and write its rows twice.
                let unfinished =
                    unfinished_groups(s3, bucket, dataset, &r.partition, &prefix).await?;
                let groups = if unfinished.is_empty() {
                    let files = list_files(s3, bucket, &prefix, cfg.page_size)
                        .await
                        .map_err(|e| HandlerError::from_sdk("ListObjectsV2 (files)", &e))?;
                    compaction::plan::plan(&prefix, &files, settings)
                } else {
                    warn!(%dataset, partition = %r.partition, groups = unfinished.len(), "unfinished compaction found: running its group again to finish or roll it back");
                    unfinished
                };
                if groups.is_empty() {
                    clear(
                        deps,
                        bucket,
                        curated,
                        &r.partition,
                        input.execution.as_deref(),
                    )
                    .await?;
                    r.decision = Decision::Skip;
                    r.reason_code = Reason::NoGain;
                    r.reason = format!(
                        "no group of at least {} small Parquet files fits the target",
                        settings.min_small_files
                    );
                    continue;
                }
                Item {
                    bucket: bucket.to_string(),
                    dataset: dataset.to_string(),
                    partition: r.partition.clone(),
                    engine: "lambda".into(),
                    groups,
                    job: None,
                    marker,
                    execution: input.execution.clone(),
                    now: None,
                }
            }
            e => Item {
                bucket: bucket.to_string(),
                dataset: dataset.to_string(),
                partition: r.partition.clone(),
                engine: if e == compaction::Engine::Glue {
                    "glue".into()
                } else {
                    "emr-serverless".into()
                },
                groups: Vec::new(),
                job: Some(compaction::job_request(
                    dataset, bucket, &prefix, r, settings,
                )),
                marker,
                execution: input.execution.clone(),
                now: None,
            },
        };
        info!(%dataset, partition = %r.partition, files = r.files, groups = item.groups.len(), engine = %item.engine, "compaction requested");
        items.push(item);
    }

    let totals = compaction::totals(&reports);
    Emf::new(&[("Function", "check-compaction"), ("Dataset", dataset)])
        .metric("PartitionsChecked", Unit::Count, totals.partitions as f64)
        .metric("SmallFilesFound", Unit::Count, totals.small_files as f64)
        .metric("BytesInSmallFiles", Unit::Bytes, totals.small_bytes as f64)
        .metric("CompactionsRequested", Unit::Count, items.len() as f64)
        .emit();
    Ok((reports, items))
}

/// Writes the marker: created only if absent (`If-None-Match: *`), or taking over the stale
/// marker read with `stale_etag` (`If-Match`). False when another check won.
/// The groups of the compactions of a partition whose manifest is still there (a crash
/// between writing it and deleting it), as their manifests record them.
async fn unfinished_groups(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    dataset: &str,
    partition: &str,
    partition_prefix: &str,
) -> Result<Vec<compaction::plan::Group>, HandlerError> {
    let prefix = compaction::plan::Manifest::prefix(dataset, partition);
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("ListObjectsV2 (manifests)", &e))?;
    let mut groups = Vec::new();
    for key in listed.contents().iter().filter_map(|o| o.key()) {
        let got = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| HandlerError::from_sdk(&format!("GetObject s3://{bucket}/{key}"), &e))?;
        let bytes = got
            .body
            .collect()
            .await
            .map_err(|e| HandlerError::Transient(format!("reading s3://{bucket}/{key}: {e}")))?
            .into_bytes();
        let m: compaction::plan::Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            HandlerError::Config(format!(
                "s3://{bucket}/{key} is not a compaction manifest: {e}"
            ))
        })?;
        groups.push(m.group_of(partition_prefix));
    }
    Ok(groups)
}

async fn mark(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &Value,
    stale_etag: Option<&str>,
) -> Result<bool, HandlerError> {
    let mut put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(body.to_string().into_bytes().into());
    put = match stale_etag {
        Some(etag) => {
            warn!(%key, "taking over a stale compaction marker");
            put.if_match(etag)
        }
        None => put.if_none_match("*"),
    };
    match put.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 404 | 409 | 412)) =>
        {
            Ok(false)
        }
        Err(e) => Err(HandlerError::from_sdk("PutObject (compaction marker)", &e)),
    }
}
