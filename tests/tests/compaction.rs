//! Compaction against the emulator: the scheduled sweep with the shipped defaults (time passed
//! as input, not settings zeroed), markers under concurrent sweeps, and refusals. Every merge
//! is read back and its rows compared with the inputs', value for value. The compact
//! function's commit under a crash at every step is in the fault suite (`faults.rs`).

use std::time::{Duration, SystemTime};

use lakeline_core::compaction::plan::{self, DataFile, Manifest};
use lakeline_tests::compaction::{
    check_deps, compact_deps, files_and_ids, now_plus, orders_parquet, planned, small_files, sweep,
    CLOSED,
};
use lakeline_tests::pipeline::{Deployment, Options};
use lakeline_tests::{shipped_registry, Lake};
use serde_json::{json, Value};

async fn run_maintenance(d: &Deployment, input: Value) -> (String, Value) {
    let name = lakeline_tests::unique("sweep");
    // Started as the schedule starts it (its role).
    d.stack
        .schedule_sfn()
        .start_execution()
        .state_machine_arn(&d.stack.maintenance_arn)
        .name(&name)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    let arn = d
        .stack
        .maintenance_arn
        .replace(":stateMachine:", ":execution:")
        + ":"
        + &name;
    let done = d.finished(&arn, Duration::from_secs(120)).await;
    let out = done
        .output()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or(Value::Null);
    let status = done.status().as_str().to_string();
    if status != "SUCCEEDED" {
        println!("{:?} {:?}", done.error(), done.cause());
    }
    (status, out)
}

#[tokio::test]
async fn the_scheduled_sweep_compacts_closed_partitions_with_the_shipped_defaults() {
    let d = Deployment::new(Options::default()).await;
    let reg = shipped_registry();
    // "Later" is two hours from now; the partition of that day is still open (grace_days).
    let later = now_plus(2);
    let open = format!("dt={}", &later[..10]);
    let want = small_files(&d.lake, &reg, CLOSED, 12).await;
    small_files(&d.lake, &reg, &open, 6).await;

    // Right now, the closed day's files are too fresh (quiet_minutes = 60): nothing happens.
    let (status, out) = run_maintenance(&d, json!({"bucket": d.lake.bucket})).await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    assert_eq!(
        files_and_ids(&d.lake, &format!("curated/orders/{CLOSED}/"))
            .await
            .0
            .len(),
        12
    );

    // Two hours later the closed day is quiet; the day of "later" stays open (grace_days = 1).
    let (status, out) = run_maintenance(&d, json!({"bucket": d.lake.bucket, "now": later})).await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    let (keys, ids) = files_and_ids(&d.lake, &format!("curated/orders/{CLOSED}/")).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains("/compacted-"), "{keys:?}");
    assert_eq!(ids, want, "every row once, none lost");
    assert_eq!(
        files_and_ids(&d.lake, &format!("curated/orders/{open}/"))
            .await
            .0
            .len(),
        6
    );
    // No marker and no manifest is left behind.
    let leftovers = d
        .lake
        .s3
        .list_objects_v2()
        .bucket(&d.lake.bucket)
        .prefix("_lakeline/")
        .send()
        .await
        .unwrap();
    assert!(leftovers.contents().is_empty(), "{leftovers:?}");
    assert!(
        !d.lake
            .exists(&format!(
                "curated/orders/{CLOSED}/_lakeline_compaction.json"
            ))
            .await
    );
}

/// Two sweeps over one stale marker: the one whose conditional write lands first takes it
/// over; the other's write, conditional on the ETag it read, is refused.
///
/// moto checks `If-Match` and writes without a lock, so two truly simultaneous conditional
/// writes can both pass there; S3 evaluates them atomically. So the sweeps run one after the
/// other here, and the loser's write is replayed with the ETag it would have read: what S3
/// decides between them is what this proves (the atomicity itself is proven only on AWS).
#[tokio::test]
async fn two_sweeps_over_a_stale_marker_give_one_compaction() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let reg = shipped_registry();
    small_files(&lake, &reg, CLOSED, 6).await;
    // A marker a crashed run requested 25 hours ago: stale (stale_marker_hours = 24).
    let marker = format!("curated/orders/{CLOSED}/_lakeline_compaction.json");
    let then = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 25 * 3600;
    let body = json!({"execution": "crashed", "requested_at": then}).to_string();
    let stale_etag = lake.put(&marker, body.into_bytes()).await;
    let deps = check_deps(&lake);
    let a = check_compaction::handle(&deps, sweep(&lake, "sweep-a", 2))
        .await
        .unwrap();
    let b = check_compaction::handle(&deps, sweep(&lake, "sweep-b", 2))
        .await
        .unwrap();
    assert_eq!(a["items"].as_array().unwrap().len(), 1, "{a}");
    assert!(b["items"].as_array().unwrap().is_empty(), "{b}");
    assert_eq!(b["partitions"][0]["reason_code"], "running", "{b}");
    let owner: Value = serde_json::from_slice(&lake.body(&marker).await).unwrap();
    assert_eq!(owner["execution"], "sweep-a");
    // The loser's take-over, conditional on the stale ETag it read: refused.
    let late = lake
        .s3
        .put_object()
        .bucket(&lake.bucket)
        .key(&marker)
        .if_match(&stale_etag)
        .body(br#"{"execution":"sweep-b"}"#.to_vec().into())
        .send()
        .await;
    let status = late
        .unwrap_err()
        .raw_response()
        .map(|r| r.status().as_u16());
    assert_eq!(status, Some(412));
}

#[tokio::test]
async fn a_retried_check_keeps_its_compaction_and_a_fresh_marker_blocks_others() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let reg = shipped_registry();
    small_files(&lake, &reg, CLOSED, 5).await;
    let deps = check_deps(&lake);
    let first = check_compaction::handle(&deps, sweep(&lake, "exec-1", 2))
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 1, "{first}");
    // The same execution's retry finds its own marker: still its compaction, same plan.
    let retry = check_compaction::handle(&deps, sweep(&lake, "exec-1", 2))
        .await
        .unwrap();
    assert_eq!(retry["items"], first["items"]);
    // Another execution sees a running compaction.
    let other = check_compaction::handle(&deps, sweep(&lake, "exec-2", 2))
        .await
        .unwrap();
    assert!(other["items"].as_array().unwrap().is_empty(), "{other}");
    assert_eq!(other["partitions"][0]["reason_code"], "running");
    // Only the owner clears it.
    let clear = |e: &str| {
        json!({"action": "clear", "bucket": lake.bucket, "dataset": "orders",
               "partition": CLOSED, "execution": e})
    };
    let not_mine = check_compaction::handle(&deps, clear("exec-2"))
        .await
        .unwrap();
    assert_eq!(not_mine["cleared"], false);
    let mine = check_compaction::handle(&deps, clear("exec-1"))
        .await
        .unwrap();
    assert_eq!(mine["cleared"], true);
}

#[tokio::test]
async fn schema_drift_is_refused_naming_the_file_and_nothing_moves() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let reg = shipped_registry();
    small_files(&lake, &reg, CLOSED, 5).await;
    // One file curated under an older registry: `gift` was a string.
    let old = lakeline_core::placeholders::load(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/datasets.yaml"
        ))
        .unwrap()
        .replace(
            "{name: gift,       type: bool}",
            "{name: gift,       type: string}",
        ),
        "old.yaml",
        &Default::default(),
    )
    .unwrap();
    let drifted = "curated/orders/dt=2026-11-20/part-999.parquet";
    lake.put(drifted, orders_parquet(&old, 999_000, 3)).await;
    let req = planned(&lake).await;
    let err = compact::handle(&compact_deps(&lake, None), req)
        .await
        .unwrap_err();
    assert_eq!(
        err.error_type(),
        lakeline_core::error_names::SCHEMA_DRIFT,
        "{err}"
    );
    assert!(err.to_string().contains("part-999.parquet"), "{err}");
    assert!(err.to_string().contains("gift"), "{err}");
    let (keys, _) = files_and_ids(&lake, &format!("curated/orders/{CLOSED}/")).await;
    assert_eq!(keys.len(), 6, "nothing merged, nothing deleted: {keys:?}");
}

#[tokio::test]
async fn an_input_rewritten_after_planning_stops_the_group() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let reg = shipped_registry();
    small_files(&lake, &reg, CLOSED, 5).await;
    let req = planned(&lake).await;
    // A re-run of curate rewrites one input between the plan and the merge.
    lake.put(
        &format!("curated/orders/{CLOSED}/part-002.parquet"),
        orders_parquet(&reg, 77_000, 4),
    )
    .await;
    let out = compact::handle(&compact_deps(&lake, None), req)
        .await
        .unwrap();
    assert_eq!(out["status"], "STALE_PLAN", "{out}");
    let (keys, ids) = files_and_ids(&lake, &format!("curated/orders/{CLOSED}/")).await;
    assert_eq!(keys.len(), 5);
    assert!(ids.contains(&77_000));
}

#[test]
fn manifest_and_output_names_are_the_documented_ones() {
    let f = |k: &str| DataFile {
        key: k.into(),
        size: 1,
        etag: "e".into(),
    };
    let id = plan::group_id(&[f("a"), f("b")]);
    assert_eq!(id, plan::group_id(&[f("b"), f("a")]));
    assert_eq!(
        Manifest::key("orders", CLOSED, &id),
        format!("_lakeline/compaction/orders/{CLOSED}/{id}.json")
    );
}

/// A stack with tables: the scheduled sweep plans each table from its manifests (no listing,
/// no marker), and the compact function rewrites the due partition and commits one `replace`
/// snapshot, both judging the partition on the sweep's clock (the shipped defaults: quiet for
/// an hour, two hours from now). Every row reads back the same, value for value; a second
/// sweep finds nothing due.
#[tokio::test]
async fn the_sweep_compacts_a_tables_partition_in_one_replace_snapshot() {
    use lakeline_tests::tables::{all_rows, first_lines};
    let d = Deployment::new(Options::default()).await;
    let full = lakeline_tests::sample("orders/good.csv");
    for i in 0..6 {
        let key = format!("raw/orders/dt=2026-11-20/part-{i}.csv");
        let event = d.lake.upload(&key, first_lines(&full, 3 + i)).await;
        let (err, res) = d.deliver(&event).await;
        assert_eq!(err, None, "{res}");
        let arn = d.execution_arn(lakeline_tests::outcome(&res)["execution"].as_str().unwrap());
        let done = d.finished(&arn, Duration::from_secs(60)).await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    }
    let tables = d.stack.tables(&d.stack.conf).await.unwrap();
    let reg = &d.stack.registry;
    let before = all_rows(&tables, reg, "orders").await;
    assert_eq!(d.table_view("orders").await.data_files, 6);

    // Right now the partition is still being written to (quiet_minutes): nothing is due.
    let (status, out) = run_maintenance(&d, json!({"bucket": d.lake.bucket})).await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    assert_eq!(out["sweep"]["compact"], false, "{out}");
    let later = now_plus(2);
    let (status, out) = run_maintenance(&d, json!({"bucket": d.lake.bucket, "now": later})).await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{out}");
    let outcome = &results[0]["outcome"];
    assert_eq!(outcome["status"], "COMPACTED", "{out}");
    assert_eq!(
        (outcome["filesIn"].as_u64(), outcome["filesOut"].as_u64()),
        (Some(6), Some(1))
    );
    let view = d.table_view("orders").await;
    assert_eq!(view.data_files, 1);
    let last = view.snapshots.last().unwrap();
    assert_eq!(
        (last.operation.as_str(), last.rewrite.as_deref()),
        ("replace", Some("compact"))
    );
    assert_eq!(Some(last.snapshot_id), outcome["snapshotId"].as_i64());
    assert_eq!(all_rows(&tables, reg, "orders").await, before);

    // Nothing is due any more: the next sweep plans nothing and commits nothing.
    let (status, out) = run_maintenance(&d, json!({"bucket": d.lake.bucket, "now": later})).await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    assert_eq!(out["sweep"]["compact"], false, "{out}");
    assert_eq!(
        d.table_view("orders").await.snapshots.len(),
        view.snapshots.len()
    );
}

/// A stack whose tables are in the Glue Data Catalog, which keeps no history for lakeline: a
/// whole sweep also maintains every dataset's table, compacted or not (S3 Tables stacks get no
/// such item, see the test above). Ten days on, the snapshots older than the retention expire
/// but the newest, and the data file only they referenced (a replaced version's) is deleted;
/// an unreferenced file younger than the orphan retention on the function's own clock is kept,
/// whatever "now" the sweep was given. The rows read back the same.
#[tokio::test]
async fn on_a_glue_stack_the_sweep_expires_old_snapshots_and_keeps_young_orphans() {
    let mut reg = shipped_registry();
    for (name, ds) in reg.datasets.iter_mut() {
        if name.as_str() == "orders" {
            // Not compacted here: the table's history is maintained all the same.
            let mut c = ds.compaction.clone().unwrap_or_default();
            c.enabled = false;
            ds.compaction = Some(c);
        }
    }
    let d = Deployment::new(Options {
        tables_in_glue: true,
        registry: reg,
        ..Options::default()
    })
    .await;
    let full = lakeline_tests::sample("orders/good.csv");
    let deliveries = [
        ("a.csv", lakeline_tests::tables::first_lines(&full, 3)),
        ("a.csv", full.clone()),
        ("b.csv", lakeline_tests::tables::first_lines(&full, 4)),
    ];
    for (name, body) in deliveries {
        let key = format!("raw/orders/dt=2026-11-20/{name}");
        let (err, res) = d.deliver(&d.lake.upload(&key, body).await).await;
        assert_eq!(err, None, "{res}");
        let arn = d.execution_arn(lakeline_tests::outcome(&res)["execution"].as_str().unwrap());
        let done = d.finished(&arn, Duration::from_secs(60)).await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    }
    let before = d.table_ids("orders", "order_id").await;
    let view = d.table_view("orders").await;
    assert_eq!(view.snapshots.len(), 3);
    let tables = d.stack.tables(&d.stack.conf).await.unwrap();
    let (name, _) = d.stack.registry.dataset("orders").unwrap();
    let table = tables.load_table(&tables.ident(name)).await.unwrap();
    let location = table
        .metadata()
        .location()
        .trim_end_matches('/')
        .to_string();
    let prefix = location
        .strip_prefix(&format!("s3://{}/", d.lake.bucket))
        .unwrap()
        .to_string();
    let listed = |d: &Deployment| {
        let (s3, bucket, prefix) = (d.lake.s3.clone(), d.lake.bucket.clone(), prefix.clone());
        async move {
            let out = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(format!("{prefix}/data/"))
                .send()
                .await
                .unwrap();
            out.contents()
                .iter()
                .map(|o| o.key().unwrap().to_string())
                .collect::<std::collections::BTreeSet<_>>()
        }
    };
    let orphan = format!("{prefix}/data/_lakeline_date=2026-11-20/left-by-a-lost-commit.parquet");
    d.lake
        .put(&orphan, b"not referenced by any snapshot".to_vec())
        .await;
    let files_before = listed(&d).await;
    assert_eq!(
        files_before.len(),
        4,
        "three deliveries and the orphan: {files_before:?}"
    );

    let (status, out) = run_maintenance(
        &d,
        json!({"bucket": d.lake.bucket, "now": now_plus(24 * 10)}),
    )
    .await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    let results = out["results"].as_array().unwrap();
    let maintained: Vec<&Value> = results
        .iter()
        .filter(|r| r["engine"] == "maintain")
        .collect();
    assert_eq!(
        maintained.len(),
        d.stack.registry.datasets.len(),
        "every dataset's table, compacted or not: {out}"
    );
    let orders = maintained
        .iter()
        .find(|r| r["dataset"] == "orders")
        .map(|r| &r["outcome"])
        .unwrap();
    assert_eq!(orders["status"], "MAINTAINED", "{out}");
    assert_eq!(orders["expiredSnapshots"], 2, "{orders}");
    assert_eq!(orders["orphansDeleted"], 0, "{orders}");
    assert!(orders["orphansTooYoung"].as_u64().unwrap() >= 1, "{orders}");
    let after = d.table_view("orders").await;
    assert_eq!(after.snapshots.len(), 1);
    assert_eq!(
        after.snapshots[0].snapshot_id,
        view.snapshots[2].snapshot_id
    );
    let files_after = listed(&d).await;
    let gone: Vec<&String> = files_before.difference(&files_after).collect();
    assert_eq!(gone.len(), 1, "the replaced version's data file: {gone:?}");
    assert!(files_after.contains(&orphan), "a young orphan is kept");
    assert_eq!(d.table_ids("orders", "order_id").await, before);
}
