//! check-compaction against the local AWS: real S3 (moto server) and SNS, real aws-sdk-rust
//! clients: refused inputs, and the delivery check (`expect:`). Its table sweep is tested
//! through the maintenance state machine (`compaction.rs`, `scale.rs`).

use std::sync::Arc;

use check_compaction::{handle, Config, Deps};
use lakeline_core::registry::Registry;
use serde_json::{json, Value};

/// Inputs the function cannot act on are refused, naming what is wrong: an unknown dataset, a
/// partition that climbs out of its folder, a date that is none, no bucket, and the inputs of
/// the retired `curated/` sweep (a marker's `clear`, a folder `prefix`), which must not be
/// taken for a whole sweep.
#[tokio::test]
async fn bad_inputs_are_named() {
    let lake = lakeline_tests::Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let deps = daily_by_six(&lake);
    let bucket = &lake.bucket;
    for (input, names) in [
        (
            json!({"bucket": bucket, "dataset": "nope", "partition": "dt=2026-11-01"}),
            "\"nope\"",
        ),
        (
            json!({"bucket": bucket, "dataset": "orders", "action": "clear"}),
            "clear",
        ),
        (
            json!({"bucket": bucket, "dataset": "orders", "partition": "../x"}),
            "../x",
        ),
        (
            json!({"bucket": bucket, "dataset": "orders", "from": "2026-13-01"}),
            "2026-13-01",
        ),
        (
            json!({"bucket": bucket, "dataset": "orders", "prefix": "dt=2026-11"}),
            "dt=2026-11",
        ),
        (json!({"dataset": "orders"}), "bucket"),
    ] {
        let e = handle(&deps, input.clone())
            .await
            .expect_err(&input.to_string());
        assert_eq!(e.error_type(), "Lakeline.BadInput", "{input}: {e}");
        assert!(e.to_string().contains(names), "{input}: {e}");
    }
}

/// Issue 15 (SLA alerts): a dataset that expects a daily file by 06:00Z gets one alert for a
/// missed partition, naming the dataset, the partition, the deadline and the last file seen,
/// however often the check runs; a delivered partition gets none. "Now" is input.
#[tokio::test]
async fn a_missed_daily_delivery_is_alerted_once() {
    use lakeline_tests::Lake;
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let deps = daily_by_six(&lake);
    lake.put("raw/orders/dt=2026-11-24/a.csv", b"id\n1\n".to_vec())
        .await;
    let run = |now: &str| {
        let input = json!({"action": "deliveries", "bucket": lake.bucket, "now": now});
        let deps = deps.clone();
        async move { handle(&deps, input).await.unwrap() }
    };
    let delivery = |out: &Value| out["deliveries"][0].clone();

    // Before 06:00 the day's deadline has not passed: yesterday's partition is judged, and it
    // holds a file.
    let out = run("2026-11-25T05:59:00Z").await;
    assert_eq!(delivery(&out)["period"], "2026-11-24", "{out}");
    assert_eq!(delivery(&out)["missed"], false, "{out}");

    // After it, dt=2026-11-25 is missing: alerted by the first run only.
    let first = run("2026-11-25T07:00:00Z").await;
    assert_eq!(delivery(&first)["missed"], true, "{first}");
    assert_eq!(delivery(&first)["alerted"], true, "{first}");
    assert_eq!(delivery(&first)["partition"], "dt=2026-11-25", "{first}");
    for later in ["2026-11-25T07:15:00Z", "2026-11-25T23:59:00Z"] {
        let again = run(later).await;
        assert_eq!(delivery(&again)["missed"], true, "{again}");
        assert_eq!(delivery(&again)["alerted"], false, "{again}");
    }
    assert!(lake.exists("_lakeline/sla/orders/2026-11-25").await);
    let alerts = lake.alerts(1, std::time::Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let doc: Value = serde_json::from_str(alerts[0]["Message"].as_str().unwrap()).unwrap();
    let text = doc["text"].as_str().unwrap();
    for needle in [
        "orders",
        "dt=2026-11-25",
        "2026-11-25T06:00Z",
        "raw/orders/dt=2026-11-24/a.csv",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }

    // The file arrives late: the next day's check judges the next partition, which came.
    lake.put("raw/orders/dt=2026-11-26/b.csv", b"id\n2\n".to_vec())
        .await;
    let out = run("2026-11-26T06:30:00Z").await;
    assert_eq!(delivery(&out)["period"], "2026-11-26", "{out}");
    assert_eq!(delivery(&out)["missed"], false, "{out}");
    let marker: Value =
        serde_json::from_slice(&lake.body("_lakeline/sla/orders/2026-11-25").await).unwrap();
    assert_eq!(marker["state"], "sent", "{marker}");
}

/// check-compaction's dependencies for a lake whose `orders` expects a file every day by
/// 06:00Z, signed as its role.
fn daily_by_six(lake: &lakeline_tests::Lake) -> Deps {
    let registry = Registry::from_yaml(
        "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/dt={date}/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n    expect: {every: day, by: \"06:00Z\"}\n",
        "test.yaml",
    )
    .unwrap();
    Deps {
        s3: lake.s3_as("check-compaction"),
        registry: Arc::new(registry),
        config: Config::default(),
        alerts: Some(check_compaction::Alerts {
            sns: aws_sdk_sns::Client::new(&lake.conf_as("check-compaction")),
            topic_arn: lake.topic_arn.clone(),
        }),
        tables: None,
    }
}

/// Issue 26: a run that crashed between claiming a missed period (its marker created) and
/// publishing the alert leaves the marker pending; a run `PENDING_STALE_SECONDS` later sends
/// the alert (once), and marks it sent. Before that, a pending marker is a run still at work.
#[tokio::test]
async fn a_delivery_alert_claimed_by_a_crashed_run_is_sent_by_a_later_one() {
    use lakeline_core::sla::PENDING_STALE_SECONDS;
    use lakeline_tests::Lake;
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let deps = daily_by_six(&lake);
    // What the crashed run left: the period claimed at 07:00, its alert never published.
    let claimed = 1_795_564_800 + 7 * 3600; // 2026-11-25T07:00Z
    let key = "_lakeline/sla/orders/2026-11-25";
    let pending = json!({"state": "pending", "claimedAt": claimed, "alert": {}});
    lake.put(key, pending.to_string().into_bytes()).await;
    let run = |now: i64| {
        let input = json!({"action": "deliveries", "bucket": lake.bucket, "now": now_text(now)});
        let deps = deps.clone();
        async move { handle(&deps, input).await.unwrap()["deliveries"][0].clone() }
    };
    let early = run(claimed + PENDING_STALE_SECONDS - 60).await;
    assert_eq!(early["missed"], true, "{early}");
    assert_eq!(
        early["alerted"], false,
        "a pending marker this young is a run at work: {early}"
    );
    let late = run(claimed + PENDING_STALE_SECONDS + 60).await;
    assert_eq!(late["alerted"], true, "{late}");
    let again = run(claimed + 3 * PENDING_STALE_SECONDS).await;
    assert_eq!(again["alerted"], false, "{again}");
    let alerts = lake.alerts(1, std::time::Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].to_string().contains("dt=2026-11-25"),
        "{alerts:?}"
    );
    let marker: Value = serde_json::from_slice(&lake.body(key).await).unwrap();
    assert_eq!(marker["state"], "sent", "{marker}");
}

fn now_text(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}
