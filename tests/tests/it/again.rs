//! Running things again once the cause is fixed, end to end on the local stack: `lakeline
//! rerun` after a registry fix, `lakeline replay` of a quarantined object (fixed, and still
//! broken), `lakeline redrive-dlq` of a dead-lettered event (processed once however often it
//! is delivered), a re-upload of the same bytes, and `lakeline redrive` where the emulator has
//! no RedriveExecution. Every data path reads the dataset's table back and compares its rows
//! with the file's.

use std::collections::BTreeMap;
use std::time::Duration;

use lakeline_cli::again;
use lakeline_core::jobs::JobSpec;
use lakeline_tests::pipeline::{router_url, spark_registry, Deployment, Options};
use lakeline_tests::tables::csv_ids;
use lakeline_tests::{outcome, sample};
use serde_json::{json, Value};

const DT: &str = "2026-11-21";

/// The clients of the person who runs these commands: the operator (docs/permissions.md), so
/// every call they make is checked against the operator's documented least policy.
struct Operator {
    s3: aws_sdk_s3::Client,
    sfn: aws_sdk_sfn::Client,
    sqs: aws_sdk_sqs::Client,
    /// Aimed at the router, as `lakeline` is with AWS_ENDPOINT_URL set locally.
    lambda: aws_sdk_lambda::Client,
}

fn operator(d: &Deployment) -> Operator {
    let conf = lakeline_tests::as_person(&d.lake.conf, lakeline_tests::Person::Operator);
    let lambda = aws_sdk_lambda::config::Builder::from(&conf)
        .endpoint_url(router_url())
        .build();
    Operator {
        s3: lakeline_aws::s3_client(&conf),
        sfn: aws_sdk_sfn::Client::new(&conf),
        sqs: aws_sdk_sqs::Client::new(&conf),
        lambda: aws_sdk_lambda::Client::from_conf(lambda),
    }
}

#[tokio::test]
async fn rerun_after_the_registry_is_fixed_curates_once() {
    // The orders job names a Glue job that does not exist: StartJob fails, final.
    let d = Deployment::new(Options {
        glue_job_exists: false,
        registry: spark_registry(),
        ..Options::default()
    })
    .await;
    let key = format!("raw/orders/dt={DT}/late.csv");
    let body = sample("orders/good.csv");
    let event = d.lake.upload(&key, body.clone()).await;
    let (err, res) = d.deliver(&event).await;
    assert_eq!(err, None, "{res}");
    let first = outcome(&res)["execution"].as_str().unwrap().to_string();
    let arn = d.execution_arn(&first);
    let done = d.finished(&arn, Duration::from_secs(60)).await;
    assert_eq!(done.status().as_str(), "FAILED");
    assert_eq!(
        done.error(),
        Some(lakeline_core::error_names::JOB_NOT_FOUND)
    );

    // Fix: orders goes back to the Lambda engine (no job), published like `registry push`.
    let mut fixed = d.stack.registry.clone();
    for (name, ds) in fixed.datasets.iter_mut() {
        if name.as_str() == "orders" {
            ds.job = None;
        }
    }
    d.stack.publish_registry(&fixed).await.unwrap();

    let function = &d.stack.functions["validate-upload"];
    let op = operator(&d);
    let r = again::rerun(&op.sfn, &op.s3, &op.lambda, &arn, function)
        .await
        .unwrap();
    assert_eq!(r["outcome"], "valid", "{r}");
    assert_eq!(r["duplicate"], false, "{r}");
    let rerun_arn = r["execution"].as_str().unwrap().to_string();
    assert_eq!(rerun_arn, format!("{arn}-r1"));
    let out = d.succeeded(&rerun_arn, Duration::from_secs(60)).await;
    assert_eq!(out["job"]["status"], "COMMITTED", "{out}");
    let rows = BTreeMap::from([(key.clone(), csv_ids(&body))]);
    assert_eq!(d.table_ids("orders", "order_id").await, rows);

    // Asked again: the same rerun name, refused as a duplicate; still one commit.
    let again = again::rerun(&op.sfn, &op.s3, &op.lambda, &arn, function)
        .await
        .unwrap();
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["execution"], rerun_arn.as_str());
    assert_eq!(d.table_ids("orders", "order_id").await, rows);
    assert_eq!(d.table_view("orders").await.snapshots.len(), 1);
    // A run that succeeded is not run again.
    let refused = again::rerun(&op.sfn, &op.s3, &op.lambda, &rerun_arn, function)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("is SUCCEEDED"), "{refused}");
}

/// Sends the bucket's raw/ upload events to a queue, then hands each queued message to
/// validate-upload as an SQS batch (S3 → SQS → Lambda), returning the outcomes.
async fn deliver_queued(d: &Deployment, queue: &str, want: usize) -> Vec<Value> {
    let msgs = lakeline_tests::receive(&d.lake.sqs, queue, want, Duration::from_secs(10)).await;
    let mut outcomes = Vec::new();
    for m in msgs {
        if m.get("Event").is_some() {
            continue; // s3:TestEvent
        }
        let batch = json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": m.to_string()}]});
        let (err, res) = d.deliver(&batch).await;
        assert_eq!(err, None, "{res}");
        outcomes.extend(res["outcomes"].as_array().unwrap().iter().cloned());
    }
    outcomes
}

#[tokio::test]
async fn replay_brings_a_fixed_file_back_and_requarantines_a_broken_one() {
    let d = Deployment::new(Options::default()).await;
    let bad = sample("orders/bad.csv");
    let key = format!("raw/orders/dt={DT}/fixme.csv");
    let event = d.lake.upload(&key, bad.clone()).await;
    let (err, res) = d.deliver(&event).await;
    assert_eq!(err, None, "{res}");
    let o = outcome(&res);
    assert_eq!(o["outcome"], "quarantined", "{o}");
    let qkey = o["quarantine_key"].as_str().unwrap().to_string();
    assert_eq!(d.lake.alerts(1, Duration::from_secs(10)).await.len(), 1);
    let queue = d.stack.notify_uploads_to_queue().await.unwrap();
    let uri = format!("s3://{}/{qkey}", d.lake.bucket);

    // Still broken: replayed, validated again, quarantined again with a new alert.
    let op = operator(&d);
    let r = again::replay(
        &op.s3,
        &uri,
        "try again",
        "quarantine/",
        "2026-11-21T09:00:00Z",
        &again::Copying::default(),
    )
    .await
    .unwrap();
    assert_eq!(r["replayed"], format!("s3://{}/{key}", d.lake.bucket));
    // Copied back: the quarantined copy stays until the replayed file validates (only
    // validate-upload may delete there).
    assert!(d.lake.exists(&qkey).await);
    assert_eq!(d.lake.body(&key).await, bad);
    let head = d.lake.head(&key).await;
    let meta = head.metadata().unwrap();
    assert_eq!(meta[again::META_REPLAY_REASON], "try again");
    assert_eq!(meta[again::META_REPLAYED_AT], "2026-11-21T09:00:00Z");
    assert!(
        meta[again::META_PREVIOUS_VERDICT].contains("line"),
        "the verdict it was quarantined with: {meta:?}"
    );
    let outcomes = deliver_queued(&d, &queue, 1).await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0]["outcome"], "quarantined", "{outcomes:?}");
    assert_eq!(outcomes[0]["quarantine_key"], qkey.as_str());
    assert!(!d.lake.exists(&key).await);
    assert_eq!(
        d.lake.body(&qkey).await,
        bad,
        "the same bytes, nothing lost"
    );
    assert_eq!(
        d.lake.alerts(1, Duration::from_secs(10)).await.len(),
        1,
        "a new alert"
    );

    // Fixed in quarantine (the team overwrote it with good rows), then replayed: curated.
    let good = sample("orders/good.csv");
    d.lake.put(&qkey, good.clone()).await;
    again::replay(
        &op.s3,
        &uri,
        "fixed amounts",
        "quarantine/",
        "2026-11-21T10:00:00Z",
        &again::Copying::default(),
    )
    .await
    .unwrap();
    assert!(
        d.lake.exists(&qkey).await,
        "kept until the replayed file validates"
    );
    let outcomes = deliver_queued(&d, &queue, 1).await;
    assert_eq!(outcomes[0]["outcome"], "valid", "{outcomes:?}");
    assert_eq!(outcomes[0]["released"], qkey.as_str(), "{outcomes:?}");
    let arn = d.execution_arn(outcomes[0]["execution"].as_str().unwrap());
    let done = d.finished(&arn, Duration::from_secs(60)).await;
    assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    assert_eq!(
        d.table_ids("orders", "order_id").await,
        BTreeMap::from([(key.clone(), csv_ids(&good))])
    );
    assert!(!d.lake.exists(&qkey).await);
    assert!(d.lake.exists(&key).await);

    // Nothing to replay over: a raw object of that key is a newer upload, never overwritten.
    d.lake.put(&qkey, bad.clone()).await;
    let refused = again::replay(
        &op.s3,
        &uri,
        "x",
        "quarantine/",
        "t",
        &again::Copying::default(),
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("newer upload"), "{refused}");
    assert_eq!(d.lake.body(&key).await, good);
    assert_eq!(d.lake.body(&qkey).await, bad);
}

/// Issue 26: an object above CopyObject's 5 GiB replays part by part (UploadPartCopy, each part
/// conditional on the quarantined copy's ETag, completed only if the raw key is free). The
/// threshold is lowered so an 11 MiB file takes that path here; the bytes are read back.
#[tokio::test]
async fn a_large_quarantined_file_replays_by_multipart_copy() {
    let d = Deployment::new(Options::default()).await;
    let good = String::from_utf8(sample("orders/good.csv")).unwrap();
    let (header, rows) = good.split_once('\n').unwrap();
    let mut big = format!("{header}\n");
    while big.len() < 11 << 20 {
        big.push_str(rows);
    }
    big.push_str("not,a,valid,row\n");
    let big = big.into_bytes();
    let key = format!("raw/orders/dt={DT}/big.csv");
    let (err, res) = d.deliver(&d.lake.upload(&key, big.clone()).await).await;
    assert_eq!(err, None, "{res}");
    let qkey = outcome(&res)["quarantine_key"]
        .as_str()
        .unwrap()
        .to_string();
    let op = operator(&d);
    let copying = again::Copying {
        multipart_above: 1 << 20,
        part_size: 5 << 20,
    };
    let uri = format!("s3://{}/{qkey}", d.lake.bucket);
    let r = again::replay(&op.s3, &uri, "big", "quarantine/", "t", &copying)
        .await
        .unwrap();
    assert_eq!(r["replayed"], format!("s3://{}/{key}", d.lake.bucket));
    assert!(
        d.lake.body(&key).await == big,
        "the same bytes, part by part"
    );
    let head = d.lake.head(&key).await;
    assert_eq!(head.metadata().unwrap()[again::META_REPLAY_REASON], "big");
    assert!(
        head.e_tag().unwrap().contains('-'),
        "a multipart object: {:?}",
        head.e_tag()
    );
    // Part by part too, the copy never lands over an object at the raw key.
    let src_etag = d
        .lake
        .head(&qkey)
        .await
        .e_tag()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let src = lakeline_aws::copy::Source {
        bucket: &d.lake.bucket,
        key: &qkey,
        version_id: None,
        etag: &src_etag,
        size: big.len() as u64,
    };
    let dst = lakeline_aws::copy::Target {
        bucket: &d.lake.bucket,
        key: &key,
        metadata: &[],
        tagging: None,
        content_type: None,
        only_if_absent: true,
    };
    let over = lakeline_aws::copy::multipart_copy(&op.s3, &src, &dst, 5 << 20)
        .await
        .unwrap();
    assert_eq!(over, lakeline_aws::copy::Copied::PreconditionFailed);
    assert_eq!(
        d.lake.head(&key).await.metadata().unwrap()[again::META_REPLAY_REASON],
        "big",
        "the replayed object stands"
    );
}

#[tokio::test]
async fn a_dead_lettered_event_is_redriven_and_processed_once() {
    let d = Deployment::new(Options::default()).await;
    let key = format!("raw/orders/dt={DT}/dlq.csv");
    let event = d.lake.upload(&key, sample("orders/good.csv")).await;
    // What Lambda's on-failure destination puts in the DLQ after the retries ran out.
    let record = json!({"version": "1.0", "timestamp": "2026-11-21T10:00:00.000Z",
        "requestContext": {"requestId": "r1", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:validate-upload:$LATEST", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Lakeline.Transient", "errorMessage": "SNS Publish: throttled"}});
    let dlq = d
        .lake
        .sqs
        .create_queue()
        .queue_name(lakeline_tests::unique("dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // Delivered twice (at-least-once), as a queue may.
    for _ in 0..2 {
        d.lake
            .sqs
            .send_message()
            .queue_url(&dlq)
            .message_body(record.to_string())
            .send()
            .await
            .unwrap();
    }
    // The queue stands for the stack's dead-letter queue, which the operator may drain.
    let dlq_arn = lakeline_tests::queue_arn(&d.lake.sqs, &dlq).await;
    lakeline_tests::register_lake(&d.lake.bucket, &[("ValidateUploadDLQ", dlq_arn)]).await;
    let function = &d.stack.functions["validate-upload"];
    let op = operator(&d);
    let mut progress = lakeline_cli::progress::Progress::with_terminal("redrive-dlq", 0, false);
    let r = again::redrive_dlq(&op.sqs, &op.lambda, &dlq, function, 100, 30, &mut progress)
        .await
        .unwrap();
    assert_eq!(progress.done(), 2, "a line per message handled");
    assert_eq!(r["failed"], json!([]), "{r}");
    let done = r["redriven"].as_array().unwrap();
    assert_eq!(done.len(), 2, "{r}");
    let outcomes: Vec<&Value> = done.iter().map(|m| &m["outcomes"][0]).collect();
    assert!(outcomes.iter().all(|o| o["outcome"] == "valid"), "{r}");
    // Same name, so one execution (StartExecution with the name and input of a running
    // execution answers with that execution; a finished one refuses as a duplicate).
    assert_eq!(outcomes[0]["execution"], outcomes[1]["execution"]);
    assert_eq!(d.lake.executions().await.len(), 1, "processed once: {r}");
    let left = lakeline_tests::receive(&d.lake.sqs, &dlq, 1, Duration::from_secs(1)).await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn the_same_bytes_uploaded_again_run_again_and_a_redelivery_does_not() {
    let d = Deployment::new(Options::default()).await;
    let key = format!("raw/orders/dt={DT}/again.csv");
    let body = sample("orders/good.csv");
    let first = d.lake.upload(&key, body.clone()).await;
    let second = d.lake.upload(&key, body.clone()).await;
    let mut names = Vec::new();
    for ev in [&first, &second, &second] {
        let (err, res) = d.deliver(ev).await;
        assert_eq!(err, None, "{res}");
        names.push(outcome(&res)["execution"].as_str().unwrap().to_string());
    }
    assert_ne!(names[0], names[1], "a new upload is a new execution");
    assert_eq!(names[1], names[2], "a redelivery is not");
    assert_eq!(d.lake.executions().await.len(), 2);
    for name in &names[..2] {
        let done = d
            .finished(&d.execution_arn(name), Duration::from_secs(60))
            .await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    }
    // The same delivery (key, bytes, so ETag): one commits it, the other finds it committed;
    // the rows are in the table once.
    let mut statuses = Vec::new();
    for name in &names[..2] {
        let done = d.finished(&d.execution_arn(name), Duration::ZERO).await;
        let out: Value = serde_json::from_str(done.output().unwrap()).unwrap();
        statuses.push(out["job"]["status"].as_str().unwrap().to_string());
    }
    statuses.sort();
    assert_eq!(statuses, ["ALREADY_COMMITTED", "COMMITTED"]);
    assert_eq!(
        d.table_ids("orders", "order_id").await,
        BTreeMap::from([(key.clone(), csv_ids(&body))])
    );
    assert_eq!(d.table_view("orders").await.snapshots.len(), 1);
}

#[tokio::test]
async fn redrive_says_plainly_when_the_endpoint_cannot() {
    let d = Deployment::new(Options {
        glue_job_exists: false,
        registry: spark_registry(),
        ..Options::default()
    })
    .await;
    let event = d
        .lake
        .upload(
            &format!("raw/orders/dt={DT}/r.csv"),
            sample("orders/good.csv"),
        )
        .await;
    let (_, res) = d.deliver(&event).await;
    let arn = d.execution_arn(outcome(&res)["execution"].as_str().unwrap());
    assert_eq!(
        d.finished(&arn, Duration::from_secs(60))
            .await
            .status()
            .as_str(),
        "FAILED"
    );
    // moto has no RedriveExecution: no pretending it worked.
    match again::redrive(&operator(&d).sfn, &arn).await {
        Ok(v) => panic!("the emulator redrove? {v}"),
        Err(e) => assert!(e.to_string().contains("RedriveExecution"), "{e}"),
    }
    assert!(d
        .stack
        .registry
        .datasets
        .iter()
        .any(|(n, ds)| n.as_str() == "orders" && matches!(ds.job, Some(JobSpec::Glue(_)))));
}

/// A superseded execution: one that validated an upload the producer replaced before it was
/// curated (here its input started again after the newer upload landed, as a delayed run
/// would). It commits nothing, and `lakeline rerun` of it starts nothing: the newer upload's
/// own execution curates it, once.
#[tokio::test]
async fn rerun_of_a_superseded_execution_starts_nothing() {
    let d = Deployment::new(Options::default()).await;
    let key = format!("raw/orders/dt={DT}/replaced.csv");
    let v1 = sample("orders/good.csv");
    let event = d.lake.upload(&key, v1.clone()).await;
    let (err, res) = d.deliver(&event).await;
    assert_eq!(err, None, "{res}");
    let first = d.execution_arn(outcome(&res)["execution"].as_str().unwrap());
    assert_eq!(
        d.finished(&first, Duration::from_secs(60))
            .await
            .status()
            .as_str(),
        "SUCCEEDED"
    );
    // The producer replaces the file; its own upload's execution commits the new rows.
    let v2 = lakeline_tests::tables::first_lines(&v1, 4);
    let event = d.lake.upload(&key, v2.clone()).await;
    let (err, res) = d.deliver(&event).await;
    assert_eq!(err, None, "{res}");
    let second = d.execution_arn(outcome(&res)["execution"].as_str().unwrap());
    assert_eq!(
        d.finished(&second, Duration::from_secs(60))
            .await
            .status()
            .as_str(),
        "SUCCEEDED"
    );
    // The first upload's execution, run late (its input as validate-upload gave it).
    let input = d
        .lake
        .sfn
        .describe_execution()
        .execution_arn(&first)
        .send()
        .await
        .unwrap()
        .input
        .unwrap();
    let late = lakeline_tests::unique("late");
    d.lake
        .sfn
        .start_execution()
        .state_machine_arn(&d.stack.state_machine_arn)
        .name(&late)
        .input(input)
        .send()
        .await
        .unwrap();
    let late_arn = d.execution_arn(&late);
    let done = d.finished(&late_arn, Duration::from_secs(60)).await;
    assert_eq!(done.status().as_str(), "SUCCEEDED");
    let out: Value = serde_json::from_str(done.output().unwrap()).unwrap();
    assert_eq!(out["job"]["status"]["status"], "SUPERSEDED", "{out}");
    let rows = BTreeMap::from([(key.clone(), csv_ids(&v2))]);
    assert_eq!(d.table_ids("orders", "order_id").await, rows);

    let executions = d.lake.executions().await.len();
    let op = operator(&d);
    let function = &d.stack.functions["validate-upload"];
    let r = again::rerun(&op.sfn, &op.s3, &op.lambda, &late_arn, function)
        .await
        .unwrap();
    assert_eq!(r["outcome"], "superseded", "{r}");
    assert_eq!(r["execution"], Value::Null, "{r}");
    assert!(
        r["why"].as_str().unwrap().contains("nothing was started"),
        "{r}"
    );
    assert_eq!(
        d.lake.executions().await.len(),
        executions,
        "nothing was started"
    );
    assert_eq!(d.table_ids("orders", "order_id").await, rows);
}
