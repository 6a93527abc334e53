//! The fault suite (issue 13, item 7): one test per fault, each asserting what lakeline does
//! and the lake's invariant: every uploaded object is in `raw/` or `quarantine/`, never in
//! neither, with its bytes unchanged; no curated row is lost or duplicated (objects are read
//! back: bytes compared, Parquet values compared with the CSV's).
//!
//! Everything runs against the emulator (moto server) with real aws-sdk-rust clients, except
//! the answers moto cannot give (503 SlowDown, throttling, a KMS denial): those tests answer
//! one operation with aws-smithy-mocks and say so in their doc comment. README.md's "Faults"
//! table is what these tests show.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_mocks::{mock, MockResponseInterceptor, Rule, RuleMode};
use lakeline_aws::live::Live;
use lakeline_core::error_names;
use lakeline_tests::curated::{files_and_rows, rows_in};
use lakeline_tests::jobs::GlueRunsHeld;
use lakeline_tests::pipeline::{entered, spark_registry, Deployment, Options};
use lakeline_tests::{outcome, sample, shipped_registry, validate, Lake, WAITING_DEFINITION};
use serde_json::{json, Value};

const DT: &str = "dt=2026-11-25";

/// A curated row as the tests compare it: (order_id, customer, amount in cents).
type Row = (i64, String, i128);

/// Where an upload is now. Both is the state a crash between the quarantine copy and the
/// delete leaves; neither is never allowed.
#[derive(Debug, PartialEq)]
enum Place {
    Raw,
    Quarantine(String),
    Both(String),
}

/// The invariant for one upload: its bytes are in `raw/` or in `quarantine/` (at most one
/// copy there), never in neither, and unchanged wherever they are.
async fn kept(lake: &Lake, key: &str, bytes: &[u8]) -> Place {
    let in_raw = lake.exists(key).await;
    if in_raw {
        assert!(
            lake.body(key).await == bytes,
            "{key}: bytes in raw/ changed"
        );
    }
    let base = format!("quarantine/{key}");
    let listed = lake
        .s3
        .list_objects_v2()
        .bucket(&lake.bucket)
        .prefix(&base)
        .send()
        .await
        .unwrap();
    let copies: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .filter(|k| *k == base || k.starts_with(&format!("{base}.")))
        .map(str::to_string)
        .collect();
    assert!(copies.len() <= 1, "{key}: quarantined twice: {copies:?}");
    for q in &copies {
        assert!(
            lake.body(q).await == bytes,
            "{q}: bytes in quarantine/ differ"
        );
    }
    match (in_raw, copies.into_iter().next()) {
        (true, None) => Place::Raw,
        (false, Some(q)) => Place::Quarantine(q),
        (true, Some(q)) => Place::Both(q),
        (false, None) => panic!("{key} is neither in raw/ nor in quarantine/: lost"),
    }
}

/// The rows of an orders CSV (header skipped; quoted fields with commas and `""` handled).
fn csv_rows(body: &[u8]) -> Vec<Row> {
    let text = std::str::from_utf8(body).unwrap();
    let mut rows: Vec<Row> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = vec![String::new()];
            let (mut quoted, mut chars) = (false, line.chars().peekable());
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        chars.next();
                        fields.last_mut().unwrap().push('"');
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => fields.push(String::new()),
                    _ => fields.last_mut().unwrap().push(c),
                }
            }
            (
                fields[0].parse().unwrap(),
                fields[1].clone(),
                // The orders' decimal(12,2), exactly, in cents.
                lakeline_core::types::parse_decimal(fields[2].as_bytes(), 12, 2).unwrap(),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

/// Whether nothing at all is under `quarantine/`.
async fn quarantine_is_empty(lake: &Lake) -> bool {
    lake.s3
        .list_objects_v2()
        .bucket(&lake.bucket)
        .prefix("quarantine/")
        .send()
        .await
        .unwrap()
        .contents()
        .is_empty()
}

/// An interceptor answering with `rules` only: any other operation panics (so a mocked
/// client also proves which calls were made).
fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

/// The SDK's standard retry with its default 3 attempts (what the functions use), with a short
/// first backoff to keep the test quick.
fn quick_standard_retry() -> aws_sdk_s3::config::retry::RetryConfig {
    aws_sdk_s3::config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(20))
}

/// An S3 client whose every answer comes from `rules` (aws-smithy-mocks).
fn mocked_s3(lake: &Lake, rules: &[&Rule]) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&lake.conf)
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor(rules))
        .retry_config(quick_standard_retry())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A HEAD answer for the object `lake.upload` wrote: HEAD succeeds in both S3 faults.
fn head_rule(key: &str, etag: &str, size: usize, kms: bool) -> Rule {
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    use aws_sdk_s3::types::ServerSideEncryption;
    let (key, etag) = (key.to_string(), etag.to_string());
    mock!(aws_sdk_s3::Client::head_object)
        .match_requests(move |r| r.key() == Some(key.as_str()))
        .then_output(move || {
            let b = HeadObjectOutput::builder()
                .e_tag(format!("\"{etag}\""))
                .content_length(size as i64)
                .content_type("text/csv");
            if kms {
                b.server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
                    .build()
            } else {
                b.build()
            }
        })
}

fn event_etag(event: &Value) -> String {
    event["Records"][0]["s3"]["object"]["eTag"]
        .as_str()
        .unwrap()
        .to_string()
}

/// 1. The endpoint is down: every client (S3, Step Functions, SNS) points at a closed port on
/// 127.0.0.1. validate-upload fails with `Lakeline.Transient` (Lambda retries the event) and
/// touches nothing; with the endpoint back, the same event is processed normally.
#[tokio::test]
async fn endpoint_down_is_transient_and_the_same_event_runs_once_it_is_back() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let key = format!("raw/orders/{DT}/down.csv");
    let body = sample("orders/good.csv");
    let event = lake.upload(&key, body.clone()).await;

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let down: SdkConfig = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "down",
        ))
        .retry_config(quick_standard_retry())
        .load()
        .await;
    let mut deps = lake.validate_deps(shipped_registry());
    deps.s3 = lakeline_aws::s3_client(&down);
    deps.sfn = aws_sdk_sfn::Client::new(&down);
    deps.sns = aws_sdk_sns::Client::new(&down);
    let err = validate(&deps, event.clone()).await.unwrap_err();
    assert_eq!(err.error_type(), error_names::TRANSIENT, "{err}");
    assert!(err.to_string().contains(&key), "{err}");
    assert_eq!(kept(&lake, &key, &body).await, Place::Raw);
    assert!(
        lake.tags(&key).await.is_empty(),
        "untouched: not even tagged"
    );
    assert!(lake.executions().await.is_empty());

    // The endpoint is back; Lambda's retry delivers the same event.
    let res = validate(&lake.validate_deps(shipped_registry()), event)
        .await
        .unwrap();
    let o = outcome(&res);
    assert_eq!(o["outcome"], "valid", "{res}");
    assert_eq!(o["rows"], csv_rows(&body).len());
    let execs = lake.executions().await;
    assert_eq!(execs.len(), 1);
    assert_eq!(execs[0].name(), o["execution"].as_str().unwrap());
    assert!(lake
        .tags(&key)
        .await
        .contains(&("lakeline:status".into(), "validated".into())));
    assert_eq!(kept(&lake, &key, &body).await, Place::Raw);
}

/// 2. S3 answers GetObject with 503 SlowDown. moto cannot produce it, so this S3 client is
/// aws-smithy-mocks': HEAD answers as S3 would for the upload, every GET is an HTTP 503 with
/// S3's SlowDown body, and any other call would panic. The SDK retries (3 attempts), then
/// validate-upload fails with `Lakeline.Transient` so Lambda retries the event; nothing was
/// moved or tagged. The retry against the real (moto) S3 processes it.
#[tokio::test]
async fn s3_slowdown_is_retried_and_moves_nothing() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let key = format!("raw/orders/{DT}/slow.csv");
    let body = sample("orders/good.csv");
    let event = lake.upload(&key, body.clone()).await;

    let head = head_rule(&key, &event_etag(&event), body.len(), false);
    let get = mock!(aws_sdk_s3::Client::get_object)
        .sequence()
        .http_status(
            503,
            Some("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>7D3F1C</RequestId><HostId>h</HostId></Error>".into()),
        )
        .repeatedly()
        .build();
    let mut deps = lake.validate_deps(shipped_registry());
    deps.s3 = mocked_s3(&lake, &[&head, &get]);
    let err = validate(&deps, event.clone()).await.unwrap_err();
    assert_eq!(err.error_type(), error_names::TRANSIENT, "{err}");
    assert!(err.to_string().contains("SlowDown"), "{err}");
    assert!(err.to_string().contains(&key), "{err}");
    assert_eq!(get.num_calls(), 3, "the SDK retried SlowDown");
    assert_eq!(kept(&lake, &key, &body).await, Place::Raw);
    assert!(lake.tags(&key).await.is_empty());
    assert!(lake.executions().await.is_empty());

    let res = validate(&lake.validate_deps(shipped_registry()), event)
        .await
        .unwrap();
    assert_eq!(outcome(&res)["outcome"], "valid", "{res}");
    assert_eq!(lake.executions().await.len(), 1);
    assert_eq!(kept(&lake, &key, &body).await, Place::Raw);
}

/// 3. StartExecution is throttled. moto never throttles, so the Step Functions client is
/// aws-smithy-mocks' (every StartExecution answers HTTP 400 ThrottlingException) while S3 and
/// SNS are the emulator's. The SDK retries, then validate-upload fails with
/// `Lakeline.Transient`; the object stays in raw/ (already tagged validated: harmless). The
/// retry starts exactly one execution, and a further redelivery starts none.
#[tokio::test]
async fn throttled_start_execution_is_transient_and_the_retry_starts_one_execution() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let key = format!("raw/orders/{DT}/throttled.csv");
    let body = sample("orders/good.csv");
    let event = lake.upload(&key, body.clone()).await;

    let throttled = mock!(aws_sdk_sfn::Client::start_execution)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .repeatedly()
        .build();
    let sfn_conf = aws_sdk_sfn::config::Builder::from(&lake.conf)
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor(&[&throttled]))
        .retry_config(quick_standard_retry())
        .build();
    let mut deps = lake.validate_deps(shipped_registry());
    deps.sfn = aws_sdk_sfn::Client::from_conf(sfn_conf);
    let err = validate(&deps, event.clone()).await.unwrap_err();
    assert_eq!(err.error_type(), error_names::TRANSIENT, "{err}");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(throttled.num_calls(), 3, "the SDK retried the throttling");
    assert!(lake.executions().await.is_empty());
    assert_eq!(kept(&lake, &key, &body).await, Place::Raw);

    let real = lake.validate_deps(shipped_registry());
    let first = validate(&real, event.clone()).await.unwrap();
    let o = outcome(&first);
    assert_eq!(o["outcome"], "valid", "{first}");
    assert_eq!(o["duplicate"], false);
    let again = validate(&real, event).await.unwrap();
    assert_eq!(outcome(&again)["execution"], o["execution"]);
    let execs = lake.executions().await;
    assert_eq!(execs.len(), 1, "exactly one execution: {execs:?}");
    assert_eq!(execs[0].name(), o["execution"].as_str().unwrap());
    assert_eq!(kept(&lake, &key, &body).await, Place::Raw);
}

/// 4. A crash between the quarantine copy and the delete. The state it leaves is placed as
/// `a_retry_after_a_partial_quarantine_sends_the_pending_alert` (validate_upload.rs) does:
/// a real quarantine makes the copy (with its metadata and tags), then the original is put
/// back with the same bytes (same ETag) and the copy's alert marked pending, its alert
/// drained. The retry of the event ends with the object only in quarantine, same bytes, and
/// exactly one alert.
#[tokio::test]
async fn a_crash_between_quarantine_copy_and_delete_ends_quarantined_once_with_one_alert() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let key = format!("raw/orders/{DT}/bad.csv");
    let bad = sample("orders/bad.csv");
    let event = lake.upload(&key, bad.clone()).await;
    let res = validate(&deps, event.clone()).await.unwrap();
    let qkey = outcome(&res)["quarantine_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(lake.alerts(1, Duration::from_secs(10)).await.len(), 1);

    // The crash: the copy exists, the original was never deleted, no alert went out.
    assert_eq!(lake.put(&key, bad.clone()).await, event_etag(&event));
    lake.mark_alert_pending(&qkey).await;
    assert_eq!(kept(&lake, &key, &bad).await, Place::Both(qkey.clone()));

    let res = validate(&deps, event.clone()).await.unwrap();
    let o = outcome(&res);
    assert_eq!(o["outcome"], "quarantined", "{res}");
    assert_eq!(o["quarantine_key"], qkey.as_str(), "the same copy, reused");
    assert_eq!(
        kept(&lake, &key, &bad).await,
        Place::Quarantine(qkey.clone())
    );
    assert!(lake
        .tags(&qkey)
        .await
        .contains(&("lakeline:alert".into(), "sent".into())));
    let alerts = lake.alerts(2, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    assert!(
        alerts[0]["Message"].as_str().unwrap().contains(&qkey),
        "{:?}",
        alerts[0]
    );
    // A later redelivery finds it gone and sends nothing more.
    let res = validate(&deps, event).await.unwrap();
    assert_eq!(outcome(&res)["outcome"], "gone", "{res}");
    assert!(outcome(&res).get("resumed_alert").is_none(), "{res}");
    assert!(lake.alerts(1, Duration::from_secs(2)).await.is_empty());
    assert!(lake.executions().await.is_empty());
}

/// The open multipart uploads of the bucket: (key, upload id).
async fn open_uploads(lake: &Lake) -> Vec<(String, String)> {
    let out = lake
        .s3
        .list_multipart_uploads()
        .bucket(&lake.bucket)
        .send()
        .await
        .unwrap();
    out.uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap_or_default().to_string(),
                u.upload_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// 5. A crash between curate's write and its completion, both ways: a first attempt died with
/// its multipart upload to the curated key open (a part written, never completed), and a
/// second one completed the object but died before answering. Each rerun of the Curate task
/// with the same input (its Retry after `Lakeline.Transient`, or `lakeline redrive` after the
/// execution failed there) writes the one curated object with the CSV's values. The reruns
/// leave no upload of their own open; the crashed attempt's stays open (nobody can complete
/// it) until the bucket's lifecycle rule aborts it (`AbortIncompleteMultipartUpload`, 7 days):
/// curate does not abort uploads it did not start, as they may be a newer upload's.
#[tokio::test]
async fn a_crash_between_curates_write_and_completion_leaves_one_curated_object() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let reg = shipped_registry();
    let d = curate::Deps {
        s3: lake.s3_as("curate"),
        registry_sha256: reg.content_hash(),
        registry: std::sync::Arc::new(reg),
        part_size: curate::PART_SIZE,
        max_row_group_bytes: curate::MAX_ROW_GROUP_BYTES,
        tables: None,
    };
    let key = format!("raw/orders/{DT}/crash.csv");
    let body = sample("orders/good.csv");
    let want = csv_rows(&body);
    let etag = lake.put(&key, body.clone()).await;
    let req = json!({"bucket": lake.bucket, "key": key, "etag": etag, "versionId": null,
                     "dataset": "orders", "partition": DT, "rows": want.len()});
    let prefix = format!("curated/orders/{DT}/");
    let out_key = lakeline_core::curate::output_key(&prefix, &key);

    // The first attempt's crash: an upload to the curated key with a part, never completed.
    let orphan = lake
        .s3
        .create_multipart_upload()
        .bucket(&lake.bucket)
        .key(&out_key)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    lake.s3
        .upload_part()
        .bucket(&lake.bucket)
        .key(&out_key)
        .upload_id(&orphan)
        .part_number(1)
        .body(b"PAR1 half a row group".to_vec().into())
        .send()
        .await
        .unwrap();
    assert!(
        !lake.exists(&out_key).await,
        "nothing visible before completion"
    );

    let retry = curate::handle(&d, req.clone(), None).await.unwrap();
    assert_eq!(retry["status"], "CURATED", "{retry}");
    assert_eq!(retry["key"], out_key.as_str());
    let (keys, rows) = files_and_rows(&lake, &prefix).await;
    assert_eq!(keys, vec![out_key.clone()]);
    assert_eq!(rows, want, "every row of the CSV once");
    assert_eq!(
        open_uploads(&lake).await,
        vec![(out_key.clone(), orphan.clone())],
        "only the crashed attempt's upload is open"
    );

    // Completed, then crashed before answering: the task's retry rewrites the same object.
    let first_bytes = lake.body(&out_key).await;
    let again = curate::handle(&d, req, None).await.unwrap();
    assert_eq!(again["status"], "CURATED", "{again}");
    assert_eq!(again["etag"], retry["etag"], "the same content");
    assert!(lake.body(&out_key).await == first_bytes);
    let (keys, rows) = files_and_rows(&lake, &prefix).await;
    assert_eq!(keys, vec![out_key.clone()], "one curated object");
    assert_eq!(rows, want);
    assert_eq!(open_uploads(&lake).await, vec![(out_key, orphan)]);
    assert_eq!(kept(&lake, &key, &body).await, Place::Raw);
}

/// 7. A Glue ConcurrentRunsExceeded burst: the stack's Glue job allows one run, its runs are
/// held RUNNING until looked at (moto's state manager; moto enforces MaxConcurrentRuns), and
/// three uploads routed to it arrive at once, for a dataset that asks for a run per file
/// (`batch_seconds: 0`; batched files share one run and do not meet the limit: pipeline.rs). StartJob fails with `Lakeline.JobRetryable` for
/// the runs that do not fit; the pipeline's Retry on that error (30 s, doubling, 6 attempts,
/// full jitter) starts them once the slot is free, and every execution SUCCEEDS with one Glue
/// run each, its staged data file committed to the table. moto's Glue runs execute nothing: the
/// test stages what the job would ([`Deployment::stage_as_spark`]), and `curated/` stays empty.
#[tokio::test]
async fn a_glue_concurrent_runs_burst_is_retried_until_every_execution_succeeds() {
    let held = GlueRunsHeld::take().await;
    let mut registry = spark_registry();
    for ds in registry.datasets.values_mut() {
        if let Some(lakeline_core::jobs::JobSpec::Glue(g)) = ds.job.as_mut() {
            g.batch_seconds = 0;
        }
    }
    let d = Deployment::new(Options {
        glue_max_concurrent_runs: 1,
        registry,
        ..Options::default()
    })
    .await;
    let body = sample("orders/good.csv");
    let keys: Vec<String> = (0..3)
        .map(|i| format!("raw/orders/{DT}/burst-{i}.csv"))
        .collect();
    let mut events = Vec::new();
    for k in &keys {
        let event = d.upload_for_spark("orders", k, &body).await;
        events.push(event);
    }
    let (a, b, c) = tokio::join!(
        d.deliver(&events[0]),
        d.deliver(&events[1]),
        d.deliver(&events[2])
    );
    let mut names = Vec::new();
    for (err, res) in [a, b, c] {
        assert_eq!(err, None, "{res}");
        assert_eq!(outcome(&res)["outcome"], "valid", "{res}");
        names.push(outcome(&res)["execution"].as_str().unwrap().to_string());
    }
    // Every failed StartJob attempt, over all executions: (error, cause).
    let mut refusals = Vec::new();
    for name in &names {
        let arn = d.execution_arn(name);
        let out = d.succeeded(&arn, Duration::from_secs(900)).await;
        assert_eq!(out["engine"], "glue", "{out}");
        assert_eq!(out["job"]["status"], "SUCCEEDED", "{out}");
        assert_eq!(out["commit"]["status"], "COMMITTED", "{out}");
        let history = d.history(&arn).await;
        assert_eq!(entered(&history, "Curate"), 0);
        refusals.extend(history.iter().filter_map(|e| {
            e.task_failed_event_details().map(|f| {
                (
                    f.error().unwrap_or_default().to_string(),
                    f.cause().unwrap_or_default().to_string(),
                )
            })
        }));
    }
    held.release().await;
    // The burst was refused (and retried: every execution succeeded), and only that way.
    assert!(!refusals.is_empty(), "no start was refused: no burst");
    for (error, cause) in &refusals {
        assert_eq!(error, error_names::JOB_RETRYABLE, "{cause}");
        assert!(cause.contains("ConcurrentRunsExceeded"), "{cause}");
    }
    println!("{} starts refused and retried", refusals.len());
    // One Glue run per execution: a refused start created none, a retry did not double one.
    let runs = d
        .stack
        .c
        .glue
        .get_job_runs()
        .job_name(&d.stack.glue_job)
        .send()
        .await
        .unwrap();
    let mut run_keys: Vec<String> = runs
        .job_runs()
        .iter()
        .map(|r| r.arguments().unwrap()["--lakeline_run_key"].clone())
        .collect();
    run_keys.sort();
    let mut want: Vec<String> = names
        .iter()
        .map(|n| lakeline_core::jobs::run_key(n))
        .collect();
    want.sort();
    assert_eq!(run_keys, want);
    for k in &keys {
        assert_eq!(kept(&d.lake, k, &body).await, Place::Raw);
    }
    assert!(quarantine_is_empty(&d.lake).await);
    let (curated, _) = files_and_rows(&d.lake, "curated/").await;
    assert!(
        curated.is_empty(),
        "moto's Glue writes nothing: {curated:?}"
    );
    let ids = lakeline_tests::tables::csv_ids(&body);
    assert_eq!(
        d.table_ids("orders", "order_id").await,
        keys.iter().map(|k| (k.clone(), ids.clone())).collect()
    );
    assert!(d.lake.alerts(1, Duration::from_secs(2)).await.is_empty());
}

/// 8. GetObject is denied by KMS (the object's key policy or the role lacks kms:Decrypt) while
/// HEAD succeeds. moto cannot deny by KMS, so this S3 client is aws-smithy-mocks': HEAD
/// answers with the upload's ETag and SSE-KMS, GET with HTTP 403 AccessDenied and S3's KMS
/// message. validate-upload fails with `Lakeline.Config` (the SDK does not retry it; Lambda's
/// two retries fail the same way and the event goes to the DLQ), naming the object and KMS;
/// the object stays in raw/, untouched. With the permission fixed, the same event validates.
#[tokio::test]
async fn a_kms_access_denied_is_a_config_error_naming_the_key_and_kms() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let key = format!("raw/orders/{DT}/kms.csv");
    let body = sample("orders/good.csv");
    let event = lake.upload(&key, body.clone()).await;

    let head = head_rule(&key, &event_etag(&event), body.len(), true);
    let denied = mock!(aws_sdk_s3::Client::get_object)
        .sequence()
        .http_status(
            403,
            Some("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/lakeline-ValidateUploadRole/validate-upload is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab because no identity-based policy allows the kms:Decrypt action</Message><RequestId>9B2E</RequestId><HostId>h</HostId></Error>".into()),
        )
        .repeatedly()
        .build();
    let mut deps = lake.validate_deps(shipped_registry());
    deps.s3 = mocked_s3(&lake, &[&head, &denied]);
    let err = validate(&deps, event.clone()).await.unwrap_err();
    assert_eq!(err.error_type(), error_names::CONFIG, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("s3://{}/{key}", lake.bucket)),
        "{msg}"
    );
    assert!(
        msg.contains("AccessDenied") && msg.contains("kms:Decrypt"),
        "{msg}"
    );
    assert!(
        msg.contains("stack parameter ProducerKmsKeyArns"),
        "says what to set: {msg}"
    );
    assert_eq!(denied.num_calls(), 1, "the SDK does not retry a denial");
    assert_eq!(kept(&lake, &key, &body).await, Place::Raw);
    assert!(lake.tags(&key).await.is_empty());
    assert!(lake.executions().await.is_empty());
    assert!(
        quarantine_is_empty(&lake).await,
        "a denial never condemns a file"
    );

    let res = validate(&lake.validate_deps(shipped_registry()), event)
        .await
        .unwrap();
    assert_eq!(outcome(&res)["outcome"], "valid", "{res}");
}

/// The curated file's `lakeline.registry_sha256` metadata.
async fn registry_of(lake: &Lake, key: &str) -> String {
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(lake.body(key).await),
    )
    .unwrap();
    b.metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == "lakeline.registry_sha256"))
        .and_then(|e| e.value.clone())
        .unwrap_or_default()
}

/// 9. A registry whose orders job block is broken (its `job_name` deleted) is written over the
/// live one while an upload is in flight, as a hand edit in S3 would (`lakeline registry
/// push` refuses it). Running functions ([`Live`], what each `main.rs` wraps its
/// dependencies in) refuse it, log it and emit `RegistryRejected` (`registry_live.rs`), and
/// keep the last good one: the upload in flight and one made after the broken version was
/// published are both validated and curated, under the good registry (its hash is in the
/// curated files). A cold start cannot load it at all: that instance fails until the
/// registry is fixed.
#[tokio::test]
async fn a_broken_registry_published_mid_flight_is_refused_and_the_last_good_one_serves() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/datasets.yaml");
    let good_text = std::fs::read_to_string(path).unwrap();
    let good = lakeline_core::placeholders::load(&good_text, path, &Default::default()).unwrap();
    lake.put("config/datasets.yaml", good_text.clone().into())
        .await;
    let env: HashMap<String, String> = HashMap::from([
        (
            "LAKELINE_REGISTRY".to_string(),
            format!("s3://{}/config/datasets.yaml", lake.bucket),
        ),
        ("LAKELINE_REGISTRY_TTL_SECONDS".to_string(), "0".to_string()),
        (
            "STATE_MACHINE_ARN".to_string(),
            lake.state_machine_arn.clone(),
        ),
        ("ALERT_TOPIC_ARN".to_string(), lake.topic_arn.clone()),
    ]);
    // Warm instances of validate-upload and curate, started under the good registry.
    let v = validate_upload::Deps::from_env(&lake.conf_as("validate-upload"), &env)
        .await
        .unwrap();
    let validating = Live::new(v, &env, lake.s3_as("validate-upload"), "validate-upload")
        .await
        .unwrap();
    let c = curate::Deps::from_env(&lake.conf_as("curate"), &env)
        .await
        .unwrap();
    let curating = Live::new(c, &env, lake.s3_as("curate"), "curate")
        .await
        .unwrap();

    let body = sample("orders/good.csv");
    let in_flight = format!("raw/orders/{DT}/in-flight.csv");
    let after = format!("raw/orders/{DT}/after.csv");
    let event = lake.upload(&in_flight, body.clone()).await;
    let deps = validating
        .current(validate_upload::Deps::with_registry)
        .await;
    let res = validate(&deps, event).await.unwrap();
    assert_eq!(outcome(&res)["outcome"], "valid", "{res}");

    // The broken version lands.
    let line = "      job_name: ${LAKELINE_GLUE_CURATE_JOB:-lakeline-curate}    # jobs/curate.py on Glue 5.0; the dataset is one of its arguments\n";
    assert!(good_text.contains(line));
    let broken = good_text.replacen(line, "", 1);
    let why =
        lakeline_core::placeholders::load(&broken, "broken.yaml", &Default::default()).unwrap_err();
    assert!(why.to_string().contains("job"), "{why}");
    lake.put("config/datasets.yaml", broken.into()).await;
    let cold = validate_upload::Deps::from_env(&lake.conf_as("validate-upload"), &env).await;
    assert!(
        cold.is_err(),
        "a cold start cannot load the broken registry"
    );

    let event = lake.upload(&after, body.clone()).await;
    let deps = validating
        .current(validate_upload::Deps::with_registry)
        .await;
    let res = validate(&deps, event).await.unwrap();
    assert_eq!(outcome(&res)["outcome"], "valid", "{res}");

    // Each execution's Curate task, with the execution's input, on the warm curate.
    let prefix = format!("curated/orders/{DT}/");
    let execs = lake.executions().await;
    assert_eq!(execs.len(), 2);
    for e in &execs {
        let input = lake
            .sfn
            .describe_execution()
            .execution_arn(e.execution_arn())
            .send()
            .await
            .unwrap()
            .input
            .unwrap();
        let deps = curating.current(curate::Deps::with_registry).await;
        let out = curate::handle(&deps, serde_json::from_str(&input).unwrap(), None)
            .await
            .unwrap();
        assert_eq!(out["status"], "CURATED", "{out}");
        let key = out["key"].as_str().unwrap();
        assert_eq!(registry_of(&lake, key).await, good.content_hash(), "{key}");
        let mut rows = rows_in(&lake, key).await;
        rows.sort_by_key(|r| r.0);
        assert_eq!(rows, csv_rows(&body), "{key}");
    }
    let (keys, _) = files_and_rows(&lake, &prefix).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    for k in [&in_flight, &after] {
        assert_eq!(kept(&lake, k, &body).await, Place::Raw);
    }
}

/// 9. curate's last check before it commits (is the validated upload still the key's current
/// object?) fails after the data went out in parts. moto cannot fail one HEAD of several, so
/// this S3 client is aws-smithy-mocks': the first HEAD answers with the upload, the GET with its
/// bytes, the multipart calls succeed, and the second HEAD answers HTTP 500 every time. curate
/// fails `Lakeline.Transient` (the Curate task's retry runs it again), completes nothing and
/// aborts its multipart upload, so no upload is left open (issue 26: multipart hygiene).
#[tokio::test]
async fn a_failed_check_before_curates_commit_aborts_its_upload() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let key = format!("raw/orders/{DT}/abort.csv");
    let body = sample("orders/good.csv");
    let m = CurateMocks::new(&key, &body, true, Duration::ZERO);
    let d = m.deps(&lake);
    let err = curate::handle(&d, m.request(&lake, &key, &body), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), error_names::TRANSIENT, "{err}");
    m.assert_aborted_not_committed(&err);
}

/// Issue 26 (multipart hygiene): the reader stops before the deadline, but the last row
/// group's flush comes after the reading; when the flush eats the time left (here: S3 takes
/// 2 s a part, aws-smithy-mocks' stand-in for a slow upload), curate aborts its upload and says
/// the file is too slow for the function instead of committing past its deadline.
#[tokio::test]
async fn a_deadline_reached_during_the_final_flush_aborts_instead_of_committing() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let key = format!("raw/orders/{DT}/slow.csv");
    let body = sample("orders/good.csv");
    let m = CurateMocks::new(&key, &body, false, Duration::from_secs(2));
    let d = m.deps(&lake);
    // Five seconds left: curate stops half a second before them.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let err = curate::handle(&d, m.request(&lake, &key, &body), Some(deadline))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), error_names::TOO_LARGE, "{err}");
    assert!(
        err.to_string().contains("within this function's timeout"),
        "{err}"
    );
    m.assert_aborted_not_committed(&err);
}

/// An S3 for curate (aws-smithy-mocks): HEAD answers with the upload (and HTTP 500 from the
/// second HEAD on, when `head_fails_later`), GET with its bytes, the multipart calls succeed,
/// each part after `part_delay`.
struct CurateMocks {
    etag: &'static str,
    rules: Vec<Rule>,
}

impl CurateMocks {
    const CREATE: usize = 2;
    const PART: usize = 3;
    const ABORT: usize = 4;
    const COMPLETE: usize = 5;
    const PUT: usize = 6;

    fn new(key: &str, body: &[u8], head_fails_later: bool, part_delay: Duration) -> CurateMocks {
        use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
        use aws_sdk_s3::operation::get_object::GetObjectOutput;
        use aws_sdk_s3::operation::upload_part::UploadPartOutput;
        let etag = "0123456789abcdef0123456789abcdef";
        let head = {
            let (k, e, n) = (key.to_string(), etag.to_string(), body.len());
            let answer = move || {
                aws_sdk_s3::operation::head_object::HeadObjectOutput::builder()
                    .e_tag(format!("\"{e}\""))
                    .content_length(n as i64)
                    .build()
            };
            let rule = mock!(aws_sdk_s3::Client::head_object)
                .match_requests(move |r| r.key() == Some(k.as_str()));
            if head_fails_later {
                rule.sequence()
                    .output(answer)
                    .http_status(500, None)
                    .repeatedly()
                    .build()
            } else {
                rule.then_output(answer)
            }
        };
        let get = {
            let b = body.to_vec();
            mock!(aws_sdk_s3::Client::get_object).then_output(move || {
                GetObjectOutput::builder()
                    .body(aws_sdk_s3::primitives::ByteStream::from(b.clone()))
                    .e_tag(format!("\"{etag}\""))
                    .build()
            })
        };
        let create = mock!(aws_sdk_s3::Client::create_multipart_upload).then_output(|| {
            CreateMultipartUploadOutput::builder()
                .upload_id("upload-1")
                .build()
        });
        let part = mock!(aws_sdk_s3::Client::upload_part).then_output(move || {
            // A slow upload: what a congested S3 does to a part (not a synchronisation).
            std::thread::sleep(part_delay);
            UploadPartOutput::builder().e_tag("\"p\"").build()
        });
        let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload).then_output(|| {
            aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput::builder()
                .build()
        });
        let complete = mock!(aws_sdk_s3::Client::complete_multipart_upload).then_output(|| {
            aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput::builder()
                .build()
        });
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        CurateMocks {
            etag,
            rules: vec![head, get, create, part, abort, complete, put],
        }
    }

    /// curate with this S3; small parts, so the output goes out as a multipart upload.
    fn deps(&self, lake: &Lake) -> curate::Deps {
        let reg = shipped_registry();
        let rules: Vec<&Rule> = self.rules.iter().collect();
        curate::Deps {
            s3: mocked_s3(lake, &rules),
            registry_sha256: reg.content_hash(),
            registry: std::sync::Arc::new(reg),
            part_size: 1024,
            max_row_group_bytes: curate::MAX_ROW_GROUP_BYTES,
            tables: None,
        }
    }

    fn request(&self, lake: &Lake, key: &str, body: &[u8]) -> Value {
        json!({"bucket": lake.bucket, "key": key, "etag": self.etag, "versionId": null,
               "dataset": "orders", "partition": DT, "rows": csv_rows(body).len()})
    }

    fn assert_aborted_not_committed(&self, err: &curate::CurateError) {
        let calls = |i: usize| self.rules[i].num_calls();
        assert!(
            calls(Self::CREATE) >= 1 && calls(Self::PART) >= 1,
            "went out in parts"
        );
        assert_eq!(calls(Self::ABORT), 1, "the upload is aborted: {err}");
        assert_eq!(
            (calls(Self::COMPLETE), calls(Self::PUT)),
            (0, 0),
            "nothing committed"
        );
    }
}

/// Issue 26 (multipart hygiene): a panic in the uploader while it sends a part (a bug, in the
/// SDK or in lakeline) no longer takes the upload id down with the task: the uploader stops with
/// an error, and the caller's abort removes the upload, so no part is left open. The panic is
/// injected with aws-smithy-mocks (moto cannot panic a client).
#[tokio::test]
async fn a_panic_while_uploading_a_part_still_aborts_the_upload() {
    use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
    let lake = Lake::new(WAITING_DEFINITION).await;
    let create = mock!(aws_sdk_s3::Client::create_multipart_upload).then_output(|| {
        CreateMultipartUploadOutput::builder()
            .upload_id("u1")
            .build()
    });
    let part = mock!(aws_sdk_s3::Client::upload_part).then_output(
        || -> aws_sdk_s3::operation::upload_part::UploadPartOutput { panic!("injected") },
    );
    let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload)
        .match_requests(|r| r.upload_id() == Some("u1"))
        .then_output(|| {
            aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput::builder()
                .build()
        });
    let s3 = mocked_s3(&lake, &[&create, &part]);
    let target = lakeline_aws::upload::Target {
        bucket: lake.bucket.clone(),
        key: "curated/orders/x.parquet".into(),
        metadata: Vec::new(),
    };
    let (tx, uploader) = lakeline_aws::upload::start(s3.clone(), target.clone());
    tx.send(vec![0u8; 16]).await.unwrap();
    drop(tx);
    let parts = uploader
        .await
        .expect("the uploader ends with an error, it does not die with the upload id");
    let e = parts
        .error
        .as_ref()
        .expect("it says why it stopped")
        .to_string();
    assert!(e.contains("panicked (injected)"), "{e}");
    // The caller's abort (a client of its own: the injected panic poisoned the mock's lock).
    parts.abort(&mocked_s3(&lake, &[&abort]), &target).await;
    assert_eq!(abort.num_calls(), 1, "the upload is aborted");
}
