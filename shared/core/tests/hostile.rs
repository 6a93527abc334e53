//! Hostile inputs: a table of keys and files an S3 data lake really receives (and some it should
//! never receive), each with the verdict the engine must reach.
//!
//! Every case runs through the same path a Lambda takes, using only the public API: decode the
//! event key, skip folder markers, route the key, precheck name and size (no read on failure),
//! then stream CSV/TSV/JSONL or read the Parquet footer the way the ranged GETs would.

use std::io::{Read, Write};
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;
use lakeline_core::keys::{decode_event_key, execution_name, is_folder_marker, quarantine_key};
use lakeline_core::registry::{Dataset, Format, KeyRoute, Registry};
use lakeline_core::validate::{
    check_parquet_metadata, key_problem, parquet_footer, precheck, validate_stream, Problem,
    ProblemCode, Report, Verdict, PARQUET_TAIL_LEN,
};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;

use ProblemCode::*;

/// The test registry: one dataset per format, plus two with small limits.
const REGISTRY: &str = r#"
version: 1
lake: {quarantine_prefix: quarantine/, max_problems: 20}
datasets:
  orders:
    key_pattern: raw/orders/dt={date}/{file}
    format: csv
    columns:
      - {name: id,     type: int,       required: true}
      - {name: name,   type: string,    required: true}
      - {name: amount, type: float}
      - {name: day,    type: date}
      - {name: at,     type: timestamp}
      - {name: ok,     type: bool}
    size: {max: 100MiB, max_record: 16MiB}
  tiny:
    key_pattern: raw/tiny/{file}
    format: csv
    compression: none
    columns:
      - {name: id,   type: int, required: true}
      - {name: note, type: string}
    size: {max_record: 1KiB}
  archive:
    key_pattern: raw/archive/{file}
    format: csv
    compression: gzip
    columns:
      - {name: id,   type: int, required: true}
      - {name: note, type: string}
    size: {max_record: 1KiB, max_decompressed: 1MiB}
  returns:
    key_pattern: raw/returns/dt={date}/{file}
    format: tsv
    header: absent
    null_values: ["", "\\N"]
    columns:
      - {name: return_id, type: int,    required: true}
      - {name: order_id,  type: int,    required: true}
      - {name: reason,    type: string}
      - {name: refunded,  type: bool,   required: true}
  events:
    key_pattern: raw/events/dt={date}/{file}
    format: jsonl
    extra_columns: reject
    columns:
      - {name: id,    type: string,    required: true}
      - {name: user,  type: int,       required: true}
      - {name: score, type: float}
      - {name: ts,    type: timestamp, required: true}
      - {name: day,   type: date}
      - {name: bot,   type: bool}
    size: {max_record: 64KiB}
  legacy:
    key_pattern: raw/legacy/{file}
    format: csv
    allow_control_chars: true
    columns:
      - {name: id,   type: int, required: true}
      - {name: note, type: string}
  legacy_events:
    key_pattern: raw/legacy-events/{file}
    format: jsonl
    allow_control_chars: true
    columns:
      - {name: id,   type: string, required: true}
  ruled:
    key_pattern: raw/ruled/dt={date}/{file}
    format: csv
    unique_key: [region, day]
    rows: {max: 5}
    partition_freshness: {max_age_days: 3}
    columns:
      - {name: id,     type: int,    unique: true}
      - {name: code,   type: string, pattern: "[A-Z]{3}"}
      - {name: region, type: string, allowed: [eu, us]}
      - {name: qty,    type: float,  min: 0, max: 100}
      - {name: day,    type: date,   min: 2026-01-01}
      - {name: email,  type: string, sensitive: true, length: {max: 10}}
  ruled_events:
    key_pattern: raw/ruled-events/{file}
    format: jsonl
    columns:
      - {name: id, type: string, unique: true, pattern: "e[0-9]+"}
      - {name: n,  type: int,    min: 0, allowed: [0, 1, 2]}
      - {name: x,  type: float,  max: 1}
  ruled_stock:
    key_pattern: raw/ruled-stock/dt={date}/{file}
    format: parquet
    rows: {min: 1}
    columns:
      - {name: sku,   type: string, required: true, pattern: "[A-Z]-[0-9]", unique: true}
      - {name: qty,   type: int,    required: true, min: 1}
      - {name: price, type: float,  max: 5}
      - {name: as_of, type: date,   required: true, min: 2025-01-01, max: 2025-12-31}
  stock:
    key_pattern: raw/stock/dt={date}/{file}
    format: parquet
    columns:
      - {name: sku,   type: string, required: true}
      - {name: qty,   type: int,    required: true}
      - {name: price, type: float}
      - {name: as_of, type: date,   required: true}
"#;

// ------------------------------------------------------------------------------------------
// Expectations

/// What the pipeline decided about one upload.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// The event key does not decode.
    BadKey,
    /// A console "folder": skipped.
    Folder,
    /// Under no dataset: skipped.
    Unowned,
    Valid,
    Invalid,
}

/// The expected outcome; unset fields are not checked.
#[derive(Debug, Clone)]
struct Want {
    kind: Kind,
    /// The first problem's code (the report's reason code).
    code: Option<ProblemCode>,
    line: Option<u64>,
    row: Option<u64>,
    column: Option<&'static str>,
    /// Exactly these problem codes, in order.
    codes: Option<Vec<ProblemCode>>,
    rows: Option<u64>,
    /// (number of problems, stopped_early)
    count: Option<(usize, bool)>,
    /// The first problem's quoted value.
    value: Option<&'static str>,
    /// (line, row) of the last problem.
    last_at: Option<(Option<u64>, Option<u64>)>,
    /// The decoded key.
    decoded: Option<&'static str>,
}

fn want(kind: Kind) -> Want {
    Want {
        kind,
        code: None,
        line: None,
        row: None,
        column: None,
        codes: None,
        rows: None,
        count: None,
        value: None,
        last_at: None,
        decoded: None,
    }
}

fn valid(rows: u64) -> Want {
    Want {
        rows: Some(rows),
        ..want(Kind::Valid)
    }
}

fn invalid(code: ProblemCode) -> Want {
    Want {
        code: Some(code),
        ..want(Kind::Invalid)
    }
}

impl Want {
    fn at(mut self, line: u64, row: u64) -> Want {
        self.line = Some(line);
        self.row = Some(row);
        self
    }
    fn line(mut self, line: u64) -> Want {
        self.line = Some(line);
        self
    }
    fn col(mut self, c: &'static str) -> Want {
        self.column = Some(c);
        self
    }
    fn codes(mut self, c: &[ProblemCode]) -> Want {
        self.codes = Some(c.to_vec());
        self
    }
    fn count(mut self, n: usize, stopped_early: bool) -> Want {
        self.count = Some((n, stopped_early));
        self
    }
    fn value(mut self, v: &'static str) -> Want {
        self.value = Some(v);
        self
    }
    fn last_at(mut self, line: u64, row: Option<u64>) -> Want {
        self.last_at = Some((Some(line), row));
        self
    }
    fn decoded(mut self, k: &'static str) -> Want {
        self.decoded = Some(k);
        self
    }
}

/// One hostile upload: the key as the S3 event carries it, the object, the expected outcome.
struct Case {
    name: &'static str,
    raw_key: String,
    body: Body,
    want: Want,
}

enum Body {
    Bytes(Vec<u8>),
    /// Only the size is known (`HeadObject`); any read is a test failure.
    Unreadable(u64),
}

fn case(name: &'static str, raw_key: &str, body: impl Into<Vec<u8>>, want: Want) -> Case {
    Case {
        name,
        raw_key: raw_key.to_string(),
        body: Body::Bytes(body.into()),
        want,
    }
}

fn case_unread(name: &'static str, raw_key: &str, size: u64, want: Want) -> Case {
    Case {
        name,
        raw_key: raw_key.to_string(),
        body: Body::Unreadable(size),
        want,
    }
}

// ------------------------------------------------------------------------------------------
// The pipeline and the one check

/// What the pipeline observed.
#[derive(Debug)]
struct Outcome {
    kind: Kind,
    key: Option<String>,
    report: Option<Report>,
}

/// A reader that fails the test if anything reads it.
struct MustNotRead;

impl Read for MustNotRead {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        panic!("the object was read although precheck rejected it")
    }
}

/// A report for a decision taken without streaming (key, precheck, Parquet footer).
fn report(
    name: &str,
    ds: &Dataset,
    key: &str,
    rows: u64,
    problems: Vec<Problem>,
    stopped_early: bool,
) -> Report {
    Report {
        verdict: if problems.is_empty() {
            Verdict::Valid
        } else {
            Verdict::Invalid
        },
        dataset: name.to_string(),
        key: key.to_string(),
        format: ds.format,
        bytes_read: 0,
        rows,
        problems,
        stopped_early,
        unchecked: Vec::new(),
    }
}

fn run(reg: &Registry, c: &Case) -> Outcome {
    let size = match &c.body {
        Body::Bytes(b) => b.len() as u64,
        Body::Unreadable(n) => *n,
    };
    let Ok(key) = decode_event_key(&c.raw_key) else {
        return Outcome {
            kind: Kind::BadKey,
            key: None,
            report: None,
        };
    };
    let done = |kind, report| Outcome {
        kind,
        key: Some(key.clone()),
        report,
    };
    if is_folder_marker(&key, size) {
        return done(Kind::Folder, None);
    }
    let (name, ds, m) = match reg.route(&key) {
        KeyRoute::Unowned => return done(Kind::Unowned, None),
        KeyRoute::Misnamed { name, dataset, why } => {
            let p = key_problem(&why, dataset.key_pattern.as_str());
            return done(
                Kind::Invalid,
                Some(report(name.as_str(), dataset, &key, 0, vec![p], false)),
            );
        }
        KeyRoute::Matched { name, dataset, m } => (name, dataset, m),
    };
    // Every routed key gets a clean, bounded, deterministic execution name.
    let exec = execution_name(
        name.as_str(),
        m.date.as_deref(),
        &m.file,
        "lake",
        &key,
        "etag",
    );
    assert!(
        exec.len() <= 80,
        "{}: execution name too long: {exec}",
        c.name
    );
    assert!(
        exec.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'),
        "{}: {exec}",
        c.name
    );
    assert_eq!(
        exec,
        execution_name(
            name.as_str(),
            m.date.as_deref(),
            &m.file,
            "lake",
            &key,
            "etag"
        )
    );

    let pre = precheck(ds, &m.file, size);
    if !pre.is_empty() {
        return done(
            Kind::Invalid,
            Some(report(name.as_str(), ds, &key, 0, pre, false)),
        );
    }
    let max = reg.lake.max_problems;
    let report = match (&c.body, ds.format) {
        (Body::Unreadable(_), _) => {
            validate_stream(name.as_str(), ds, &key, max, MustNotRead).expect("source error")
        }
        (Body::Bytes(bytes), Format::Parquet) => {
            // The Lambda's two ranged reads: the tail, then the metadata it points at.
            let tail = &bytes[bytes.len().saturating_sub(PARQUET_TAIL_LEN as usize)..];
            let (rows, problems, stopped_early) = match parquet_footer(tail, size) {
                Err(p) => (0, vec![p], false),
                Ok(f) => {
                    let start = f.metadata_start as usize;
                    check_parquet_metadata(&bytes[start..start + f.metadata_len as usize], ds, max)
                }
            };
            report(name.as_str(), ds, &key, rows, problems, stopped_early)
        }
        (Body::Bytes(bytes), _) => validate_stream(name.as_str(), ds, &key, max, bytes.as_slice())
            .expect("a slice never fails"),
    };
    let kind = if report.verdict == Verdict::Valid {
        Kind::Valid
    } else {
        Kind::Invalid
    };
    done(kind, Some(report))
}

/// Runs one case; returns what differs from the expectation (empty when it passes).
fn check(reg: &Registry, c: &Case) -> Vec<String> {
    let out = run(reg, c);
    let w = &c.want;
    let mut errs = Vec::new();
    let mut expect = |what: &str, ok: bool, got: String| {
        if !ok {
            errs.push(format!("{what}: got {got}"));
        }
    };
    expect(
        "kind",
        out.kind == w.kind,
        format!("{:?}, want {:?}", out.kind, w.kind),
    );
    if let Some(d) = w.decoded {
        expect(
            "decoded key",
            out.key.as_deref() == Some(d),
            format!("{:?}, want {d:?}", out.key),
        );
    }
    if let Some(r) = &out.report {
        assert_eq!(
            r.verdict == Verdict::Valid,
            r.problems.is_empty(),
            "{}: verdict and problems disagree",
            c.name
        );
        let first = r.problems.first();
        if let Some(code) = w.code {
            expect(
                "reason code",
                r.reason_code() == Some(code),
                format!("{:?}, want {code:?}", r.reason_code()),
            );
        }
        if w.line.is_some() {
            expect(
                "line",
                first.and_then(|p| p.line) == w.line,
                format!("{:?}, want {:?}", first.and_then(|p| p.line), w.line),
            );
        }
        if w.row.is_some() {
            expect(
                "row",
                first.and_then(|p| p.row) == w.row,
                format!("{:?}, want {:?}", first.and_then(|p| p.row), w.row),
            );
        }
        if let Some(col) = w.column {
            let got = first.and_then(|p| p.column.clone());
            expect(
                "column",
                got.as_deref() == Some(col),
                format!("{got:?}, want {col:?}"),
            );
        }
        if let Some(v) = w.value {
            let got = first.and_then(|p| p.value.clone());
            expect(
                "value",
                got.as_deref() == Some(v),
                format!("{got:?}, want {v:?}"),
            );
        }
        if let Some(codes) = &w.codes {
            let got: Vec<ProblemCode> = r.problems.iter().map(|p| p.code).collect();
            expect("codes", &got == codes, format!("{got:?}, want {codes:?}"));
        }
        if let Some(want_at) = w.last_at {
            let got = r.problems.last().map(|p| (p.line, p.row));
            expect(
                "last problem at",
                got == Some(want_at),
                format!("{got:?}, want {want_at:?}"),
            );
        }
        if let Some(rows) = w.rows {
            expect("rows", r.rows == rows, format!("{}, want {rows}", r.rows));
        }
        if let Some((n, stopped)) = w.count {
            expect(
                "problem count",
                r.problems.len() == n && r.stopped_early == stopped,
                format!(
                    "{} (stopped_early {}), want {n} ({stopped})",
                    r.problems.len(),
                    r.stopped_early
                ),
            );
        }
        if r.verdict == Verdict::Invalid {
            // The way back from quarantine is to strip the prefix, and a quarantined object is
            // never routed again (no validate-quarantine loop).
            let q = quarantine_key(&reg.lake.quarantine_prefix, &r.key);
            assert_eq!(
                q.strip_prefix(&reg.lake.quarantine_prefix),
                Some(r.key.as_str())
            );
            assert_eq!(
                reg.route(&q),
                KeyRoute::Unowned,
                "{}: quarantine key routed",
                c.name
            );
        }
        if !errs.is_empty() {
            errs.push(format!("report: {}", r.summary(400)));
        }
    }
    errs
}

// ------------------------------------------------------------------------------------------
// Inputs

const HEADER: &str = "id,name,amount,day,at,ok\n";

fn csv(rows: &str) -> Vec<u8> {
    format!("{HEADER}{rows}").into_bytes()
}

fn bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A column's values for [`parquet_file`], in schema order.
enum Pq {
    Str(Vec<Option<&'static str>>),
    I64(Vec<Option<i64>>),
    I32(Vec<Option<i32>>),
    F64(Vec<Option<f64>>),
}

/// Writes a real one-row-group Parquet file with the low-level writer (no arrow).
fn parquet_file(schema: &str, cols: Vec<Pq>) -> Vec<u8> {
    fn write<T: DataType>(cw: &mut SerializedColumnWriter<'_>, v: &[Option<T::T>]) {
        let w = cw.typed::<T>();
        let vals: Vec<T::T> = v.iter().flatten().cloned().collect();
        let defs: Option<Vec<i16>> = (w.get_descriptor().max_def_level() > 0)
            .then(|| v.iter().map(|x| i16::from(x.is_some())).collect());
        w.write_batch(&vals, defs.as_deref(), None).unwrap();
    }
    let schema = Arc::new(parse_message_type(schema).expect("schema"));
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(Vec::new(), schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut cols = cols.into_iter();
    while let Some(mut cw) = rg.next_column().unwrap() {
        match cols.next().expect("a value list per column") {
            Pq::Str(v) => {
                let v: Vec<Option<ByteArray>> =
                    v.into_iter().map(|x| x.map(ByteArray::from)).collect();
                write::<ByteArrayType>(&mut cw, &v)
            }
            Pq::I64(v) => write::<Int64Type>(&mut cw, &v),
            Pq::I32(v) => write::<Int32Type>(&mut cw, &v),
            Pq::F64(v) => write::<DoubleType>(&mut cw, &v),
        }
        cw.close().unwrap();
    }
    rg.close().unwrap();
    w.into_inner().unwrap()
}

const STOCK_SCHEMA: &str = "message stock {
    REQUIRED BYTE_ARRAY sku (UTF8);
    REQUIRED INT64 qty;
    OPTIONAL DOUBLE price;
    REQUIRED INT32 as_of (DATE);
}";

fn stock_cols() -> Vec<Pq> {
    vec![
        Pq::Str(vec![Some("A-1"), Some("B-2"), Some("C-3")]),
        Pq::I64(vec![Some(5), Some(0), Some(12)]),
        Pq::F64(vec![Some(9.5), None, Some(1.25)]),
        Pq::I32(vec![Some(20_417), Some(20_417), Some(20_417)]),
    ]
}

fn good_parquet() -> Vec<u8> {
    parquet_file(STOCK_SCHEMA, stock_cols())
}

/// `PAR1`, `body`, then a tail claiming `len` metadata bytes and ending in `magic`.
fn fake_parquet(body: &[u8], len: u32, magic: &[u8; 4]) -> Vec<u8> {
    bytes(&[b"PAR1", body, &len.to_le_bytes(), magic])
}

fn jsonl(lines: &[&str]) -> Vec<u8> {
    let mut s = lines.join("\n");
    s.push('\n');
    s.into_bytes()
}

const EV_OK: &str = r#"{"id":"e1","user":7,"score":1.5,"ts":"2026-11-25T10:00:00Z","day":"2026-11-25","bot":false}"#;

// ------------------------------------------------------------------------------------------
// The table

const RULED_HEADER: &str = "id,code,region,qty,day,email\n";
const RULED_OK: &str = "1,ABC,eu,99.5,2026-02-01,a@b.c";

fn ruled(rows: &[&str]) -> Vec<u8> {
    let mut s = RULED_HEADER.to_string();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

fn cases() -> Vec<Case> {
    let ru = "raw/ruled/dt=2026-11-25/r.csv";
    let o = "raw/orders/dt=2026-11-25/part-1.csv";
    let gz = "raw/orders/dt=2026-11-25/part-1.csv.gz";
    let t = "raw/tiny/t.csv";
    let r = "raw/returns/dt=2026-11-25/r.tsv";
    let e = "raw/events/dt=2026-11-25/e.jsonl";
    let p = "raw/stock/dt=2026-11-25/s.parquet";
    let row = "1,Ada,9.99,2026-11-25,2026-11-25T10:00:00Z,true\n";
    let ten_mb = "x".repeat(10 << 20);

    vec![
        // --- keys: decoding, routing, naming, size ------------------------------------
        case("form-encoded key: + is a space, %2B a plus, %3D an equals sign", "raw/orders/dt%3D2026-11-25/my+file%2B1.csv", csv(row),
            valid(1).decoded("raw/orders/dt=2026-11-25/my file+1.csv")),
        case("%2F encodes the slashes", "raw%2Forders%2Fdt%3D2026-11-25%2Fx.csv", csv(row),
            valid(1).decoded("raw/orders/dt=2026-11-25/x.csv")),
        case("UTF-8 percent-encoded file name", "raw/orders/dt=2026-11-25/caf%C3%A9_%E6%97%A5%E6%9C%AC.csv", csv(row),
            valid(1).decoded("raw/orders/dt=2026-11-25/café_日本.csv")),
        case("percent-encoding that decodes to invalid UTF-8", "raw/orders/dt=2026-11-25/x%FF.csv", csv(row), want(Kind::BadKey)),
        case("truncated UTF-8 sequence in the key", "raw/orders/dt=2026-11-25/caf%C3.csv", csv(row), want(Kind::BadKey)),
        case("malformed escapes %ZZ and a lone % pass through literally", "raw/orders/dt=2026-11-25/100%ZZ%.csv", csv(row),
            valid(1).decoded("raw/orders/dt=2026-11-25/100%ZZ%.csv")),
        case("folder marker of a partition", "raw/orders/dt=2026-11-25/", "", want(Kind::Folder)),
        case("folder marker of the dataset", "raw/orders/", "", want(Kind::Folder)),
        case("a 'folder' with content is a misnamed upload", "raw/orders/dt=2026-11-25/", "x", invalid(KeyPattern)),
        case("key under no dataset", "raw/unknown/x.csv", csv(row), want(Kind::Unowned)),
        case("prefix look-alike raw/ordersX/", "raw/ordersX/dt=2026-11-25/x.csv", csv(row), want(Kind::Unowned)),
        case("quarantined object is not routed again", "quarantine/raw/orders/dt=2026-11-25/x.csv", csv(row), want(Kind::Unowned)),
        case("misnamed: partition without dt=", "raw/orders/2026-11-25/x.csv", csv(row), invalid(KeyPattern)),
        case("misnamed: extra directory level", "raw/orders/dt=2026-11-25/sub/x.csv", csv(row), invalid(KeyPattern)),
        case("partition date 2026-02-30", "raw/orders/dt=2026-02-30/x.csv", csv(row), invalid(KeyPattern)),
        case("empty object", o, "", invalid(Empty).codes(&[Empty])),
        case_unread("too large: rejected from its size alone, never read", o, 101 << 20, invalid(TooLarge).codes(&[TooLarge])),
        case("wrong extension .txt", "raw/orders/dt=2026-11-25/x.txt", csv(row), invalid(Extension)),
        case("Parquet name under a CSV dataset", "raw/orders/dt=2026-11-25/x.parquet", csv(row), invalid(Extension)),
        case("uncompressed name under a gzip-only dataset", "raw/archive/x.csv", "id,note\n1,a\n", invalid(Extension)),
        case("upper-case extension is fine", "raw/orders/dt=2026-11-25/X.CSV", csv(row), valid(1)),
        // --- CSV structure ------------------------------------------------------------
        case("header only: valid, zero rows", o, csv(""), valid(0)),
        case("header only, no final newline", o, HEADER.trim_end(), valid(0)),
        case("UTF-8 BOM and CRLF line endings", o, format!("\u{feff}{}{}", HEADER.replace('\n', "\r\n"), row.replace('\n', "\r\n")),
            valid(1)),
        case("CRLF: a bad row names its own line", o, format!("{}{}x,b,,,,\r\n", HEADER.replace('\n', "\r\n"), row.replace('\n', "\r\n")),
            invalid(Type).at(3, 2).col("id")),
        case("first data row error is on line 2", o, csv("x,Ada,,,,\n"), invalid(Type).at(2, 1).col("id")),
        case("quoted delimiters, quotes and newlines; a later error counts the embedded newline", o,
            csv("1,\"Doe, Jane \"\"JD\"\"\nsecond line\",2.5,2026-11-25,,yes\nabc,b,,,,\n"),
            invalid(Type).at(4, 2).col("id").codes(&[Type])),
        case("blank lines are skipped but counted", o, csv("\n\n1,a,,,,\n\r\n\nx,b,,,,\n"), invalid(Type).at(7, 2).col("id")),
        case("blank lines before the header", o, format!("\n\n{HEADER}x,a,,,,\n").into_bytes(), invalid(Type).at(4, 1)),
        case("ragged row: too few fields", o, csv("1,Ada,2.0\n"), invalid(ColumnCount).at(2, 1)),
        case("ragged row: unquoted 12,50 adds a field", o, csv("1,Ada,12,50,2026-11-25,,true\n"),
            invalid(ColumnCount).at(2, 1).value("1,Ada,12,50,2026-11-25,,true")),
        case("header renamed", o, "id,customer,amount,day,at,ok\n1,a,,,,\n", invalid(Header).line(1).codes(&[Header])),
        case("header reordered", o, "name,id,amount,day,at,ok\n", invalid(Header).line(1)),
        case("header missing a column", o, "id,name,amount,day,at\n1,a,,,\n", invalid(Header).line(1).codes(&[Header])),
        case("a UTF-16 file (NUL bytes everywhere)", o,
            bytes(&[b"\xFF\xFE", &HEADER.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()]), invalid(Header)),
        // --- CSV values ---------------------------------------------------------------
        case("int overflow 2^63", o, csv("9223372036854775808,a,,,,\n"), invalid(Type).col("id")),
        case("float with a decimal comma", o, csv("1,a,\"12,50\",,,\n"), invalid(Type).col("amount")),
        case("date 2026-02-30", o, csv("1,a,,2026-02-30,,\n"), invalid(Type).col("day")),
        case("timestamp hour 25", o, csv("1,a,,,2026-11-25T25:00:00Z,\n"), invalid(Type).col("at")),
        case("bool 'maybe'", o, csv("1,a,,,,maybe\n"), invalid(Type).col("ok")),
        case("required value missing", o, csv("1,,3.0,,,\n"), invalid(Required).at(2, 1).col("name")),
        case("required int missing", o, csv(",a,,,,\n"), invalid(Required).col("id")),
        case("invalid UTF-8 (Latin-1) in a string field", o, bytes(&[HEADER.as_bytes(), b"1,caf\xE9,,,,\n"]),
            invalid(Encoding).at(2, 1).col("name")),
        case("a UTF-8 character cut in two by a delimiter", o, bytes(&[HEADER.as_bytes(), b"1,a\xC3,\xA9,,,\n"]),
            invalid(Encoding).col("name")),
        case("NUL byte in an int field", o, bytes(&[HEADER.as_bytes(), b"1\x00,a,,,,\n"]), invalid(Type).col("id")),
        // --- control characters in strings (issue 13.6) --------------------------------
        case("NUL inside a string value", o, bytes(&[HEADER.as_bytes(), b"1,a\x00b,,,,\n"]),
            invalid(ControlChar).at(2, 1).col("name").value("a\\0b").codes(&[ControlChar])),
        case("NUL inside a quoted string value (the csv-core path)", o, bytes(&[HEADER.as_bytes(), b"1,\"a,\x00\",,,,\n"]),
            invalid(ControlChar).at(2, 1).col("name")),
        case("ANSI escape in a string value", o, csv("1,\u{1b}[31mred,,,,\n"), invalid(ControlChar).col("name").value("\\u{1b}[31mred")),
        case("vertical tab and form feed in a string value", o, csv("1,a\u{b}b,,,,\n2,c\u{c}d,,,,\n"),
            invalid(ControlChar).codes(&[ControlChar, ControlChar]).last_at(3, Some(2))),
        case("unit separator 0x1F in the last row after good rows", o, csv(&format!("{row}{row}3,x\u{1f}y,,,,\n")),
            invalid(ControlChar).at(4, 3)),
        case("tab inside a string value is data", o, csv("1,a\tb,,,,\n"), valid(1)),
        case("CR and LF inside a quoted string value are data", o, csv("1,\"a\rb\nc\r\nd\",,,,\n"), valid(1)),
        case("DEL 0x7F is not a C0 control character", o, csv("1,a\u{7f},,,,\n"), valid(1)),
        case("NUL in a string under allow_control_chars", "raw/legacy/l.csv", bytes(&[b"id,note\n1,a\x00b\x1b\n"]), valid(1)),
        case("NUL in an int field under allow_control_chars is still a type error", "raw/legacy/l.csv",
            bytes(&[b"id,note\n1\x00,a\n"]), invalid(Type).col("id")),
        case("TSV: NUL in a string value", r, bytes(&[b"1\t10\tdam\x00aged\ttrue\n"]), invalid(ControlChar).at(1, 1).col("reason")),
        case("JSONL: escaped \\u0000 in a string is a NUL after unescaping", e,
            jsonl(&[r#"{"id":"a\u0000b","user":1,"ts":"2026-11-25T10:00:00Z"}"#]),
            invalid(ControlChar).line(1).col("id").value("a\\0b")),
        case("JSONL: escaped \\u001b in a string", e, jsonl(&[EV_OK, r#"{"id":"\u001b[0m","user":1,"ts":"2026-11-25T10:00:00Z"}"#]),
            invalid(ControlChar).line(2).col("id")),
        case("JSONL: escaped tab, LF and CR in a string are data", e,
            jsonl(&[r#"{"id":"a\tb\nc\rd","user":1,"ts":"2026-11-25T10:00:00Z"}"#]), valid(1)),
        case("JSONL: escaped NUL under allow_control_chars", "raw/legacy-events/l.jsonl", jsonl(&[r#"{"id":"a\u0000"}"#]), valid(1)),
        case("10 MB line under a 16 MiB max_record", o, csv(&format!("1,{ten_mb},,,,\n")), valid(1)),
        case("10 MB line over a 1 KiB max_record; the next row still checked", t, format!("id,note\n1,{ten_mb}\nx,a\n"),
            invalid(RecordTooLong).at(2, 1).codes(&[RecordTooLong, Type]).last_at(3, Some(2))),
        case("a 2 KB header over a 1 KiB max_record: nothing after it is judged", t, format!("id,{}\n1,a\nx,b\n", "n".repeat(2000)),
            invalid(RecordTooLong).line(1).codes(&[RecordTooLong])),
        case("4 KB line over a 1 KiB max_record", t, format!("id,note\n1,{}\n", "y".repeat(4000)), invalid(RecordTooLong).at(2, 1)),
        case("1,000 bad rows stop at max_problems", o, csv(&"x,a,,,,\n".repeat(1000)), invalid(Type).count(20, true)),
        // --- gzip ---------------------------------------------------------------------
        case("gzip, auto-detected by .gz", gz, gzip(&csv(row)), valid(1)),
        case("multi-member gzip", gz, bytes(&[&gzip(&csv(row)), &gzip(row.as_bytes())]), valid(2)),
        case("truncated gzip", gz, { let g = gzip(&csv(&row.repeat(200))); g[..g.len() / 2].to_vec() }, invalid(Gzip)),
        case("gzip trailer cut off", gz, { let g = gzip(&csv(row)); g[..g.len() - 4].to_vec() }, invalid(Gzip)),
        case("plain CSV named .csv.gz", gz, csv(row), invalid(Gzip)),
        case("gzip bomb: 50 MB of zeros", "raw/archive/bomb.csv.gz", gzip(&vec![0u8; 50 << 20]),
            invalid(RecordTooLong).codes(&[RecordTooLong, DecompressedTooLarge])),
        case("gzip bomb of valid rows", "raw/archive/rows.csv.gz", gzip(format!("id,note\n{}", "1,a\n".repeat(12 << 20)).as_bytes()),
            invalid(DecompressedTooLarge).codes(&[DecompressedTooLarge])),
        // --- rules beyond types (issue 15) -------------------------------------------------
        case("rules: every rule kept", ru, ruled(&[RULED_OK, "2,XYZ,us,0,2026-01-01,"]), valid(2)),
        case("rules: a pattern never matches across lines (quoted value with a line break)", ru,
            ruled(&["1,\"ABC\nDEF\",eu,1,2026-02-01,a@b.c"]),
            invalid(Pattern).at(2, 1).col("code").value("ABC\\nDEF").codes(&[Pattern])),
        case("rules: a pattern matches the whole value, not a part", ru, ruled(&["1,ABCD,eu,1,2026-02-01,"]),
            invalid(Pattern).col("code")),
        case("rules: min/max on NaN: NaN is within no range", ru, ruled(&["1,ABC,eu,NaN,2026-02-01,"]),
            invalid(Min).at(2, 1).col("qty").value("NaN")),
        case("rules: -NaN too", ru, ruled(&["1,ABC,eu,-nan,2026-02-01,"]), invalid(Min).col("qty")),
        case("rules: infinity is above any max", ru, ruled(&["1,ABC,eu,inf,2026-02-01,"]), invalid(Max).col("qty").value("inf")),
        case("rules: max is inclusive, one above is not", ru, ruled(&["1,ABC,eu,100,2026-02-01,", "2,ABC,us,100.0001,2026-02-01,"]),
            invalid(Max).at(3, 2).col("qty").codes(&[Max])),
        case("rules: a date below min", ru, ruled(&["1,ABC,eu,1,2025-12-31,"]), invalid(Min).col("day").value("2025-12-31")),
        case("rules: allowed is exact (case)", ru, ruled(&["1,ABC,EU,1,2026-02-01,"]), invalid(Allowed).col("region").value("EU")),
        case("rules: unique on nulls: two null ids are no duplicate", ru,
            ruled(&[",ABC,eu,1,2026-02-01,", ",ABC,us,1,2026-02-01,"]), valid(2)),
        case("rules: a duplicate id names the first row", ru,
            ruled(&[RULED_OK, "2,ABC,us,1,2026-02-01,", "01,ABC,eu,1,2026-02-02,"]),
            invalid(Unique).at(4, 3).col("id").value("01").codes(&[Unique])),
        case("rules: unique_key (region, day) repeated", ru,
            ruled(&[RULED_OK, "2,ABC,eu,1,2026-02-01,"]), invalid(UniqueKey).at(3, 2).col("region, day").value("eu, 2026-02-01")),
        case("rules: unique_key with a null part is not compared", ru,
            ruled(&["1,ABC,,1,2026-02-01,", "2,ABC,,1,2026-02-01,"]), valid(2)),
        case("rules: a sensitive value too long is named, not shown", ru, ruled(&["1,ABC,eu,1,2026-02-01,someone@example.com"]),
            invalid(Length).col("email")),
        case("rules: rows above max", ru,
            ruled(&["1,ABC,eu,1,2026-02-01,", "2,ABC,eu,1,2026-02-02,", "3,ABC,eu,1,2026-02-03,", "4,ABC,eu,1,2026-02-04,",
                "5,ABC,eu,1,2026-02-05,", "6,ABC,eu,1,2026-02-06,"]),
            invalid(Rows).codes(&[Rows])),
        case("rules: a type error is reported before rules", ru, ruled(&["x,abc,zz,1,2026-02-01,"]),
            invalid(Type).col("id").codes(&[Type])),
        case("rules JSONL: every rule kept", "raw/ruled-events/r.jsonl",
            jsonl(&[r#"{"id":"e1","n":2,"x":1}"#, r#"{"id":"e2","n":null,"x":-1e300}"#]), valid(2)),
        case("rules JSONL: a duplicate id names the first line", "raw/ruled-events/r.jsonl",
            jsonl(&[r#"{"id":"e1","n":0}"#, r#"{"id":"e2","n":1}"#, r#"{"id":"e1","n":2}"#]),
            invalid(Unique).line(3).col("id").value("e1")),
        case("rules JSONL: an escaped line break never matches the pattern", "raw/ruled-events/r.jsonl",
            jsonl(&[r#"{"id":"e1\ne2","n":0}"#]), invalid(Pattern).line(1).col("id")),
        case("rules JSONL: allowed on ints, checked before min", "raw/ruled-events/r.jsonl",
            jsonl(&[r#"{"id":"e1","n":-1}"#, r#"{"id":"e2","n":3}"#]), invalid(Allowed).col("n").value("-1").codes(&[Allowed, Allowed])),
        case("rules JSONL: an int where a float max applies", "raw/ruled-events/r.jsonl",
            jsonl(&[r#"{"id":"e1","x":2}"#]), invalid(Max).col("x").value("2")),
        // --- TSV ------------------------------------------------------------------------
        case("TSV without header, \\N and empty as null, comma in a field", r, "1\t10\t\\N\ttrue\n2\t11\t\tfalse\n3\t12\tsize, colour\tt\n",
            valid(3)),
        case("TSV \\N in a required field", r, "1\t10\tdamaged\ttrue\n2\t\\N\tlate\tfalse\n", invalid(Required).at(2, 2).col("order_id")),
        case("TSV with commas instead of tabs", r, "1,10,x,true\n", invalid(ColumnCount).at(1, 1).value("1,10,x,true")),
        case("TSV: a ragged row is quoted with its tabs", r, "1\t10\ttrue\n", invalid(ColumnCount).at(1, 1).value("1\\t10\\ttrue")),
        // --- JSON Lines -----------------------------------------------------------------
        case("JSONL with BOM, CRLF and blank lines", e, format!("\u{feff}{EV_OK}\r\n\r\n   \n{EV_OK}\n\n"), valid(2)),
        case("JSONL: an array line", e, jsonl(&[EV_OK, "[1,2,3]"]), invalid(NotObject).line(2)),
        case("JSONL: a number line", e, jsonl(&["42"]), invalid(NotObject).line(1)),
        case("JSONL: invalid JSON", e, jsonl(&[EV_OK, EV_OK, r#"{"id":"e3","user":1,"#]), invalid(Json).line(3)),
        case("JSONL: two objects on one line", e, jsonl(&[&format!("{EV_OK}{EV_OK}")]), invalid(Json).line(1)),
        case("JSONL: required field missing", e, jsonl(&[r#"{"id":"e1","ts":"2026-11-25T10:00:00Z"}"#]),
            invalid(Required).line(1).col("user")),
        case("JSONL: required field null", e, jsonl(&[r#"{"id":"e1","user":null,"ts":"2026-11-25T10:00:00Z"}"#]),
            invalid(Required).col("user")),
        case("JSONL: int given as a string", e, jsonl(&[r#"{"id":"e1","user":"42","ts":"2026-11-25T10:00:00Z"}"#]),
            invalid(Type).col("user")),
        case("JSONL: float given for an int", e, jsonl(&[r#"{"id":"e1","user":4.5,"ts":"2026-11-25T10:00:00Z"}"#]),
            invalid(Type).col("user")),
        case("JSONL: int beyond i64", e, jsonl(&[r#"{"id":"e1","user":9223372036854775808,"ts":"2026-11-25T10:00:00Z"}"#]),
            invalid(Type).col("user")),
        case("JSONL: bad timestamp", e, jsonl(&[r#"{"id":"e1","user":1,"ts":"yesterday"}"#]), invalid(Type).col("ts")),
        case("JSONL: undeclared field, reported once", e,
            jsonl(&[&EV_OK.replace('}', r#","color":"red"}"#), &EV_OK.replace('}', r#","color":"blue"}"#)]),
            invalid(ExtraColumn).line(1).col("color").codes(&[ExtraColumn])),
        case("JSONL: invalid UTF-8 in a string", e, bytes(&[br#"{"id":"caf"#, b"\xE9", br#"","user":1,"ts":"2026-11-25T10:00:00Z"}"#, b"\n"]),
            invalid(Encoding).line(1)),
        case("JSONL: raw NUL inside a string", e, bytes(&[br#"{"id":"a"#, b"\x00", br#"","user":1,"ts":"2026-11-25T10:00:00Z"}"#, b"\n"]),
            invalid(Json)),
        case("JSONL: 10 MB line over 64 KiB; the next line still checked", e, format!("{EV_OK}\n{{\"id\":\"{ten_mb}\"}}\n[]\n"),
            invalid(RecordTooLong).line(2).codes(&[RecordTooLong, NotObject]).last_at(3, None)),
        // --- Parquet --------------------------------------------------------------------
        case("Parquet: schema matches", p, good_parquet(), valid(3)),
        case("Parquet: required column OPTIONAL in the schema but without nulls", p,
            parquet_file(&STOCK_SCHEMA.replace("REQUIRED INT64 qty", "OPTIONAL INT64 qty"), stock_cols()), valid(3)),
        case("Parquet: a CSV file named .parquet", p, "sku,qty,price,as_of\nA,1,2.0,2026-11-25\n", invalid(ParquetMagic)),
        case("Parquet: last bytes cut off", p, { let f = good_parquet(); f[..f.len() - 3].to_vec() }, invalid(ParquetMagic)),
        case("Parquet: only the tail survived", p, { let f = good_parquet(); f[f.len() - 40..].to_vec() }, invalid(ParquetFooter)),
        case("Parquet: footer length larger than the file", p, fake_parquet(&[0; 100], 1_000_000, b"PAR1"), invalid(ParquetFooter)),
        case("Parquet: footer length zero", p, fake_parquet(&[0; 100], 0, b"PAR1"), invalid(ParquetFooter)),
        case("Parquet: encrypted footer PARE", p, fake_parquet(&[0; 100], 50, b"PARE"), invalid(ParquetMagic)),
        case("Parquet: shorter than 12 bytes", p, "PAR1PAR1", invalid(ParquetMagic)),
        case("Parquet: garbage metadata", p, fake_parquet(&[0xA7; 100], 100, b"PAR1"), invalid(ParquetFooter)),
        case("Parquet: missing column", p,
            parquet_file("message s { REQUIRED BYTE_ARRAY sku (UTF8); OPTIONAL DOUBLE price; REQUIRED INT32 as_of (DATE); }",
                vec![Pq::Str(vec![Some("A")]), Pq::F64(vec![None]), Pq::I32(vec![Some(1)])]),
            invalid(MissingColumn).col("qty").codes(&[MissingColumn])),
        case("Parquet: string column where int is declared", p,
            parquet_file(&STOCK_SCHEMA.replace("REQUIRED INT64 qty", "REQUIRED BYTE_ARRAY qty (UTF8)"),
                { let mut c = stock_cols(); c[1] = Pq::Str(vec![Some("5"), Some("0"), Some("12")]); c }),
            invalid(ParquetType).col("qty")),
        case("Parquet: date stored as text", p,
            parquet_file(&STOCK_SCHEMA.replace("REQUIRED INT32 as_of (DATE)", "REQUIRED BYTE_ARRAY as_of (UTF8)"),
                { let mut c = stock_cols(); c[3] = Pq::Str(vec![Some("2026-11-25"); 3]); c }),
            invalid(ParquetType).col("as_of")),
        case("Parquet: undeclared extra column", p,
            parquet_file(&STOCK_SCHEMA.replace('}', "OPTIONAL BYTE_ARRAY color (UTF8); }"),
                { let mut c = stock_cols(); c.push(Pq::Str(vec![Some("red"), None, None])); c }),
            invalid(ExtraColumn).col("color").codes(&[ExtraColumn])),
        case("Parquet rules: within min/max by row-group statistics", "raw/ruled-stock/dt=2026-11-25/s.parquet",
            parquet_file(STOCK_SCHEMA, { let mut c = stock_cols(); c[1] = Pq::I64(vec![Some(5), Some(1), Some(12)]);
                c[2] = Pq::F64(vec![Some(4.5), None, Some(1.25)]); c }), valid(3)),
        case("Parquet rules: min and max broken, found in the statistics", "raw/ruled-stock/dt=2026-11-25/s.parquet",
            good_parquet(), invalid(Min).col("qty").value("0").codes(&[Min, Max])),
        case("Parquet rules: a date above max, shown as a date", "raw/ruled-stock/dt=2026-11-25/s.parquet",
            parquet_file(STOCK_SCHEMA, { let mut c = stock_cols(); c[1] = Pq::I64(vec![Some(5), Some(1), Some(12)]);
                c[2] = Pq::F64(vec![None, None, None]); c[3] = Pq::I32(vec![Some(20_417), Some(20_454), Some(20_417)]); c }),
            invalid(Max).col("as_of").value("2026-01-01").codes(&[Max])),
        case("Parquet: nulls in a required column (statistics)", p,
            parquet_file(&STOCK_SCHEMA.replace("REQUIRED INT64 qty", "OPTIONAL INT64 qty"),
                { let mut c = stock_cols(); c[1] = Pq::I64(vec![Some(1), None, None]); c }),
            invalid(ParquetNulls).col("qty")),
    ]
}

fn registry() -> Registry {
    Registry::from_yaml(REGISTRY, "hostile.rs").expect("test registry")
}

#[test]
fn hostile_inputs() {
    let reg = registry();
    let cases = cases();
    assert!(cases.len() >= 35);
    let mut failures = Vec::new();
    for c in &cases {
        let errs = check(&reg, c);
        if !errs.is_empty() {
            failures.push(format!(
                "{} ({}):\n    {}",
                c.name,
                c.raw_key,
                errs.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A corrupt footer of any shape is a problem of the file, never a panic of the Lambda.
#[test]
fn mangled_parquet_metadata_never_panics() {
    let reg = registry();
    let (_, ds) = reg.dataset("stock").unwrap();
    let file = good_parquet();
    let size = file.len() as u64;
    let f = parquet_footer(&file[file.len() - PARQUET_TAIL_LEN as usize..], size).unwrap();
    let meta = &file[f.metadata_start as usize..(f.metadata_start + f.metadata_len) as usize];
    let (rows, problems, _) = check_parquet_metadata(meta, ds, 20);
    assert_eq!((rows, problems.len()), (3, 0), "{problems:?}");
    for cut in 0..meta.len() {
        let (_, problems, _) = check_parquet_metadata(&meta[..cut], ds, 20);
        assert_eq!(
            problems.first().map(|p| p.code),
            Some(ParquetFooter),
            "cut at {cut}"
        );
    }
    for i in 0..meta.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut m = meta.to_vec();
            m[i] ^= flip;
            // Any verdict will do; reaching it is the test.
            let _ = check_parquet_metadata(&m, ds, 20);
        }
    }
}

/// Every hostile file that validation accepts converts to Parquet with the same row count, and
/// every file it rejects is refused by curation too, with the same problems: the two are one
/// engine.
#[test]
fn curation_agrees_with_validation_on_every_hostile_file() {
    use lakeline_core::curate::{curate_batches, curate_stream, Provenance};
    let reg = registry();
    let mut checked = 0;
    for c in &cases() {
        let Body::Bytes(bytes) = &c.body else {
            continue;
        };
        let out = run(&reg, c);
        let (Some(key), Some(report)) = (out.key, out.report) else {
            continue;
        };
        if report
            .problems
            .iter()
            .any(|p| matches!(p.code, KeyPattern | Extension | Empty | TooSmall | TooLarge))
        {
            continue; // decided before reading: curation never sees these files
        }
        let (name, ds) = reg.dataset(&report.dataset).unwrap();
        let prov = Provenance {
            source: key.clone(),
            source_version: "v".into(),
            dataset: name.to_string(),
            registry_sha256: reg.content_hash(),
        };
        let res = if ds.format == Format::Parquet {
            if report.verdict == Verdict::Invalid {
                continue; // refused by its footer, before any row is read
            }
            let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                bytes::Bytes::from(bytes.clone()),
            )
            .unwrap()
            .build()
            .unwrap();
            curate_batches(name.as_str(), ds, &key, b, Vec::new(), &prov)
        } else {
            curate_stream(
                name.as_str(),
                ds,
                &key,
                20,
                bytes.as_slice(),
                Vec::new(),
                &prov,
            )
        };
        match (report.verdict, res) {
            (Verdict::Valid, Ok((curated, parquet))) => {
                assert_eq!(curated.rows, report.rows, "{}: rows", c.name);
                let back = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    bytes::Bytes::from(parquet),
                )
                .unwrap();
                assert_eq!(
                    back.metadata().file_metadata().num_rows() as u64,
                    report.rows,
                    "{}: rows read back",
                    c.name
                );
            }
            (Verdict::Invalid, Err(lakeline_core::Error::Invalid(r))) => {
                assert_eq!(r.problems, report.problems, "{}: problems", c.name)
            }
            (v, res) => panic!(
                "{}: validation says {v:?}, curation {:?}",
                c.name,
                res.map(|r| r.0)
            ),
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} cases reached curation");
}

/// A Parquet footer cannot show values: the report lists the rules it could not check, and
/// still checks the ones statistics decide.
#[test]
fn parquet_footer_lists_the_rules_it_cannot_check() {
    use lakeline_core::validate::check_parquet_footer;
    let reg = registry();
    let (_, ds) = reg.dataset("ruled_stock").unwrap();
    let file = good_parquet();
    let f = parquet_footer(
        &file[file.len() - PARQUET_TAIL_LEN as usize..],
        file.len() as u64,
    )
    .unwrap();
    let meta = &file[f.metadata_start as usize..(f.metadata_start + f.metadata_len) as usize];
    let c = check_parquet_footer(meta, ds, 20);
    assert_eq!(
        c.unchecked,
        vec![
            "sku: pattern",
            "sku: unique",
            "price: min/max of NaN values"
        ]
    );
    assert_eq!(c.rows, 3);
    let got: Vec<_> = c
        .problems
        .iter()
        .map(|p| (p.code, p.column.as_deref(), p.value.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Min, Some("qty"), Some("0")),
            (Max, Some("price"), Some("9.5"))
        ]
    );
    assert!(
        c.problems[0].message.contains("row group 1") && c.problems[0].message.contains("min 1"),
        "{:?}",
        c.problems[0]
    );
}

/// `partition_freshness` judges the key's date against a "today" the caller passes in.
#[test]
fn partition_freshness_table() {
    use lakeline_core::validate::partition_problem;
    let reg = registry();
    let day = |s: &str| lakeline_core::types::parse_date(s.as_bytes()).unwrap();
    let cases = [
        ("2026-11-25", "2026-11-25", None),
        ("2026-11-22", "2026-11-25", None),
        (
            "2026-11-21",
            "2026-11-25",
            Some("4 days old, older than partition_freshness.max_age_days 3"),
        ),
        ("2026-11-26", "2026-11-25", Some("1 day(s) in the future")),
        ("2026-12-31", "2026-01-01", Some("in the future")),
        ("2025-12-31", "2026-01-01", None),
    ];
    for (part, today, want) in cases {
        let key = format!("raw/ruled/dt={part}/r.csv");
        let KeyRoute::Matched { dataset, m, .. } = reg.route(&key) else {
            panic!("{key}")
        };
        let got = partition_problem(dataset, &m, day(today));
        match (want, &got) {
            (None, None) => {}
            (Some(w), Some(p)) => {
                assert_eq!(p.code, PartitionFreshness);
                assert!(p.message.contains(w), "{part} on {today}: {}", p.message);
            }
            _ => panic!("{part} on {today}: {got:?}, want {want:?}"),
        }
    }
    // A dataset without the rule never judges the date.
    let KeyRoute::Matched { dataset, m, .. } = reg.route("raw/orders/dt=1999-01-01/x.csv") else {
        panic!()
    };
    assert_eq!(partition_problem(dataset, &m, day("2026-11-25")), None);
}
