//! `lakeline table erase --include-raw` on a stack, as the eraser (the stack's `EraserArns`,
//! its documented least policy): the rows leave the table, and the uploads that hold them leave
//! the lake whole, every version: raw objects found through the table's lineage, quarantined
//! ones (gzip too) by a scan, and the raw versions a quarantined upload left behind. Uploads
//! without the rows stay; the audit record names what went and never the erased values.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use lakeline_cli::erase_raw::{erase_raw, Lake, ERASURES_PREFIX};
use lakeline_cli::table::TargetArgs;
use lakeline_core::erase::parse_where;
use lakeline_tests::pipeline::{Deployment, Options};
use lakeline_tests::{as_person, outcome, sample, Person};

const DAY: &str = "2026-11-25";
const WHO: &str = "Anna Müller";

/// Every version id (delete markers included) of `key`, as the harness sees them.
async fn versions(d: &Deployment, key: &str) -> Vec<String> {
    let out = d
        .lake
        .s3
        .list_object_versions()
        .bucket(&d.lake.bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter_map(|v| v.version_id().map(str::to_string))
        .chain(
            out.delete_markers()
                .iter()
                .filter(|m| m.key() == Some(key))
                .filter_map(|m| m.version_id().map(str::to_string)),
        )
        .collect()
}

fn without(body: &[u8], who: &str) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    text.lines()
        .filter(|l| !l.contains(who))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn erase_include_raw_deletes_every_upload_holding_the_rows_and_records_it() {
    let d = Deployment::new(Options::default()).await;
    d.lake
        .s3
        .put_bucket_versioning()
        .bucket(&d.lake.bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let good = sample("orders/good.csv");
    let bad = sample("orders/bad.csv");
    let key = |name: &str| format!("raw/orders/dt={DAY}/{name}");
    // Curated: a.csv holds the rows, twice delivered (two versions); b.csv does not.
    let mut execs = Vec::new();
    for (name, body) in [
        ("a.csv", good.clone()),
        ("a.csv", good.clone()),
        ("b.csv", without(&good, WHO)),
    ] {
        let (err, res) = d.deliver(&d.lake.upload(&key(name), body).await).await;
        assert_eq!(err, None, "{res}");
        execs.push(outcome(&res)["execution"].as_str().unwrap().to_string());
    }
    for e in &execs {
        let done = d
            .finished(&d.execution_arn(e), Duration::from_secs(60))
            .await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    }
    // Quarantined: two that hold the rows (one gzip), one that does not.
    for (name, body) in [
        ("bad.csv", bad.clone()),
        ("bad2.csv.gz", gzip(&bad)),
        ("bad3.csv", without(&bad, WHO)),
    ] {
        let (err, res) = d.deliver(&d.lake.upload(&key(name), body).await).await;
        assert_eq!(err, None, "{res}");
        assert_eq!(outcome(&res)["outcome"], "quarantined", "{res}");
    }
    let quarantined = |name: &str| format!("quarantine/{}", key(name));
    assert_eq!(versions(&d, &key("a.csv")).await.len(), 2);
    assert!(
        !versions(&d, &key("bad.csv")).await.is_empty(),
        "the quarantined upload's raw versions"
    );

    let ids = d.table_ids("orders", "order_id").await;
    let anna: BTreeSet<i64> = String::from_utf8(good.clone())
        .unwrap()
        .lines()
        .filter(|l| l.contains(WHO))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(!anna.is_empty() && ids[&key("a.csv")].iter().any(|i| anna.contains(i)));

    // As the eraser, by the stack's name.
    let eraser = as_person(&d.lake.conf, Person::Eraser);
    let target = TargetArgs {
        warehouse: None,
        catalog: None,
        stack: Some(d.stack.bucket.clone()),
        pending: None,
    }
    .target_if_any(Some(&eraser))
    .await
    .unwrap()
    .unwrap();
    let tables = lakeline_table::Tables::open_with(Some(&eraser), &target)
        .await
        .unwrap();
    let (name, ds) = d.stack.registry.dataset("orders").unwrap();
    let conds = parse_where(&format!("customer = '{WHO}'")).unwrap();
    let s3 = lakeline_aws::s3_client(&eraser);
    let lake = Lake {
        s3: &s3,
        bucket: &d.stack.bucket,
        reg: &d.stack.registry,
        dataset: name.as_str(),
        ds,
    };

    // A dry run lists, deletes nothing.
    let dry = lakeline_table::erase::erase(&tables, &tables.ident(name), &conds, true, &mut ())
        .await
        .unwrap();
    let listed = erase_raw(&lake, &conds, &dry, true).await.unwrap();
    let raw: BTreeSet<&str> = listed.raw.iter().map(|h| h.key.as_str()).collect();
    let raw_want = BTreeSet::from([key("a.csv"), key("bad.csv"), key("bad2.csv.gz")]);
    assert_eq!(
        raw,
        raw_want.iter().map(String::as_str).collect(),
        "{listed:?}"
    );
    let q: BTreeSet<&str> = listed.quarantine.iter().map(|h| h.key.as_str()).collect();
    let q_want = BTreeSet::from([quarantined("bad.csv"), quarantined("bad2.csv.gz")]);
    assert_eq!(q, q_want.iter().map(String::as_str).collect(), "{listed:?}");
    assert_eq!(listed.quarantine_scanned, 3);
    assert!(listed.unreadable.is_empty(), "{listed:?}");
    assert_eq!(
        (listed.deleted_versions, listed.record.is_none()),
        (0, true)
    );
    assert_eq!(
        versions(&d, &key("a.csv")).await.len(),
        2,
        "a dry run deletes nothing"
    );

    // The erase, then the uploads.
    let done = lakeline_table::erase::erase(&tables, &tables.ident(name), &conds, false, &mut ())
        .await
        .unwrap();
    assert!(done.committed && done.rows > 0, "{done:?}");
    let gone = erase_raw(&lake, &conds, &done, false).await.unwrap();
    let every: usize = gone
        .raw
        .iter()
        .chain(&gone.quarantine)
        .map(|h| h.versions.len())
        .sum();
    assert_eq!(gone.deleted_versions, every, "{gone:?}");
    for k in raw_want.iter().chain(&q_want) {
        assert_eq!(
            versions(&d, k).await,
            Vec::<String>::new(),
            "{k}: every version deleted"
        );
    }
    for k in [key("b.csv"), quarantined("bad3.csv")] {
        assert!(
            !versions(&d, &k).await.is_empty(),
            "{k} holds no matching row: kept"
        );
    }
    // The table: the rows are gone, every other row is there.
    let after = d.table_ids("orders", "order_id").await;
    assert_eq!(after[&key("b.csv")], ids[&key("b.csv")]);
    let kept: Vec<i64> = ids[&key("a.csv")]
        .iter()
        .copied()
        .filter(|i| !anna.contains(i))
        .collect();
    assert_eq!(after[&key("a.csv")], kept);

    // The audit record: what went, under which snapshot; never the erased value.
    let record = gone.record.clone().expect("a record");
    assert!(record.starts_with(ERASURES_PREFIX), "{record}");
    let body = d.lake.body(&record).await;
    let text = String::from_utf8(body).unwrap();
    assert!(!text.contains("Anna") && !text.contains("Müller"), "{text}");
    let rec: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rec["columns"], serde_json::json!(["customer"]));
    assert_eq!(rec["snapshotId"], serde_json::json!(done.snapshot_id));
    assert_eq!(rec["rowsRemoved"], done.rows);
    assert_eq!(
        rec["deleted"].as_array().unwrap().len(),
        gone.deleted_versions
    );
    assert_eq!(rec["filterSha256"].as_str().unwrap().len(), 64);
}
