//! check-compaction: finds the partitions of each dataset's Iceberg table that hold too many
//! small files, plans them from the table's manifests, and hands each due partition to the
//! maintenance state machine.
//!
//! Input (one JSON object; unknown fields are ignored so the pipeline can pass its own input):
//!
//! - `{"bucket":"lake","dataset":"orders","partition":"dt=2026-11-24"}`: check one partition.
//! - `{"bucket":"lake","dataset":"orders","from":"2026-11-01","to":"2026-11-24"}` or neither
//!   (and no dataset: every dataset whose compaction is enabled): a sweep, from a schedule. A
//!   whole sweep also hands each Glue-catalog table to its maintenance (snapshot expiry, orphan
//!   removal).
//! - `{"action":"deliveries","bucket":"lake"}` (optionally `"dataset"`, `"now"`): the delivery
//!   check of every dataset that declares `expect:` (see `deliveries`): one alert per missed
//!   period (needs `ALERT_TOPIC_ARN`).
//! - Optional: `"execution"` (named in the snapshots compaction commits), `"dry_run": true`
//!   (report only).
//!
//! Output: `{"bucket","compact":bool,"partitions":[report…],"items":[item…],"totals":{…},
//! "omitted":n,"maxConcurrency":n}`. `compact` is what the state machine's Choice reads; each
//! item is one partition's compaction or one table's maintenance (its `engine` says which).
//!
//! Every decision is [`lakeline_core::compaction::decide`] over statistics read from the
//! table's manifests: no listing of the lake, and no marker. Two sweeps that plan the same
//! partition both hand it on; the second compaction finds its inputs replaced and commits
//! nothing.

mod deliveries;
mod list;
mod tables;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use lakeline_aws as laws;
use lakeline_aws::Emit;
use lakeline_core::compaction::{self, CompactionSettings, PartitionReport, Totals};
use lakeline_core::error_names;
use lakeline_core::metrics::{Emf, Unit};
use lakeline_core::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use list::discover_partitions;

/// Settings from the environment, read once per cold start.
#[derive(Debug, Clone)]
pub struct Config {
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
    /// Refused: the retired `curated/` sweep's folder filter (a table's partitions are chosen
    /// by `partition` or `from`/`to`); kept so an old input is refused, not swept whole.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The execution asking, named in the snapshots its compactions commit.
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
/// the sweep's own fields win, the execution is named in the snapshots, and the start time is
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
    /// `table` (a partition's compaction by the compact function, `compactTable`), `glue` or
    /// `emr-serverless` (a partition's rewrite by the dataset's Spark job, planned and
    /// committed by the compact function), or `maintain` (a table's snapshot expiry and orphan
    /// removal, `maintainTable`): the maintenance state machine's Choice reads it.
    pub engine: String,
    /// The execution that asked, named in the snapshot the compaction commits.
    pub execution: Option<String>,
    /// The sweep's "now" (Unix seconds), so the compaction judges the partition on the sweep's
    /// clock, as the sweep did.
    pub now: i64,
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
    /// A due partition's engine: `table` (the compact function), `glue` or `emr-serverless`
    /// (the dataset's `compaction.job`, for a partition whose small files reach its `above`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
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
    if let Some(p) = &input.prefix {
        return Err(HandlerError::BadInput(format!(
            "prefix {p:?}: a table's partitions are chosen by \"partition\" or \"from\"/\"to\""
        )));
    }
    for (what, d) in [("from", &input.from), ("to", &input.to)] {
        if let Some(d) = d.as_deref() {
            if compaction::partition_date(&format!("dt={d}")).is_none() {
                return Err(HandlerError::BadInput(format!(
                    "{what} {d:?} is not a date YYYY-MM-DD"
                )));
            }
        }
    }
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
    // Each dataset's table is planned from its manifests; a stack without tables (the command
    // line's local lake) has nothing this function compacts.
    let (mut all, mut items) = match &deps.tables {
        Some(tables) => {
            tables::sweep(deps, tables, &input, &datasets, partition.as_deref(), now).await?
        }
        None => (Vec::new(), Vec::new()),
    };
    // A whole sweep (not one partition or range, not a report) also maintains the
    // tables lakeline keeps the history of: snapshot expiry, orphan removal.
    let whole = partition.is_none() && input.from.is_none() && input.to.is_none() && !input.dry_run;
    if let (Some(tables), true) = (&deps.tables, whole) {
        items.extend(tables::maintenance_items(deps, tables, &input, now).await?);
    }
    for d in &datasets {
        let reports: Vec<PartitionReport> = all
            .iter()
            .filter(|r| &r.dataset == d)
            .map(|r| r.report.clone())
            .collect();
        let t = compaction::totals(&reports);
        let requested = items
            .iter()
            .filter(|i| &i.dataset == d && i.engine != tables::MAINTAIN_ENGINE)
            .count();
        Emf::new(&[("Function", "check-compaction"), ("Dataset", d)])
            .metric("PartitionsChecked", Unit::Count, t.partitions as f64)
            .metric("SmallFilesFound", Unit::Count, t.small_files as f64)
            .metric("BytesInSmallFiles", Unit::Bytes, t.small_bytes as f64)
            .metric("CompactionsRequested", Unit::Count, requested as f64)
            .emit();
    }
    // Worst first across datasets, so the reports cut at `max_reported` are the ones to read.
    all.sort_by(|a, b| {
        b.report
            .small_files
            .cmp(&a.report.small_files)
            .then(b.report.small_bytes.cmp(&a.report.small_bytes))
            .then_with(|| (&a.dataset, &a.report.partition).cmp(&(&b.dataset, &b.report.partition)))
    });
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

/// A small object's body and ETag (a delivery marker), `None` when it is gone; `what` names it in errors.
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
