//! What the pipeline commits to S3 Tables (and to the Glue Data Catalog) is read by engines lakeline did not write: every
//! sample goes through the pipeline on the local stack, then pyiceberg and DuckDB
//! (`tests/tables/test_pipeline_tables.py`, in the pinned `.venv-tables` of
//! `scripts/table-readers`) read each dataset's table from the emulator, while it is up, and
//! compare it with the uploaded files value for value.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use lakeline_tests::pipeline::{Deployment, Options};
use lakeline_tests::{outcome, sample};
use serde_json::{json, Value};

const DT: &str = "2026-11-25";

#[tokio::test]
async fn duckdb_and_pyiceberg_read_what_the_pipeline_committed() {
    let d = Deployment::new(Options::default()).await;
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let samples = [
        ("orders", "orders/good.csv"),
        ("returns", "returns/good.tsv"),
        ("clicks", "clicks/good.jsonl"),
        ("inventory", "inventory/good.parquet"),
    ];
    let mut cases = Vec::new();
    for (dataset, rel) in samples {
        let file = rel.rsplit('/').next().unwrap();
        let key = format!("raw/{dataset}/dt={DT}/{file}");
        let event = d.lake.upload(&key, sample(rel)).await;
        let (err, res) = d.deliver(&event).await;
        assert_eq!(err, None, "{res}");
        let o = outcome(&res);
        let arn = d.execution_arn(o["execution"].as_str().unwrap());
        let done = d.finished(&arn, Duration::from_secs(60)).await;
        assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
        let view = d.table_view(dataset).await;
        cases.push(json!({
            "dataset": dataset,
            "metadata_location": view.metadata_location,
            "columns": view.columns,
            "sources": [{"path": repo.join("samples").join(rel), "key": key}],
        }));
    }
    // The same orders file through a stack whose tables are in the Glue Data Catalog: its
    // files are in the lake bucket, its metadata location is the Glue table's.
    let g = Deployment::new(Options {
        tables_in_glue: true,
        ..Options::default()
    })
    .await;
    let key = format!("raw/orders/dt={DT}/good.csv");
    let event = g.lake.upload(&key, sample("orders/good.csv")).await;
    let (err, res) = g.deliver(&event).await;
    assert_eq!(err, None, "{res}");
    let arn = g.execution_arn(outcome(&res)["execution"].as_str().unwrap());
    let done = g.finished(&arn, Duration::from_secs(60)).await;
    assert_eq!(done.status().as_str(), "SUCCEEDED", "{:?}", done.cause());
    let view = g.table_view("orders").await;
    assert!(view
        .metadata_location
        .starts_with(&format!("s3://{}/tables/", g.stack.bucket)));
    cases.push(json!({
        "id": "orders-in-glue",
        "dataset": "orders",
        "metadata_location": view.metadata_location,
        "columns": view.columns,
        "sources": [{"path": repo.join("samples/orders/good.csv"), "key": key}],
    }));
    let list = std::env::temp_dir().join(format!("{}.json", lakeline_tests::unique("tables")));
    std::fs::write(&list, Value::from(cases).to_string()).unwrap();
    let out = Command::new(repo.join("scripts/table-readers"))
        .args([
            "run",
            "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/tables/test_pipeline_tables.py",
        ])
        .current_dir(&repo)
        .env("LAKELINE_PIPELINE_TABLES", &list)
        .output()
        .expect("running scripts/table-readers");
    let _ = std::fs::remove_file(&list);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "the readers disagree: {text}");
    // Both engines read every dataset, and the Glue catalog's table: 2 × 5 tests ran, none
    // was skipped.
    assert!(text.contains("10 passed"), "{text}");
}
