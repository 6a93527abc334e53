//! `compact`: starts (or finds) the Spark run that merges one table partition for the
//! maintenance state machine, over the plan the compact function wrote
//! (`{"action": "compact", "dataset", "partition", "plan", "planId", "execution"}`). The run
//! reads the plan and writes new files beside it; it commits nothing (the compact function's
//! `commitRewrite` does). The engine is the dataset's `compaction.job`.

use std::collections::HashMap;

use lakeline_core::compaction::Engine as CompactionEngine;
use lakeline_core::jobs::{run_key, run_name, Engine, RunHandle, GLUE_RUN_KEY_ARG};
use serde::Deserialize;
use tracing::info;

use crate::{find_glue_run, now_rfc3339, Deps, JobError};

/// The Glue argument naming the rewrite plan (jobs/compact.py `--lakeline_plan`).
pub const GLUE_PLAN_ARG: &str = "--lakeline_plan";

/// One partition's Spark rewrite, as the maintenance state machine asks for it.
#[derive(Debug, Clone, Deserialize)]
pub struct CompactRequest {
    /// Dataset.
    pub dataset: String,
    /// The partition (for the run's name and logs).
    pub partition: String,
    /// The plan's location (`s3://…/plan.json`).
    pub plan: String,
    /// The plan's id: with the execution, the run's key, so a retried start finds its run.
    #[serde(rename = "planId")]
    pub plan_id: String,
    /// `$$.Execution.Name`.
    pub execution: String,
}

/// Starts the rewrite's run, or finds the one a first attempt started.
pub async fn compact(deps: &Deps, req: &CompactRequest) -> Result<RunHandle, JobError> {
    let settings = deps
        .registry
        .dataset(&req.dataset)
        .ok_or_else(|| JobError::Config(format!("no dataset {:?} in the registry", req.dataset)))?
        .1
        .compaction
        .clone()
        .unwrap_or_default()
        .job;
    let missing = |what: &str| {
        JobError::Config(format!(
            "dataset {:?}: compaction.job lacks {what} (config/datasets.yaml)",
            req.dataset
        ))
    };
    let key = run_key(&format!("{}-compact-{}", req.execution, req.plan_id));
    let mut handle = RunHandle {
        engine: Engine::Glue,
        job_name: None,
        application_id: None,
        run_id: String::new(),
        run_key: key.clone(),
        started_at: String::new(),
        reused: false,
        dataset: req.dataset.clone(),
        partition: Some(req.partition.clone()),
        log_uri: None,
        checks: 0,
        table: false,
    };
    match settings.engine {
        CompactionEngine::Lambda => Err(JobError::Config(format!(
            "dataset {:?} compacts with the compact function (no compaction.job engine): there is no Spark run to start",
            req.dataset
        ))),
        CompactionEngine::Glue => {
            let job = settings.glue_job_name.ok_or_else(|| missing("glue_job_name"))?;
            handle.job_name = Some(job.clone());
            if let Some((id, started)) = find_glue_run(&deps.glue, &job, &key).await? {
                handle.run_id = id;
                handle.started_at = started.unwrap_or_else(now_rfc3339);
                handle.reused = true;
                return Ok(handle);
            }
            let args = HashMap::from([
                (GLUE_PLAN_ARG.to_string(), req.plan.clone()),
                ("--lakeline_dataset".to_string(), req.dataset.clone()),
                ("--lakeline_execution".to_string(), req.execution.clone()),
                (GLUE_RUN_KEY_ARG.to_string(), key),
            ]);
            let out = deps
                .glue
                .start_job_run()
                .job_name(&job)
                .set_arguments(Some(args))
                .send()
                .await
                .map_err(|e| JobError::from_sdk(&format!("Glue StartJobRun {job}"), &e))?;
            handle.run_id = out.job_run_id.unwrap_or_default();
            handle.started_at = now_rfc3339();
            info!(dataset = %req.dataset, partition = %req.partition, plan = %req.plan_id, run_id = %handle.run_id, "Spark rewrite started on Glue");
            Ok(handle)
        }
        CompactionEngine::EmrServerless => {
            use aws_sdk_emrserverless::types::{JobDriver, SparkSubmit};
            let app = settings.application_id.ok_or_else(|| missing("application_id"))?;
            let role = settings
                .execution_role_arn
                .ok_or_else(|| missing("execution_role_arn"))?;
            let entry = settings.entry_point.ok_or_else(|| missing("entry_point"))?;
            let spark = SparkSubmit::builder()
                .entry_point(&entry)
                .set_entry_point_arguments(Some(vec!["--plan".into(), req.plan.clone()]))
                .build()
                .map_err(|e| JobError::Config(format!("EMR Serverless rewrite of {}: {e}", req.dataset)))?;
            let out = deps
                .emr
                .start_job_run()
                .application_id(&app)
                // Idempotent on AWS: a retried start with the same token returns the same run.
                .client_token(&key)
                .execution_role_arn(&role)
                .name(format!("{}-compact", run_name(&req.dataset, Some(&req.partition))))
                .job_driver(JobDriver::SparkSubmit(spark))
                .tags("lakeline:dataset", &req.dataset)
                .tags("lakeline:execution", &req.execution)
                .send()
                .await
                .map_err(|e| {
                    JobError::from_sdk(&format!("EMR Serverless StartJobRun on {app}"), &e)
                })?;
            handle.engine = Engine::EmrServerless;
            handle.application_id = Some(app);
            handle.run_id = out.job_run_id;
            handle.started_at = now_rfc3339();
            info!(dataset = %req.dataset, partition = %req.partition, plan = %req.plan_id, run_id = %handle.run_id, "Spark rewrite started on EMR Serverless");
            Ok(handle)
        }
    }
}
