//! The demo's tables part: each dataset's Iceberg table as the pipeline left it (snapshots with
//! their sources and rows), a corrected re-upload that replaces one file's rows in one
//! snapshot, and a DuckDB query over the table, read by an engine lakeline did not write.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use lakeline_local::stack::{receive, Stack};
use lakeline_table::show::TableView;

/// Prints every dataset's table; then re-uploads `key` (a curated upload of `orders`) with its
/// first `keep` rows only, and shows the overwrite that replaced its rows; then queries the
/// table with DuckDB. Returns what did not happen as it should.
pub async fn run(
    stack: &Stack,
    producer: &aws_sdk_s3::Client,
    uploads_queue: &str,
    key: &str,
    corrected: Vec<u8>,
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    let tables = stack.tables(&stack.conf).await?;
    println!("\nTables (S3 Tables bucket {}):", stack.table_bucket_arn);
    for name in stack.registry.datasets.keys() {
        let Some(table) = tables.load(&tables.ident(name)).await? else {
            continue;
        };
        let view = lakeline_table::show::show(&table).await?;
        print_table(&view);
    }

    // A corrected export of the same key: validated again, and its rows replaced atomically.
    let (orders, _) = stack
        .registry
        .dataset("orders")
        .context("the registry has no orders dataset")?;
    let ident = tables.ident(orders);
    let before = lakeline_table::show::show(&tables.load_table(&ident).await?).await?;
    producer
        .put_object()
        .bucket(&stack.bucket)
        .key(key)
        .body(corrected.into())
        .send()
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut execution = None;
    while execution.is_none() && Instant::now() < deadline {
        for ev in receive(&stack.c.sqs, uploads_queue, 1).await? {
            let (err, res) = stack.invoke("validate-upload", &ev).await?;
            if let Some(e) = err {
                bail!("validate-upload failed: {e}: {res}");
            }
            execution = res["outcomes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["key"] == key)
                .and_then(|o| o["execution"].as_str().map(str::to_string));
        }
    }
    let Some(execution) = execution else {
        failures.push(format!("the corrected {key}: no execution started"));
        return Ok(failures);
    };
    let done = stack
        .finished(&stack.execution_arn(&execution), Duration::from_secs(120))
        .await?;
    let after = lakeline_table::show::show(&tables.load_table(&ident).await?).await?;
    println!(
        "\nA corrected re-upload of s3://{}/{key}: execution {execution} {}",
        stack.bucket,
        done.status().as_str()
    );
    match after.snapshots.last() {
        Some(s) if after.snapshots.len() == before.snapshots.len() + 1 => {
            println!(
                "  snapshot {} {}: -{} rows, +{} rows of {}; the table now holds {} rows (was {})",
                s.snapshot_id,
                s.operation,
                s.deleted_rows,
                s.added_rows,
                s.sources.join(", "),
                after.rows,
                before.rows
            );
            if s.operation != "overwrite" || s.deleted_rows == 0 {
                failures.push(format!(
                    "the corrected re-upload made a {} snapshot removing {} rows; expected an overwrite of the old rows",
                    s.operation, s.deleted_rows
                ));
            }
        }
        _ => failures.push(format!(
            "the corrected re-upload added {} snapshots; expected one",
            after.snapshots.len() - before.snapshots.len()
        )),
    }

    // DuckDB's iceberg extension reads the table's current metadata over S3 (the emulator).
    match duckdb_query(&after.metadata_location) {
        Ok(out) => {
            println!(
                "\nDuckDB over the table (iceberg_scan of {}):",
                after.metadata_location
            );
            for line in out.lines() {
                println!("  {line}");
            }
        }
        Err(e) => failures.push(format!("the DuckDB query over the table: {e:#}")),
    }
    Ok(failures)
}

fn print_table(v: &TableView) {
    println!(
        "  {}: {} rows in {} data files, {} snapshots",
        v.table,
        v.rows,
        v.data_files,
        v.snapshots.len()
    );
    for s in &v.snapshots {
        println!(
            "    {} {:<9} +{} rows{}  {}",
            s.snapshot_id,
            s.operation,
            s.added_rows,
            if s.deleted_rows > 0 {
                format!(" -{}", s.deleted_rows)
            } else {
                String::new()
            },
            s.sources.join(", ")
        );
    }
}

/// Runs `tests/tables/query.py` (DuckDB 1.4.4 with its iceberg and httpfs extensions, from
/// the pinned `.venv-tables`) over the table at `metadata`, through the local AWS endpoint.
fn duckdb_query(metadata: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("scripts/table-readers")
        .args(["run", "python", "tests/tables/query.py", metadata])
        .output()
        .context("running scripts/table-readers")?;
    if !out.status.success() {
        bail!(
            "scripts/table-readers exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}
