//! The pipeline end to end on the emulator: moto executes the real `pipeline.asl.json`, its
//! Lambda tasks reach the real handlers through the router, and every test starts from an
//! object uploaded to moto's S3 whose event is delivered to validate-upload through the
//! Lambda Invoke API.

use std::collections::BTreeMap;
use std::time::Duration;

use lakeline_core::error_names;
use lakeline_core::failure::Remedy;
use lakeline_tests::jobs::GlueRunsHeld;
use lakeline_tests::pipeline::{
    definition_template, entered, placeholders, transitions, Deployment, Options,
};
use lakeline_tests::{outcome, sample};
use serde_json::Value;

const DT: &str = "2026-11-20";

async fn start_from_upload(d: &Deployment, key: &str, body: Vec<u8>) -> Value {
    let event = d.lake.upload(key, body).await;
    let (err, res) = d.deliver(&event).await;
    assert_eq!(err, None, "validate-upload failed: {res}");
    outcome(&res).clone()
}

#[tokio::test]
async fn happy_path_commits_the_upload_to_its_table_once() {
    let d = Deployment::new(Options::default()).await;
    let partition = format!("dt={DT}");
    let key = format!("raw/orders/{partition}/good.csv");
    let o = start_from_upload(&d, &key, sample("orders/good.csv")).await;
    assert_eq!(o["outcome"], "valid", "{o}");
    let arn = d.execution_arn(o["execution"].as_str().unwrap());
    let done = d.finished(&arn, Duration::from_secs(60)).await;
    let out = d.output_of_success(&arn, &done).await;
    let history = d.history(&arn).await;
    let job = &out["job"];
    assert_eq!(job["status"], "COMMITTED", "{out}");
    assert_eq!(job["operation"], "append", "{out}");
    assert_eq!(job["engine"], "lambda");
    assert_eq!(job["table"], "lakeline.orders");
    assert_eq!(job["rows"], o["rows"]);
    // The table's current snapshot is the one the execution reported, names the upload and
    // the execution, and holds the sample's rows under the upload's key.
    let tables = d.stack.tables(&d.stack.conf).await.unwrap();
    let reg = &d.stack.registry;
    let view = lakeline_tests::tables::view(&tables, reg, "orders").await;
    assert_eq!(Some(job["snapshotId"].as_i64().unwrap()), view.snapshot_id);
    let last = view.snapshots.last().unwrap();
    assert_eq!(last.sources, vec![key.clone()]);
    assert_eq!(
        last.execution.as_deref(),
        o["execution"].as_str(),
        "{last:?}"
    );
    let rows = lakeline_tests::tables::rows_by_source(&tables, reg, "orders", "order_id").await;
    assert_eq!(
        rows,
        BTreeMap::from([(
            key.clone(),
            lakeline_tests::tables::csv_ids(&sample("orders/good.csv"))
        )])
    );
    // No polling loop: the happy path is a handful of transitions.
    assert_eq!(entered(&history, "StartJob"), 0);
    let n = transitions(&history);
    println!("lambda happy path: {n} state transitions");
    assert_eq!(n, 5, "{history:#?}");

    // The same delivery again (a duplicated event, a rerun): the table already holds it, so
    // the execution succeeds saying so, and no snapshot is added.
    let name = lakeline_tests::unique("again");
    let input = done.input().unwrap().to_string();
    aws_sdk_sfn::Client::new(&d.lake.conf_as("validate-upload"))
        .start_execution()
        .state_machine_arn(&d.lake.state_machine_arn)
        .name(&name)
        .input(input)
        .send()
        .await
        .unwrap();
    let again = d
        .finished(&d.execution_arn(&name), Duration::from_secs(60))
        .await;
    assert_eq!(again.status().as_str(), "SUCCEEDED", "{:?}", again.cause());
    let out: Value = serde_json::from_str(again.output().unwrap()).unwrap();
    assert_eq!(out["job"]["status"], "ALREADY_COMMITTED", "{out}");
    let after = lakeline_tests::tables::view(&tables, reg, "orders").await;
    assert_eq!(after.snapshots.len(), view.snapshots.len());
    assert_eq!(
        lakeline_tests::tables::rows_by_source(&tables, reg, "orders", "order_id").await,
        rows
    );
}

#[tokio::test]
async fn a_corrected_upload_replaces_its_rows_in_one_snapshot() {
    let d = Deployment::new(Options::default()).await;
    corrected_upload_replaces_its_rows(&d).await;
}

/// The same with the stack's tables in the Glue Data Catalog (`TablesCatalog: glue`): the
/// commits swap the Glue table's `metadata_location`, the files live in the lake bucket under
/// `tables/`, and the Glue table carries the Iceberg schema as its columns. (moto ignores
/// Glue's `VersionId`, so the commit race is proven against S3 Tables and the local warehouse;
/// on Glue it is AWS's to prove.)
#[tokio::test]
async fn a_stack_with_its_tables_in_glue_commits_and_replaces_there() {
    let d = Deployment::new(Options {
        tables_in_glue: true,
        ..Options::default()
    })
    .await;
    corrected_upload_replaces_its_rows(&d).await;
    let db = d.stack.glue_database.clone().unwrap();
    let view = d.table_view("orders").await;
    let table = d
        .stack
        .c
        .glue
        .get_table()
        .database_name(&db)
        .name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let params = table.parameters().unwrap();
    assert_eq!(params["table_type"], "ICEBERG");
    assert_eq!(params["metadata_location"], view.metadata_location);
    let prefix = format!("s3://{}/tables/orders/", d.stack.bucket);
    assert!(
        params["metadata_location"].starts_with(&(prefix.clone() + "metadata/")),
        "{params:?}"
    );
    assert!(
        params.contains_key("previous_metadata_location"),
        "{params:?}"
    );
    let sd = table.storage_descriptor().unwrap();
    assert_eq!(sd.location(), Some(prefix.trim_end_matches('/')));
    let columns: Vec<(&str, &str)> = sd
        .columns()
        .iter()
        .map(|c| (c.name(), c.r#type().unwrap_or_default()))
        .collect();
    assert!(columns.contains(&("order_id", "bigint")), "{columns:?}");
    assert!(
        columns.contains(&("_lakeline_source", "string")),
        "{columns:?}"
    );
    assert_eq!(columns.len(), view.columns.len(), "{columns:?} {view:?}");
    // The data files are the table's, in the lake bucket.
    let listed = d
        .stack
        .c
        .s3
        .list_objects_v2()
        .bucket(&d.stack.bucket)
        .prefix("tables/orders/data/")
        .send()
        .await
        .unwrap();
    assert!(listed.key_count() >= Some(3), "{listed:?}");
}

async fn corrected_upload_replaces_its_rows(d: &Deployment) {
    let key = format!("raw/orders/dt={DT}/export.csv");
    let other = format!("raw/orders/dt={DT}/other.csv");
    let full = sample("orders/good.csv");
    let short = lakeline_tests::tables::first_lines(&full, 6);
    let tables = d.stack.tables(&d.stack.conf).await.unwrap();
    let reg = &d.stack.registry;
    for (k, body) in [
        (&key, full.clone()),
        (&other, full.clone()),
        (&key, short.clone()),
    ] {
        let o = start_from_upload(d, k, body).await;
        let arn = d.execution_arn(o["execution"].as_str().unwrap());
        let done = d.finished(&arn, Duration::from_secs(60)).await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    }
    let view = lakeline_tests::tables::view(&tables, reg, "orders").await;
    let ops: Vec<&str> = view
        .snapshots
        .iter()
        .map(|s| s.operation.as_str())
        .collect();
    assert_eq!(ops, ["append", "append", "overwrite"], "{view:?}");
    assert_eq!(
        lakeline_tests::tables::rows_by_source(&tables, reg, "orders", "order_id").await,
        BTreeMap::from([
            (key.clone(), lakeline_tests::tables::csv_ids(&short)),
            (other.clone(), lakeline_tests::tables::csv_ids(&full)),
        ])
    );
}

#[tokio::test]
async fn a_file_no_engine_can_take_fails_with_what_to_set() {
    let d = Deployment::new(Options::default()).await;
    // What validate-upload starts for a file above the Lambda's limit with no Spark engine.
    let why = "5.0 TiB (as stored) is above what the lambda engine takes (20 GiB); give dataset orders a Spark engine for large files";
    let input = serde_json::json!({"bucket": d.lake.bucket, "key": "raw/orders/dt=2026-11-20/huge.csv",
        "etag": "e", "versionId": null, "dataset": "orders", "partition": "dt=2026-11-20",
        "rows": 1, "size": 5u64 << 40, "engine": "none", "engineError": why});
    let name = lakeline_tests::unique("huge");
    // Started as validate-upload starts it (its role).
    aws_sdk_sfn::Client::new(&d.lake.conf_as("validate-upload"))
        .start_execution()
        .state_machine_arn(&d.lake.state_machine_arn)
        .name(&name)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    let done = d
        .finished(&d.execution_arn(&name), Duration::from_secs(30))
        .await;
    assert_eq!(done.status().as_str(), "FAILED");
    assert_eq!(done.error(), Some(error_names::TOO_LARGE));
    assert_eq!(done.cause(), Some(why));
    let alerts = d.lake.alerts(1, Duration::from_secs(20)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["MessageAttributes"]["stage"]["Value"], "curate");
    let doc: Value = serde_json::from_str(alerts[0]["Message"].as_str().unwrap()).unwrap();
    let text = doc["text"].as_str().unwrap();
    assert!(
        text.contains("Spark engine") && text.contains("above"),
        "{text}"
    );
    // Ended at a Fail state: redrive would fail there again, so the alert says rerun.
    assert!(
        text.contains(&format!("lakeline rerun {}", d.execution_arn(&name))),
        "{text}"
    );
}

#[tokio::test]
async fn happy_path_spark_job_runs_with_polling_then_succeeds() {
    let held = GlueRunsHeld::take().await;
    let d = Deployment::new(Options {
        registry: lakeline_tests::pipeline::spark_registry(),
        ..Options::default()
    })
    .await;
    let partition = format!("dt={DT}");
    let key = format!("raw/orders/{partition}/good.csv");
    let body = sample("orders/good.csv");
    // What the Glue job stages (the emulator's Glue runs nothing).
    let event = d.upload_for_spark("orders", &key, &body).await;
    let (err, res) = d.deliver(&event).await;
    assert_eq!(err, None, "{res}");
    let o = outcome(&res).clone();
    assert_eq!(o["outcome"], "valid", "{o}");
    let arn = d.execution_arn(o["execution"].as_str().unwrap());
    let done = d.finished(&arn, Duration::from_secs(90)).await;
    held.release().await;
    let out = d.output_of_success(&arn, &done).await;
    let history = d.history(&arn).await;
    assert_eq!(out["dataset"], "orders");
    assert_eq!(out["engine"], "glue");
    assert_eq!(
        out["file"],
        format!("s3://{}/raw/orders/{partition}/good.csv", d.lake.bucket)
    );
    assert_eq!(out["job"]["status"], "SUCCEEDED");
    assert_eq!(out["job"]["run"]["jobName"], d.stack.glue_job.as_str());
    assert_eq!(out["job"]["run"]["table"], true, "{out}");
    // The run's staged data file, committed by the pipeline's CommitStaged step.
    assert_eq!(out["commit"]["status"], "COMMITTED", "{out}");
    assert_eq!(out["commit"]["engine"], "spark", "{out}");
    assert_eq!(
        d.table_ids("orders", "order_id").await,
        BTreeMap::from([(key.clone(), lakeline_tests::tables::csv_ids(&body))])
    );
    let view = d.table_view("orders").await;
    assert_eq!(
        view.snapshots.last().unwrap().engine.as_deref(),
        Some("spark")
    );
    assert!(view
        .files
        .iter()
        .all(|f| !f.path.contains("/_lakeline/staging/")));
    // The job was RUNNING for a few checks (moto's state manager), each after a Wait.
    let checks = entered(&history, "CheckJob");
    assert!(checks >= 3, "CheckJob entered {checks} times");
    assert_eq!(entered(&history, "WaitForJob"), checks - 1);
    assert_eq!(entered(&history, "Curate"), 0);
    let polls = entered(&history, "WaitForJob");
    let n = transitions(&history);
    println!("spark path: {n} state transitions, {polls} job polls");
    // Route, JoinBatch, Batched?, WaitForBatch, StartBatch, InBatch?, CommitStaged,
    // SummarizeCommitted, Done, and CheckJob + JobDone? (+ WaitForJob) per check.
    assert_eq!(entered(&history, "StartBatch"), 1);
    assert_eq!(entered(&history, "CommitStaged"), 1);
    assert!(n <= 11 + 3 * polls, "{n} transitions for {polls} polls");
}

#[tokio::test]
async fn a_job_that_cannot_start_is_alerted_and_the_execution_fails() {
    let d = Deployment::new(Options {
        glue_job_exists: false,
        registry: lakeline_tests::pipeline::spark_registry(),
        ..Options::default()
    })
    .await;
    let o = start_from_upload(
        &d,
        &format!("raw/orders/dt={DT}/good.csv"),
        sample("orders/good.csv"),
    )
    .await;
    let arn = d.execution_arn(o["execution"].as_str().unwrap());
    let done = d.finished(&arn, Duration::from_secs(60)).await;
    assert_eq!(done.status().as_str(), "FAILED");
    assert_eq!(done.error(), Some(error_names::JOB_NOT_FOUND));
    assert!(
        done.cause()
            .unwrap_or_default()
            .contains(d.stack.glue_job.as_str()),
        "{:?}",
        done.cause()
    );

    let alerts = d.lake.alerts(1, Duration::from_secs(20)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["MessageAttributes"]["error_type"]["Value"],
        error_names::JOB_NOT_FOUND
    );
    assert_eq!(alerts[0]["MessageAttributes"]["stage"]["Value"], "job");
    let doc: Value = serde_json::from_str(alerts[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["dataset"], "orders");
    // Failed in a Task: fixing the registry and redriving resumes at StartJob.
    assert!(
        doc["text"]
            .as_str()
            .unwrap()
            .contains(&format!("lakeline redrive {arn}")),
        "{doc}"
    );
    assert!(
        doc["text"]
            .as_str()
            .unwrap()
            .contains(&o["execution"].as_str().unwrap()[..20]),
        "{doc}"
    );
    // Not retried: a missing job is final.
    let history = d.history(&arn).await;
    assert_eq!(entered(&history, "StartBatch"), 1);
}

/// A burst into one partition: one Spark run for all of them, not one per file, and none fails
/// on Glue's concurrency (MaxConcurrentRuns 1 here); each member's staged data file is then
/// committed to the table as its own delivery. (moto's Glue runs write nothing: the test stages
/// what the job would, [`Deployment::stage_as_spark`].)
#[tokio::test]
async fn a_burst_into_one_partition_is_one_spark_run() {
    let d = Deployment::new(Options {
        glue_max_concurrent_runs: 1,
        registry: lakeline_tests::pipeline::spark_registry(),
        ..Options::default()
    })
    .await;
    let partition = "dt=2026-11-22";
    let keys: Vec<String> = (0..8)
        .map(|i| format!("raw/orders/{partition}/burst-{i}.csv"))
        .collect();
    let body = sample("orders/good.csv");
    let mut events = Vec::new();
    for k in &keys {
        let event = d.upload_for_spark("orders", k, &body).await;
        events.push(event);
    }
    let started = futures_util::future::join_all(events.iter().map(|e| async {
        let (err, res) = d.deliver(e).await;
        assert_eq!(err, None, "{res}");
        outcome(&res).clone()
    }))
    .await;
    let arns: Vec<String> = started
        .iter()
        .map(|o| d.execution_arn(o["execution"].as_str().unwrap()))
        .collect();
    let mut run_ids = std::collections::BTreeSet::new();
    for arn in &arns {
        let out = d.succeeded(arn, Duration::from_secs(120)).await;
        run_ids.insert(out["job"]["run"]["runId"].as_str().unwrap().to_string());
    }
    let runs = d
        .stack
        .c
        .glue
        .get_job_runs()
        .job_name(&d.stack.glue_job)
        .send()
        .await
        .unwrap()
        .job_runs()
        .len();
    // Uploads delivered within one window share a run; a straggler may start a second batch.
    assert!(
        runs <= 2 && run_ids.len() == runs,
        "{runs} runs for 8 files: {run_ids:?}"
    );
    // Every file is in exactly one manifest.
    let mut listed = Vec::new();
    let root = lakeline_core::batch::root("orders", Some(partition));
    let objs = d
        .lake
        .s3
        .list_objects_v2()
        .bucket(&d.lake.bucket)
        .prefix(&root)
        .send()
        .await
        .unwrap();
    for o in objs.contents() {
        let k = o.key().unwrap();
        if k.ends_with("/manifest.json") {
            let m: lakeline_core::batch::Manifest =
                serde_json::from_slice(&d.lake.body(k).await).unwrap();
            listed.extend(m.files.into_iter().map(|f| f.key));
        }
    }
    listed.sort();
    let mut want: Vec<String> = (0..8)
        .map(|i| format!("raw/orders/{partition}/burst-{i}.csv"))
        .collect();
    want.sort();
    assert_eq!(listed, want);
    // Every member's rows are in the table once, under its own key.
    let ids = lakeline_tests::tables::csv_ids(&body);
    assert_eq!(
        d.table_ids("orders", "order_id").await,
        keys.iter().map(|k| (k.clone(), ids.clone())).collect()
    );
}

/// A Spark run that SUCCEEDED but staged nothing for the upload (a job that wrote elsewhere,
/// or nothing): the commit step commits nothing, and the execution fails saying so, to be run
/// again; it never ends SUCCEEDED without the rows in the table.
#[tokio::test]
async fn a_spark_run_that_staged_nothing_fails_the_commit_step() {
    let held = GlueRunsHeld::take().await;
    let d = Deployment::new(Options {
        registry: lakeline_tests::pipeline::spark_registry(),
        ..Options::default()
    })
    .await;
    let key = format!("raw/orders/dt={DT}/nothing.csv");
    let o = start_from_upload(&d, &key, sample("orders/good.csv")).await;
    let arn = d.execution_arn(o["execution"].as_str().unwrap());
    let done = d.finished(&arn, Duration::from_secs(90)).await;
    held.release().await;
    assert_eq!(done.status().as_str(), "FAILED", "{:?}", done.output());
    assert_eq!(done.error(), Some(error_names::CURATE_FAILED));
    let cause = done.cause().unwrap_or_default();
    assert!(
        cause.contains("staged no data file") && cause.contains("nothing was committed"),
        "{cause}"
    );
    assert_eq!(d.table_view("orders").await.snapshots.len(), 0);
}

#[tokio::test]
async fn the_same_upload_delivered_twice_is_one_execution_and_a_bad_file_is_none() {
    let d = Deployment::new(Options::default()).await;
    let key = format!("raw/orders/dt={DT}/twice.csv");
    let event = d.lake.upload(&key, sample("orders/good.csv")).await;
    let (_, first) = d.deliver(&event).await;
    let (_, second) = d.deliver(&event).await;
    assert_eq!(outcome(&first)["execution"], outcome(&second)["execution"]);

    let bad = start_from_upload(
        &d,
        &format!("raw/orders/dt={DT}/bad.csv"),
        sample("orders/bad.csv"),
    )
    .await;
    assert_eq!(bad["outcome"], "quarantined");
    assert!(
        d.lake
            .exists(&format!("quarantine/raw/orders/dt={DT}/bad.csv"))
            .await
    );
    let execs = d.lake.executions().await;
    assert_eq!(execs.len(), 1, "{execs:?}");
}

/// The error names the state machine matches are the ones the code defines: every
/// `Lakeline.*` name in the definition is in `error_names::ALL`, exactly the retryable names
/// are retried, and every Lambda task retries transient errors. The maintenance machine
/// catches everything (one partition's failure is told and the others go on); the
/// pipeline catches nothing (below).
#[test]
fn state_machine_error_names_agree_with_the_code() {
    check_error_names(&definition_template(), true, false);
    check_error_names(
        &lakeline_tests::pipeline::maintenance_template(),
        false,
        true,
    );
}

/// Redrive resumes a failed execution at the state that failed. So the pipeline has no Catch
/// (a catch-all into notify-and-Fail would make every redrive fail again at the Fail state),
/// and an error decided by one of its Fail states is one whose alert says `lakeline rerun`,
/// not redrive ([`Remedy::of`]): the alert names a command that works. The EventBridge rule
/// that sends the alert instead is in template.yaml (tests/template); RedriveExecution itself
/// exists only on AWS (moto has none), so that it resumes at the failed step is proven there.
#[test]
fn the_pipeline_can_be_redriven_and_its_alerts_say_how() {
    let asl: Value = serde_json::from_str(&definition_template()).unwrap();
    let states = all_states(asl["States"].as_object().unwrap());
    let mut fail_errors = Vec::new();
    for (name, st) in &states {
        assert!(
            st.get("Catch").is_none(),
            "{name} catches: a redrive would not resume there"
        );
        if st["Type"] == "Fail" {
            match st["Error"].as_str() {
                Some(e) => fail_errors.push(e.to_string()),
                None => {
                    // ErrorPath: the Pass states that lead here put the name in `Parameters.Error`.
                    for (from, p) in &states {
                        if p["Next"] == name.as_str() {
                            let e = p["Parameters"]["Error"].as_str().unwrap_or_else(|| {
                                panic!("{from} leads to {name} without a static Error")
                            });
                            fail_errors.push(e.to_string());
                        }
                    }
                }
            }
        }
    }
    assert!(fail_errors.len() >= 3, "{fail_errors:?}");
    for e in &fail_errors {
        for stage in ["curate", "job"] {
            assert_eq!(
                Remedy::of(e, stage),
                Remedy::Rerun,
                "{e} ends at a Fail state"
            );
        }
    }
    // And nothing in the definition calls notify-failure: the rule does.
    assert!(!definition_template().contains("NotifyFailureFunctionArn"));
}

/// Every inline Map's inner states, with the outer ones.
fn all_states(states: &serde_json::Map<String, Value>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, st) in states {
        out.push((name.clone(), st.clone()));
        if let Some(inner) = st["ItemProcessor"]["States"].as_object() {
            out.extend(all_states(inner));
        }
    }
    out
}

fn check_error_names(text: &str, every_retryable_used: bool, catch_required: bool) {
    let asl: Value = serde_json::from_str(text).unwrap();
    let states = all_states(asl["States"].as_object().unwrap());
    let mut retried = std::collections::BTreeSet::new();
    for name in text.split('"').filter(|s| s.starts_with("Lakeline.")) {
        assert!(
            error_names::ALL.contains(&name),
            "{name} is used by the state machine but not defined in lakeline_core::error_names"
        );
    }
    for (name, st) in &states {
        if st["Resource"] != "arn:aws:states:::lambda:invoke" {
            continue;
        }
        let retry_names: Vec<&str> = st["Retry"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no Retry"))
            .iter()
            .flat_map(|r| {
                r["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
            })
            .collect();
        if !name.starts_with("Notify") {
            assert!(
                retry_names.contains(&error_names::TRANSIENT),
                "{name} does not retry {}",
                error_names::TRANSIENT
            );
            for n in &retry_names {
                if n.starts_with("Lakeline.") {
                    assert!(
                        error_names::RETRYABLE.contains(n),
                        "{name} retries the final error {n}"
                    );
                    retried.insert(n.to_string());
                }
            }
        }
        // A Task inside a Map's group may end its branch: the Map's own Catch covers it.
        let catches_all = st["Catch"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["ErrorEquals"][0] == "States.ALL"));
        assert!(
            !catch_required || catches_all || st["End"] == true,
            "{name} has no Catch of States.ALL: a failure would be silent"
        );
    }
    if every_retryable_used {
        for n in error_names::RETRYABLE {
            assert!(retried.contains(*n), "retryable {n} is retried nowhere");
        }
    }
    // Every path that fails reaches notify-failure before Fail.
    for (name, st) in &states {
        if st["Next"] == "Failed" {
            assert!(name.starts_with("Notify"), "{name} skips notify-failure");
        }
    }
}

#[test]
fn every_placeholder_is_a_function_arn() {
    let found = placeholders(&definition_template());
    let want = ["StartJobFunctionArn", "CurateFunctionArn"];
    let found: BTreeMap<_, _> = found.iter().map(|p| (p.as_str(), ())).collect();
    assert_eq!(
        found.keys().copied().collect::<Vec<_>>().len(),
        want.len(),
        "{found:?}"
    );
    for w in want {
        assert!(found.contains_key(w), "{w} missing from the definition");
    }
}
