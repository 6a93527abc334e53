//! Harness helpers for the compaction tests (`compaction.rs`, and the crash at every commit
//! step in `faults.rs`): small curated files in a closed partition, the sweep's "now", the
//! check-compaction and compact dependencies, a planned group, and reading a partition back.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type};
use bytes::Bytes;
use lakeline_core::curate::Provenance;
use lakeline_core::registry::Registry;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};

use crate::{shipped_registry, Lake};

/// The closed partition the compaction tests write into.
pub const CLOSED: &str = "dt=2026-11-20";

/// An RFC 3339 time `hours` from now: the sweep's "now".
pub fn now_plus(hours: u64) -> String {
    let t = SystemTime::now() + Duration::from_secs(hours * 3600);
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

/// A small curated orders file with order ids `first..first + rows`.
pub fn orders_parquet(reg: &Registry, first: i64, rows: i64) -> Vec<u8> {
    let (_, ds) = reg.dataset("orders").unwrap();
    let mut csv = String::from("order_id,customer,amount,currency,order_date,created_at,gift\n");
    for id in first..first + rows {
        csv.push_str(&format!(
            "{id},c{id},{id}.5,EUR,2026-11-20,2026-11-20T10:00:00Z,\n"
        ));
    }
    let prov = Provenance {
        source: "test".into(),
        source_version: String::new(),
        dataset: "orders".into(),
        registry_sha256: reg.content_hash(),
    };
    lakeline_core::curate::curate_stream(
        "orders",
        ds,
        "x.csv",
        20,
        csv.as_bytes(),
        Vec::new(),
        &prov,
    )
    .unwrap()
    .1
}

/// Writes `n` small files of 10 rows into a partition; returns their order ids.
pub async fn small_files(lake: &Lake, reg: &Registry, partition: &str, n: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = orders_parquet(reg, 1000 * i, 10);
        lake.put(
            &format!("curated/orders/{partition}/part-{i:03}.parquet"),
            body,
        )
        .await;
        ids.extend(1000 * i..1000 * i + 10);
    }
    ids
}

/// Data files under a prefix (side files excluded), with their order ids, sorted.
pub async fn files_and_ids(lake: &Lake, prefix: &str) -> (Vec<String>, Vec<i64>) {
    let (keys, rows) = files_and_rows(lake, prefix).await;
    (keys, rows.into_iter().map(|r| r.0).collect())
}

/// Data files under a prefix (side files excluded), with every row as (order_id, customer,
/// amount in cents), sorted by order id.
pub async fn files_and_rows(lake: &Lake, prefix: &str) -> (Vec<String>, Vec<(i64, String, i128)>) {
    let out = lake
        .s3
        .list_objects_v2()
        .bucket(&lake.bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut keys = Vec::new();
    let mut rows = Vec::new();
    for o in out.contents() {
        let key = o.key().unwrap();
        if !lakeline_core::compaction::is_data_file(key.strip_prefix(prefix).unwrap()) {
            continue;
        }
        keys.push(key.to_string());
        rows.extend(rows_in(lake, key).await);
    }
    rows.sort_by_key(|r| r.0);
    (keys, rows)
}

/// Every row of one curated object as (order_id, customer, amount in cents), in file order.
pub async fn rows_in(lake: &Lake, key: &str) -> Vec<(i64, String, i128)> {
    let r = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(lake.body(key).await))
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for b in r {
        let b = b.unwrap();
        let ids = b.column(0).as_primitive::<Int64Type>();
        let customers = b.column(1).as_string::<i32>();
        let amounts = b.column(2).as_primitive::<Decimal128Type>();
        for i in 0..b.num_rows() {
            rows.push((
                ids.value(i),
                customers.value(i).to_string(),
                amounts.value(i),
            ));
        }
    }
    rows
}

/// check-compaction's dependencies over the lake, with the shipped registry.
pub fn check_deps(lake: &Lake) -> check_compaction::Deps {
    check_compaction::Deps {
        s3: lake.s3_as("check-compaction"),
        registry: Arc::new(shipped_registry()),
        config: check_compaction::Config::default(),
        alerts: None,
        tables: None,
    }
}

/// compact's dependencies over the lake, crashing after `crash_after` when set.
pub fn compact_deps(lake: &Lake, crash_after: Option<compact::Step>) -> compact::Deps {
    let reg = shipped_registry();
    compact::Deps {
        retention: Default::default(),
        s3: lake.s3_as("compact"),
        registry_sha256: reg.content_hash(),
        registry: Arc::new(reg),
        part_size: lakeline_aws::upload::PART_SIZE,
        crash_after,
        tables: None,
    }
}

/// A sweep of the closed orders partition by `execution`, `hours` from now.
pub fn sweep(lake: &Lake, execution: &str, hours: u64) -> Value {
    json!({"bucket": lake.bucket, "dataset": "orders", "partition": CLOSED,
           "execution": execution, "now": now_plus(hours)})
}

/// Plans the closed partition of `lake` and returns its one group's compact request.
pub async fn planned(lake: &Lake) -> Value {
    let out = check_compaction::handle(&check_deps(lake), sweep(lake, "exec", 2))
        .await
        .unwrap();
    let item = &out["items"][0];
    assert_eq!(item["groups"].as_array().unwrap().len(), 1, "{out}");
    json!({"bucket": lake.bucket, "dataset": "orders", "partition": CLOSED,
           "execution": "exec", "group": item["groups"][0]})
}
