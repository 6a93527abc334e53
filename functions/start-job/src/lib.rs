//! start-job: starts the processing job of one validated upload (AWS Glue or EMR Serverless,
//! as the dataset's `job:` block in the registry says) and reports on it, for the pipeline
//! state machine.
//!
//! Input (the execution input plus an action; unknown fields are ignored):
//!
//! ```json
//! {"action": "start", "bucket": "lake", "key": "raw/orders/dt=2026-11-25/o.csv",
//!  "dataset": "orders", "partition": "dt=2026-11-25", "execution": "<$$.Execution.Name>"}
//! {"action": "status", "run": <the handle start returned, or status's "run">}
//! {"action": "compact", "dataset": "orders", "partition": "_lakeline_date=2026-11-24",
//!  "plan": "s3://lake/_lakeline/staging/rewrite/…/plan.json", "planId": "…", "execution": "…"}
//! ```
//!
//! `compact` (the maintenance state machine's) starts the run of the dataset's
//! `compaction.job` over a table partition's rewrite plan ([`compact`]).
//!
//! `start` returns a [`RunHandle`]; `status` returns a [`JobStatus`] (normalised status,
//! engine message, duration, billed resources, links, `waitSeconds` before the next check and
//! the handle to pass back).
//!
//! Starting is duplicate-safe: the run key is a pure function of the execution name (itself a
//! pure function of the upload). EMR Serverless gets it as `clientToken`; Glue has no token, so
//! the key travels as a job argument and a start first looks for a STARTING/RUNNING/SUCCEEDED
//! run carrying it. Step Functions retries one execution's task sequentially, so the
//! look-then-start window is not raced by lakeline itself.

mod batch;
pub mod compact;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_glue::config::http::HttpResponse;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use lakeline_aws as laws;
use lakeline_core::jobs::{
    classify_job_error, emr_status, glue_status, run_key, run_links, run_name, Billed,
    EmrServerlessJob, Engine, GlueJob, JobErrorClass, JobSpec, JobStatus, PollSchedule, RunHandle,
    GLUE_RUN_KEY_ARG,
};
use lakeline_core::registry::Registry;
use lakeline_core::{error_names, keys};
use serde::Deserialize;
use serde_json::Value;
use tracing::info;

/// The Glue argument naming a batch's manifest (instead of `--lakeline_source`).
const GLUE_MANIFEST_ARG: &str = "--lakeline_manifest";

/// Pages of GetJobRuns (newest first, 200 each) searched for an earlier run of the same
/// execution. A duplicate start comes seconds after the first one, so the run is near the top.
const GLUE_RUN_PAGES: usize = 5;

/// Everything the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    /// S3 client (batches: `_lakeline/batches/`; registry snapshots: `_lakeline/registry/`).
    pub s3: aws_sdk_s3::Client,
    /// Glue client.
    pub glue: aws_sdk_glue::Client,
    /// EMR Serverless client.
    pub emr: aws_sdk_emrserverless::Client,
    /// The dataset registry.
    pub registry: Arc<Registry>,
    /// Region, for console links.
    pub region: String,
    /// Backoff between status checks (`LAKELINE_POLL_FIRST_SECONDS`, `LAKELINE_POLL_MAX_SECONDS`).
    pub poll: PollSchedule,
    /// The stack's tables (`LAKELINE_TABLE_BUCKET_ARN`): a dataset's run then stages data files
    /// with its table's field ids, which the pipeline commits. `None`: runs write `curated/`.
    pub tables: Option<Arc<lakeline_table::Tables>>,
}

impl Deps {
    /// Builds everything from the environment: `LAKELINE_REGISTRY`.
    pub async fn from_env(
        conf: &aws_config::SdkConfig,
        env: &dyn lakeline_aws::Env,
    ) -> Result<Deps, lakeline_core::Error> {
        let s3 = lakeline_aws::s3_client(conf);
        let registry = lakeline_aws::registry_from_env(env, &s3).await?;
        let tables = lakeline_table::Tables::of_stack(conf, |name| env.var(name)).await?;
        Ok(Deps {
            tables,
            s3: s3.clone(),
            glue: aws_sdk_glue::Client::new(conf),
            emr: aws_sdk_emrserverless::Client::new(conf),
            registry: Arc::new(registry),
            region: lakeline_aws::region_of(conf),
            poll: {
                let d = PollSchedule::default();
                let n = |name, default: u32| {
                    env.positive(name, default as usize)
                        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
                };
                PollSchedule {
                    first_seconds: n("LAKELINE_POLL_FIRST_SECONDS", d.first_seconds)?,
                    max_seconds: n("LAKELINE_POLL_MAX_SECONDS", d.max_seconds)?,
                }
            },
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

/// The function's error; its `errorType` is one of [`lakeline_core::error_names`], which the state
/// machine's Retry and Catch match.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The payload is not a start or status request.
    #[error("{0}")]
    BadInput(String),
    /// Registry, permissions or parameters: a human must act.
    #[error("{0}")]
    Config(String),
    /// The job, application or run does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The engine refused for now (concurrency limit, quota, throttling).
    #[error("{0}")]
    Retryable(String),
    /// Network trouble or a 5xx.
    #[error("{0}")]
    Transient(String),
}

impl JobError {
    /// The stable Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            JobError::BadInput(_) => error_names::BAD_INPUT,
            JobError::Config(_) => error_names::CONFIG,
            JobError::NotFound(_) => error_names::JOB_NOT_FOUND,
            JobError::Retryable(_) => error_names::JOB_RETRYABLE,
            JobError::Transient(_) => error_names::TRANSIENT,
        }
    }

    fn from_sdk<E>(what: &str, e: &SdkError<E, HttpResponse>) -> JobError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let msg = format!("{what}: {}", laws::describe(e));
        let status = e.raw_response().map(|r| r.status().as_u16());
        match classify_job_error(
            laws::error_code(e).as_deref(),
            status,
            laws::is_transient(e),
        ) {
            JobErrorClass::Retryable => JobError::Retryable(msg),
            JobErrorClass::Transient => JobError::Transient(msg),
            JobErrorClass::NotFound => JobError::NotFound(msg),
            JobErrorClass::Config => JobError::Config(msg),
        }
    }
}

impl From<JobError> for lambda_runtime::Diagnostic {
    fn from(e: JobError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// A request from the state machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Request {
    /// Start (or find) the run for one upload.
    Start(StartRequest),
    /// Check a run once.
    Status(StatusRequest),
    /// Start (or find) the Spark run of a table partition's rewrite ([`compact::compact`]).
    Compact(compact::CompactRequest),
    /// Join the partition's open batch ([`lakeline_core::batch`]).
    Join(batch::JoinRequest),
    /// Start (leader) or find (member) the batch's run.
    #[serde(rename = "start_batch")]
    StartBatch(batch::StartBatchRequest),
}

/// `start`: the execution input validate-upload wrote, plus the execution name.
#[derive(Debug, Clone, Deserialize)]
pub struct StartRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Dataset.
    pub dataset: String,
    /// Partition label (`dt=2026-11-25`).
    #[serde(default)]
    pub partition: Option<String>,
    /// `$$.Execution.Name`. When absent it is derived from the upload like validate-upload
    /// names executions, which needs `file` and `etag` (or `versionId`).
    #[serde(default)]
    pub execution: Option<String>,
    /// Partition date.
    #[serde(default)]
    pub date: Option<String>,
    /// File name.
    #[serde(default)]
    pub file: Option<String>,
    /// Object version.
    #[serde(default, rename = "versionId")]
    pub version_id: Option<String>,
    /// Object ETag.
    #[serde(default)]
    pub etag: Option<String>,
    /// `lakeline reprocess`'s rules pass: the run records the rows' version with it
    /// ([`lakeline_core::table::delivery_version`]).
    #[serde(default)]
    pub reprocess: Option<String>,
}

impl StartRequest {
    /// The execution name the run key derives from.
    pub fn execution_name(&self) -> Result<String, JobError> {
        if let Some(e) = self.execution.as_deref().filter(|e| !e.is_empty()) {
            return Ok(e.to_string());
        }
        let version = self.version_id.as_deref().or(self.etag.as_deref());
        match (&self.file, version) {
            (Some(file), Some(v)) => {
                Ok(keys::execution_name(&self.dataset, self.date.as_deref(), file, &self.bucket, &self.key, v))
            }
            _ => Err(JobError::BadInput(
                "start needs \"execution\" ($$.Execution.Name), or \"file\" and \"etag\" to derive it".into(),
            )),
        }
    }
}

/// `status`: the handle to check.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusRequest {
    /// The handle from `start` (or from the previous `status`).
    pub run: RunHandle,
}

/// Handles one invocation.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, JobError> {
    let req: Request = serde_json::from_value(payload)
        .map_err(|e| JobError::BadInput(format!("not a start-job request: {e}")))?;
    let out = match req {
        Request::Start(s) => serde_json::to_value(start(deps, &s).await?),
        Request::Status(s) => serde_json::to_value(status(deps, &s.run).await?),
        Request::Compact(c) => serde_json::to_value(compact::compact(deps, &c).await?),
        Request::Join(j) => serde_json::to_value(batch::join(deps, &j).await?),
        Request::StartBatch(b) => serde_json::to_value(batch::start(deps, &b).await?),
    };
    Ok(out.expect("handles and statuses serialise"))
}

/// Starts the run for one upload, or returns the one an earlier attempt started.
pub async fn start(deps: &Deps, req: &StartRequest) -> Result<RunHandle, JobError> {
    let dataset = deps
        .registry
        .datasets
        .iter()
        .find(|(n, _)| n.as_str() == req.dataset)
        .map(|(_, d)| d)
        .ok_or_else(|| {
            JobError::Config(format!("dataset {:?} is not in the registry", req.dataset))
        })?;
    let spec = dataset.job.as_ref().ok_or_else(|| {
        JobError::Config(format!(
            "dataset {} has no job: block in the registry",
            req.dataset
        ))
    })?;
    let execution = req.execution_name()?;
    let handle = start_run(deps, spec, req, &execution, None).await?;
    info!(dataset = %handle.dataset, engine = ?handle.engine, run_id = %handle.run_id, reused = handle.reused, %execution, "job run started");
    Ok(handle)
}

/// Starts (or finds) the dataset job's run for `req`'s file, or for a batch's `manifest`,
/// writing into the job's target prefix for the request's partition.
async fn start_run(
    deps: &Deps,
    spec: &JobSpec,
    req: &StartRequest,
    execution: &str,
    manifest: Option<&str>,
) -> Result<RunHandle, JobError> {
    let target = format!(
        "s3://{}/{}",
        req.bucket,
        spec.target_prefix()
            .render(&req.dataset, req.partition.as_deref())
    );
    let glue = matches!(spec, JobSpec::Glue(_));
    let table = delivery_arguments(deps, req, manifest.is_some(), glue).await?;
    let mut handle = match spec {
        JobSpec::Glue(g) => start_glue(deps, g, req, execution, &target, manifest, &table).await,
        JobSpec::EmrServerless(e) => {
            start_emr(deps, e, req, execution, &target, manifest, &table).await
        }
        JobSpec::Lambda(_) => Err(lambda_engine(&req.dataset)),
    }?;
    handle.table = table.iter().any(|(k, _)| k == "--lakeline_table_fields");
    if !handle.reused {
        // Per dataset, so `lakeline status` and a dashboard can split the Spark runs (shared
        // jobs, shared bill) by dataset.
        use lakeline_aws::Emit;
        lakeline_core::metrics::Emf::new(&[
            ("Function", "start-job"),
            ("Dataset", req.dataset.as_str()),
        ])
        .metric("SparkRunsStarted", lakeline_core::metrics::Unit::Count, 1.0)
        .property("Engine", spec.engine().as_str().to_string())
        .emit();
    }
    Ok(handle)
}

/// The delivery's job arguments: the registry snapshot ([`registry_argument`]); for a single
/// file the ETag validation judged
/// (`--lakeline_etag`: the run refuses an object that is not that upload); in table mode the
/// table's field ids by column name (`--lakeline_table_fields`, JSON) and for a single file the
/// delivery's version (`--lakeline_version`). A batch's members carry theirs in the manifest.
/// The ETag goes to a Glue run always (Glue scripts read the arguments they ask for, and
/// jobs/curate.py refuses another upload), to an EMR Serverless entry point only in table mode,
/// which runs lakeline's own job (a dataset's own script may refuse an argument it does not
/// know). A missing table, or one the registry does not fit, is `Lakeline.Config` naming
/// `registry push`: nothing is started.
async fn delivery_arguments(
    deps: &Deps,
    req: &StartRequest,
    batch: bool,
    glue: bool,
) -> Result<Vec<(String, String)>, JobError> {
    let mut args = registry_argument(deps, &req.bucket, glue).await?;
    if let (false, true, Some(etag)) = (batch, glue || deps.tables.is_some(), &req.etag) {
        args.push((
            "--lakeline_etag".to_string(),
            etag.trim_matches('"').to_string(),
        ));
    }
    let Some(tables) = &deps.tables else {
        return Ok(args);
    };
    let (name, ds) = deps.registry.dataset(&req.dataset).ok_or_else(|| {
        JobError::Config(format!("dataset {:?} is not in the registry", req.dataset))
    })?;
    let table = lakeline_table::sync::table_to_write(tables, name, ds)
        .await
        .map_err(|e| match e {
            lakeline_table::Error::Schema(m) => JobError::Config(m),
            e => JobError::Transient(e.to_string()),
        })?;
    let fields = lakeline_table::schema::write_ids(table.metadata());
    args.push((
        "--lakeline_table_fields".to_string(),
        serde_json::to_string(&fields).map_err(|e| JobError::Config(e.to_string()))?,
    ));
    if !batch {
        if let Some(v) = req.version_id.clone().or_else(|| req.etag.clone()) {
            args.push((
                "--lakeline_version".to_string(),
                lakeline_core::table::delivery_version(
                    v.trim_matches('"'),
                    req.reprocess.as_deref(),
                ),
            ));
        }
    }
    Ok(args)
}

/// The registry the run is to read (`--lakeline_registry`): the snapshot of the one this
/// start was judged by ([`Registry::snapshot`]), written to the lake bucket once per registry
/// version (`If-None-Match`; a later start of the same version finds it there). So a run never
/// reads a registry that changed after its start, and the jobs read it with Python's standard
/// library: no Glue or EMR image needs PyYAML. Given as [`delivery_arguments`] gives the ETag:
/// to a Glue run always, to an EMR Serverless entry point only in table mode (lakeline's own job).
async fn registry_argument(
    deps: &Deps,
    bucket: &str,
    glue: bool,
) -> Result<Vec<(String, String)>, JobError> {
    if !glue && deps.tables.is_none() {
        return Ok(Vec::new());
    }
    let (key, json) = deps.registry.snapshot();
    batch::put_body(deps, bucket, &key, json, batch::Cond::Absent).await?;
    Ok(vec![(
        "--lakeline_registry".to_string(),
        format!("s3://{bucket}/{key}"),
    )])
}

/// start-job asked to run the Lambda engine: the pipeline routes those files to curate, so this
/// is a definition or input that does not match the registry.
fn lambda_engine(dataset: &str) -> JobError {
    JobError::Config(format!(
        "dataset {dataset} uses the lambda engine for this file: the pipeline's Curate step runs it, start-job has no run to start (is the execution input's engine out of date with the registry?)"
    ))
}

pub(crate) fn now_rfc3339() -> String {
    DateTime::from(SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

/// Starts (or finds) a Glue run of `req`'s file, or of a batch's `manifest` (an `s3://` URI)
/// when given.
async fn start_glue(
    deps: &Deps,
    job: &GlueJob,
    req: &StartRequest,
    execution: &str,
    target: &str,
    manifest: Option<&str>,
    table: &[(String, String)],
) -> Result<RunHandle, JobError> {
    let key = run_key(execution);
    let mut handle = RunHandle {
        engine: Engine::Glue,
        job_name: Some(job.job_name.clone()),
        application_id: None,
        run_id: String::new(),
        run_key: key.clone(),
        started_at: String::new(),
        reused: false,
        dataset: req.dataset.clone(),
        partition: req.partition.clone(),
        log_uri: None,
        checks: 0,
        table: false,
    };
    if let Some((id, started)) = find_glue_run(&deps.glue, &job.job_name, &key).await? {
        handle.run_id = id;
        handle.started_at = started.unwrap_or_else(now_rfc3339);
        handle.reused = true;
        return Ok(handle);
    }
    let mut args: HashMap<String, String> = job.arguments.0.clone().into_iter().collect();
    match manifest {
        Some(m) => args.insert(GLUE_MANIFEST_ARG.into(), m.to_string()),
        None => args.insert(
            "--lakeline_source".into(),
            format!("s3://{}/{}", req.bucket, req.key),
        ),
    };
    args.insert("--lakeline_target".into(), target.to_string());
    args.insert("--lakeline_dataset".into(), req.dataset.clone());
    // Glue rejects empty argument values, so an unpartitioned file has no partition argument.
    if let Some(p) = req.partition.as_ref().filter(|p| !p.is_empty()) {
        args.insert("--lakeline_partition".into(), p.clone());
    }
    args.insert("--lakeline_execution".into(), execution.to_string());
    args.insert(GLUE_RUN_KEY_ARG.into(), key);
    args.extend(table.iter().cloned());
    let out = deps
        .glue
        .start_job_run()
        .job_name(&job.job_name)
        .set_arguments(Some(args))
        .set_timeout(job.timeout_minutes.map(|m| m.min(i32::MAX as u32) as i32))
        .send()
        .await
        .map_err(|e| JobError::from_sdk(&format!("Glue StartJobRun {}", job.job_name), &e))?;
    handle.run_id = out.job_run_id.unwrap_or_default();
    handle.started_at = now_rfc3339();
    Ok(handle)
}

/// A run of `job` carrying `key` that is still useful (starting, running or done well):
/// (run id, started at). A FAILED or STOPPED one is not reused, so a redrive runs again.
pub(crate) async fn find_glue_run(
    glue: &aws_sdk_glue::Client,
    job: &str,
    key: &str,
) -> Result<Option<(String, Option<String>)>, JobError> {
    let mut token: Option<String> = None;
    for _ in 0..GLUE_RUN_PAGES {
        let out = glue
            .get_job_runs()
            .job_name(job)
            .max_results(200)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| JobError::from_sdk(&format!("Glue GetJobRuns {job}"), &e))?;
        for run in out.job_runs() {
            let same = run
                .arguments()
                .and_then(|a| a.get(GLUE_RUN_KEY_ARG))
                .is_some_and(|k| k == key);
            let state = run.job_run_state().map(|s| s.as_str()).unwrap_or_default();
            if same && matches!(state, "STARTING" | "RUNNING" | "WAITING" | "SUCCEEDED") {
                let started = run.started_on().and_then(|d| d.fmt(Format::DateTime).ok());
                return Ok(Some((run.id().unwrap_or_default().to_string(), started)));
            }
        }
        match out.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(None)
}

/// Starts an EMR Serverless run of `req`'s file, or of a batch's `manifest` when given.
async fn start_emr(
    deps: &Deps,
    job: &EmrServerlessJob,
    req: &StartRequest,
    execution: &str,
    target: &str,
    manifest: Option<&str>,
    table: &[(String, String)],
) -> Result<RunHandle, JobError> {
    use aws_sdk_emrserverless::types::{
        ConfigurationOverrides, JobDriver, MonitoringConfiguration, S3MonitoringConfiguration,
        SparkSubmit,
    };
    let key = run_key(execution);
    let mut entry_args = job.arguments.clone();
    entry_args.extend(match manifest {
        Some(m) => ["--manifest".to_string(), m.to_string()],
        None => [
            "--source".to_string(),
            format!("s3://{}/{}", req.bucket, req.key),
        ],
    });
    entry_args.extend([
        "--partition".to_string(),
        req.partition.clone().unwrap_or_default(),
        "--target".to_string(),
        target.to_string(),
    ]);
    entry_args.extend(table.iter().flat_map(|(k, v)| [k.clone(), v.clone()]));
    let spark = SparkSubmit::builder()
        .entry_point(&job.entry_point)
        .set_entry_point_arguments(Some(entry_args))
        .set_spark_submit_parameters(job.spark_submit_parameters.clone())
        .build()
        .map_err(|e| JobError::Config(format!("EMR Serverless job of {}: {e}", req.dataset)))?;
    let overrides = job.log_uri.as_ref().map(|uri| {
        ConfigurationOverrides::builder()
            .monitoring_configuration(
                MonitoringConfiguration::builder()
                    .s3_monitoring_configuration(
                        S3MonitoringConfiguration::builder().log_uri(uri).build(),
                    )
                    .build(),
            )
            .build()
    });
    let out = deps
        .emr
        .start_job_run()
        .application_id(&job.application_id)
        // Idempotent on AWS: a retried start with the same token returns the same run.
        .client_token(&key)
        .execution_role_arn(&job.execution_role_arn)
        .name(run_name(&req.dataset, req.partition.as_deref()))
        .job_driver(JobDriver::SparkSubmit(spark))
        .set_configuration_overrides(overrides)
        .set_execution_timeout_minutes(job.timeout_minutes.map(i64::from))
        .tags("lakeline:dataset", &req.dataset)
        .tags("lakeline:execution", execution)
        .send()
        .await
        .map_err(|e| {
            JobError::from_sdk(
                &format!("EMR Serverless StartJobRun on {}", job.application_id),
                &e,
            )
        })?;
    Ok(RunHandle {
        engine: Engine::EmrServerless,
        job_name: None,
        application_id: Some(job.application_id.clone()),
        run_id: out.job_run_id,
        run_key: key,
        started_at: now_rfc3339(),
        reused: false,
        dataset: req.dataset.clone(),
        partition: req.partition.clone(),
        log_uri: job.log_uri.clone(),
        checks: 0,
        table: false,
    })
}

/// Checks a run once.
pub async fn status(deps: &Deps, run: &RunHandle) -> Result<JobStatus, JobError> {
    let missing = |what: &str| {
        JobError::BadInput(format!("a {} run handle needs {what}", run.engine.label()))
    };
    let (status, engine_state, message, duration, billed) = match run.engine {
        Engine::Lambda => {
            return Err(JobError::BadInput(
                "a lambda engine run has no status to poll: curate answers synchronously".into(),
            ))
        }
        Engine::Glue => {
            let job = run.job_name.as_deref().ok_or_else(|| missing("jobName"))?;
            let out = deps
                .glue
                .get_job_run()
                .job_name(job)
                .run_id(&run.run_id)
                .send()
                .await
                .map_err(|e| {
                    JobError::from_sdk(&format!("Glue GetJobRun {job} {}", run.run_id), &e)
                })?;
            let jr = out.job_run.ok_or_else(|| {
                JobError::NotFound(format!("Glue run {} of {job} not found", run.run_id))
            })?;
            let state = jr
                .job_run_state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            let billed = jr.dpu_seconds().map(|d| Billed {
                dpu_seconds: Some(d),
                ..Default::default()
            });
            (
                glue_status(&state),
                state,
                jr.error_message().map(str::to_string),
                Some(i64::from(jr.execution_time())),
                billed,
            )
        }
        Engine::EmrServerless => {
            let app = run
                .application_id
                .as_deref()
                .ok_or_else(|| missing("applicationId"))?;
            let out = deps
                .emr
                .get_job_run()
                .application_id(app)
                .job_run_id(&run.run_id)
                .send()
                .await
                .map_err(|e| {
                    JobError::from_sdk(
                        &format!("EMR Serverless GetJobRun {app} {}", run.run_id),
                        &e,
                    )
                })?;
            let jr = out.job_run.ok_or_else(|| {
                JobError::NotFound(format!(
                    "EMR Serverless run {} on {app} not found",
                    run.run_id
                ))
            })?;
            let state = jr.state().as_str().to_string();
            let details = Some(jr.state_details()).filter(|d| !d.is_empty());
            let billed = jr.billed_resource_utilization().map(|b| Billed {
                dpu_seconds: None,
                vcpu_hours: b.v_cpu_hour(),
                memory_gb_hours: b.memory_gb_hour(),
                storage_gb_hours: b.storage_gb_hour(),
            });
            let duration = jr.total_execution_duration_seconds().map(i64::from);
            (
                emr_status(&state, details),
                state,
                details.map(str::to_string),
                duration,
                billed,
            )
        }
    };
    let done = status.is_done();
    let mut next = run.clone();
    next.checks = run.checks.saturating_add(1);
    Ok(JobStatus {
        status,
        done,
        engine_state,
        message,
        duration_seconds: duration,
        billed,
        links: run_links(&deps.region, run),
        wait_seconds: if done { 0 } else { deps.poll.wait(run.checks) },
        run: next,
    })
}
