//! check-compaction against the local AWS: real S3 (moto server), real aws-sdk-rust clients,
//! listings forced across many pages, sweeps listing partitions concurrently, markers.

use std::sync::Arc;

use check_compaction::{handle, Config, Deps};
use lakeline_core::registry::Registry;
use lakeline_tests::{sdk_config, unique};
use serde_json::{json, Value};
use tokio::task::JoinSet;

/// `orders` with compaction on and no quiet period (the objects are written seconds before the
/// check; the dates make the partitions closed).
const REGISTRY: &str = "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/dt={date}/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n    compaction:\n      quiet_minutes: 0\n      job: {engine: emr-serverless, application_id: app-1, execution_role_arn: 'arn:aws:iam::123456789012:role/c', entry_point: 's3://code/compact.py'}\n";

struct Fixture {
    s3: aws_sdk_s3::Client,
    bucket: String,
    deps: Deps,
}

async fn fixture(page_size: i32, concurrency: usize) -> Fixture {
    let conf = sdk_config().await;
    let s3 = lakeline_aws::s3_client(&conf);
    let bucket = unique("compaction");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    lakeline_tests::register_lake(&bucket, &[]).await;
    let registry = Registry::from_yaml(REGISTRY, "test.yaml").unwrap();
    let config = Config {
        concurrency,
        page_size,
        max_compactions: 50,
        max_reported: 100,
    };
    let deps = Deps {
        s3: lakeline_aws::s3_client(&lakeline_tests::as_function(&conf, "check-compaction")),
        registry: Arc::new(registry),
        config,
        alerts: None,
        tables: None,
    };
    Fixture { s3, bucket, deps }
}

impl Fixture {
    /// Puts `count` objects of `size` bytes into a partition, 32 at a time (moto takes ~5 ms
    /// per PUT; one by one, a few hundred would dominate the test).
    async fn fill(&self, partition: &str, count: usize, size: usize) {
        let keys: Vec<String> = (0..count)
            .map(|i| format!("curated/orders/{partition}/part-{i:05}.parquet"))
            .collect();
        self.put_all(keys, size).await;
    }

    async fn put_all(&self, keys: Vec<String>, size: usize) {
        let mut set = JoinSet::new();
        for key in keys {
            if set.len() >= 32 {
                set.join_next().await.unwrap().unwrap();
            }
            let (s3, bucket) = (self.s3.clone(), self.bucket.clone());
            set.spawn(async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(vec![b'x'; size].into())
                    .send()
                    .await
                    .unwrap();
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    }

    async fn exists(&self, key: &str) -> bool {
        self.s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .is_ok()
    }

    async fn run(&self, input: Value) -> Value {
        let mut input = input;
        input["bucket"] = json!(self.bucket);
        input["dataset"] = json!("orders");
        handle(&self.deps, input)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", e.error_type()))
    }
}

fn partition<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partition"] == name)
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[tokio::test]
async fn hundreds_of_small_files_over_many_pages_are_compacted_once_until_cleared() {
    let f = fixture(50, 4).await;
    f.fill("dt=2026-11-01", 320, 100).await;
    // Spark side files are not data.
    f.put_all(vec!["curated/orders/dt=2026-11-01/_SUCCESS".into()], 0)
        .await;

    let out = f
        .run(json!({"partition": "dt=2026-11-01", "execution": "exec-1"}))
        .await;
    let p = partition(&out, "dt=2026-11-01");
    assert_eq!(out["compact"], true, "{out}");
    assert_eq!(
        (
            p["files"].as_u64(),
            p["small_files"].as_u64(),
            p["bytes"].as_u64()
        ),
        (Some(320), Some(320), Some(32_000))
    );
    assert_eq!(p["recommended_files"], 1);
    assert_eq!(p["decision"], "compact");
    let job = &out["items"][0]["job"];
    assert_eq!(job["engine"], "emr-serverless");
    assert_eq!(job["application_id"], "app-1");
    assert_eq!(job["prefix"], "curated/orders/dt=2026-11-01/");
    assert_eq!(job["output_files"], 1);
    let marker = "curated/orders/dt=2026-11-01/_lakeline_compaction.json";
    let body =
        f.s3.get_object()
            .bucket(&f.bucket)
            .key(marker)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap();
    let body: Value = serde_json::from_slice(&body.into_bytes()).unwrap();
    assert_eq!(body["execution"], "exec-1");
    assert_eq!(body["partition"], "dt=2026-11-01");

    // A second check while the compaction runs requests nothing.
    let again = f.run(json!({"partition": "dt=2026-11-01"})).await;
    assert_eq!(again["compact"], false, "{again}");
    assert_eq!(partition(&again, "dt=2026-11-01")["reason_code"], "running");

    // Clearing (what the pipeline does when the job ends) makes the partition checkable again.
    let cleared = f
        .run(json!({"action": "clear", "partition": "dt=2026-11-01"}))
        .await;
    assert_eq!(cleared["marker_key"], marker);
    assert!(!f.exists(marker).await);
    let dry = f
        .run(json!({"partition": "dt=2026-11-01", "dry_run": true}))
        .await;
    assert_eq!(partition(&dry, "dt=2026-11-01")["decision"], "compact");
    assert_eq!(dry["items"], json!([]));
    assert!(!f.exists(marker).await, "a dry run writes no marker");
}

#[tokio::test]
async fn a_sweep_lists_partitions_concurrently_and_skips_the_running_one() {
    let f = fixture(7, 3).await;
    let plan = [
        ("dt=2026-11-01", 40),
        ("dt=2026-11-02", 3),
        ("dt=2026-11-03", 25),
        ("dt=2026-11-04", 12),
        ("dt=2026-11-05", 30),
        ("dt=2026-10-31", 20), // outside the range below
    ];
    for (p, n) in plan {
        f.fill(p, n, 10).await;
    }
    // dt=2026-11-05 is being compacted by an earlier request.
    f.put_all(
        vec!["curated/orders/dt=2026-11-05/_lakeline_compaction.json".into()],
        2,
    )
    .await;

    let out = f
        .run(json!({"from": "2026-11-01", "to": "2026-11-30"}))
        .await;
    assert_eq!(out["totals"]["partitions"], 5, "{out}");
    assert_eq!(out["totals"]["files"], 40 + 3 + 25 + 12 + 30);
    let decisions: Vec<(String, String)> = out["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["partition"].as_str().unwrap().to_string(),
                p["reason_code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Worst first: most small files first.
    assert_eq!(
        decisions,
        [
            ("dt=2026-11-01".to_string(), "small_files".to_string()),
            ("dt=2026-11-05".into(), "running".into()),
            ("dt=2026-11-03".into(), "small_files".into()),
            ("dt=2026-11-04".into(), "small_files".into()),
            ("dt=2026-11-02".into(), "few_small_files".into()),
        ]
    );
    let mut jobs: Vec<&str> = out["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["partition"].as_str().unwrap())
        .collect();
    jobs.sort();
    assert_eq!(jobs, ["dt=2026-11-01", "dt=2026-11-03", "dt=2026-11-04"]);
    assert_eq!(out["totals"]["compactions"], 3);

    // A prefix sweep sees the partition outside the date range too, and the new markers.
    let all = f.run(json!({"prefix": "dt=2026-1"})).await;
    assert_eq!(all["totals"]["partitions"], 6, "{all}");
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "only dt=2026-10-31 is new: {all}"
    );
}

#[tokio::test]
async fn bad_inputs_are_named() {
    let f = fixture(1000, 2).await;
    for input in [
        json!({"bucket": f.bucket, "dataset": "nope", "partition": "dt=2026-11-01"}),
        json!({"bucket": f.bucket, "dataset": "orders", "action": "clear"}),
        json!({"bucket": f.bucket, "dataset": "orders", "partition": "../x"}),
        json!({"bucket": f.bucket, "dataset": "orders", "from": "2026-13-01"}),
        json!({"dataset": "orders"}),
    ] {
        let e = handle(&f.deps, input.clone())
            .await
            .expect_err(&input.to_string());
        assert_eq!(e.error_type(), "Lakeline.BadInput", "{input}: {e}");
    }
    let missing = handle(
        &f.deps,
        json!({"bucket": unique("absent"), "dataset": "orders", "partition": "dt=2026-11-01"}),
    )
    .await;
    assert_eq!(
        missing.expect_err("no bucket").error_type(),
        "Lakeline.Config"
    );
}

#[tokio::test]
async fn two_overlapping_checks_request_one_compaction() {
    let f = fixture(20, 2).await;
    f.fill("dt=2026-11-02", 60, 10).await;
    // Whatever the interleaving, the conditional marker write lets exactly one of them win.
    let input = json!({"partition": "dt=2026-11-02"});
    let (a, b) = tokio::join!(f.run(input.clone()), f.run(input));
    let jobs = a["items"].as_array().unwrap().len() + b["items"].as_array().unwrap().len();
    assert_eq!(jobs, 1, "{a}\n{b}");
    let loser = if a["compact"] == true { &b } else { &a };
    assert_eq!(
        partition(loser, "dt=2026-11-02")["reason_code"],
        "running",
        "{loser}"
    );
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
