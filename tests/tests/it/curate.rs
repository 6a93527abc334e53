//! The curate function against the emulator's S3: every output is read back with the parquet
//! crate and its values compared with what the raw file says.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use lakeline_core::error_names;
use lakeline_core::registry::Registry;
use lakeline_tests::{sample, shipped_registry, Lake};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};

const DT: &str = "dt=2026-11-25";

fn registry(datasets: &str) -> Registry {
    Registry::from_yaml(&format!("version: 1\ndatasets:\n{datasets}"), "t.yaml").unwrap()
}

fn deps(lake: &Lake, registry: Registry) -> curate::Deps {
    curate::Deps {
        s3: lake.s3_as("curate"),
        registry_sha256: registry.content_hash(),
        registry: Arc::new(registry),
        part_size: curate::PART_SIZE,
        max_row_group_bytes: curate::MAX_ROW_GROUP_BYTES,
        tables: None,
    }
}

/// Rows of a Parquet file, from its footer.
fn parquet_rows(file: &[u8]) -> u64 {
    ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file.to_vec()))
        .unwrap()
        .metadata()
        .file_metadata()
        .num_rows() as u64
}

/// Rows validation counts in `body`: what the execution input carries.
fn validated_rows(dataset: &str, key: &str, body: &[u8]) -> u64 {
    let reg = shipped_registry();
    let (_, ds) = reg.dataset(dataset).unwrap();
    let r = lakeline_core::validate::validate_stream(dataset, ds, key, 20, body).unwrap();
    assert_eq!(r.verdict, lakeline_core::validate::Verdict::Valid, "{r:?}");
    r.rows
}

/// Uploads `body` as `key` and curates it as the pipeline would; (request, result).
async fn put_and_curate(
    lake: &Lake,
    d: &curate::Deps,
    dataset: &str,
    key: &str,
    body: Vec<u8>,
    rows: u64,
) -> (Value, Result<Value, curate::CurateError>) {
    let etag = lake.put(key, body).await;
    let req = json!({"bucket": lake.bucket, "key": key, "etag": etag, "versionId": null,
                     "dataset": dataset, "partition": DT, "rows": rows});
    let res = curate::handle(d, req.clone(), None).await;
    (req, res)
}

async fn read_back(lake: &Lake, out: &Value) -> (RecordBatch, Vec<u8>) {
    let bytes = lake.body(out["key"].as_str().unwrap()).await;
    assert_eq!(out["bytes"].as_u64(), Some(bytes.len() as u64), "{out}");
    let b = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes.clone())).unwrap();
    let schema = b.schema().clone();
    let batches: Vec<RecordBatch> = b.build().unwrap().map(Result::unwrap).collect();
    let batch = arrow_select_concat(&schema, &batches);
    (batch, bytes)
}

fn arrow_select_concat(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    let cols = (0..schema.fields().len())
        .map(|i| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            if parts.is_empty() {
                arrow_array::new_empty_array(schema.field(i).data_type())
            } else {
                arrow_select::concat::concat(&parts).unwrap()
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), cols).unwrap()
}

fn strings(b: &RecordBatch, i: usize) -> Vec<Option<String>> {
    b.column(i)
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

async fn curated_keys(lake: &Lake, prefix: &str) -> Vec<String> {
    let out = lake
        .s3
        .list_objects_v2()
        .bucket(&lake.bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

async fn open_uploads(lake: &Lake) -> usize {
    let out = lake
        .s3
        .list_multipart_uploads()
        .bucket(&lake.bucket)
        .send()
        .await
        .unwrap();
    out.uploads().len()
}

#[tokio::test]
async fn csv_with_quotes_unicode_nulls_and_crlf_reads_back_value_for_value() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let d = deps(&lake, shipped_registry());
    let csv = "order_id,customer,amount,currency,order_date,created_at,gift\r\n\
               1,\"Zoë \"\"Z\"\" Ng\nline two\",12.5,EUR,2026-11-25,2026-11-25T10:00:00Z,yes\r\n\
               2,日本 株式会社,0,,2026-11-24,2026-11-24 23:59:59.999999-01:00,\r\n";
    let key = format!("raw/orders/{DT}/a b+c.csv");
    let (_, res) = put_and_curate(&lake, &d, "orders", &key, csv.into(), 2).await;
    let out = res.unwrap();
    assert_eq!(out["status"], "CURATED");
    assert_eq!(out["rows"], 2);
    let out_key = out["key"].as_str().unwrap();
    assert!(
        out_key.starts_with(&format!("curated/orders/{DT}/a b+c-")),
        "{out_key}"
    );
    let (b, _) = read_back(&lake, &out).await;
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2]
    );
    assert_eq!(
        strings(&b, 1),
        vec![
            Some("Zoë \"Z\" Ng\nline two".to_string()),
            Some("日本 株式会社".to_string())
        ]
    );
    // The orders' amount is decimal(12,2): exact cents, never a float.
    assert_eq!(
        b.column(2)
            .as_primitive::<Decimal128Type>()
            .values()
            .to_vec(),
        vec![1250, 0]
    );
    assert_eq!(strings(&b, 3), vec![Some("EUR".to_string()), None]);
    let days = b.column(4).as_primitive::<Date32Type>();
    assert_eq!((days.value(0), days.value(1)), (20_782, 20_781));
    let at = b.column(5).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(
        at.value(0),
        20_782 * 86_400 * 1_000_000 + 10 * 3_600_000_000
    );
    // 23:59:59.999999 at -01:00 is 00:59:59.999999 UTC the next day.
    assert_eq!(at.value(1), 20_782 * 86_400 * 1_000_000 + 3_599_999_999);
    let gift = b.column(6).as_boolean();
    assert!(gift.value(0) && gift.is_null(1));
}

#[tokio::test]
async fn tsv_without_header_gzip_json_lines_and_parquet_inputs() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let d = deps(&lake, shipped_registry());

    // returns: TSV, no header, NULL and \N as nulls, gzip.
    let tsv = "7\t100\tNULL\tyes\n8\t101\tdamaged, \"badly\"\t0\n9\t102\t\\N\tF\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, tsv.as_bytes()).unwrap();
    let key = format!("raw/returns/{DT}/r.tsv.gz");
    let (_, res) = put_and_curate(&lake, &d, "returns", &key, gz.finish().unwrap(), 3).await;
    let (b, _) = read_back(&lake, &res.unwrap()).await;
    assert_eq!(
        strings(&b, 2),
        vec![None, Some("damaged, \"badly\"".to_string()), None]
    );
    let refunded = b.column(3).as_boolean();
    assert_eq!(
        (refunded.value(0), refunded.value(1), refunded.value(2)),
        (true, false, false)
    );

    // clicks: JSON Lines.
    let jsonl = "{\"event_id\":\"e1\",\"user_id\":5,\"url\":\"/a?x=1\",\"ts\":\"2026-11-25T00:00:01Z\",\"duration\":1}\n\
                 {\"event_id\":\"e2\",\"user_id\":-6,\"url\":\"/b\",\"ts\":\"2026-11-25T00:00:02.5Z\",\"bot\":true,\"duration\":null}\n";
    let key = format!("raw/clicks/{DT}/c.jsonl");
    let (_, res) = put_and_curate(&lake, &d, "clicks", &key, jsonl.into(), 2).await;
    let (b, _) = read_back(&lake, &res.unwrap()).await;
    assert_eq!(
        b.column(1).as_primitive::<Int64Type>().values().to_vec(),
        vec![5, -6]
    );
    let ts = b.column(3).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(1) - ts.value(0), 1_500_000);
    let dur = b.column(4).as_primitive::<Float64Type>();
    assert!(dur.value(0) == 1.0 && dur.is_null(1));
    assert!(b.column(5).is_null(0) && b.column(5).as_boolean().value(1));

    // inventory: a Parquet input, re-written to the declared schema; values as in the input.
    let input = sample("inventory/good.parquet");
    let key = format!("raw/inventory/{DT}/good.parquet");
    let rows = parquet_rows(&input);
    let (_, res) = put_and_curate(&lake, &d, "inventory", &key, input.clone(), rows).await;
    let out = res.unwrap();
    assert_eq!(out["rows"], rows);
    let (b, _) = read_back(&lake, &out).await;
    let src = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(input)).unwrap();
    let src_schema = src.schema().clone();
    let src_batches: Vec<RecordBatch> = src.build().unwrap().map(Result::unwrap).collect();
    let src = arrow_select_concat(&src_schema, &src_batches);
    for (i, f) in b.schema().fields().iter().enumerate() {
        let want = arrow_cast::cast(src.column_by_name(f.name()).unwrap(), f.data_type()).unwrap();
        assert_eq!(b.column(i).as_ref(), want.as_ref(), "column {}", f.name());
    }
}

/// Issue 26 (memory bounds): the reader fetches a Parquet row group's column chunks whole, so
/// a row group larger than curate takes is refused before anything is read or written, naming
/// the row group, the limit and what to do. The limit is lowered so the sample's row group is
/// "too large".
#[tokio::test]
async fn a_parquet_row_group_too_large_for_the_lambda_is_refused_saying_what_to_do() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let mut d = deps(&lake, shipped_registry());
    d.max_row_group_bytes = 64;
    let input = sample("inventory/good.parquet");
    let key = format!("raw/inventory/{DT}/big-row-group.parquet");
    let rows = parquet_rows(&input);
    let (_, res) = put_and_curate(&lake, &d, "inventory", &key, input, rows).await;
    let err = res.unwrap_err();
    assert_eq!(err.error_type(), error_names::TOO_LARGE, "{err}");
    let msg = err.to_string();
    for needle in [
        "row group 0",
        "at most 64B",
        "Spark engine",
        "nothing was written",
    ] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    let curated = lake
        .s3
        .list_objects_v2()
        .bucket(&lake.bucket)
        .prefix("curated/")
        .send()
        .await
        .unwrap();
    assert!(curated.contents().is_empty(), "nothing written");
    let open = lake
        .s3
        .list_multipart_uploads()
        .bucket(&lake.bucket)
        .send()
        .await
        .unwrap();
    assert!(open.uploads().is_empty(), "no upload left open");
}

#[tokio::test]
async fn header_only_file_is_curated_as_an_empty_typed_object() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let d = deps(&lake, shipped_registry());
    let key = format!("raw/orders/{DT}/empty.csv");
    let header = "order_id,customer,amount,currency,order_date,created_at,gift\n";
    let (_, res) = put_and_curate(&lake, &d, "orders", &key, header.into(), 0).await;
    let out = res.unwrap();
    assert_eq!(out["rows"], 0);
    let (b, _) = read_back(&lake, &out).await;
    assert_eq!((b.num_rows(), b.num_columns()), (0, 7));
}

#[tokio::test]
async fn a_retry_writes_the_same_key_and_bytes_and_no_second_object() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let d = deps(&lake, shipped_registry());
    let key = format!("raw/orders/{DT}/good.csv");
    let body = sample("orders/good.csv");
    let rows = validated_rows("orders", &key, &body);
    let (req, first) = put_and_curate(&lake, &d, "orders", &key, body, rows).await;
    let first = first.unwrap();
    let again = curate::handle(&d, req, None).await.unwrap();
    assert_eq!(first["key"], again["key"]);
    assert_eq!(first["etag"], again["etag"], "same content");
    let (_, a) = read_back(&lake, &first).await;
    let (_, b) = read_back(&lake, &again).await;
    assert_eq!(a, b);
    assert_eq!(
        curated_keys(&lake, &format!("curated/orders/{DT}/")).await,
        vec![first["key"].as_str().unwrap().to_string()]
    );
}

/// Rows of incompressible text: an output of several multipart parts.
fn wide_csv(rows: usize) -> (String, Vec<String>) {
    use sha2::{Digest, Sha256};
    let mut csv = String::from("order_id,customer,amount,currency,order_date,created_at,gift\n");
    let mut names = Vec::with_capacity(rows);
    for i in 0..rows {
        let h = Sha256::digest(i.to_le_bytes());
        let name: String = h.iter().map(|b| format!("{b:02x}")).collect();
        csv.push_str(&format!(
            "{i},{name},{i}.25,EUR,2026-11-25,2026-11-25T00:00:00Z,\n"
        ));
        names.push(name);
    }
    (csv, names)
}

#[tokio::test]
async fn large_output_goes_up_in_parts_and_reads_back_whole() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let mut d = deps(&lake, shipped_registry());
    d.part_size = 5 << 20; // S3's smallest part: several parts from a ~12 MiB output.
    let rows = 180_000;
    let (csv, names) = wide_csv(rows);
    let key = format!("raw/orders/{DT}/wide.csv");
    let (_, res) = put_and_curate(&lake, &d, "orders", &key, csv.into(), rows as u64).await;
    let out = res.unwrap();
    assert!(out["parts"].as_u64().unwrap() >= 2, "{out}");
    let (b, _) = read_back(&lake, &out).await;
    assert_eq!(b.num_rows(), rows);
    let got = b.column(1).as_string::<i32>();
    for (i, want) in names.iter().enumerate() {
        assert_eq!(got.value(i), want, "row {i}");
    }
    assert_eq!(open_uploads(&lake).await, 0, "the upload was completed");
}

#[tokio::test]
async fn row_count_mismatch_commits_nothing_and_leaves_no_upload() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let mut d = deps(&lake, shipped_registry());
    d.part_size = 5 << 20;
    let (csv, _) = wide_csv(120_000);
    let key = format!("raw/orders/{DT}/wide.csv");
    let (_, res) = put_and_curate(&lake, &d, "orders", &key, csv.into(), 7).await;
    let err = res.unwrap_err();
    assert_eq!(
        err.error_type(),
        lakeline_core::error_names::ROW_COUNT,
        "{err}"
    );
    assert!(err.to_string().contains("validation counted 7"), "{err}");
    assert!(curated_keys(&lake, "curated/").await.is_empty());
    assert_eq!(
        open_uploads(&lake).await,
        0,
        "the multipart upload was aborted"
    );
}

#[tokio::test]
async fn a_replaced_upload_is_superseded_and_nothing_is_written() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    let d = deps(&lake, shipped_registry());
    let key = format!("raw/orders/{DT}/good.csv");
    let etag = lake.put(&key, sample("orders/good.csv")).await;
    // A newer upload replaces the object before the old execution curates it.
    let mut newer = sample("orders/good.csv");
    newer.extend_from_slice(b"9,late,1,EUR,2026-11-25,2026-11-25T00:00:00Z,\n");
    lake.put(&key, newer).await;
    let req = json!({"bucket": lake.bucket, "key": key, "etag": etag, "dataset": "orders",
                     "partition": DT, "rows": 3});
    let out = curate::handle(&d, req, None).await.unwrap();
    assert_eq!(out["status"], "SUPERSEDED", "{out}");
    assert!(curated_keys(&lake, "curated/").await.is_empty());
}

#[tokio::test]
async fn a_file_the_changed_registry_refuses_is_an_error_not_an_object() {
    let lake = Lake::new(lakeline_tests::WAITING_DEFINITION).await;
    // Validated under a registry with `amount` a string; the registry now says int.
    let d = deps(
        &lake,
        registry("  orders:\n    key_pattern: raw/orders/{any}/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n      - {name: amount, type: int}\n"),
    );
    let key = format!("raw/orders/{DT}/x.csv");
    let (_, res) = put_and_curate(&lake, &d, "orders", &key, "id,amount\n1,2.5\n".into(), 1).await;
    let err = res.unwrap_err();
    assert_eq!(
        err.error_type(),
        lakeline_core::error_names::INVALID,
        "{err}"
    );
    assert!(
        err.to_string().contains("row 1") || err.to_string().contains("line 2"),
        "{err}"
    );
    assert!(curated_keys(&lake, "curated/").await.is_empty());
}
