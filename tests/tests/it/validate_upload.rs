//! validate-upload against the local AWS: real S3, SNS, SQS and Step Functions (moto server),
//! real aws-sdk-rust clients, the shipped registry.

use std::time::Duration;

use lakeline_tests::{outcome, sample, shipped_registry, validate, Lake, WAITING_DEFINITION};
use serde_json::Value;

const GOOD_CSV: &str = "order_id,customer,amount,currency,order_date,created_at,gift\n\
1,\"Doe, Jane\",12.50,EUR,2026-11-25,2026-11-25T10:00:00Z,true\n\
2,Bob,7,USD,2026-11-25,2026-11-25 10:05:00,\n";

const BAD_CSV: &str = "order_id,customer,amount,currency,order_date,created_at,gift\n\
1,Ann,12.50,EUR,2026-11-25,2026-11-25T10:00:00Z,true\n\
2,Bob,twelve,EUR,2026-11-25,2026-11-25T10:00:00Z,false\n";

const ORDERS_KEY: &str = "raw/orders/dt=2026-11-25/export 1.csv";

#[tokio::test]
async fn valid_csv_is_tagged_and_starts_one_execution_even_when_delivered_twice() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let event = lake.upload(ORDERS_KEY, GOOD_CSV.into()).await;

    let first = validate(&deps, event.clone()).await.unwrap();
    let o = outcome(&first);
    assert_eq!(o["outcome"], "valid", "{first}");
    assert_eq!(o["rows"], 2);
    assert_eq!(o["duplicate"], false);
    let second = validate(&deps, event).await.unwrap();
    assert_eq!(outcome(&second)["execution"], o["execution"]);

    let execs = lake.executions().await;
    assert_eq!(execs.len(), 1, "one upload, one execution: {execs:?}");
    assert_eq!(execs[0].name(), o["execution"].as_str().unwrap());
    let input: Value = serde_json::from_str(
        lake.sfn
            .describe_execution()
            .execution_arn(execs[0].execution_arn())
            .send()
            .await
            .unwrap()
            .input()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(input["key"], ORDERS_KEY);
    assert_eq!(input["dataset"], "orders");
    assert_eq!(input["partition"], "dt=2026-11-25");
    assert_eq!(input["format"], "csv");
    assert_eq!(input["rows"], 2);
    assert_eq!(input["size"], GOOD_CSV.len());

    let tags = lake.tags(ORDERS_KEY).await;
    assert!(
        tags.contains(&("lakeline:status".into(), "validated".into())),
        "{tags:?}"
    );
    assert!(lake.exists(ORDERS_KEY).await);
}

#[tokio::test]
async fn duplicate_after_the_execution_closed_is_still_one_execution() {
    let lake = Lake::new(r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#).await;
    let deps = lake.validate_deps(shipped_registry());
    let event = lake.upload(ORDERS_KEY, GOOD_CSV.into()).await;
    validate(&deps, event.clone()).await.unwrap();
    // The first execution ends at once; a late redelivery meets ExecutionAlreadyExists.
    let arn = lake.executions().await[0].execution_arn().to_string();
    let done = lakeline_local::stack::wait_finished(&lake.sfn, &arn, Duration::from_secs(30))
        .await
        .unwrap();
    let status = done.status().as_str();
    assert_eq!(status, "SUCCEEDED");
    let again = validate(&deps, event).await.unwrap();
    assert_eq!(outcome(&again)["duplicate"], true, "{again}");
    assert_eq!(lake.executions().await.len(), 1);
}

/// SSE-KMS (with and without a bucket key): ETags are not MD5s, so the copy is checked by
/// checksum. Before, such an upload could never be quarantined. (moto keeps MD5 ETags under
/// KMS; the decision itself is table-tested in validate-upload's quarantine module.)
#[tokio::test]
async fn sse_kms_uploads_are_quarantined_and_verified_by_checksum() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    for (i, bucket_key) in [false, true].into_iter().enumerate() {
        let key = ORDERS_KEY.replace(".csv", &format!("-kms{i}.csv"));
        let put = lake
            .s3
            .put_object()
            .bucket(&lake.bucket)
            .key(&key)
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .ssekms_key_id("alias/aws/s3")
            .bucket_key_enabled(bucket_key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(BAD_CSV.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
        let etag = put.e_tag().unwrap().trim_matches('"').to_string();
        let sha = put.checksum_sha256().unwrap().to_string();
        let event = lake.event_for(&key, BAD_CSV.len(), &etag);
        let res = validate(&deps, event).await.unwrap();
        let o = outcome(&res);
        assert_eq!(o["outcome"], "quarantined", "{res}");
        let qkey = o["quarantine_key"].as_str().unwrap();
        assert!(!lake.exists(&key).await);
        let h = lake
            .s3
            .head_object()
            .bucket(&lake.bucket)
            .key(qkey)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            h.checksum_sha256(),
            Some(sha.as_str()),
            "the copy carries the same SHA-256"
        );
        assert_eq!(lake.body(qkey).await, BAD_CSV.as_bytes());
    }
    assert_eq!(lake.alerts(2, Duration::from_secs(10)).await.len(), 2);
}

#[tokio::test]
async fn invalid_csv_is_quarantined_with_reason_and_alerted() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let event = lake.upload(ORDERS_KEY, BAD_CSV.into()).await;
    let res = validate(&deps, event).await.unwrap();
    let o = outcome(&res);
    assert_eq!(o["outcome"], "quarantined", "{res}");
    assert_eq!(o["reason"], "type");
    let qkey = format!("quarantine/{ORDERS_KEY}");
    assert_eq!(o["quarantine_key"], qkey.as_str());

    // Moved: gone from raw, in quarantine with the same bytes, reason in metadata and tags.
    assert!(!lake.exists(ORDERS_KEY).await);
    let got = lake
        .s3
        .get_object()
        .bucket(&lake.bucket)
        .key(&qkey)
        .send()
        .await
        .unwrap();
    let reason = got.metadata().unwrap()["lakeline-reason"].clone();
    assert!(
        reason.contains("line 3 (row 2), column amount: not a valid decimal(12,2)"),
        "{reason}"
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        BAD_CSV.as_bytes()
    );
    let tags = lake.tags(&qkey).await;
    for t in [
        ("lakeline:status", "quarantined"),
        ("lakeline:reason", "type"),
        ("lakeline:alert", "sent"),
    ] {
        assert!(
            tags.contains(&(t.0.into(), t.1.into())),
            "{t:?} not in {tags:?}"
        );
    }
    assert!(lake.executions().await.is_empty());

    let alerts = lake.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let env = &alerts[0];
    assert_eq!(
        env["Subject"],
        "[lakeline] ERROR orders validation: file rejected (type)"
    );
    assert_eq!(env["MessageAttributes"]["dataset"]["Value"], "orders");
    assert_eq!(env["MessageAttributes"]["stage"]["Value"], "validation");
    let doc: Value = serde_json::from_str(env["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["object"], format!("s3://{}/{ORDERS_KEY}", lake.bucket));
    assert_eq!(doc["nowAt"], format!("s3://{}/{qkey}", lake.bucket));
    assert!(
        doc["text"].as_str().unwrap().contains("column amount"),
        "{doc}"
    );
}

#[tokio::test]
async fn each_format_valid_and_invalid() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        ("raw/clicks/dt=2026-11-25/c.jsonl", sample("clicks/good.jsonl"), "valid", None),
        ("raw/clicks/dt=2026-11-25/bad.jsonl", b"{\"event_id\":\"e1\",\"user_id\":\"7\",\"url\":\"/\",\"ts\":\"2026-11-25T10:00:00Z\"}\n".to_vec(), "quarantined", Some("type")),
        ("raw/returns/dt=2026-11-25/r.tsv", sample("returns/good.tsv"), "valid", None),
        ("raw/returns/dt=2026-11-25/bad.tsv", b"1\t2\tdamaged\tmaybe\n".to_vec(), "quarantined", Some("type")),
        ("raw/inventory/dt=2026-11-25/i.parquet", sample("inventory/good.parquet"), "valid", None),
        ("raw/inventory/dt=2026-11-25/bad.parquet", sample("inventory/bad.parquet"), "quarantined", None),
        ("raw/inventory/dt=2026-11-25/csv.parquet", GOOD_CSV.into(), "quarantined", Some("parquet_magic")),
        ("raw/orders/dt=2026-11-25/o.csv.gz", gzip(GOOD_CSV.as_bytes()), "valid", None),
        ("raw/orders/dt=2026-11-25/trunc.csv.gz", gzip(GOOD_CSV.as_bytes())[..30].to_vec(), "quarantined", Some("gzip")),
        ("raw/orders/dt=2026-02-30/o.csv", GOOD_CSV.into(), "quarantined", Some("key_pattern")),
        ("raw/orders/2026-11-25/o.csv", GOOD_CSV.into(), "quarantined", Some("key_pattern")),
        ("raw/orders/dt=2026-11-25/empty.csv", Vec::new(), "quarantined", Some("empty")),
    ];
    for (key, body, want, reason) in cases {
        let event = lake.upload(key, body).await;
        let res = validate(&deps, event).await.unwrap();
        let o = outcome(&res);
        assert_eq!(o["outcome"], want, "{key}: {res}");
        if let Some(r) = reason {
            assert_eq!(o["reason"], r, "{key}: {res}");
        }
        let qkey = format!("quarantine/{key}");
        assert_eq!(lake.exists(key).await, want == "valid", "{key} in raw");
        assert_eq!(
            lake.exists(&qkey).await,
            want == "quarantined",
            "{key} in quarantine"
        );
    }
    assert_eq!(lake.executions().await.len(), 4);
}

#[tokio::test]
async fn things_that_are_not_uploads_are_ignored() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let test_event = serde_json::json!({"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T10:00:00.000Z","Bucket":lake.bucket,"RequestId":"x","HostId":"y"});
    assert_eq!(
        validate(&deps, test_event).await.unwrap()["test_event"],
        true
    );
    for key in [
        "raw/orders/",
        "elsewhere/file.csv",
        "quarantine/raw/orders/dt=2026-11-25/x.csv",
    ] {
        let event = lake
            .upload(
                key,
                if key.ends_with('/') {
                    Vec::new()
                } else {
                    b"x".to_vec()
                },
            )
            .await;
        let res = validate(&deps, event).await.unwrap();
        assert_eq!(outcome(&res)["outcome"], "ignored", "{key}: {res}");
        assert!(lake.exists(key).await, "{key} untouched");
    }
    let bad = validate(&deps, serde_json::json!({"hello": "world"}))
        .await
        .unwrap_err();
    assert_eq!(bad.error_type(), "Lakeline.BadInput");
    assert!(bad.to_string().contains("no \"Records\" array"), "{bad}");
}

#[tokio::test]
async fn gone_and_superseded_objects_are_skipped_not_failed() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let gone = lake.event_for("raw/orders/dt=2026-11-25/never.csv", 10, "abc");
    assert_eq!(
        outcome(&validate(&deps, gone).await.unwrap())["outcome"],
        "gone"
    );

    let old = lake.upload(ORDERS_KEY, BAD_CSV.into()).await;
    lake.put(ORDERS_KEY, GOOD_CSV.into()).await;
    let res = validate(&deps, old).await.unwrap();
    assert_eq!(outcome(&res)["outcome"], "superseded", "{res}");
    assert!(
        lake.exists(ORDERS_KEY).await,
        "the newer upload must not be touched"
    );
}

#[tokio::test]
async fn a_retry_after_a_partial_quarantine_sends_the_pending_alert() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let event = lake.upload(ORDERS_KEY, BAD_CSV.into()).await;
    validate(&deps, event.clone()).await.unwrap();
    assert_eq!(lake.alerts(1, Duration::from_secs(10)).await.len(), 1);
    // Simulate a crash between the delete and the alert: mark the alert pending again.
    lake.mark_alert_pending(&format!("quarantine/{ORDERS_KEY}"))
        .await;

    let res = validate(&deps, event.clone()).await.unwrap();
    let o = outcome(&res);
    assert_eq!(o["outcome"], "gone");
    assert!(o["resumed_alert"].is_string(), "{res}");
    let alerts = lake.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0]["Message"]
            .as_str()
            .unwrap()
            .contains("not a valid decimal(12,2)"),
        "{:?}",
        alerts[0]
    );
    // And only once: the third delivery finds the alert sent.
    let third = validate(&deps, event).await.unwrap();
    assert!(outcome(&third).get("resumed_alert").is_none(), "{third}");
}

#[tokio::test]
async fn large_objects_are_quarantined_by_multipart_copy() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let mut deps = lake.validate_deps(shipped_registry());
    // Shrink the 5 GiB CopyObject limit so a 12 MiB file takes the multipart path.
    deps.config.multipart_copy_threshold = 8 << 20;
    deps.config.copy_part_size = 5 << 20;
    let mut body = GOOD_CSV.as_bytes().to_vec();
    while body.len() < 12 << 20 {
        body.extend_from_slice(b"3,Carol,1.0,EUR,2026-11-25,2026-11-25T10:00:00Z,\n");
    }
    body.extend_from_slice(b"4,Dan,oops,EUR,2026-11-25,2026-11-25T10:00:00Z,\n");
    let len = body.len() as i64;
    let event = lake.upload(ORDERS_KEY, body).await;
    let res = validate(&deps, event).await.unwrap();
    assert_eq!(outcome(&res)["outcome"], "quarantined", "{res}");
    let qkey = format!("quarantine/{ORDERS_KEY}");
    let head = lake
        .s3
        .head_object()
        .bucket(&lake.bucket)
        .key(&qkey)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(len));
    assert!(head.metadata().unwrap()["lakeline-reason"].contains("oops"));
    assert!(!lake.exists(ORDERS_KEY).await);
}

#[tokio::test]
async fn an_event_from_moto_s3_notifications_is_decoded_and_validated() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let queue = lake
        .sqs
        .create_queue()
        .queue_name(lakeline_tests::unique("events"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = lakeline_tests::queue_arn(&lake.sqs, &queue).await;
    let conf = aws_sdk_s3::types::NotificationConfiguration::builder()
        .queue_configurations(
            aws_sdk_s3::types::QueueConfiguration::builder()
                .queue_arn(arn)
                .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                .build()
                .unwrap(),
        )
        .build();
    lake.s3
        .put_bucket_notification_configuration()
        .bucket(&lake.bucket)
        .notification_configuration(conf)
        .send()
        .await
        .unwrap();
    // A key with a space, a plus and non-ASCII: S3 form-encodes it in the event.
    let key = "raw/orders/dt=2026-11-25/Q4 sales+ré.csv";
    lake.put(key, GOOD_CSV.into()).await;
    let mut events = lakeline_tests::receive(&lake.sqs, &queue, 2, Duration::from_secs(10)).await;
    assert_eq!(events.len(), 2, "test event and the upload: {events:?}");
    let mut outcomes = Vec::new();
    for ev in events.drain(..) {
        outcomes.push(validate(&deps, ev).await.unwrap());
    }
    assert_eq!(outcomes[0]["test_event"], true, "{outcomes:?}");
    let o = outcome(&outcomes[1]);
    assert_eq!(o["outcome"], "valid", "{o}");
    assert_eq!(o["key"], key);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn a_second_bad_upload_of_the_same_key_does_not_overwrite_the_first_in_quarantine() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let deps = lake.validate_deps(shipped_registry());
    let first = lake.upload(ORDERS_KEY, BAD_CSV.into()).await;
    let res = validate(&deps, first.clone()).await.unwrap();
    let qkey = format!("quarantine/{ORDERS_KEY}");
    assert_eq!(outcome(&res)["quarantine_key"], qkey.as_str());
    // A retry of the same upload reuses its key (the original is gone by then: a skip).
    let first_again = first.clone();
    assert_eq!(
        outcome(&validate(&deps, first).await.unwrap())["outcome"],
        "gone"
    );

    let second_body = BAD_CSV.replace("twelve", "thirteen");
    let second = lake.upload(ORDERS_KEY, second_body.clone().into()).await;
    let res = validate(&deps, second.clone()).await.unwrap();
    let q2 = outcome(&res)["quarantine_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(q2, qkey, "{res}");
    assert!(q2.starts_with(&format!("{qkey}.")), "{q2}");
    assert_eq!(lake.body(&qkey).await, BAD_CSV.as_bytes());
    assert_eq!(lake.body(&q2).await, second_body.as_bytes());
    assert_eq!(lake.alerts(2, Duration::from_secs(10)).await.len(), 2);

    // Both crashed before alerting: each upload's retry sends its own alert, never the other's.
    lake.mark_alert_pending(&qkey).await;
    lake.mark_alert_pending(&q2).await;
    let alert_tag = |tags: Vec<(String, String)>| {
        tags.into_iter()
            .find(|(k, _)| k == "lakeline:alert")
            .map(|(_, v)| v)
    };
    let res = validate(&deps, second.clone()).await.unwrap();
    assert!(outcome(&res)["resumed_alert"].is_string(), "{res}");
    assert_eq!(alert_tag(lake.tags(&q2).await).as_deref(), Some("sent"));
    assert_eq!(
        alert_tag(lake.tags(&qkey).await).as_deref(),
        Some("pending")
    );
    let alerts = lake.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1);
    let text = alerts[0]["Message"].as_str().unwrap();
    assert!(text.contains(&q2), "{text}");
    // The second upload's alert is sent: its retries leave the first's pending copy alone.
    let res = validate(&deps, second).await.unwrap();
    assert!(outcome(&res).get("resumed_alert").is_none(), "{res}");
    assert_eq!(
        alert_tag(lake.tags(&qkey).await).as_deref(),
        Some("pending")
    );
    let res = validate(&deps, first_again).await.unwrap();
    assert!(outcome(&res)["resumed_alert"].is_string(), "{res}");
    assert_eq!(alert_tag(lake.tags(&qkey).await).as_deref(), Some("sent"));
}

#[tokio::test]
async fn unclaimed_uploads_stay_are_counted_and_alert_once_per_prefix_per_hour() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let mut reg = shipped_registry();
    reg.lake.ignore_prefixes = vec!["raw/scratch/".into()];
    let deps = lake.validate_deps(reg);
    let mut alerted = 0;
    for key in ["raw/sales/a.csv", "raw/sales/2026/b.csv", "raw/sales/c.csv"] {
        let res = validate(&deps, lake.upload(key, b"x,y\n".to_vec()).await)
            .await
            .unwrap();
        let o = outcome(&res);
        assert_eq!(o["outcome"], "unclaimed", "{res}");
        assert_eq!(o["prefix"], "raw/sales/");
        alerted += usize::from(o["alert_message_id"].is_string());
        assert!(lake.exists(key).await, "{key} stays where it is");
    }
    assert_eq!(alerted, 1, "one alert for the prefix this hour");
    let alerts = lake.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let doc: Value = serde_json::from_str(alerts[0]["Message"].as_str().unwrap()).unwrap();
    assert!(
        doc["text"].as_str().unwrap().contains("raw/sales/"),
        "{doc}"
    );
    // Ignored on purpose: nothing at all.
    let res = validate(&deps, lake.upload("raw/scratch/t.csv", b"x".to_vec()).await)
        .await
        .unwrap();
    assert_eq!(outcome(&res)["outcome"], "ignored", "{res}");
}

#[tokio::test]
async fn sensitive_values_never_reach_the_report_or_the_alert() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/datasets.yaml"
    ))
    .unwrap()
    .replace(
        "{name: customer,   type: string,    required: true, length: {max: 200}}",
        "{name: customer,   type: string,    required: true, length: {max: 200}, sensitive: true}",
    );
    let reg = lakeline_core::placeholders::load(&text, "t.yaml", &Default::default()).unwrap();
    let deps = lake.validate_deps(reg);
    // Row 1 misses the required customer (sensitive); row 2 has one field too many, which
    // would quote the whole record, customer included.
    let csv = "order_id,customer,amount,currency,order_date,created_at,gift\n\
               1,,1,EUR,2026-11-25,2026-11-25T10:00:00Z,\n\
               2,Jane Secret,x,EUR,2026-11-25,2026-11-25T10:00:00Z,,extra\n\
               3,Bob,oops,EUR,2026-11-25,2026-11-25T10:00:00Z,\n";
    let res = validate(&deps, lake.upload(ORDERS_KEY, csv.into()).await)
        .await
        .unwrap();
    let o = outcome(&res);
    assert_eq!(o["outcome"], "quarantined", "{res}");
    assert!(!res.to_string().contains("Jane Secret"), "{res}");
    // A value of a column that is not sensitive is still shown... unless the row quotes it.
    let problems = o["report"]["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["column"] == "amount" && p["value"] == "oops"),
        "{res}"
    );
    let alerts = lake.alerts(1, Duration::from_secs(10)).await;
    assert!(!alerts[0].to_string().contains("Jane Secret"));
}

/// `checksum: sha256` (issue 15): an upload without an x-amz-checksum-sha256 is refused with a
/// `checksum` problem and quarantined; the same bytes with one are valid (S3 verified them).
#[tokio::test]
async fn a_dataset_requiring_sha256_refuses_uploads_without_one() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    let mut reg = shipped_registry();
    for (name, ds) in reg.datasets.iter_mut() {
        if name.as_str() == "orders" {
            ds.checksum = Some(lakeline_core::registry::ChecksumRule::Sha256);
        }
    }
    let deps = lake.validate_deps(reg);
    let plain = ORDERS_KEY.replace(".csv", "-plain.csv");
    let event = lake.upload(&plain, GOOD_CSV.into()).await;
    let res = validate(&deps, event).await.unwrap();
    let o = outcome(&res);
    assert_eq!(o["outcome"], "quarantined", "{res}");
    assert_eq!(o["reason"], "checksum", "{res}");
    assert_eq!(
        lake.body(o["quarantine_key"].as_str().unwrap()).await,
        GOOD_CSV.as_bytes()
    );

    let hashed = ORDERS_KEY.replace(".csv", "-sha.csv");
    let put = lake
        .s3
        .put_object()
        .bucket(&lake.bucket)
        .key(&hashed)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .body(GOOD_CSV.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().trim_matches('"').to_string();
    let res = validate(&deps, lake.event_for(&hashed, GOOD_CSV.len(), &etag))
        .await
        .unwrap();
    assert_eq!(outcome(&res)["outcome"], "valid", "{res}");
}
