//! Jobs: what the registry says about a dataset's processing job, and every decision start-job
//! makes about runs, as plain functions over data.
//!
//! - [`JobSpec`]: the typed `job:` block of a dataset (Glue or EMR Serverless), declared in
//!   [`crate::registry::job`].
//! - [`run_key`]: the idempotency key of one execution's run (Glue argument, EMR-S clientToken).
//! - [`glue_status`], [`emr_status`]: engine states normalised to [`RunStatus`].
//! - [`next_wait_seconds`]: the backoff between status checks.
//! - [`classify_job_error`]: which SDK failures are retried, and how.
//! - [`run_links`], [`execution_url`]: where a human looks.
//!
//! The run handle ([`RunHandle`]) and status document ([`JobStatus`]) are the JSON the state
//! machine carries between start-job calls and hands to notify-failure; they live here so both
//! functions agree on them.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::size::ByteSize;

// The `job:` declarations these decisions are about; the registry keeps them.
pub use crate::registry::job::{
    lambda_max, EmrServerlessJob, Engine, GlueArguments, GlueJob, JobSpec, LambdaJob, TargetPrefix,
    GLUE_RESERVED_PREFIX, LAMBDA_MAX_INPUT, LAMBDA_MAX_PARQUET,
};

/// Glue argument carrying the run key; lakeline finds its own runs again by it.
pub const GLUE_RUN_KEY_ARG: &str = "--lakeline_run_key";
/// First wait between status checks, in seconds.
pub const FIRST_WAIT_SECONDS: u32 = 15;
/// Longest wait between status checks: a long job costs one state transition per 5 minutes.
pub const MAX_WAIT_SECONDS: u32 = 300;

/// How much a gzip file is assumed to expand when routing by its stored size: text typically
/// compresses 4-10×. Curate also stops itself before its timeout, so a file that expands more
/// fails with an alert, never silently.
pub const GZIP_EXPANSION: u64 = 8;

/// Which engine curates one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Route<'a> {
    /// The curate Lambda writes into this (unrendered) target prefix.
    Lambda(&'a TargetPrefix),
    /// The dataset's Spark job.
    Spark(&'a JobSpec),
    /// No engine can take it: why, and what to set.
    TooLarge(String),
}

impl Route<'_> {
    /// The engine name carried in the execution input: `lambda`, `glue`, `emr-serverless`,
    /// or `none` (the pipeline then fails with the reason, before running anything).
    pub fn engine_name(&self) -> &'static str {
        match self {
            Route::Lambda(_) => "lambda",
            Route::Spark(j) => j.engine().as_str(),
            Route::TooLarge(_) => "none",
        }
    }
}

/// The default Lambda job of datasets without a `job:` block.
static DEFAULT_LAMBDA: std::sync::LazyLock<TargetPrefix> =
    std::sync::LazyLock::new(TargetPrefix::curated);

/// Routes one file of `size` stored bytes (gzip when `gzip`) of dataset `name`, whose files
/// are `format`, to its engine.
pub fn route<'a>(
    name: &str,
    job: Option<&'a JobSpec>,
    format: crate::registry::Format,
    size: u64,
    gzip: bool,
) -> Route<'a> {
    let effective = if gzip {
        size.saturating_mul(GZIP_EXPANSION)
    } else {
        size
    };
    let max = lambda_max(format);
    let lambda_fits = effective <= max.0;
    match job {
        None | Some(JobSpec::Lambda(_)) if !lambda_fits => Route::TooLarge(format!(
            "{} ({}{}) is above what the lambda engine takes ({}); give dataset {name} a Spark engine for large files, e.g. job: {{engine: glue, job_name: <job>, above: {}}} (or emr-serverless), or split the file",
            ByteSize(size),
            if gzip { "gzip, assumed to expand " } else { "" },
            if gzip { format!("{GZIP_EXPANSION}x") } else { "as stored".into() },
            max,
            ByteSize(1 << 30)
        )),
        None => Route::Lambda(&DEFAULT_LAMBDA),
        Some(JobSpec::Lambda(l)) => Route::Lambda(&l.target_prefix),
        Some(spark) => match spark.above() {
            Some(above) if size <= above.0 && lambda_fits => {
                Route::Lambda(spark.target_prefix())
            }
            _ => Route::Spark(spark),
        },
    }
}

/// The idempotency key of the run one execution starts: a Glue argument lakeline looks for
/// before starting, and the EMR Serverless `clientToken`. A pure function of the execution
/// name, which is itself a pure function of the upload, so retries and redeliveries agree on
/// it; hashed so it fits both services' character sets and lengths (≤ 64, `[A-Za-z0-9-]`).
pub fn run_key(execution_name: &str) -> String {
    let digest = Sha256::digest(execution_name.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("lakeline-{hex}")
}

/// A readable run name: `<dataset>-<partition>` (EMR Serverless shows it in its console).
pub fn run_name(dataset: &str, partition: Option<&str>) -> String {
    match partition {
        Some(p) if !p.is_empty() => format!("{dataset}-{p}"),
        _ => dataset.to_string(),
    }
}

/// A run's state, the same for every engine.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Queued, starting, running, or stopping: check again later.
    Running,
    /// Done, output written.
    Succeeded,
    /// The job failed.
    Failed,
    /// Someone (or something) stopped it.
    Cancelled,
    /// It ran out of time.
    TimedOut,
}

impl RunStatus {
    /// Whether the run is over.
    pub fn is_done(self) -> bool {
        self != RunStatus::Running
    }

    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Succeeded => "SUCCEEDED",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
            RunStatus::TimedOut => "TIMED_OUT",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Glue `JobRunState` normalised. An unknown state counts as FAILED: waiting forever on a
/// state nobody understands is worse than asking a human.
pub fn glue_status(state: &str) -> RunStatus {
    match state {
        "STARTING" | "RUNNING" | "WAITING" | "STOPPING" => RunStatus::Running,
        "SUCCEEDED" => RunStatus::Succeeded,
        "STOPPED" => RunStatus::Cancelled,
        "TIMEOUT" | "EXPIRED" => RunStatus::TimedOut,
        _ => RunStatus::Failed,
    }
}

/// An EMR Serverless `JobRunState` normalised. EMR-S has no timeout state: a run that hits
/// `executionTimeoutMinutes` is FAILED with a details text saying so.
pub fn emr_status(state: &str, details: Option<&str>) -> RunStatus {
    match state {
        "SUBMITTED" | "PENDING" | "SCHEDULED" | "RUNNING" | "QUEUED" | "CANCELLING" => {
            RunStatus::Running
        }
        "SUCCESS" => RunStatus::Succeeded,
        "CANCELLED" => RunStatus::Cancelled,
        "FAILED" => {
            let d = details.unwrap_or_default().to_ascii_lowercase();
            if d.contains("timed out") || d.contains("timeout") {
                RunStatus::TimedOut
            } else {
                RunStatus::Failed
            }
        }
        _ => RunStatus::Failed,
    }
}

/// Seconds to wait before the next status check, after `checks` checks: 15 s doubling to
/// 5 minutes, so a short job is noticed soon and a long one costs few state transitions.
pub fn next_wait_seconds(checks: u32) -> u32 {
    PollSchedule::default().wait(checks)
}

/// The backoff between status checks: `first_seconds` doubling up to `max_seconds`.
/// Deployments keep the default; local runs shrink it so a demo does not wait minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSchedule {
    /// Wait after the first check.
    pub first_seconds: u32,
    /// Longest wait.
    pub max_seconds: u32,
}

impl Default for PollSchedule {
    fn default() -> Self {
        PollSchedule {
            first_seconds: FIRST_WAIT_SECONDS,
            max_seconds: MAX_WAIT_SECONDS,
        }
    }
}

impl PollSchedule {
    /// Seconds to wait after `checks` checks.
    pub fn wait(&self, checks: u32) -> u32 {
        let factor = 1u32.checked_shl(checks).unwrap_or(u32::MAX);
        self.first_seconds
            .saturating_mul(factor)
            .min(self.max_seconds)
    }
}

/// How a failed Glue / EMR Serverless call is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobErrorClass {
    /// The service refused for now (concurrency limit, quota, throttling): retry with a long
    /// backoff (`Lakeline.JobRetryable`).
    Retryable,
    /// Network trouble or a 5xx: retry soon (`Lakeline.Transient`).
    Transient,
    /// The job, application or run does not exist (`Lakeline.JobNotFound`): a human must act.
    NotFound,
    /// Permissions, validation, anything else (`Lakeline.Config`).
    Config,
}

/// Classifies a failed call from its service error code, HTTP status and whether
/// the AWS edge judged it transient (`lakeline_aws::is_transient`).
pub fn classify_job_error(
    code: Option<&str>,
    status: Option<u16>,
    transient: bool,
) -> JobErrorClass {
    let code = code.unwrap_or_default();
    match code {
        "ConcurrentRunsExceededException"
        | "ResourceNumberLimitExceededException"
        | "ServiceQuotaExceededException" => return JobErrorClass::Retryable,
        "EntityNotFoundException" | "ResourceNotFoundException" => return JobErrorClass::NotFound,
        _ => {}
    }
    let throttled = status == Some(429)
        || code.contains("Throttl")
        || code == "TooManyRequestsException"
        || code == "RequestLimitExceeded";
    if throttled {
        JobErrorClass::Retryable
    } else if transient {
        JobErrorClass::Transient
    } else {
        JobErrorClass::Config
    }
}

/// The handle start-job returns and the state machine passes back to `status`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunHandle {
    /// Engine.
    pub engine: Engine,
    /// Glue: the job name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// EMR Serverless: the application id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// The run id.
    pub run_id: String,
    /// The idempotency key ([`run_key`]).
    pub run_key: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// True when an earlier attempt had already started this run.
    #[serde(default)]
    pub reused: bool,
    /// Dataset.
    pub dataset: String,
    /// Partition label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// EMR Serverless: the S3 log location of the application's runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uri: Option<String>,
    /// Status checks made so far; drives the backoff.
    #[serde(default)]
    pub checks: u32,
    /// The run stages data files for the dataset's Iceberg table (table mode): the pipeline
    /// commits them once the run succeeds. False: the run writes the `curated/` prefix.
    #[serde(default)]
    pub table: bool,
}

/// Resources a run was billed for, when the engine reports them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Billed {
    /// Glue: DPU-seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpu_seconds: Option<f64>,
    /// EMR Serverless: vCPU-hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu_hours: Option<f64>,
    /// EMR Serverless: memory GB-hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gb_hours: Option<f64>,
    /// EMR Serverless: storage GB-hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_gb_hours: Option<f64>,
}

/// A link for humans.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Link {
    /// What it shows.
    pub label: String,
    /// URL or location.
    pub url: String,
}

/// What start-job's `status` returns: the state machine's Choice reads `status` and `done`,
/// waits `waitSeconds`, and passes `run` back; on FAILED/CANCELLED/TIMED_OUT the whole
/// document becomes the Cause notify-failure receives.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Normalised status.
    pub status: RunStatus,
    /// Whether the run is over.
    pub done: bool,
    /// The engine's own state name.
    pub engine_state: String,
    /// The engine's error message or state details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Run time so far, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// Billed resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed: Option<Billed>,
    /// Console and log links.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Seconds to wait before the next check (0 when done).
    pub wait_seconds: u32,
    /// The handle, with `checks` counted up.
    pub run: RunHandle,
}

/// URL path/fragment encoding that keeps run ids and names readable (`-`, `_`, `.`, `~`).
const URL_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, URL_SET).to_string()
}

/// The CloudWatch console escapes its fragment twice, with `$` for `%`.
fn cw_enc(s: &str) -> String {
    enc(s).replace('%', "$25")
}

/// Console link to a Step Functions execution.
pub fn execution_url(region: &str, execution_arn: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}")
}

/// Console link to a CloudWatch log stream.
pub fn log_stream_url(region: &str, group: &str, stream: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
        cw_enc(group),
        cw_enc(stream)
    )
}

/// Where a human looks for one run: its console page and its logs.
pub fn run_links(region: &str, run: &RunHandle) -> Vec<Link> {
    let link = |label: &str, url: String| Link {
        label: label.to_string(),
        url,
    };
    match run.engine {
        // The curate function's own log group is linked by the alert of its failure.
        Engine::Lambda => Vec::new(),
        Engine::Glue => {
            let job = run.job_name.as_deref().unwrap_or_default();
            vec![
                link(
                    "Glue job run",
                    format!(
                        "https://{region}.console.aws.amazon.com/gluestudio/home?region={region}#/job/{}/run/{}",
                        enc(job),
                        enc(&run.run_id)
                    ),
                ),
                // Glue writes one stream per run id in these two groups (driver errors first).
                link("Glue error log", log_stream_url(region, "/aws-glue/jobs/error", &run.run_id)),
                link("Glue output log", log_stream_url(region, "/aws-glue/jobs/output", &run.run_id)),
            ]
        }
        Engine::EmrServerless => {
            let app = run.application_id.as_deref().unwrap_or_default();
            let mut v = vec![link(
                "EMR Serverless job run",
                format!(
                    "https://{region}.console.aws.amazon.com/emr/home?region={region}#/serverless-applications/{}/job-runs/{}",
                    enc(app),
                    enc(&run.run_id)
                ),
            )];
            if let Some(uri) = &run.log_uri {
                // EMR Serverless's S3 log layout: <logUri>/applications/<app>/jobs/<run>/.
                let base = uri.trim_end_matches('/');
                v.push(link(
                    "Spark logs",
                    format!("{base}/applications/{app}/jobs/{}/", run.run_id),
                ));
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_files_to_engines_table() {
        let glue = |above: Option<u64>| {
            JobSpec::Glue(GlueJob {
                above: above.map(ByteSize),
                job_name: "j".into(),
                target_prefix: TargetPrefix::try_from("curated/x/{partition}/".to_string())
                    .unwrap(),
                arguments: GlueArguments::default(),
                timeout_minutes: None,
                batch_seconds: 0,
            })
        };
        let (g_all, g_big) = (glue(None), glue(Some(1 << 30)));
        let lambda = JobSpec::Lambda(LambdaJob::default());
        let max = LAMBDA_MAX_INPUT.0;
        let csv = crate::registry::Format::Csv;
        let cases: &[(Option<&JobSpec>, u64, bool, &str)] = &[
            (None, 10, false, "lambda"),
            (None, max, false, "lambda"),
            (None, max + 1, false, "none"),
            (None, max / GZIP_EXPANSION + 1, true, "none"),
            (None, max / GZIP_EXPANSION, true, "lambda"),
            (Some(&lambda), 10, false, "lambda"),
            (Some(&lambda), max + 1, false, "none"),
            (Some(&g_all), 10, false, "glue"),
            (Some(&g_big), 1 << 30, false, "lambda"),
            (Some(&g_big), (1 << 30) + 1, false, "glue"),
            (Some(&g_big), 1 << 28, true, "lambda"),
            (Some(&g_big), max / GZIP_EXPANSION + 1, true, "glue"),
        ];
        for (job, size, gz, want) in cases {
            let r = route("orders", *job, csv, *size, *gz);
            assert_eq!(r.engine_name(), *want, "{job:?} {size} gz={gz}");
        }
        let Route::TooLarge(why) = route("orders", None, csv, max + 1, false) else {
            panic!()
        };
        assert!(why.contains("above:") && why.contains("orders"), "{why}");
        let pq = crate::registry::Format::Parquet;
        assert_eq!(
            route("orders", None, pq, LAMBDA_MAX_PARQUET.0, false).engine_name(),
            "lambda"
        );
        assert_eq!(
            route("orders", None, pq, LAMBDA_MAX_PARQUET.0 + 1, false).engine_name(),
            "none"
        );
        let Route::Lambda(p) = route("orders", Some(&g_big), csv, 5, false) else {
            panic!()
        };
        assert_eq!(p.render("x", Some("dt=1")), "curated/x/dt=1/");
    }

    #[test]
    fn parses_both_engines_and_rejects_mistakes() {
        let glue: JobSpec = serde_yaml_ng::from_str(
            "engine: glue\njob_name: curate\ntarget_prefix: curated/{dataset}/{partition}/\narguments: {--fmt: parquet}\n",
        )
        .unwrap();
        assert_eq!(glue.engine(), Engine::Glue);
        assert_eq!(
            glue.target_prefix().render("orders", Some("dt=2026-11-25")),
            "curated/orders/dt=2026-11-25/"
        );
        assert_eq!(
            glue.target_prefix().render("orders", None),
            "curated/orders/"
        );
        let emr: JobSpec = serde_yaml_ng::from_str(
            "engine: emr-serverless\napplication_id: app1\nexecution_role_arn: arn:aws:iam::1:role/r\nentry_point: s3://a/j.py\ntarget_prefix: c/\n",
        )
        .unwrap();
        assert_eq!(emr.engine(), Engine::EmrServerless);
        for (bad, want) in [
            ("engine: glue\njob_name: j\ntarget_prefix: c/\nunknown: 1\n", "unknown field"),
            ("engine: spark\njob_name: j\ntarget_prefix: c/\n", "unknown variant"),
            ("engine: glue\njob_name: j\ntarget_prefix: c/{date}/\n", "unknown placeholder"),
            ("engine: glue\njob_name: j\ntarget_prefix: s3://b/c/\n", "inside the lake bucket"),
            ("engine: glue\njob_name: j\ntarget_prefix: c/\narguments: {--lakeline_run_key: x}\n", "reserved"),
            ("engine: glue\njob_name: j\ntarget_prefix: c/\narguments: {fmt: x}\n", "must start with"),
            ("engine: glue\ntarget_prefix: c/\n", "job_name"),
        ] {
            let e = serde_yaml_ng::from_str::<JobSpec>(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }

    #[test]
    fn run_key_is_stable_distinct_and_fits_both_services() {
        let a = run_key("orders-2026-11-25-export-0123456789abcdef0123");
        assert_eq!(a, run_key("orders-2026-11-25-export-0123456789abcdef0123"));
        assert_ne!(a, run_key("orders-2026-11-25-export-0123456789abcdef0124"));
        assert!(
            a.len() <= 64 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{a}"
        );
        assert_eq!(
            run_name("clicks", Some("dt=2026-11-25")),
            "clicks-dt=2026-11-25"
        );
        assert_eq!(run_name("clicks", None), "clicks");
    }

    #[test]
    fn normalises_engine_states() {
        use RunStatus::*;
        for (state, want) in [
            ("STARTING", Running),
            ("RUNNING", Running),
            ("WAITING", Running),
            ("STOPPING", Running),
            ("SUCCEEDED", Succeeded),
            ("FAILED", Failed),
            ("ERROR", Failed),
            ("STOPPED", Cancelled),
            ("TIMEOUT", TimedOut),
            ("EXPIRED", TimedOut),
            ("SOMETHING_NEW", Failed),
        ] {
            assert_eq!(glue_status(state), want, "glue {state}");
        }
        for (state, details, want) in [
            ("SUBMITTED", None, Running),
            ("PENDING", None, Running),
            ("SCHEDULED", None, Running),
            ("QUEUED", None, Running),
            ("RUNNING", None, Running),
            ("CANCELLING", None, Running),
            ("SUCCESS", None, Succeeded),
            ("CANCELLED", None, Cancelled),
            ("FAILED", Some("Job failed, ExitCode: 1"), Failed),
            (
                "FAILED",
                Some("Job run timed out after 120 minutes"),
                TimedOut,
            ),
            ("FAILED", None, Failed),
            ("", None, Failed),
        ] {
            assert_eq!(emr_status(state, details), want, "emr {state} {details:?}");
        }
        assert!(!Running.is_done() && Succeeded.is_done() && TimedOut.is_done());
        assert_eq!(serde_json::to_value(TimedOut).unwrap(), "TIMED_OUT");
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        let waits: Vec<u32> = (0..8).map(next_wait_seconds).collect();
        assert_eq!(waits, [15, 30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(next_wait_seconds(31), MAX_WAIT_SECONDS);
        assert_eq!(next_wait_seconds(u32::MAX), MAX_WAIT_SECONDS);
    }

    #[test]
    fn classifies_job_errors() {
        use JobErrorClass::*;
        for (code, status, transient, want) in [
            (
                Some("ConcurrentRunsExceededException"),
                Some(400),
                false,
                Retryable,
            ),
            (
                Some("ServiceQuotaExceededException"),
                Some(402),
                false,
                Retryable,
            ),
            (Some("ThrottlingException"), Some(400), true, Retryable),
            (None, Some(429), true, Retryable),
            (Some("EntityNotFoundException"), Some(400), false, NotFound),
            (
                Some("ResourceNotFoundException"),
                Some(404),
                false,
                NotFound,
            ),
            (Some("InternalServiceException"), Some(500), true, Transient),
            (None, None, true, Transient),
            (Some("AccessDeniedException"), Some(403), false, Config),
            (Some("ValidationException"), Some(400), false, Config),
        ] {
            assert_eq!(
                classify_job_error(code, status, transient),
                want,
                "{code:?} {status:?}"
            );
        }
    }

    #[test]
    fn links_point_at_the_run_and_its_logs() {
        let mut h = RunHandle {
            engine: Engine::Glue,
            job_name: Some("orders curate".into()),
            application_id: None,
            run_id: "jr_abc".into(),
            run_key: run_key("x"),
            started_at: "2026-11-25T10:00:00Z".into(),
            reused: false,
            dataset: "orders".into(),
            partition: None,
            log_uri: None,
            checks: 0,
            table: false,
        };
        let l = run_links("eu-west-1", &h);
        assert_eq!(l[0].url, "https://eu-west-1.console.aws.amazon.com/gluestudio/home?region=eu-west-1#/job/orders%20curate/run/jr_abc");
        assert!(
            l[1].url.ends_with(
                "#logsV2:log-groups/log-group/$252Faws-glue$252Fjobs$252Ferror/log-events/jr_abc"
            ),
            "{}",
            l[1].url
        );
        h.engine = Engine::EmrServerless;
        h.application_id = Some("00app".into());
        h.log_uri = Some("s3://logs/emr/".into());
        let l = run_links("eu-west-1", &h);
        assert_eq!(l[1].url, "s3://logs/emr/applications/00app/jobs/jr_abc/");
        assert!(
            execution_url("eu-west-1", "arn:aws:states:eu-west-1:1:execution:sm:x")
                .contains("/v2/executions/details/arn:aws:states")
        );
    }
}
