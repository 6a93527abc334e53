//! Harness helpers for the job tests: Glue jobs and EMR Serverless applications on the
//! emulator, registries that point datasets at them, and moto's Glue run state manager.

use std::sync::Arc;

use aws_sdk_glue::types::{ExecutionProperty, JobCommand};
use lakeline_core::jobs::{EmrServerlessJob, GlueArguments, GlueJob, JobSpec, TargetPrefix};
use lakeline_core::registry::Registry;
use tokio::sync::{Mutex, MutexGuard};

use crate::{endpoint, sdk_config, shipped_registry, unique, ROLE_ARN};

/// An IAM role in moto's account (EMR Serverless refuses cross-account roles).
pub const EMR_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/lakeline-emr-test";

/// Clients for the job services on the emulator (the harness's own, signed as the admin), and
/// start-job's, signed as its template role.
pub struct Jobs {
    /// start-job's SDK configuration.
    function: aws_config::SdkConfig,
    /// Glue.
    pub glue: aws_sdk_glue::Client,
    /// EMR Serverless.
    pub emr: aws_sdk_emrserverless::Client,
    /// S3 (batches, registry snapshots).
    pub s3: aws_sdk_s3::Client,
    /// A lake bucket of this test's own, registered as a stack's: the bucket of its requests,
    /// where start-job writes the registry snapshot a run reads.
    pub lake: String,
}

impl Jobs {
    /// Clients pointed at the emulator.
    pub async fn new() -> Jobs {
        let conf = sdk_config().await;
        let s3 = lakeline_aws::s3_client(&conf);
        let lake = unique("jobs-lake");
        s3.create_bucket().bucket(&lake).send().await.unwrap();
        crate::register_lake(&lake, &[]).await;
        Jobs {
            function: crate::as_function(&conf, "start-job"),
            glue: aws_sdk_glue::Client::new(&conf),
            emr: aws_sdk_emrserverless::Client::new(&conf),
            s3,
            lake,
        }
    }

    /// The body of `bucket`/`key`, read as the harness.
    pub async fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
            .to_vec()
    }

    /// Creates a uniquely named Glue job allowing `max_concurrent_runs` runs; returns its name,
    /// which matches the template's default `GlueJobNamePattern` (`lakeline-*`), as the jobs a
    /// registry names must.
    pub async fn glue_job(&self, max_concurrent_runs: i32) -> String {
        let name = unique("lakeline-glue");
        self.glue
            .create_job()
            .name(&name)
            .role(ROLE_ARN)
            .command(
                JobCommand::builder()
                    .name("glueetl")
                    .script_location("s3://artifacts/job.py")
                    .build(),
            )
            .execution_property(
                ExecutionProperty::builder()
                    .max_concurrent_runs(max_concurrent_runs)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        name
    }

    /// Creates a uniquely named EMR Serverless Spark application; returns its id. It is
    /// registered as a stack's application (`ExistingEmrApplicationId`, with [`EMR_ROLE_ARN`]
    /// as its execution role), which is what lets start-job start runs on it.
    pub async fn emr_application(&self) -> String {
        let id = self
            .emr
            .create_application()
            .name(unique("emr"))
            .release_label("emr-7.5.0")
            .r#type("SPARK")
            .send()
            .await
            .unwrap()
            .application_id;
        register_emr_application(&id).await;
        id
    }

    /// Start-job dependencies over these clients and `registry`.
    pub fn deps(&self, registry: Registry) -> start_job::Deps {
        start_job::Deps {
            s3: lakeline_aws::s3_client(&self.function),
            glue: aws_sdk_glue::Client::new(&self.function),
            emr: aws_sdk_emrserverless::Client::new(&self.function),
            registry: Arc::new(registry),
            region: "us-east-1".into(),
            poll: Default::default(),
            // Runs write the curated/ prefix here; table mode is the pipeline tests'.
            tables: None,
        }
    }
}

/// Registers `id` as the EMR Serverless application of a stack (`ExistingEmrApplicationId`,
/// with [`EMR_ROLE_ARN`] as its execution role) with the router's call log: the template lets
/// start-job start runs there and pass that role.
pub async fn register_emr_application(id: &str) {
    let router = std::env::var("LAKELINE_ROUTER_URL")
        .expect("LAKELINE_ROUTER_URL is not set: run with `make test`");
    lakeline_local::stack::register_stack(
        &router,
        &unique("emr-stack"),
        &Default::default(),
        &[
            ("ExistingEmrApplicationId", id.to_string()),
            ("EmrExecutionRoleArns", EMR_ROLE_ARN.to_string()),
        ]
        .into_iter()
        .collect(),
    )
    .await
    .unwrap();
}

/// A Glue job block writing to `curated/{dataset}/{partition}/`.
pub fn glue_spec(job_name: &str) -> JobSpec {
    JobSpec::Glue(GlueJob {
        above: None,
        job_name: job_name.into(),
        target_prefix: TargetPrefix::try_from("curated/{dataset}/{partition}/".to_string())
            .unwrap(),
        arguments: GlueArguments([("--output_format".to_string(), "parquet".to_string())].into()),
        timeout_minutes: Some(60),
        batch_seconds: 0,
    })
}

/// An EMR Serverless job block on `application_id`.
pub fn emr_spec(application_id: &str) -> JobSpec {
    JobSpec::EmrServerless(EmrServerlessJob {
        above: None,
        application_id: application_id.into(),
        execution_role_arn: EMR_ROLE_ARN.into(),
        entry_point: "s3://artifacts/jobs/clicks_sessionize.py".into(),
        target_prefix: TargetPrefix::try_from("curated/{dataset}/{partition}/".to_string())
            .unwrap(),
        arguments: vec!["--session-gap-minutes".into(), "30".into()],
        spark_submit_parameters: Some("--conf spark.executor.cores=2".into()),
        log_uri: Some("s3://logs/emr/".into()),
        timeout_minutes: Some(120),
        batch_seconds: 0,
    })
}

/// The shipped registry with `dataset`'s job replaced by `spec`.
pub fn registry_with_job(dataset: &str, spec: Option<JobSpec>) -> Registry {
    let mut reg = shipped_registry();
    let ds = reg
        .datasets
        .iter_mut()
        .find(|(n, _)| n.as_str() == dataset)
        .map(|(_, d)| d)
        .unwrap_or_else(|| panic!("no dataset {dataset} in the shipped registry"));
    ds.job = spec;
    reg
}

/// POSTs a JSON body to the emulator (moto's own API has no SDK); returns the status code.
pub async fn moto_post(path: &str, body: &str) -> u16 {
    crate::http(&endpoint(), "POST", path, body).await.0
}

static GLUE_HELD: Mutex<()> = Mutex::const_new(());

/// While held, Glue runs on the emulator advance only when looked at: STARTING, then RUNNING
/// for two GetJobRun calls, then SUCCEEDED (moto's state manager, `times: 2`). The setting is
/// global to the emulator, so holders in this process take turns, and tests that do not hold
/// it assert only what is true in either mode.
pub struct GlueRunsHeld {
    _turn: MutexGuard<'static, ()>,
}

impl GlueRunsHeld {
    /// Takes the turn and switches moto to manual progression.
    pub async fn take() -> GlueRunsHeld {
        let turn = GLUE_HELD.lock().await;
        let code = moto_post(
            "/moto-api/state-manager/set-transition",
            r#"{"model_name":"glue::job_run","transition":{"progression":"manual","times":2}}"#,
        )
        .await;
        assert!((200..300).contains(&code), "set-transition: HTTP {code}");
        GlueRunsHeld { _turn: turn }
    }

    /// Restores moto's default (runs finish at once) and gives the turn back.
    pub async fn release(self) {
        let code = moto_post(
            "/moto-api/state-manager/unset-transition",
            r#"{"model_name":"glue::job_run"}"#,
        )
        .await;
        assert!((200..300).contains(&code), "unset-transition: HTTP {code}");
    }
}
