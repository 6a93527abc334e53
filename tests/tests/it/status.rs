//! `lakeline status` on the local stack, as the operator: two deliveries of today, one file
//! quarantined, one execution failed. The figures are held to what happened (rows read from
//! the files, the quarantine reason validate-upload gave, the failed execution's ARN in the
//! command that fixes it); the HTML page is opened in headless Chromium, which must show every
//! dataset, draw the charts and log no error. Its screenshot is kept under
//! `target/tmp/status/` (CARGO_TARGET_TMPDIR).

use std::time::Duration;

use lakeline_cli::status::{self, render, Clients};
use lakeline_tests::pipeline::{Deployment, Options};
use lakeline_tests::tables::csv_ids;
use lakeline_tests::{outcome, sample};
use serde_json::Value;

fn today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    lakeline_core::validate::day_text(lakeline_core::validate::day_of_unix_seconds(now))
}

#[tokio::test]
async fn status_shows_deliveries_quarantine_failures_and_the_table() {
    status_of_a_stack(Options::default(), true).await;
}

/// The same on a stack that keeps its tables in the Glue Data Catalog: the operator reads them
/// under the policy's Glue statements (the permissions check holds each call to them).
#[tokio::test]
async fn status_reads_a_glue_catalog_stacks_tables() {
    status_of_a_stack(
        Options {
            tables_in_glue: true,
            ..Options::default()
        },
        false,
    )
    .await;
}

/// Deliveries, a quarantined file and a failed execution on a stack; its status, read as the
/// operator, held to them; with `browser`, the page opened in headless Chromium.
async fn status_of_a_stack(opts: Options, browser: bool) {
    let d = Deployment::new(opts).await;
    let dt = today();
    let body = sample("orders/good.csv");
    let mut rows = 0;
    for name in ["a", "b"] {
        let key = format!("raw/orders/dt={dt}/{name}.csv");
        let (err, res) = d.deliver(&d.lake.upload(&key, body.clone()).await).await;
        assert_eq!(err, None, "{res}");
        let exec = outcome(&res)["execution"].as_str().unwrap().to_string();
        let done = d
            .finished(&d.execution_arn(&exec), Duration::from_secs(60))
            .await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
        rows += csv_ids(&body).len() as u64;
    }
    let bad = format!("raw/orders/dt={dt}/bad.csv");
    let (err, res) = d
        .deliver(&d.lake.upload(&bad, sample("orders/bad.csv")).await)
        .await;
    assert_eq!(err, None, "{res}");
    let reason = outcome(&res)["reason"].as_str().unwrap().to_string();
    // A failed execution (no engine can take the file), started as validate-upload starts it.
    let failed = lakeline_tests::unique("huge");
    let input = serde_json::json!({"bucket": d.lake.bucket, "key": format!("raw/orders/dt={dt}/huge.csv"),
        "etag": "e", "versionId": null, "dataset": "orders", "partition": format!("dt={dt}"),
        "rows": 1, "size": 5u64 << 40, "engine": "none", "engineError": "too large", "reprocess": null});
    aws_sdk_sfn::Client::new(&d.lake.conf_as("validate-upload"))
        .start_execution()
        .state_machine_arn(&d.lake.state_machine_arn)
        .name(&failed)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    let failed_arn = d.execution_arn(&failed);
    assert_eq!(
        d.finished(&failed_arn, Duration::from_secs(30))
            .await
            .status()
            .as_str(),
        "FAILED"
    );

    let conf = lakeline_tests::as_person(&d.lake.conf, lakeline_tests::Person::Operator);
    let c = Clients {
        s3: lakeline_aws::s3_client(&conf),
        sfn: aws_sdk_sfn::Client::new(&conf),
        conf: conf.clone(),
    };
    let (outputs, registry) = status::stack_and_registry(&conf, &c.s3, &d.stack.bucket)
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let s = status::gather(&c, &d.stack.bucket, &outputs, &registry, None, now)
        .await
        .unwrap();
    let names: Vec<String> = registry.datasets.keys().map(|n| n.to_string()).collect();
    assert_eq!(
        s.datasets
            .iter()
            .map(|x| x.dataset.clone())
            .collect::<Vec<_>>(),
        names
    );
    let orders = s.datasets.iter().find(|x| x.dataset == "orders").unwrap();
    assert_eq!(orders.last_7_days.files, 2, "{orders:#?}");
    assert_eq!(orders.last_7_days.rows, rows);
    // "Today" is the UTC day of `now`: a run that straddles midnight committed yesterday.
    if today() == dt {
        assert_eq!(orders.today.files, 2, "{orders:#?}");
        assert_eq!(orders.today.rows, rows);
        assert_eq!(orders.days.last().unwrap().deliveries, 2);
    }
    assert_eq!(orders.quarantine_24h.files, 1);
    assert_eq!(orders.quarantine_24h.top_reasons[0].reason, reason);
    assert_eq!(orders.failures.len(), 1, "{orders:#?}");
    assert!(orders.failures[0]
        .fix
        .contains(&format!("lakeline rerun {failed_arn} --function")));
    assert_eq!(orders.table.data_files, 2);
    assert_eq!(orders.table.rows, rows);
    assert_eq!(orders.commit_lag.samples, 2);
    assert!(orders.cost.lambda_usd_per_day > 0.0);
    assert!(orders
        .last_delivery
        .as_ref()
        .unwrap()
        .key
        .starts_with(&format!("raw/orders/dt={dt}/")));
    assert!(
        orders.attention.iter().any(|a| a.contains("quarantined")),
        "{:?}",
        orders.attention
    );
    let quiet = s.datasets.iter().find(|x| x.dataset != "orders").unwrap();
    assert_eq!(quiet.today.files, 0);
    assert!(quiet.failures.is_empty());

    // The terminal form fits 100 columns; the JSON form has the schema's name.
    let text = render::terminal(&s);
    for l in text.lines().skip(2).take(1 + s.datasets.len()) {
        assert!(l.chars().count() <= render::WIDTH, "{l}");
    }
    assert_eq!(
        serde_json::to_value(&s).unwrap()["schema"],
        "lakeline.status/1"
    );

    if !browser {
        return;
    }
    // The page, in a real browser.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("status.html");
    let shot = dir.join("status.png");
    std::fs::write(&page, render::html(&s)).unwrap();
    let out =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/browser"))
            .arg("check")
            .arg(&page)
            .arg(&shot)
            .output()
            .expect("scripts/browser runs");
    assert!(
        out.status.success(),
        "scripts/browser check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["requests"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["overview"], serde_json::json!(names), "{seen}");
    assert_eq!(seen["sections"], serde_json::json!(names), "{seen}");
    assert_eq!(seen["charts"], 4 * names.len(), "{seen}");
    assert!(seen["bars"].as_u64().unwrap() >= 2, "{seen}");
    assert!(
        seen["attention"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains("quarantined")),
        "{seen}"
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot of a drawn page"
    );
}
