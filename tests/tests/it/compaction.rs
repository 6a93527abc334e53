//! The maintenance state machine against the emulator: the scheduled sweep with the shipped
//! defaults (time passed as input, not settings zeroed) plans each table from its manifests
//! and commits one `replace` snapshot per due partition, read back value for value; on a
//! Glue-catalog stack it also expires old snapshots and removes old orphans. The rewrite's
//! races (an append, an undo, another compaction) are in `tables.rs`.

use std::time::Duration;

use lakeline_tests::curated::now_plus;
use lakeline_tests::pipeline::{Deployment, Options};
use lakeline_tests::shipped_registry;
use serde_json::{json, Value};

async fn run_maintenance(d: &Deployment, input: Value) -> (String, Value) {
    let (status, out, _) = run_maintenance_as(d, input).await;
    (status, out)
}

/// Runs the maintenance state machine as the schedule does; its status, output and ARN.
async fn run_maintenance_as(d: &Deployment, input: Value) -> (String, Value, String) {
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
    (status, out, arn)
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

/// A dataset whose partitions go to Spark (`compaction.job: {engine: glue}`, no `above`): the
/// sweep hands the due partition on as a `glue` item, the compact function plans it and writes
/// the plan once, start-job starts the stack's compaction job over it, and the compact function
/// commits what the run wrote as one `replace` snapshot. The emulator's Glue runs nothing: a
/// run that wrote nothing fails the item, naming the empty output, and the table is as it was
/// (no fake success); with the harness standing in for the run (the merged file under the
/// plan's output), the next sweep commits it, every row kept, value for value. The job itself
/// runs in tests/spark/test_compact.py; Glue running it is proven on AWS only.
#[tokio::test]
async fn a_partition_for_spark_is_planned_merged_by_the_run_and_committed_by_lakeline() {
    use lakeline_tests::tables::{all_rows, first_lines};
    let mut reg = shipped_registry();
    for (name, ds) in reg.datasets.iter_mut() {
        if name.as_str() == "orders" {
            let mut c = ds.compaction.clone().unwrap_or_default();
            c.job.engine = lakeline_core::compaction::Engine::Glue;
            // The local stack points it at its own compaction job.
            c.job.glue_job_name = Some("set-by-the-stack".into());
            ds.compaction = Some(c);
        }
    }
    let d = Deployment::new(Options {
        registry: reg,
        ..Options::default()
    })
    .await;
    let full = lakeline_tests::sample("orders/good.csv");
    for i in 0..6 {
        let key = format!("raw/orders/dt=2026-11-20/part-{i}.csv");
        let (err, res) = d
            .deliver(&d.lake.upload(&key, first_lines(&full, 3 + i)).await)
            .await;
        assert_eq!(err, None, "{res}");
        let arn = d.execution_arn(lakeline_tests::outcome(&res)["execution"].as_str().unwrap());
        let done = d.finished(&arn, Duration::from_secs(60)).await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    }
    let tables = d.stack.tables(&d.stack.conf).await.unwrap();
    let reg = &d.stack.registry;
    let before = all_rows(&tables, reg, "orders").await;
    let snapshots = d.table_view("orders").await.snapshots.len();
    let later = now_plus(2);

    // The run writes nothing here: the item fails, saying so; nothing is committed.
    let (status, out, arn) =
        run_maintenance_as(&d, json!({"bucket": d.lake.bucket, "now": later})).await;
    assert_eq!(status, "FAILED", "{out}");
    let plans = d
        .lake
        .s3
        .list_objects_v2()
        .bucket(&d.lake.bucket)
        .prefix("_lakeline/staging/rewrite/")
        .send()
        .await
        .unwrap();
    let plan_keys: Vec<String> = plans
        .contents()
        .iter()
        .filter_map(|o| {
            o.key()
                .filter(|k| k.ends_with("/plan.json"))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(plan_keys.len(), 1, "one plan, written once: {plan_keys:?}");
    let causes: Vec<String> = d
        .history(&arn)
        .await
        .iter()
        .filter_map(|e| e.task_failed_event_details()?.cause().map(str::to_string))
        .collect();
    assert!(
        causes.iter().any(|c| c.contains("wrote no data file")),
        "the failure names the empty output: {causes:?}"
    );
    assert_eq!(d.table_view("orders").await.snapshots.len(), snapshots);
    // The run was started over the plan, on the stack's compaction job.
    let runs = d
        .stack
        .c
        .glue
        .get_job_runs()
        .job_name(format!("{}-compact", d.lake.bucket))
        .send()
        .await
        .unwrap();
    let plan_uri = format!("s3://{}/{}", d.lake.bucket, plan_keys[0]);
    assert!(
        runs.job_runs()
            .iter()
            .any(|r| r.arguments().and_then(|a| a.get("--lakeline_plan")) == Some(&plan_uri)),
        "{runs:?}"
    );

    // With the run's output in place, the next sweep (the same plan) commits it.
    let plan = d.stage_rewrite_as_spark(&plan_keys[0]).await;
    assert_eq!((plan.inputs.len(), plan.output_files), (6, 1));
    let (status, out) = run_maintenance(&d, json!({"bucket": d.lake.bucket, "now": later})).await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    let results = out["results"].as_array().unwrap();
    let outcome = &results[0]["outcome"];
    assert_eq!(
        (outcome["status"].as_str(), outcome["engine"].as_str()),
        (Some("COMPACTED"), Some("glue")),
        "{out}"
    );
    let view = d.table_view("orders").await;
    assert_eq!(view.data_files, 1);
    let last = view.snapshots.last().unwrap();
    assert_eq!(
        (
            last.operation.as_str(),
            last.rewrite.as_deref(),
            last.engine.as_deref()
        ),
        ("replace", Some("compact"), Some("glue"))
    );
    assert_eq!(all_rows(&tables, reg, "orders").await, before);
}

/// A Glue-catalog stack that leaves its tables' history to Glue's table optimizers
/// (`GlueTableMaintenance=glue-optimizers`): the registry writer's sync puts a `retention` and
/// an `orphan_file_deletion` optimizer on each table, as the stack's settings say, running as
/// the stack's optimizer role (created once, updated after), and the scheduled sweep hands out
/// no `maintainTable` item, so lakeline expires nothing itself. moto has no table optimizers:
/// the local router stands in for the three calls (the real SDK's requests and answers); that
/// Glue then runs them is proven on AWS only.
#[tokio::test]
async fn on_a_glue_stack_with_glues_optimizers_the_push_puts_them_and_the_sweep_leaves_history_alone(
) {
    use aws_sdk_glue::types::TableOptimizerType;
    let d = Deployment::new(Options {
        tables_in_glue: true,
        glue_optimizers: true,
        ..Options::default()
    })
    .await;
    // Deploying synced every table as the registry writer; a second sync updates them.
    d.stack.sync_tables(&d.stack.registry).await.unwrap();
    let db = d.stack.glue_database.clone().unwrap();
    let role = d.stack.optimizer_role.clone().unwrap();
    for name in d.stack.registry.datasets.keys() {
        let table = name.table_name();
        let get = |kind: TableOptimizerType| {
            d.stack
                .c
                .glue
                .get_table_optimizer()
                .catalog_id(lakeline_local::stack::ACCOUNT)
                .database_name(&db)
                .table_name(&table)
                .r#type(kind)
                .send()
        };
        let retention = get(TableOptimizerType::Retention).await.unwrap();
        let conf = retention
            .table_optimizer()
            .and_then(|o| o.configuration())
            .unwrap();
        assert_eq!(
            (conf.role_arn(), conf.enabled()),
            (Some(role.as_str()), Some(true))
        );
        let r = conf
            .retention_configuration()
            .and_then(|r| r.iceberg_configuration())
            .unwrap();
        assert_eq!(
            (
                r.snapshot_retention_period_in_days(),
                r.number_of_snapshots_to_retain(),
                r.clean_expired_files()
            ),
            (Some(5), Some(1), Some(true)),
            "{table}"
        );
        let orphans = get(TableOptimizerType::OrphanFileDeletion).await.unwrap();
        let o = orphans
            .table_optimizer()
            .and_then(|o| o.configuration())
            .and_then(|c| c.orphan_file_deletion_configuration())
            .and_then(|c| c.iceberg_configuration())
            .unwrap();
        assert_eq!(o.orphan_file_retention_period_in_days(), Some(3));
        assert_eq!(
            o.location(),
            Some(format!("s3://{}/tables/{table}/", d.lake.bucket).as_str())
        );
    }

    let full = lakeline_tests::sample("orders/good.csv");
    for body in [lakeline_tests::tables::first_lines(&full, 3), full.clone()] {
        let key = "raw/orders/dt=2026-11-20/a.csv";
        let (err, res) = d.deliver(&d.lake.upload(key, body).await).await;
        assert_eq!(err, None, "{res}");
        let arn = d.execution_arn(lakeline_tests::outcome(&res)["execution"].as_str().unwrap());
        let done = d.finished(&arn, Duration::from_secs(60)).await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    }
    let before = d.table_view("orders").await.snapshots.len();
    let (status, out) = run_maintenance(
        &d,
        json!({"bucket": d.lake.bucket, "now": now_plus(24 * 10)}),
    )
    .await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    let maintained = out["results"].as_array().map_or(0, |r| {
        r.iter().filter(|r| r["engine"] == "maintain").count()
    });
    assert_eq!(maintained, 0, "Glue keeps the history here: {out}");
    assert_eq!(d.table_view("orders").await.snapshots.len(), before);
}
