//! start-job against the local AWS (moto server's Glue and EMR Serverless, real aws-sdk-rust
//! clients), plus the paths moto cannot produce, with aws-smithy-mocks.

use aws_sdk_emrserverless::types::JobDriver;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use lakeline_core::jobs::run_key;
use lakeline_tests::jobs::{
    emr_spec, glue_spec, registry_with_job, GlueRunsHeld, Jobs, EMR_ROLE_ARN,
};
use lakeline_tests::unique;
use serde_json::{json, Value};
use start_job::{handle, JobError};

const KEY: &str = "raw/orders/dt=2026-11-25/export.csv";

fn start_req(lake: &str, dataset: &str, execution: &str) -> Value {
    // The execution input validate-upload writes, plus what the state machine adds.
    json!({
        "action": "start", "bucket": lake, "key": KEY, "versionId": null, "etag": "0123abcd",
        "dataset": dataset, "partition": "dt=2026-11-25", "date": "2026-11-25", "file": "export.csv",
        "format": "csv", "size": 120, "rows": 2, "execution": execution
    })
}

fn status_req(run: &Value) -> Value {
    json!({"action": "status", "run": run})
}

#[tokio::test]
async fn glue_start_uses_the_registry_and_a_repeated_start_returns_the_same_run() {
    let jobs = Jobs::new().await;
    let job = jobs.glue_job(10).await;
    let deps = jobs.deps(registry_with_job("orders", Some(glue_spec(&job))));
    let exec = unique("exec");

    let first = handle(&deps, start_req(&jobs.lake, "orders", &exec))
        .await
        .unwrap();
    assert_eq!(first["engine"], "glue", "{first}");
    assert_eq!(first["jobName"], job.as_str());
    assert_eq!(first["reused"], false);
    assert_eq!(first["runKey"], run_key(&exec).as_str());
    assert_eq!(first["checks"], 0);
    // A Step Functions retry of the same task: same run, whatever state it reached meanwhile
    // (this holds whether or not another test holds Glue runs in RUNNING).
    let again = handle(&deps, start_req(&jobs.lake, "orders", &exec))
        .await
        .unwrap();
    assert_eq!(again["runId"], first["runId"], "{again}");
    assert_eq!(again["reused"], true);

    let run = jobs
        .glue
        .get_job_run()
        .job_name(&job)
        .run_id(first["runId"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .job_run
        .unwrap();
    let args = run.arguments().unwrap();
    assert_eq!(
        args["--lakeline_source"],
        format!("s3://{}/{KEY}", jobs.lake)
    );
    assert_eq!(
        args["--lakeline_target"],
        format!("s3://{}/curated/orders/dt=2026-11-25/", jobs.lake)
    );
    assert_eq!(args["--lakeline_partition"], "dt=2026-11-25");
    assert_eq!(args["--lakeline_run_key"], run_key(&exec));
    assert_eq!(
        args["--lakeline_etag"], "0123abcd",
        "the run refuses an object that is not the validated upload"
    );
    assert_eq!(
        args["--output_format"], "parquet",
        "registry arguments are passed on"
    );
    // The run reads the registry this start was judged by: its snapshot, in the lake.
    let (key, json) = deps.registry.snapshot();
    assert_eq!(
        args["--lakeline_registry"],
        format!("s3://{}/{key}", jobs.lake)
    );
    let stored = jobs.object(&jobs.lake, &key).await;
    assert_eq!(stored, json);
    let back = lakeline_core::registry::Registry::from_yaml(
        std::str::from_utf8(&stored).unwrap(),
        "snapshot",
    )
    .unwrap();
    assert_eq!(
        &back,
        deps.registry.as_ref(),
        "the snapshot is the registry"
    );

    // Another upload is another execution: its own run.
    let other = handle(&deps, start_req(&jobs.lake, "orders", &unique("exec")))
        .await
        .unwrap();
    assert_ne!(other["runId"], first["runId"]);
    let runs = jobs
        .glue
        .get_job_runs()
        .job_name(&job)
        .send()
        .await
        .unwrap();
    assert_eq!(runs.job_runs().len(), 2);
}

#[tokio::test]
async fn execution_name_is_derived_from_the_upload_when_not_given() {
    let jobs = Jobs::new().await;
    let job = jobs.glue_job(10).await;
    let deps = jobs.deps(registry_with_job("orders", Some(glue_spec(&job))));
    let mut req = start_req(&jobs.lake, "orders", "");
    req.as_object_mut().unwrap().remove("execution");
    let a = handle(&deps, req.clone()).await.unwrap();
    let b = handle(&deps, req).await.unwrap();
    let expected = lakeline_core::keys::execution_name(
        "orders",
        Some("2026-11-25"),
        "export.csv",
        &jobs.lake,
        KEY,
        "0123abcd",
    );
    assert_eq!(a["runKey"], run_key(&expected).as_str());
    assert_eq!(b["runId"], a["runId"]);
}

#[tokio::test]
async fn glue_run_reports_running_with_growing_waits_until_it_succeeds() {
    let jobs = Jobs::new().await;
    let job = jobs.glue_job(10).await;
    let deps = jobs.deps(registry_with_job("orders", Some(glue_spec(&job))));
    let held = GlueRunsHeld::take().await;
    let mut run = handle(&deps, start_req(&jobs.lake, "orders", &unique("exec")))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let st = handle(&deps, status_req(&run)).await.unwrap();
        seen.push((
            st["status"].as_str().unwrap().to_string(),
            st["waitSeconds"].as_u64().unwrap(),
        ));
        run = st["run"].clone();
        if st["done"] == true {
            assert_eq!(
                st["durationSeconds"], 123,
                "moto's fixed ExecutionTime: {st}"
            );
            let labels: Vec<&str> = st["links"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["label"].as_str().unwrap())
                .collect();
            assert_eq!(
                labels,
                ["Glue job run", "Glue error log", "Glue output log"]
            );
            break;
        }
    }
    held.release().await;
    // STARTING, RUNNING, RUNNING are all RUNNING to the state machine; the waits back off.
    let want: Vec<(String, u64)> = [
        ("RUNNING", 15),
        ("RUNNING", 30),
        ("RUNNING", 60),
        ("SUCCEEDED", 0),
    ]
    .iter()
    .map(|(s, w)| (s.to_string(), *w))
    .collect();
    assert_eq!(seen, want);
    assert_eq!(run["checks"], 4);
}

#[tokio::test]
async fn concurrent_runs_exceeded_is_the_retryable_error() {
    let jobs = Jobs::new().await;
    let job = jobs.glue_job(1).await;
    let deps = jobs.deps(registry_with_job("orders", Some(glue_spec(&job))));
    let held = GlueRunsHeld::take().await;
    let first = handle(&deps, start_req(&jobs.lake, "orders", &unique("exec"))).await;
    let second = handle(&deps, start_req(&jobs.lake, "orders", &unique("exec"))).await;
    held.release().await;
    first.unwrap();
    let err = second.unwrap_err();
    assert!(matches!(err, JobError::Retryable(_)), "{err:?}");
    assert_eq!(err.error_type(), "Lakeline.JobRetryable");
    assert!(
        err.to_string().contains("ConcurrentRunsExceededException"),
        "{err}"
    );
    let diag = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diag.error_type, "Lakeline.JobRetryable");
}

#[tokio::test]
async fn missing_job_or_application_is_not_found_and_bad_requests_are_bad_input() {
    let jobs = Jobs::new().await;
    // A job the template lets start-job run (GlueJobNamePattern, lakeline-*), deleted or never
    // deployed.
    let deps = jobs.deps(registry_with_job(
        "orders",
        Some(glue_spec(&unique("lakeline-no-such-job"))),
    ));
    let err = handle(&deps, start_req(&jobs.lake, "orders", &unique("exec")))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Lakeline.JobNotFound", "{err}");

    // The stack's application, deleted behind its back.
    lakeline_tests::jobs::register_emr_application("00nosuchapp00000").await;
    let deps = jobs.deps(registry_with_job(
        "clicks",
        Some(emr_spec("00nosuchapp00000")),
    ));
    let err = handle(&deps, start_req(&jobs.lake, "clicks", &unique("exec")))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Lakeline.JobNotFound", "{err}");

    let deps = jobs.deps(registry_with_job("orders", None));
    let err = handle(&deps, start_req(&jobs.lake, "orders", "e"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Lakeline.Config", "{err}");
    assert!(err.to_string().contains("has no job"), "{err}");
    for bad in [
        json!({"action": "explode"}),
        json!({"bucket": "lake"}),
        json!({"action": "status", "run": {"engine": "glue"}}),
        json!({"action": "start", "bucket": "b", "key": "k", "dataset": "orders"}),
    ] {
        let deps = jobs.deps(registry_with_job("orders", Some(glue_spec("j"))));
        let err = handle(&deps, bad.clone()).await.unwrap_err();
        assert_eq!(err.error_type(), "Lakeline.BadInput", "{bad}: {err}");
    }
}

#[tokio::test]
async fn emr_serverless_start_uses_the_registry_and_status_reports_success() {
    let jobs = Jobs::new().await;
    let app = jobs.emr_application().await;
    let deps = jobs.deps(registry_with_job("clicks", Some(emr_spec(&app))));
    let exec = unique("exec");
    let mut req = start_req(&jobs.lake, "clicks", &exec);
    req["key"] = json!("raw/clicks/dt=2026-11-25/c.jsonl");
    let h = handle(&deps, req).await.unwrap();
    assert_eq!(h["engine"], "emr-serverless", "{h}");
    assert_eq!(h["applicationId"], app.as_str());
    assert_eq!(h["logUri"], "s3://logs/emr/");

    let run = jobs
        .emr
        .get_job_run()
        .application_id(&app)
        .job_run_id(h["runId"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .job_run
        .unwrap();
    assert_eq!(run.name(), Some("clicks-dt=2026-11-25"));
    assert_eq!(run.execution_role(), EMR_ROLE_ARN);
    let tags = run.tags().unwrap();
    assert_eq!(tags["lakeline:dataset"], "clicks");
    assert_eq!(tags["lakeline:execution"], exec);
    let Some(JobDriver::SparkSubmit(spark)) = run.job_driver() else {
        panic!("{:?}", run.job_driver())
    };
    assert_eq!(
        spark.entry_point(),
        "s3://artifacts/jobs/clicks_sessionize.py"
    );
    assert_eq!(
        spark.entry_point_arguments(),
        [
            "--session-gap-minutes",
            "30",
            "--source",
            &format!("s3://{}/raw/clicks/dt=2026-11-25/c.jsonl", jobs.lake),
            "--partition",
            "dt=2026-11-25",
            "--target",
            &format!("s3://{}/curated/clicks/dt=2026-11-25/", jobs.lake),
        ]
    );
    let log_uri = run
        .configuration_overrides()
        .and_then(|c| c.monitoring_configuration())
        .and_then(|m| m.s3_monitoring_configuration())
        .and_then(|s| s.log_uri());
    assert_eq!(log_uri, Some("s3://logs/emr/"));

    // moto finishes EMR Serverless runs at once.
    let st = handle(&deps, status_req(&h)).await.unwrap();
    assert_eq!(st["status"], "SUCCEEDED", "{st}");
    assert_eq!(st["engineState"], "SUCCESS");
    assert_eq!(st["waitSeconds"], 0);
    assert!(st["billed"]["vcpuHours"].is_number(), "{st}");
    let spark_logs = &st["links"][1];
    assert_eq!(
        spark_logs["url"],
        format!(
            "s3://logs/emr/applications/{app}/jobs/{}/",
            h["runId"].as_str().unwrap()
        )
    );
}

// ---- Paths moto cannot produce: canned SDK responses (aws-smithy-mocks) ----

fn mocked_deps(
    jobs: &Jobs,
    glue: aws_sdk_glue::Client,
    emr: aws_sdk_emrserverless::Client,
    reg: lakeline_core::registry::Registry,
) -> start_job::Deps {
    // S3 is the emulator's: a start writes the registry snapshot into the test's lake.
    start_job::Deps {
        glue,
        emr,
        region: "eu-west-1".into(),
        ..jobs.deps(reg)
    }
}

fn glue_handle(run_id: &str) -> Value {
    json!({"engine": "glue", "jobName": "curate", "runId": run_id, "runKey": "lakeline-x",
           "startedAt": "2026-11-25T10:00:00Z", "dataset": "orders", "partition": "dt=2026-11-25", "checks": 2})
}

#[tokio::test]
async fn glue_failed_run_carries_the_engine_message_and_billing() {
    let jobs = Jobs::new().await;
    // moto never fails a Glue run.
    use aws_sdk_glue::operation::get_job_run::GetJobRunOutput;
    use aws_sdk_glue::types::{JobRun, JobRunState};
    let rule = mock!(aws_sdk_glue::Client::get_job_run)
        .match_requests(|r| r.job_name() == Some("curate") && r.run_id() == Some("jr_9"))
        .then_output(|| {
            GetJobRunOutput::builder()
                .job_run(
                    JobRun::builder()
                        .id("jr_9")
                        .job_run_state(JobRunState::Failed)
                        .error_message("AnalysisException: Path does not exist: s3://lake/raw/orders/dt=2026-11-25/export.csv")
                        .execution_time(95)
                        .dpu_seconds(190.0)
                        .build(),
                )
                .build()
        });
    let glue = mock_client!(aws_sdk_glue, [&rule]);
    let emr = mock_client!(aws_sdk_emrserverless, Vec::<&aws_smithy_mocks::Rule>::new());
    let deps = mocked_deps(&jobs, glue, emr, registry_with_job("orders", None));
    let st = handle(&deps, status_req(&glue_handle("jr_9")))
        .await
        .unwrap();
    assert_eq!(st["status"], "FAILED", "{st}");
    assert_eq!(st["done"], true);
    assert_eq!(st["waitSeconds"], 0);
    assert_eq!(st["durationSeconds"], 95);
    assert_eq!(st["billed"], json!({"dpuSeconds": 190.0}));
    assert!(st["message"]
        .as_str()
        .unwrap()
        .starts_with("AnalysisException"));
    assert!(st["links"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://eu-west-1.console.aws.amazon.com/gluestudio/"));
    assert_eq!(st["run"]["checks"], 3);
}

#[tokio::test]
async fn emr_failure_details_billing_and_timeout() {
    let jobs = Jobs::new().await;
    // moto's EMR Serverless runs always succeed, with zero billing and no details.
    use aws_sdk_emrserverless::operation::get_job_run::GetJobRunOutput;
    use aws_sdk_emrserverless::types::{JobRun, JobRunState, ResourceUtilization};
    fn out(state: JobRunState, details: &'static str) -> GetJobRunOutput {
        let run = JobRun::builder()
            .application_id("00app")
            .job_run_id("00run")
            .arn("arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00app/jobruns/00run")
            .created_by("lakeline")
            .created_at(aws_sdk_emrserverless::primitives::DateTime::from_secs(
                1_764_064_800,
            ))
            .updated_at(aws_sdk_emrserverless::primitives::DateTime::from_secs(
                1_764_065_400,
            ))
            .execution_role(EMR_ROLE_ARN)
            .state(state)
            .state_details(details)
            .release_label("emr-7.5.0")
            .total_execution_duration_seconds(600)
            .billed_resource_utilization(
                ResourceUtilization::builder()
                    .v_cpu_hour(1.5)
                    .memory_gb_hour(6.0)
                    .storage_gb_hour(3.0)
                    .build(),
            )
            .build()
            .unwrap();
        GetJobRunOutput::builder().job_run(run).build()
    }
    let rule = mock!(aws_sdk_emrserverless::Client::get_job_run)
        .sequence()
        .output(|| {
            out(
                JobRunState::Failed,
                "Job failed, ExitCode: 1. Driver: ValueError: bad session gap",
            )
        })
        .output(|| out(JobRunState::Failed, "Job run timed out after 120 minutes"))
        .build();
    let emr = mock_client!(aws_sdk_emrserverless, [&rule]);
    let glue = mock_client!(aws_sdk_glue, Vec::<&aws_smithy_mocks::Rule>::new());
    let deps = mocked_deps(&jobs, glue, emr, registry_with_job("clicks", None));
    let h = json!({"engine": "emr-serverless", "applicationId": "00app", "runId": "00run", "runKey": "lakeline-x",
                   "startedAt": "2026-11-25T10:00:00Z", "dataset": "clicks", "logUri": "s3://logs/emr"});
    let st = handle(&deps, status_req(&h)).await.unwrap();
    assert_eq!(st["status"], "FAILED", "{st}");
    assert_eq!(
        st["message"],
        "Job failed, ExitCode: 1. Driver: ValueError: bad session gap"
    );
    assert_eq!(st["durationSeconds"], 600);
    assert_eq!(
        st["billed"],
        json!({"vcpuHours": 1.5, "memoryGbHours": 6.0, "storageGbHours": 3.0})
    );
    assert_eq!(
        st["links"][1]["url"],
        "s3://logs/emr/applications/00app/jobs/00run/"
    );
    let st = handle(&deps, status_req(&h)).await.unwrap();
    assert_eq!(st["status"], "TIMED_OUT", "{st}");
}

#[tokio::test]
async fn emr_start_sends_the_derived_client_token() {
    let jobs = Jobs::new().await;
    // moto ignores clientToken (AWS deduplicates on it), so check what start-job sends.
    use aws_sdk_emrserverless::operation::start_job_run::StartJobRunOutput;
    let exec = "clicks-2026-11-25-c-0123456789abcdef0123";
    let want = run_key(exec);
    let rule = mock!(aws_sdk_emrserverless::Client::start_job_run)
        .match_requests(move |r| {
            r.client_token() == Some(want.as_str()) && r.name() == Some("clicks-dt=2026-11-25")
        })
        .sequence()
        .output(|| {
            StartJobRunOutput::builder()
                .application_id("00app")
                .job_run_id("00run")
                .arn("arn:x")
                .build()
                .unwrap()
        })
        .times(2)
        .build();
    let emr = mock_client!(aws_sdk_emrserverless, [&rule]);
    let glue = mock_client!(aws_sdk_glue, Vec::<&aws_smithy_mocks::Rule>::new());
    let deps = mocked_deps(
        &jobs,
        glue,
        emr,
        registry_with_job("clicks", Some(emr_spec("00app"))),
    );
    let a = handle(&deps, start_req(&jobs.lake, "clicks", exec))
        .await
        .unwrap();
    let b = handle(&deps, start_req(&jobs.lake, "clicks", exec))
        .await
        .unwrap();
    assert_eq!(a["runId"], "00run");
    assert_eq!(a["runKey"], b["runKey"]);
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn throttling_is_retryable_and_server_errors_are_transient() {
    let jobs = Jobs::new().await;
    // moto never throttles. Retries are off so the error surfaces on the first answer.
    use aws_sdk_glue::config::retry::RetryConfig;
    use aws_sdk_glue::operation::get_job_runs::GetJobRunsOutput;
    let runs = mock!(aws_sdk_glue::Client::get_job_runs)
        .then_output(|| GetJobRunsOutput::builder().build());
    let throttled = mock!(aws_sdk_glue::Client::start_job_run)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .build();
    let broken = mock!(aws_sdk_glue::Client::get_job_run)
        .sequence()
        .http_status(
            500,
            Some(r#"{"__type":"InternalServiceException","message":"oops"}"#.into()),
        )
        .build();
    let glue = mock_client!(
        aws_sdk_glue,
        RuleMode::MatchAny,
        [&runs, &throttled, &broken],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let emr = mock_client!(aws_sdk_emrserverless, Vec::<&aws_smithy_mocks::Rule>::new());
    let deps = mocked_deps(
        &jobs,
        glue,
        emr,
        registry_with_job("orders", Some(glue_spec("curate"))),
    );
    let err = handle(&deps, start_req(&jobs.lake, "orders", "e1"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Lakeline.JobRetryable", "{err}");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    let err = handle(&deps, status_req(&glue_handle("jr_1")))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Lakeline.Transient", "{err}");
}

/// A Glue job (at most `max_runs` at once), a lake bucket of its own, and start-job's
/// dependencies for an `orders` dataset whose Spark files gather in 60-second batches.
async fn batching(jobs: &Jobs, max_runs: i32) -> (String, String, start_job::Deps) {
    let job = jobs.glue_job(max_runs).await;
    let bucket = unique("batches");
    jobs.s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    lakeline_tests::register_lake(&bucket, &[]).await;
    let mut spec = glue_spec(&job);
    if let lakeline_core::jobs::JobSpec::Glue(g) = &mut spec {
        g.batch_seconds = 60;
    }
    let deps = jobs.deps(registry_with_job("orders", Some(spec)));
    (job, bucket, deps)
}

/// One partition's files gather into one batch: one leader, one Glue run over a manifest of
/// all of them, every member following it; a member asking before the leader started is told
/// to retry; a file joining after the batch closed opens the next one instead of being lost.
#[tokio::test]
async fn a_partitions_files_share_one_batch_run() {
    let jobs = Jobs::new().await;
    let (job, bucket, deps) = batching(&jobs, 1).await;
    let join = |i: usize| {
        json!({"action": "join", "bucket": bucket, "key": format!("raw/orders/dt=2026-11-25/f{i}.csv"),
               "etag": format!("e{i}"), "dataset": "orders", "partition": "dt=2026-11-25",
               "execution": format!("exec-{i:02}")})
    };
    let n = 20;
    let joined: Vec<Value> = futures_util::future::join_all((0..n).map(|i| handle(&deps, join(i))))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let batch = joined[0]["batch"].as_str().unwrap().to_string();
    assert!(
        joined.iter().all(|j| j["batch"] == batch.as_str()),
        "{joined:?}"
    );
    assert_eq!(
        joined.iter().filter(|j| j["leader"] == true).count(),
        1,
        "{joined:?}"
    );
    assert!(joined.iter().all(|j| j["perFile"] == false));
    let start = |i: usize, j: &Value| {
        json!({"action": "start_batch", "bucket": bucket, "dataset": "orders",
               "partition": "dt=2026-11-25", "execution": format!("exec-{i:02}"), "batch": j})
    };
    let leader = joined.iter().position(|j| j["leader"] == true).unwrap();
    let follower = (leader + 1) % n;
    match handle(&deps, start(follower, &joined[follower])).await {
        Err(JobError::Retryable(m)) => assert!(m.contains("no run yet"), "{m}"),
        other => panic!("a member before its leader: {other:?}"),
    }
    let led = handle(&deps, start(leader, &joined[leader])).await.unwrap();
    assert_eq!(led["included"], true);
    // A file arriving now opens the next batch: it is not in this run.
    let late = handle(&deps, join(n)).await.unwrap();
    assert_ne!(late["batch"], batch.as_str());
    assert_eq!(late["leader"], true);
    for (i, j) in joined.iter().enumerate() {
        let s = handle(&deps, start(i, j)).await.unwrap();
        assert_eq!(s["included"], true, "exec-{i}");
        assert_eq!(s["run"]["runId"], led["run"]["runId"]);
    }
    let runs = jobs
        .glue
        .get_job_runs()
        .job_name(&job)
        .send()
        .await
        .unwrap()
        .job_runs()
        .to_vec();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let manifest_uri = runs[0].arguments().unwrap()["--lakeline_manifest"].clone();
    let key = manifest_uri
        .strip_prefix(&format!("s3://{bucket}/"))
        .unwrap()
        .to_string();
    let bytes = jobs.object(&bucket, &key).await;
    let m: lakeline_core::batch::Manifest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m.files.len(), n);
    assert!(m
        .files
        .iter()
        .all(|f| f.key.starts_with("raw/orders/dt=2026-11-25/f")));
    // A dataset that asks for a run per file gets one.
    let mut per_file = glue_spec(&job);
    if let lakeline_core::jobs::JobSpec::Glue(g) = &mut per_file {
        g.batch_seconds = 0;
    }
    let deps = jobs.deps(registry_with_job("orders", Some(per_file)));
    assert_eq!(handle(&deps, join(99)).await.unwrap()["perFile"], true);
}

/// Issue 26, batches under crashes and retries:
/// - a join whose answer was lost is retried after the open batch changed: it answers the
///   batch it joined, and the file is a member of that one only;
/// - a leader that wrote its manifest and crashed before starting the run starts it, on its
///   retry, over that manifest: a member that joined meanwhile is not slipped in, and joins the
///   next batch;
/// - an open batch long past its seal (its leader never started it) is taken over by the next
///   file, which leads a new batch instead of waiting on a run that never comes.
#[tokio::test]
async fn batches_survive_a_lost_join_a_retried_leader_and_an_orphaned_batch() {
    use lakeline_core::batch as b;
    let jobs = Jobs::new().await;
    let (job, bucket, deps) = batching(&jobs, 10).await;
    let root = b::root("orders", Some("dt=2026-11-25"));
    let join = |e: &str| {
        json!({"action": "join", "bucket": bucket, "key": format!("raw/orders/dt=2026-11-25/{e}.csv"),
               "etag": format!("etag-{e}"), "dataset": "orders", "partition": "dt=2026-11-25",
               "execution": e})
    };
    let start = |e: &str, j: &Value| {
        json!({"action": "start_batch", "bucket": bucket, "dataset": "orders",
               "partition": "dt=2026-11-25", "execution": e, "batch": j})
    };
    let put = |key: String, v: Value| {
        let s3 = jobs.s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(v.to_string().into_bytes().into())
                .send()
                .await
                .unwrap();
        }
    };
    let keys_under = |prefix: String| {
        let s3 = jobs.s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.list_objects_v2()
                .bucket(&bucket)
                .prefix(prefix)
                .send()
                .await
                .unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };

    // An orphaned open batch: sealed two hours ago, never started. The next file leads anew.
    let dead = json!({"batch": "dead", "sealAt": "2026-11-25T00:00:00Z"});
    put(b::open_key(&root), dead).await;
    let a = handle(&deps, join("exec-a")).await.unwrap();
    assert_eq!(a["batch"], "exec-a", "{a}");
    assert_eq!(a["leader"], true);
    let bj = handle(&deps, join("exec-b")).await.unwrap();
    assert_eq!(bj["batch"], "exec-a");

    // exec-b's join answer is lost; meanwhile the open batch changed (here: another file opened
    // one after exec-a's was gone). Its retry answers exec-a's batch, and only that one holds it.
    jobs.s3
        .delete_object()
        .bucket(&bucket)
        .key(b::open_key(&root))
        .send()
        .await
        .unwrap();
    let c = handle(&deps, join("exec-c")).await.unwrap();
    assert_eq!(c["batch"], "exec-c");
    let retried = handle(&deps, join("exec-b")).await.unwrap();
    assert_eq!(retried, bj, "a retried join answers the batch it joined");
    assert_eq!(
        keys_under(b::members_prefix(&root, "exec-c")).await,
        vec![b::member_key(&root, "exec-c", "exec-c")]
    );

    // exec-a's first attempt wrote the manifest (exec-a, exec-b) and crashed before the run;
    // exec-late's marker lands meanwhile. The retry starts the run over the first manifest.
    let listed = b::manifest(
        "exec-a",
        &bucket,
        "orders",
        Some("dt=2026-11-25"),
        ["exec-a", "exec-b"]
            .iter()
            .map(|e| b::Member {
                execution: e.to_string(),
                key: format!("raw/orders/dt=2026-11-25/{e}.csv"),
                etag: format!("etag-{e}"),
            })
            .collect(),
    );
    put(
        b::manifest_key(&root, "exec-a"),
        serde_json::to_value(&listed).unwrap(),
    )
    .await;
    let late_joined =
        json!({"perFile": false, "batch": "exec-a", "leader": false, "sealAt": a["sealAt"]});
    put(b::joined_key(&root, "exec-late"), late_joined.clone()).await;
    put(
        b::member_key(&root, "exec-a", "exec-late"),
        json!({"execution": "exec-late", "key": "raw/orders/dt=2026-11-25/exec-late.csv", "etag": "etag-exec-late"}),
    )
    .await;
    let led = handle(&deps, start("exec-a", &a)).await.unwrap();
    assert_eq!(led["included"], true, "{led}");
    let run_args = jobs
        .glue
        .get_job_run()
        .job_name(&job)
        .run_id(led["run"]["runId"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .job_run
        .unwrap()
        .arguments()
        .unwrap()
        .clone();
    let manifest_key = run_args["--lakeline_manifest"]
        .strip_prefix(&format!("s3://{bucket}/"))
        .unwrap()
        .to_string();
    let bytes = jobs.object(&bucket, &manifest_key).await;
    let m: b::Manifest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m, listed, "the manifest written first, not a new listing");
    let b_started = handle(&deps, start("exec-b", &bj)).await.unwrap();
    assert_eq!(b_started["included"], true);
    // exec-late is not in the run: told so, its join released, so it joins the next batch.
    let late = handle(&deps, start("exec-late", &late_joined))
        .await
        .unwrap();
    assert_eq!(late["included"], false, "{late}");
    let next = handle(&deps, join("exec-late")).await.unwrap();
    assert_ne!(next["batch"], "exec-a", "{next}");
}
