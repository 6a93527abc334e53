//! `lakeline reprocess` end to end on the local stack: three days of orders curated, a rule
//! tightened, the range reprocessed as the operator. Two files' rows are replaced (read back,
//! value for value, at the new pass), the third now fails: it is quarantined with an alert and
//! its rows leave the table. A second run does no work; a dry run lists and touches nothing.

use std::time::Duration;

use lakeline_cli::progress::Progress;
use lakeline_cli::reprocess::{self, Clients, Options, Pipeline};
use lakeline_tests::pipeline::{router_url, Deployment, Options as DeployOptions};
use lakeline_tests::tables::csv_ids;
use lakeline_tests::{outcome, sample};

const DATES: [&str; 3] = ["2026-11-20", "2026-11-21", "2026-11-22"];

/// The orders of good.csv whose amount is below 100 (the header kept), or all of them.
fn orders(below_100: bool) -> Vec<u8> {
    let body = String::from_utf8(sample("orders/good.csv")).unwrap();
    let mut lines = body.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for l in lines {
        let amount: f64 = l
            .rsplitn(5, ',')
            .nth(4)
            .and_then(|rest| rest.rsplit(',').next())
            .unwrap()
            .parse()
            .unwrap();
        if !below_100 || amount < 100.0 {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn operator(d: &Deployment) -> (aws_config::SdkConfig, Clients) {
    let conf = lakeline_tests::as_person(&d.lake.conf, lakeline_tests::Person::Operator);
    let lambda = aws_sdk_lambda::config::Builder::from(&conf)
        .endpoint_url(router_url())
        .build();
    let clients = Clients {
        s3: lakeline_aws::s3_client(&conf),
        sfn: aws_sdk_sfn::Client::new(&conf),
        lambda: aws_sdk_lambda::Client::from_conf(lambda),
    };
    (conf, clients)
}

/// The plan as `lakeline reprocess --stack` makes it: the stack's outputs and live registry,
/// read as the operator.
async fn plan(
    d: &Deployment,
    conf: &aws_config::SdkConfig,
    c: &Clients,
) -> (Pipeline, reprocess::Plan) {
    let outputs = lakeline_cli::stack::StackOutputs::read(conf, &d.stack.bucket)
        .await
        .unwrap();
    let registry = lakeline_aws::load_registry(
        outputs.registry_uri().unwrap(),
        &c.s3,
        &outputs.placeholder_vars(),
    )
    .await
    .unwrap();
    let (name, ds) = registry.dataset("orders").unwrap();
    let p = Pipeline {
        bucket: outputs.get("LakeBucketName").unwrap().to_string(),
        state_machine_arn: outputs.get("StateMachineArn").unwrap().to_string(),
        function: outputs
            .get("ValidateUploadFunctionName")
            .unwrap()
            .to_string(),
    };
    let plan = reprocess::plan(c, &p, name, ds, DATES[0], DATES[2])
        .await
        .unwrap();
    (p, plan)
}

fn opts(dry_run: bool) -> Options {
    Options {
        dry_run,
        rate: 50.0,
        wait: Duration::from_secs(120),
    }
}

#[tokio::test]
async fn a_tightened_rule_replaces_two_days_and_quarantines_the_third() {
    let d = Deployment::new(DeployOptions::default()).await;
    let (small, all) = (orders(true), orders(false));
    assert!(
        csv_ids(&small).len() < csv_ids(&all).len(),
        "good.csv has an order of 100 or more"
    );
    let keys: Vec<String> = DATES
        .iter()
        .map(|dt| format!("raw/orders/dt={dt}/export.csv"))
        .collect();
    let bodies = [small.clone(), all.clone(), small.clone()];
    for (key, body) in keys.iter().zip(&bodies) {
        let event = d.lake.upload(key, body.clone()).await;
        let (err, res) = d.deliver(&event).await;
        assert_eq!(err, None, "{res}");
        let name = outcome(&res)["execution"].as_str().unwrap().to_string();
        let done = d
            .finished(&d.execution_arn(&name), Duration::from_secs(60))
            .await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    }
    let before = d.table_ids("orders", "order_id").await;
    assert_eq!(before.len(), 3);
    let snapshots_before = d.table_view("orders").await.snapshots.len();

    // The rule tightened: no order of 100 or more. The second day's file now fails.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/datasets.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let loose = r#"required: true, min: 0, max: 1000000}"#;
    assert!(
        text.contains(loose),
        "the shipped orders.amount rule changed: update this test"
    );
    let tight = lakeline_core::placeholders::load(
        &text.replace(loose, r#"required: true, min: 0, max: 99.99}"#),
        path,
        &Default::default(),
    )
    .unwrap();
    d.stack.publish_registry(&tight).await.unwrap();

    let (conf, c) = operator(&d);
    let (p, dry) = plan(&d, &conf, &c).await;
    assert_eq!(
        dry.objects
            .iter()
            .map(|o| o.key.clone())
            .collect::<Vec<_>>(),
        keys
    );
    let listed = reprocess::run(
        &c,
        &p,
        &dry,
        &opts(true),
        &mut Progress::with_terminal("t", 3, false),
    )
    .await
    .unwrap();
    assert_eq!(listed["wouldReprocess"], 3, "{listed}");
    assert_eq!(
        d.table_ids("orders", "order_id").await,
        before,
        "a dry run touches nothing"
    );

    let out = reprocess::run(
        &c,
        &p,
        &dry,
        &opts(false),
        &mut Progress::with_terminal("t", 3, false),
    )
    .await
    .unwrap();
    assert_eq!(out["replaced"], 2, "{out:#}");
    assert_eq!(out["newlyQuarantined"], 1, "{out:#}");
    assert_eq!(out["unchanged"], 0, "{out:#}");
    assert_eq!(out["failed"], 0, "{out:#}");
    assert_eq!(out["reprocessed"], 3, "{out:#}");

    // Values read back: the two valid files' orders, one row each; nothing of the third.
    let after = d.table_ids("orders", "order_id").await;
    let want: std::collections::BTreeMap<String, Vec<i64>> = [
        (keys[0].clone(), csv_ids(&small)),
        (keys[2].clone(), csv_ids(&small)),
    ]
    .into();
    assert_eq!(after, want);
    // The rows are recorded at the new pass; the quarantined file left in one snapshot.
    let view = d.table_view("orders").await;
    let new: Vec<_> = view.snapshots[snapshots_before..].to_vec();
    assert_eq!(new.len(), 3, "{new:#?}");
    let pass = format!("+rules.{}", dry.pass);
    for s in new.iter().filter(|s| s.rewrite.is_none()) {
        assert!(s.versions.iter().all(|v| v.ends_with(&pass)), "{s:?}");
        assert!(s.deleted_rows > 0, "{s:?}");
    }
    let undo: Vec<_> = new
        .iter()
        .filter(|s| s.rewrite.as_deref() == Some("withdraw"))
        .collect();
    assert_eq!(undo.len(), 1, "{new:#?}");
    assert_eq!(undo[0].removed_sources, vec![keys[1].clone()]);
    assert_eq!(undo[0].deleted_rows, csv_ids(&all).len() as u64);
    // Nothing lost: the third file is in quarantine, with its alert.
    assert!(!d.lake.exists(&keys[1]).await);
    assert!(d.lake.exists(&format!("quarantine/{}", keys[1])).await);
    let alerts = d.lake.alerts(1, Duration::from_secs(10)).await;
    assert!(
        alerts.iter().any(|a| a.to_string().contains("export.csv")),
        "{alerts:?}"
    );

    // Again: the two files left in raw/ are done; nothing is invoked, nothing committed.
    let (_, again) = plan(&d, &conf, &c).await;
    assert_eq!(again.objects.len(), 2);
    let second = reprocess::run(
        &c,
        &p,
        &again,
        &opts(false),
        &mut Progress::with_terminal("t", 2, false),
    )
    .await
    .unwrap();
    assert_eq!(second["unchanged"], 2, "{second:#}");
    assert_eq!(second["reprocessed"], 0, "{second:#}");
    assert_eq!(
        d.table_view("orders").await.snapshots.len(),
        view.snapshots.len()
    );
    assert_eq!(d.table_ids("orders", "order_id").await, want);
}
