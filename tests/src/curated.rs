//! Reading curated Parquet back (the fault suite's `curated/` checks), and a sweep's "now" for
//! the maintenance tests.

use std::time::{Duration, SystemTime};

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::Lake;

/// An RFC 3339 time `hours` from now: the sweep's "now".
pub fn now_plus(hours: u64) -> String {
    let t = SystemTime::now() + Duration::from_secs(hours * 3600);
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
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
