//! Conversion cases, each read back with the parquet crate and compared value by value.

use std::io::Write;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use super::*;
use crate::registry::Registry;

fn registry(datasets: &str) -> Registry {
    Registry::from_yaml(&format!("version: 1\ndatasets:\n{datasets}"), "t.yaml").unwrap()
}

const ORDERS: &str = "  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    columns:\n      - {name: id, type: int, required: true}\n      - {name: name, type: string}\n      - {name: amount, type: float}\n      - {name: day, type: date}\n      - {name: at, type: timestamp}\n      - {name: ok, type: bool}\n";

fn prov() -> Provenance {
    Provenance {
        source: "s3://b/raw/t/x.csv".into(),
        source_version: "etag1".into(),
        dataset: "t".into(),
        registry_sha256: "abc".into(),
    }
}

/// Curates `data` as `key` of the registry's dataset `t`; the Parquet bytes.
fn curate(reg: &Registry, key: &str, data: &[u8]) -> Result<(Curated, Vec<u8>), Error> {
    let (_, ds) = reg.dataset("t").unwrap();
    curate_stream("t", ds, key, 20, data, Vec::new(), &prov())
}

/// Curating `data` as `key` of the registry's dataset `t` fails, saying `why`.
#[track_caller]
fn refused(reg: &Registry, key: &str, data: &[u8], why: &str) {
    let err = curate(reg, key, data).unwrap_err().to_string();
    assert!(err.contains(why), "{err} lacks {why:?}");
}

fn read_back(bytes: Vec<u8>) -> (RecordBatch, std::collections::HashMap<String, String>) {
    let b = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
    let kv = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
        .collect();
    let schema = b.schema().clone();
    let batches: Vec<RecordBatch> = b.build().unwrap().map(Result::unwrap).collect();
    (arrow_select_concat(&schema, &batches), kv)
}

fn arrow_select_concat(schema: &SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    if batches.is_empty() {
        return RecordBatch::new_empty(schema.clone());
    }
    assert_eq!(batches.len(), 1, "small test files read back as one batch");
    batches[0].clone()
}

fn strings(b: &RecordBatch, i: usize) -> Vec<Option<String>> {
    b.column(i)
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

#[test]
fn csv_converts_every_type_with_nulls_bom_crlf_and_quotes() {
    let reg = registry(ORDERS);
    let data = "\u{feff}id,name,amount,day,at,ok\r\n1,\"Zoë, \"\"the\"\" \nsecond line\",1.5,2026-11-25,2026-11-25T10:00:00+01:00,yes\r\n2,,,,,\r\n-3,日本,NaN,1970-01-01,1970-01-01 00:00:00.000001,F\r\n";
    let (c, bytes) = curate(&reg, "raw/t/x.csv", data.as_bytes()).unwrap();
    assert_eq!(c.rows, 3);
    assert_eq!(c.row_groups, 1);
    let (b, kv) = read_back(bytes);
    assert_eq!(kv["lakeline.source"], "s3://b/raw/t/x.csv");
    assert_eq!(kv["lakeline.registry_sha256"], "abc");
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2, -3]
    );
    assert_eq!(
        strings(&b, 1),
        vec![
            Some("Zoë, \"the\" \nsecond line".to_string()),
            None,
            Some("日本".to_string())
        ]
    );
    let amount = b.column(2).as_primitive::<Float64Type>();
    assert_eq!(amount.value(0), 1.5);
    assert!(amount.is_null(1));
    assert!(amount.value(2).is_nan());
    let day = b.column(3).as_primitive::<Date32Type>();
    assert_eq!(day.value(0), 20_782);
    assert_eq!(day.value(2), 0);
    let at = b.column(4).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(0), (20_782 * 86_400 + 9 * 3600) * 1_000_000);
    assert_eq!(at.value(2), 1);
    assert_eq!(at.timezone(), Some("+00:00"));
    let ok = b.column(5).as_boolean();
    assert!(ok.value(0));
    assert!(ok.is_null(1));
    assert!(!ok.value(2));
    assert!(!b.schema().field(0).is_nullable());
    assert!(b.schema().field(1).is_nullable());
}

#[test]
fn tsv_without_header_with_custom_nulls_and_gzip() {
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: tsv\n    header: absent\n    null_values: [\"\", \"NULL\", \"\\\\N\"]\n    columns:\n      - {name: id, type: int, required: true}\n      - {name: reason, type: string}\n      - {name: refunded, type: bool, required: true}\n");
    let text = "1\tdamaged\ttrue\n2\tNULL\tf\n3\t\\N\t0\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    for (key, data) in [
        ("raw/t/r.tsv", text.as_bytes().to_vec()),
        ("raw/t/r.tsv.gz", gz),
    ] {
        let (c, bytes) = curate(&reg, key, &data).unwrap();
        assert_eq!(c.rows, 3, "{key}");
        let (b, _) = read_back(bytes);
        assert_eq!(
            strings(&b, 1),
            vec![Some("damaged".to_string()), None, None],
            "{key}"
        );
        let r = b.column(2).as_boolean();
        assert_eq!((r.value(0), r.value(1), r.value(2)), (true, false, false));
    }
}

#[test]
fn json_lines_map_fields_by_name() {
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: jsonl\n    extra_columns: allow\n    columns:\n      - {name: id, type: string, required: true}\n      - {name: n, type: int}\n      - {name: x, type: float}\n      - {name: ts, type: timestamp}\n      - {name: bot, type: bool}\n");
    let data = "{\"bot\": true, \"id\": \"a\", \"n\": 5, \"x\": 2, \"ts\": \"2026-11-25T00:00:00Z\", \"extra\": [1]}\n\n{\"id\": \"b\\u00e9\", \"n\": null}\n";
    let (c, bytes) = curate(&reg, "raw/t/c.jsonl", data.as_bytes()).unwrap();
    assert_eq!(c.rows, 2);
    let (b, _) = read_back(bytes);
    assert_eq!(
        strings(&b, 0),
        vec![Some("a".to_string()), Some("bé".to_string())]
    );
    let n = b.column(1).as_primitive::<Int64Type>();
    assert_eq!(n.value(0), 5);
    assert!(n.is_null(1));
    assert_eq!(b.column(2).as_primitive::<Float64Type>().value(0), 2.0);
    assert!(b.column(4).as_boolean().value(0));
    assert!(b.column(4).is_null(1));
}

#[test]
fn header_only_file_gives_an_empty_typed_object() {
    let reg = registry(ORDERS);
    let (c, bytes) = curate(&reg, "raw/t/e.csv", b"id,name,amount,day,at,ok\n").unwrap();
    assert_eq!(c.rows, 0);
    let (b, _) = read_back(bytes);
    assert_eq!(b.num_rows(), 0);
    assert_eq!(b.schema().fields().len(), 6);
}

#[test]
fn invalid_file_is_refused_with_validations_report() {
    let reg = registry(ORDERS);
    let err = curate(
        &reg,
        "raw/t/x.csv",
        b"id,name,amount,day,at,ok\n1,a,1,2026-01-01,,\nx,b,2,2026-01-01,,\n",
    )
    .unwrap_err();
    let Error::Invalid(report) = &err else {
        panic!("{err}")
    };
    assert_eq!(report.problems[0].row, Some(2));
    assert!(err.to_string().contains("not a valid int"), "{err}");
}

#[test]
fn same_input_same_bytes() {
    let reg = registry(ORDERS);
    let data = b"id,name,amount,day,at,ok\n1,a,1,2026-01-01,2026-01-01T00:00Z,t\n";
    let a = curate(&reg, "raw/t/x.csv", data).unwrap().1;
    let b = curate(&reg, "raw/t/x.csv", data).unwrap().1;
    assert_eq!(a, b);
}

#[test]
fn many_rows_span_batches_and_keep_order() {
    let reg = registry(ORDERS);
    let n = BATCH_ROWS * 2 + 17;
    let mut data = String::from("id,name,amount,day,at,ok\n");
    for i in 0..n {
        data.push_str(&format!("{i},n{},{i}.5,2026-01-01,,\n", i % 7));
    }
    let (c, bytes) = curate(&reg, "raw/t/x.csv", data.as_bytes()).unwrap();
    assert_eq!(c.rows, n as u64);
    let r = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap();
    let mut next = 0i64;
    for b in r {
        let b = b.unwrap();
        for v in b.column(0).as_primitive::<Int64Type>().values() {
            assert_eq!(*v, next);
            next += 1;
        }
    }
    assert_eq!(next, n as i64);
}

#[test]
fn parquet_input_is_rewritten_to_the_declared_schema() {
    use arrow_array::{Int32Array, StringArray, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: parquet\n    extra_columns: allow\n    columns:\n      - {name: sku, type: string, required: true}\n      - {name: qty, type: int, required: true}\n      - {name: at, type: timestamp}\n");
    let (_, ds) = reg.dataset("t").unwrap();
    let in_schema = Arc::new(Schema::new(vec![
        Field::new("extra", DataType::Utf8, true),
        Field::new("qty", DataType::Int32, false),
        Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("sku", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        in_schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![Some("x"), None])),
            Arc::new(Int32Array::from(vec![7, -1])),
            Arc::new(TimestampMillisecondArray::from(vec![Some(1_500), None])),
            Arc::new(StringArray::from(vec!["a", "b"])),
        ],
    )
    .unwrap();
    let (c, bytes) = curate_batches(
        "t",
        ds,
        "raw/t/i.parquet",
        [Ok(batch.clone())],
        Vec::new(),
        &prov(),
    )
    .unwrap();
    assert_eq!(c.rows, 2);
    let (b, _) = read_back(bytes);
    assert_eq!(b.schema(), schema(ds));
    assert_eq!(strings(&b, 0), vec![Some("a".into()), Some("b".into())]);
    assert_eq!(
        b.column(1).as_primitive::<Int64Type>().values().to_vec(),
        vec![7, -1]
    );
    let at = b.column(2).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(0), 1_500_000);
    assert!(at.is_null(1));

    // Nulls in a required column that the footer did not show are caught row by row.
    let with_null = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("sku", DataType::Utf8, true),
            Field::new("qty", DataType::Int32, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec![Some("a"), None])),
            Arc::new(Int32Array::from(vec![1, 2])),
        ],
    )
    .unwrap();
    let err = curate_batches(
        "t",
        ds,
        "raw/t/i.parquet",
        [Ok(with_null)],
        Vec::new(),
        &prov(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("first in row 2"), "{err}");
}

#[test]
fn output_keys_table() {
    let p = "curated/orders/dt=2026-11-25/";
    let h = |k: &str| output_key(p, k);
    let a = h("raw/orders/dt=2026-11-25/export 1.csv");
    assert!(
        a.starts_with("curated/orders/dt=2026-11-25/export 1-"),
        "{a}"
    );
    assert!(a.ends_with(".parquet"));
    assert_eq!(a.len(), p.len() + "export 1-".len() + 12 + ".parquet".len());
    assert_eq!(a, h("raw/orders/dt=2026-11-25/export 1.csv"), "pure");
    let gz = h("raw/orders/dt=2026-11-25/export 1.csv.gz");
    assert!(
        gz.starts_with("curated/orders/dt=2026-11-25/export 1-"),
        "{gz}"
    );
    assert_ne!(a, gz, "same stem, different upload");
    assert!(h("raw/o/.hidden").contains("/.hidden-"));
    assert!(h("raw/o/noext").contains("/noext-"));
}

/// Parquet as pyarrow and Spark write it by default (snappy), and gzip and lz4: all read.
#[test]
fn parquet_inputs_in_every_common_codec_are_read() {
    use arrow_array::Int64Array;
    use parquet::basic::{Compression, GzipLevel};
    use parquet::file::properties::WriterProperties;
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: parquet\n    columns:\n      - {name: id, type: int, required: true}\n");
    let (_, ds) = reg.dataset("t").unwrap();
    let batch = RecordBatch::try_new(
        schema(ds),
        vec![Arc::new(Int64Array::from((0..1000).collect::<Vec<i64>>()))],
    )
    .unwrap();
    for codec in [
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::LZ4_RAW,
        Compression::UNCOMPRESSED,
    ] {
        let props = WriterProperties::builder().set_compression(codec).build();
        let mut w = ArrowWriter::try_new(Vec::new(), schema(ds), Some(props)).unwrap();
        w.write(&batch).unwrap();
        let input = w.into_inner().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(input))
            .unwrap()
            .build()
            .unwrap();
        let (c, out) = curate_batches("t", ds, "raw/t/x.parquet", reader, Vec::new(), &prov())
            .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(c.rows, 1000, "{codec:?}");
        let (b, _) = read_back(out);
        assert_eq!(b.column(0).as_primitive::<Int64Type>().value(999), 999);
    }
}

/// The same vectors are in tests/spark/test_table.py: the Spark job stages where the commit
/// step looks.
#[test]
fn staged_prefixes_table() {
    for (dataset, key, version, want) in [
        (
            "orders",
            "raw/orders/dt=2026-11-25/good.csv",
            "v1",
            "_lakeline/staging/tables/orders/good-75e70125da91/v1/",
        ),
        (
            "orders",
            "raw/orders/dt=2026-11-25/good.csv",
            "\"3858f62230ac3c91\"/x y",
            "_lakeline/staging/tables/orders/good-75e70125da91/_3858f62230ac3c91__x_y/",
        ),
    ] {
        assert_eq!(
            staged_prefix(dataset, key, version),
            want,
            "{key} {version}"
        );
    }
}

/// The Parquet physical type of each column of a curated file.
fn physical_types(bytes: &[u8]) -> Vec<parquet::basic::Type> {
    let b = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes)).unwrap();
    let schema = b.metadata().file_metadata().schema_descr_ptr();
    (0..schema.num_columns())
        .map(|i| schema.column(i).physical_type())
        .collect()
}

#[test]
fn decimals_are_curated_exactly_on_the_physical_type_their_precision_takes() {
    use arrow_array::types::Decimal128Type;
    use parquet::basic::Type as Physical;
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    columns:\n      - {name: small, type: \"decimal(9,2)\"}\n      - {name: money, type: \"decimal(12,2)\", required: true}\n      - {name: wide, type: \"decimal(38,10)\"}\n");
    let wide = "1234567890123456789012345678.0123456789";
    let data =
        format!("small,money,wide\n1.5,0.10,{wide}\n,-9999999999.99,\n+.5,5.,-0.0000000001\n");
    let (c, bytes) = curate(&reg, "raw/t/d.csv", data.as_bytes()).unwrap();
    assert_eq!(c.rows, 3);
    assert_eq!(
        physical_types(&bytes),
        [
            Physical::INT32,
            Physical::INT64,
            Physical::FIXED_LEN_BYTE_ARRAY
        ]
    );
    let (b, _) = read_back(bytes);
    let col = |i: usize| b.column(i).as_primitive::<Decimal128Type>().clone();
    assert_eq!(
        b.schema().field(1).data_type(),
        &arrow_schema::DataType::Decimal128(12, 2)
    );
    assert_eq!(
        col(0).iter().collect::<Vec<_>>(),
        [Some(150), None, Some(50)]
    );
    assert_eq!(col(1).values().to_vec(), [10, -999_999_999_999, 500]);
    assert_eq!(
        col(2).iter().collect::<Vec<_>>(),
        [
            Some(12_345_678_901_234_567_890_123_456_780_123_456_789),
            None,
            Some(-1)
        ]
    );
    assert_eq!(col(2).value_as_string(0), wide);

    // A value validation refuses never reaches the writer: the file is refused whole.
    refused(
        &reg,
        "raw/t/e.csv",
        b"small,money,wide\n1.555,1,\n",
        "3 digits after the point",
    );
}

#[test]
fn json_decimals_come_from_strings_and_short_numbers() {
    use arrow_array::types::Decimal128Type;
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: jsonl\n    columns:\n      - {name: amount, type: \"decimal(12,2)\"}\n");
    let data = "{\"amount\": \"12.34\"}\n{\"amount\": 0.1}\n{\"amount\": 7}\n{\"amount\": null}\n";
    let (c, bytes) = curate(&reg, "raw/t/j.jsonl", data.as_bytes()).unwrap();
    assert_eq!(c.rows, 4);
    let (b, _) = read_back(bytes);
    let got: Vec<Option<i128>> = b
        .column(0)
        .as_primitive::<Decimal128Type>()
        .iter()
        .collect();
    assert_eq!(got, [Some(1234), Some(10), Some(700), None]);
    refused(
        &reg,
        "raw/t/k.jsonl",
        b"{\"amount\": 1.234}\n",
        "3 digits after the point",
    );
    refused(
        &reg,
        "raw/t/k.jsonl",
        b"{\"amount\": true}\n",
        "found a boolean",
    );
}

#[test]
fn parquet_decimals_convert_only_when_exact() {
    use arrow_array::types::Decimal128Type;
    use arrow_array::Decimal128Array;
    use arrow_schema::{DataType, Field, Schema};
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: parquet\n    columns:\n      - {name: amount, type: \"decimal(12,2)\"}\n");
    let (_, ds) = reg.dataset("t").unwrap();
    let batch = |p: u8, s: i8| {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "amount",
                DataType::Decimal128(p, s),
                true,
            )])),
            vec![Arc::new(
                Decimal128Array::from(vec![Some(1234), None])
                    .with_precision_and_scale(p, s)
                    .unwrap(),
            )],
        )
        .unwrap()
    };
    let run =
        |b: RecordBatch| curate_batches("t", ds, "raw/t/p.parquet", [Ok(b)], Vec::new(), &prov());
    let (_, bytes) = run(batch(10, 2)).unwrap();
    let (b, _) = read_back(bytes);
    let got: Vec<Option<i128>> = b
        .column(0)
        .as_primitive::<Decimal128Type>()
        .iter()
        .collect();
    assert_eq!(got, [Some(1234), None]);
    for (p, s, why) in [
        (12, 3, "decimal(12,2), the file has Decimal128(12, 3)"),
        (14, 2, "Decimal128(14, 2)"),
    ] {
        let err = run(batch(p, s)).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
}

#[test]
fn by_name_files_are_curated_in_declared_order_by_name() {
    use arrow_array::types::Decimal128Type;
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    header: by_name\n    extra_columns: allow\n    columns:\n      - {name: id, type: int, required: true}\n      - {name: name, type: string}\n      - {name: amount, type: \"decimal(6,2)\"}\n");
    // Reordered, one undeclared column, `name` missing.
    let data = "note,amount,id\nx,1.50,1\n\"y,z\",,2\n";
    let (c, bytes) = curate(&reg, "raw/t/n.csv", data.as_bytes()).unwrap();
    assert_eq!(c.rows, 2);
    let (b, _) = read_back(bytes);
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "name", "amount"]);
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        [1, 2]
    );
    assert_eq!(strings(&b, 1), [None, None]);
    let amounts: Vec<Option<i128>> = b
        .column(2)
        .as_primitive::<Decimal128Type>()
        .iter()
        .collect();
    assert_eq!(amounts, [Some(150), None]);
}

#[test]
fn a_timezone_makes_offsetless_timestamps_local_and_refuses_dst_gaps() {
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    timezone: Europe/Berlin\n    columns:\n      - {name: id, type: int}\n      - {name: at, type: timestamp, min: \"2026-01-01 00:00\"}\n");
    let data = "id,at\n1,2026-01-15 10:00\n2,2026-07-15T10:00:00Z\n3,2026-01-01T00:00:00\n";
    let (_, bytes) = curate(&reg, "raw/t/z.csv", data.as_bytes()).unwrap();
    let (b, _) = read_back(bytes);
    let at = b.column(1).as_primitive::<TimestampMicrosecondType>();
    let utc = |v: &str| crate::types::parse_timestamp(v.as_bytes()).unwrap();
    assert_eq!(
        at.values().to_vec(),
        [
            utc("2026-01-15T09:00Z"),
            utc("2026-07-15T10:00Z"),
            utc("2025-12-31T23:00Z")
        ]
    );
    // The bound is local too: 2026-01-01 00:00 in Berlin, so 23:30Z the day before is in,
    // 22:59Z is not.
    refused(
        &reg,
        "raw/t/y.csv",
        b"id,at\n1,2025-12-31T22:59:00Z\n",
        "below the minimum",
    );
    curate(&reg, "raw/t/x.csv", b"id,at\n1,2025-12-31T23:30:00Z\n").unwrap();
    refused(
        &reg,
        "raw/t/w.csv",
        b"id,at\n1,2026-03-29 02:30\n",
        "does not exist in Europe/Berlin",
    );
    let json = registry("  t:\n    key_pattern: raw/t/{file}\n    format: jsonl\n    timezone: Europe/Berlin\n    columns:\n      - {name: at, type: timestamp}\n");
    refused(
        &json,
        "raw/t/v.jsonl",
        b"{\"at\": \"2026-10-25 02:30\"}\n",
        "happens twice in Europe/Berlin",
    );
    let (_, bytes) = curate(&json, "raw/t/u.jsonl", b"{\"at\": \"2026-07-15 10:00\"}\n").unwrap();
    let (b, _) = read_back(bytes);
    let at = b.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(0), utc("2026-07-15T08:00Z"));
    let bad = crate::registry::Registry::from_yaml("version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    timezone: Mars/Olympus\n    columns: [{name: a, type: int}]\n", "t.yaml")
        .unwrap_err()
        .to_string();
    assert!(bad.contains("unknown time zone \"Mars/Olympus\""), "{bad}");
}

#[test]
fn json_columns_keep_objects_and_arrays_as_json_text() {
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: jsonl\n    columns:\n      - {name: id, type: int}\n      - {name: attrs, type: json}\n");
    let data = "{\"id\": 1, \"attrs\": {\"b\": [1, 2.5, null], \"a\": {\"x\": \"é\"}}}\n{\"id\": 2, \"attrs\": []}\n{\"id\": 3}\n";
    let (c, bytes) = curate(&reg, "raw/t/j.jsonl", data.as_bytes()).unwrap();
    assert_eq!(c.rows, 3);
    let (b, _) = read_back(bytes);
    // Compact, the keys in their order (not sorted).
    assert_eq!(
        strings(&b, 1),
        [
            Some("{\"b\":[1,2.5,null],\"a\":{\"x\":\"é\"}}".to_string()),
            Some("[]".to_string()),
            None
        ]
    );
    for (line, why) in [
        (
            "{\"id\": 4, \"attrs\": \"text\"}\n",
            "not a valid json (found a string)",
        ),
        (
            "{\"id\": 4, \"attrs\": 5}\n",
            "not a valid json (found a number)",
        ),
    ] {
        refused(&reg, "raw/t/k.jsonl", line.as_bytes(), why);
    }
    let csv = registry("  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n      - {name: attrs, type: json}\n");
    let text = "id,attrs\n1,\"{\"\"a\"\": [1, 2]}\"\n2,[ ]\n3,\n";
    let (_, bytes) = curate(&csv, "raw/t/c.csv", text.as_bytes()).unwrap();
    let (b, _) = read_back(bytes);
    // A CSV value is kept as written.
    assert_eq!(
        strings(&b, 1),
        [
            Some("{\"a\": [1, 2]}".to_string()),
            Some("[ ]".to_string()),
            None
        ]
    );
    for (value, why) in [
        (
            "\"{\"\"a\"\": }\"",
            "not valid JSON: expected value at line 1 column 7",
        ),
        (
            "42",
            "not a valid json: a json column holds an object or an array",
        ),
        ("\"[1,]\"", "not valid JSON"),
    ] {
        let err = curate(
            &csv,
            "raw/t/d.csv",
            format!("id,attrs\n1,{value}\n").as_bytes(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(why), "{value}: {err}");
    }
    let refused = crate::registry::Registry::from_yaml("version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    columns: [{name: a, type: json, unique: true}]\n", "t.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("unique: does not apply to json columns"),
        "{refused}"
    );
}

#[test]
fn defaults_fill_what_rows_lack_and_are_checked_at_load() {
    use arrow_array::types::Decimal128Type;
    let cols = "    columns:\n      - {name: id, type: int, required: true}\n      - {name: qty, type: int, required: true, default: 1, min: 0}\n      - {name: amount, type: \"decimal(12,2)\", default: 0.5}\n      - {name: cur, type: string, default: EUR, allowed: [EUR, USD]}\n      - {name: at, type: timestamp, default: \"2026-01-01 00:00\"}\n      - {name: attrs, type: json, default: \"{}\"}\n";
    let reg = registry(&format!("  t:\n    key_pattern: raw/t/{{file}}\n    format: csv\n    header: by_name\n    timezone: Europe/Berlin\n{cols}"));
    // `attrs` is not in the header at all; row 2 has nulls everywhere else.
    let (c, bytes) = curate(
        &reg,
        "raw/t/d.csv",
        b"id,qty,amount,cur,at\n1,5,2.25,USD,2026-07-01 12:00\n2,,,,\n",
    )
    .unwrap();
    assert_eq!(c.rows, 2);
    let (b, _) = read_back(bytes);
    let utc = |v: &str| crate::types::parse_timestamp(v.as_bytes()).unwrap();
    assert_eq!(
        b.column(1).as_primitive::<Int64Type>().values().to_vec(),
        [5, 1]
    );
    let amounts: Vec<Option<i128>> = b
        .column(2)
        .as_primitive::<Decimal128Type>()
        .iter()
        .collect();
    assert_eq!(amounts, [Some(225), Some(50)]);
    assert_eq!(
        strings(&b, 3),
        [Some("USD".to_string()), Some("EUR".to_string())]
    );
    let at = b.column(4).as_primitive::<TimestampMicrosecondType>();
    // The default is a local time of the zone, as the values are.
    assert_eq!(
        at.values().to_vec(),
        [utc("2026-07-01T10:00Z"), utc("2025-12-31T23:00Z")]
    );
    assert_eq!(
        strings(&b, 5),
        [Some("{}".to_string()), Some("{}".to_string())]
    );
    // The required column with a default takes a null; the one without refuses it.
    refused(
        &reg,
        "raw/t/e.csv",
        b"id,qty\n,3\n",
        "required value is missing",
    );

    let json = registry(&format!(
        "  t:\n    key_pattern: raw/t/{{file}}\n    format: jsonl\n{cols}"
    ));
    let (_, bytes) = curate(&json, "raw/t/j.jsonl", b"{\"id\": 1, \"qty\": null}\n").unwrap();
    let (b, _) = read_back(bytes);
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 1);
    assert_eq!(strings(&b, 3), [Some("EUR".to_string())]);

    for (column, why) in [
        (
            "{name: n, type: int, default: abc}",
            "columns[0].default: \"abc\": not a valid int",
        ),
        (
            "{name: n, type: \"decimal(12,2)\", default: 1.234}",
            "\"1.234\": 3 digits after the point",
        ),
        (
            "{name: n, type: int, min: 0, default: -1}",
            "\"-1\": below the minimum (min 0)",
        ),
        (
            "{name: n, type: string, allowed: [a], default: b}",
            "not one of the allowed values",
        ),
        (
            "{name: n, type: json, default: 5}",
            "a json column holds an object or an array",
        ),
        (
            "{name: n, type: timestamp, default: \"2026-03-29 02:30\"}",
            "does not exist in Europe/Berlin",
        ),
    ] {
        let text = format!("version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{{file}}\n    format: csv\n    timezone: Europe/Berlin\n    columns: [{column}]\n");
        let err = Registry::from_yaml(&text, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{column}: {err}");
    }
}

#[test]
fn parquet_nulls_take_the_default() {
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: parquet\n    columns:\n      - {name: id, type: int, required: true, default: 0}\n      - {name: cur, type: string, default: EUR}\n");
    let (_, ds) = reg.dataset("t").unwrap();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("cur", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![Some(7), None])),
            Arc::new(StringArray::from(vec![None, Some("USD")])),
        ],
    )
    .unwrap();
    let (_, bytes) =
        curate_batches("t", ds, "raw/t/p.parquet", [Ok(batch)], Vec::new(), &prov()).unwrap();
    let (b, _) = read_back(bytes);
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        [7, 0]
    );
    assert_eq!(
        strings(&b, 1),
        [Some("EUR".to_string()), Some("USD".to_string())]
    );
}

#[test]
fn by_name_columns_missing_from_the_header_take_their_defaults() {
    // Required, and no null value at all: the default fills it all the same.
    let reg = registry("  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    header: by_name\n    null_values: []\n    columns:\n      - {name: id, type: int, required: true}\n      - {name: qty, type: int, required: true, default: 1}\n      - {name: note, type: string, default: \"\"}\n");
    let (_, bytes) = curate(&reg, "raw/t/n.csv", b"id\n7\n").unwrap();
    let (b, _) = read_back(bytes);
    assert_eq!(
        b.column(1).as_primitive::<Int64Type>().values().to_vec(),
        [1]
    );
    assert_eq!(strings(&b, 2), [Some(String::new())]);
    let err = curate(&reg, "raw/t/m.csv", b"qty\n2\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("required column is not in the header"),
        "{err}"
    );
}
