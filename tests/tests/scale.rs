//! The maintenance sweep at the scale the issue names: one table with 50 partitions of 1,000
//! small data files each (50,000 files). No state of the maintenance state machine passes a
//! payload that grows with the lake: the sweep (check-compaction, invoked as the state machine
//! invokes it) plans from the manifests and hands on one small item per due partition, at most
//! `LAKELINE_MAX_COMPACTIONS` (50), never a file list; its whole answer, the Map's input, stays
//! far below Step Functions' 256 KiB (moto does not enforce the limit, so the test measures
//! it). Each item's compaction answers a fixed-size result (`the_sweep_compacts_a_tables_
//! partition_in_one_replace_snapshot` runs one through the state machine); running all 50 here
//! would take half an hour in a debug build (measured: 2,200 requests per partition).
//!
//! Ignored in the parallel suite (50,000 objects would slow every other test's emulator):
//! `make test` runs it on its own afterwards (`cargo test --test scale -- --ignored`).

use futures_util::StreamExt;
use lakeline_table::commit::{Delivery, Unguarded};
use lakeline_table::write::{commit_written, data_file_uri, Written};
use lakeline_tests::curated::now_plus;
use lakeline_tests::pipeline::{Deployment, Options};
use serde_json::{json, Value};

const PARTITIONS: i32 = 50;
const FILES: usize = 1_000;
/// Step Functions' limit on a state's input or output.
const PAYLOAD_LIMIT: usize = 256 * 1024;

#[tokio::test]
#[ignore = "50,000 objects: make test runs it alone, after the parallel suite"]
async fn fifty_partitions_of_a_thousand_small_files_sweep_within_the_payload_limit() {
    use lakeline_core::curate::{curate_stream_as, Provenance, TableShape};
    let d = Deployment::new(Options::default()).await;
    let tables = d.stack.tables(&d.stack.conf).await.unwrap();
    let (name, ds) = d.stack.registry.dataset("orders").unwrap();
    let ident = tables.ident(name);
    let header = "order_id,customer,amount,currency,order_date,created_at,gift\n";
    // 2026-10-01 onwards: long closed.
    let first_day = lakeline_core::types::parse_date(b"2026-10-01").unwrap();
    for p in 0..PARTITIONS {
        let day = first_day + p;
        let date = lakeline_core::validate::day_text(day);
        let key = format!("raw/orders/dt={date}/burst.csv");
        let table = tables.load_table(&ident).await.unwrap();
        let lineage = lakeline_core::table::Lineage {
            source: key.clone(),
            version: "v1".into(),
            date: Some(day),
        };
        let ids = lakeline_table::schema::field_ids(table.metadata().current_schema());
        let shape = TableShape::new(ds, &ids, &lineage).unwrap();
        let prov = Provenance {
            source: key.clone(),
            source_version: "v1".into(),
            dataset: "orders".into(),
            registry_sha256: String::new(),
        };
        // One row per file: the smallest data file there is, written 1,000 times (one delivery
        // may stage many files, as a Spark run does).
        let body = format!(
            "{header}{},Scale Test,1.00,EUR,{date},{date}T00:00:00Z,false\n",
            1000 + p
        );
        let (curated, file) = curate_stream_as(
            "orders",
            ds,
            &key,
            20,
            body.as_bytes(),
            Vec::new(),
            &prov,
            Some(&shape),
        )
        .unwrap();
        let uris: Vec<String> = (0..FILES)
            .map(|_| data_file_uri(&table, Some(day)))
            .collect();
        let io = table.file_io().clone();
        let writes = futures_util::stream::iter(uris.clone())
            .map(|uri| {
                let (io, file) = (io.clone(), file.clone());
                async move {
                    io.new_output(&uri)
                        .unwrap()
                        .write(file.into())
                        .await
                        .unwrap()
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
        assert_eq!(writes.len(), FILES);
        let written = uris
            .into_iter()
            .map(|uri| Written {
                uri,
                size: file.len() as u64,
                row_groups: curated.footer.clone(),
                untagged_exact: false,
            })
            .collect();
        let delivery = Delivery {
            source: key,
            version: "v1".into(),
            execution: Some("scale test".into()),
            engine: "test".into(),
            date: Some(day),
        };
        commit_written(&tables, &table, &delivery, &Unguarded, written)
            .await
            .unwrap();
    }
    let before = d.table_view("orders").await;
    assert_eq!(before.data_files, PARTITIONS as usize * FILES);

    // Swept two hours on, as the maintenance state machine invokes check-compaction.
    let now = now_plus(2);
    let (err, out) = d
        .stack
        .invoke(
            "check-compaction",
            &json!({"sweep": {"bucket": d.lake.bucket, "now": now}, "execution": "scale-sweep",
                    "startTime": now}),
        )
        .await
        .unwrap();
    assert_eq!(err, None, "{out}");
    let size = out.to_string().len();
    println!(
        "the sweep of {} files in {PARTITIONS} partitions answers {size} bytes ({} partition reports, {} items)",
        PARTITIONS as usize * FILES,
        out["partitions"].as_array().map_or(0, Vec::len),
        out["items"].as_array().map_or(0, Vec::len),
    );
    assert_eq!(
        out["totals"]["files"],
        PARTITIONS as usize * FILES,
        "{}",
        out["totals"]
    );
    assert_eq!(
        out["totals"]["small_files"],
        PARTITIONS as usize * FILES,
        "{}",
        out["totals"]
    );
    let items = out["items"].as_array().unwrap();
    let orders: Vec<&Value> = items.iter().filter(|i| i["dataset"] == "orders").collect();
    assert_eq!(
        orders.len(),
        PARTITIONS as usize,
        "one item per due partition"
    );
    for item in &orders {
        assert_eq!(item["engine"], "table", "{item}");
        assert!(item.get("groups").is_none(), "no file list: {item}");
        assert!(item.to_string().len() < 512, "{item}");
    }
    assert!(
        size < PAYLOAD_LIMIT / 4,
        "the sweep's answer of {size} bytes is within a factor 4 of the 256 KiB limit"
    );
}
