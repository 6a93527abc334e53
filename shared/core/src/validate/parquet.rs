//! Parquet: only the footer is read. Two ranged reads (the last 8 bytes, then the metadata)
//! are enough to reject a truncated, encrypted or non-Parquet file and to compare the schema
//! with the declared columns; the data pages are never fetched.

use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;
use parquet::schema::types::Type;

use super::{Problem, ProblemCode, Problems, Report, Verdict};
use crate::registry::{Dataset, ExtraColumns};
use crate::rules::Num;
use crate::text::show_bytes;
use crate::types::ColumnType;

/// How many bytes to read from the end of the object first.
pub const PARQUET_TAIL_LEN: u64 = 8;

/// Refuse metadata larger than this: a real footer is kilobytes to a few MiB.
const MAX_METADATA: u64 = 64 << 20;

/// Where the metadata lies, read from the 8-byte tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetFooter {
    /// Offset of the first metadata byte.
    pub metadata_start: u64,
    /// Length of the metadata.
    pub metadata_len: u64,
}

/// Reads the tail (`len LE u32` + `PAR1`) of an object of `size` bytes.
pub fn parquet_footer(tail: &[u8], size: u64) -> Result<ParquetFooter, Problem> {
    // 4 magic bytes at the start + 8 tail bytes is the smallest possible file.
    if size < 12 || tail.len() != PARQUET_TAIL_LEN as usize {
        return Err(Problem::object(
            ProblemCode::ParquetMagic,
            format!("{size} bytes is too short to be a Parquet file (at least 12 bytes)"),
        ));
    }
    match &tail[4..] {
        b"PAR1" => {}
        b"PARE" => {
            return Err(Problem::object(
                ProblemCode::ParquetMagic,
                "encrypted Parquet footer (PARE): lakeline cannot check its schema; declare such datasets elsewhere",
            ))
        }
        other => {
            return Err(Problem::object(
                ProblemCode::ParquetMagic,
                format!(
                    "not a Parquet file: it ends in {:?}, not \"PAR1\" (truncated, or another format named .parquet)",
                    show_bytes(other, 12)
                ),
            ))
        }
    }
    let metadata_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if metadata_len == 0 || metadata_len + 12 > size || metadata_len > MAX_METADATA {
        return Err(Problem::object(
            ProblemCode::ParquetFooter,
            format!("footer says the metadata is {metadata_len} bytes, impossible in a {size}-byte file: the file is truncated or corrupt"),
        ));
    }
    Ok(ParquetFooter {
        metadata_start: size - 8 - metadata_len,
        metadata_len,
    })
}

/// Decodes the metadata and compares its schema with the dataset's columns.
///
/// Returns (rows in the file, problems found, at most `max_problems`). See
/// [`check_parquet_footer`] for the rules it could not check as well.
pub fn check_parquet_metadata(
    meta: &[u8],
    ds: &Dataset,
    max_problems: usize,
) -> (u64, Vec<Problem>, bool) {
    let c = check_parquet_footer(meta, ds, max_problems);
    (c.rows, c.problems, c.stopped_early)
}

/// What a Parquet footer told about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct FooterCheck {
    /// Rows in the file's metadata.
    pub rows: u64,
    /// Problems found (at most `max_problems`), values redacted as the dataset says.
    pub problems: Vec<Problem>,
    /// True when the problem list is full.
    pub stopped_early: bool,
    /// The dataset's rules a footer cannot decide (see [`Report::unchecked`]).
    pub unchecked: Vec<String>,
}

/// Decodes the metadata; compares its schema with the dataset's columns; checks the rules
/// row-group statistics decide (`min`/`max` from each row group's min and max, `rows` from the
/// row count, `required` from null counts) and lists those they cannot.
pub fn check_parquet_footer(meta: &[u8], ds: &Dataset, max_problems: usize) -> FooterCheck {
    let mut problems = Problems::new(max_problems);
    let mut unchecked = Vec::new();
    let rows = match ParquetMetaDataReader::decode_metadata(meta) {
        Ok(md) => {
            let rows = u64::try_from(md.file_metadata().num_rows()).unwrap_or(0);
            compare(&md, ds, &mut problems, &mut unchecked);
            for p in super::rules::rows_problems(ds, rows, true) {
                problems.push(p);
            }
            rows
        }
        Err(e) => {
            problems.push(Problem::object(
                ProblemCode::ParquetFooter,
                format!("the Parquet metadata cannot be decoded: {e}"),
            ));
            0
        }
    };
    let stopped_early = problems.full();
    let mut list = problems.list;
    super::redact(ds, &mut list);
    FooterCheck {
        rows,
        problems: list,
        stopped_early,
        unchecked,
    }
}

/// The rules of `col` that statistics cannot decide, as `column: rule` entries.
fn unchecked_rules(col: &crate::registry::Column, out: &mut Vec<String>) {
    let r = &col.rules;
    for (set, rule) in [
        (r.allowed.is_some(), "allowed"),
        (r.pattern.is_some(), "pattern"),
        (r.length.is_some(), "length"),
        (r.unique, "unique"),
    ] {
        if set {
            out.push(format!("{}: {rule}", col.name));
        }
    }
    if col.ty == ColumnType::Float && (r.min.is_some() || r.max.is_some()) {
        // Writers leave NaN out of min/max statistics.
        out.push(format!("{}: min/max of NaN values", col.name));
    }
}

/// A column chunk's (min, max) in the rule domain, when its statistics hold them and the
/// physical and logical types say how to read them.
fn stat_range(st: &Statistics, ty: ColumnType, field: &Type) -> Option<(Num, Num)> {
    let logical = field.get_basic_info().logical_type_ref();
    let converted = field.get_basic_info().converted_type();
    let pair = |a: Option<Num>, b: Option<Num>| a.zip(b);
    match (ty, st) {
        (ColumnType::Int, Statistics::Int32(s)) if !is_unsigned(logical, converted) => pair(
            s.min_opt().map(|&v| Num::Int(v.into())),
            s.max_opt().map(|&v| Num::Int(v.into())),
        ),
        (ColumnType::Int, Statistics::Int64(s)) if !is_unsigned(logical, converted) => pair(
            s.min_opt().map(|&v| Num::Int(v)),
            s.max_opt().map(|&v| Num::Int(v)),
        ),
        (ColumnType::Float, Statistics::Double(s)) => pair(
            s.min_opt().map(|&v| Num::Float(v)),
            s.max_opt().map(|&v| Num::Float(v)),
        ),
        (ColumnType::Float, Statistics::Float(s)) => pair(
            s.min_opt().map(|&v| Num::Float(v.into())),
            s.max_opt().map(|&v| Num::Float(v.into())),
        ),
        (ColumnType::Date, Statistics::Int32(s)) => pair(
            s.min_opt().map(|&v| Num::Date(v)),
            s.max_opt().map(|&v| Num::Date(v)),
        ),
        (ColumnType::Timestamp, Statistics::Int64(s)) => {
            let per_micro: (i64, i64) = match (logical, converted) {
                (Some(LogicalType::Timestamp { unit, .. }), _) => match unit {
                    TimeUnit::MILLIS => (1000, 1),
                    TimeUnit::MICROS => (1, 1),
                    TimeUnit::NANOS => (1, 1000),
                },
                (_, ConvertedType::TIMESTAMP_MILLIS) => (1000, 1),
                (_, ConvertedType::TIMESTAMP_MICROS) => (1, 1),
                _ => return None,
            };
            let conv =
                |v: i64| Num::Timestamp(v.saturating_mul(per_micro.0).div_euclid(per_micro.1));
            pair(s.min_opt().map(|&v| conv(v)), s.max_opt().map(|&v| conv(v)))
        }
        (ColumnType::Decimal { .. }, Statistics::Int32(s)) => pair(
            s.min_opt().map(|&v| Num::Decimal(v.into())),
            s.max_opt().map(|&v| Num::Decimal(v.into())),
        ),
        (ColumnType::Decimal { .. }, Statistics::Int64(s)) => pair(
            s.min_opt().map(|&v| Num::Decimal(v.into())),
            s.max_opt().map(|&v| Num::Decimal(v.into())),
        ),
        // Big-endian two's complement, as Parquet stores a wide decimal; the file's scale is
        // the column's (checked before).
        (ColumnType::Decimal { .. }, Statistics::FixedLenByteArray(s)) => pair(
            s.min_opt()
                .and_then(|v| be_i128(v.data()))
                .map(Num::Decimal),
            s.max_opt()
                .and_then(|v| be_i128(v.data()))
                .map(Num::Decimal),
        ),
        _ => None,
    }
}

/// A big-endian two's complement integer of 1 to 16 bytes.
fn be_i128(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let fill = if b[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[16 - b.len()..].copy_from_slice(b);
    Some(i128::from_be_bytes(buf))
}

fn is_unsigned(logical: Option<&LogicalType>, converted: ConvertedType) -> bool {
    matches!(
        logical,
        Some(LogicalType::Integer {
            is_signed: false,
            ..
        })
    ) || matches!(
        converted,
        ConvertedType::UINT_8 | ConvertedType::UINT_16 | ConvertedType::UINT_32
    )
}

fn num_text(n: Num, ty: ColumnType) -> String {
    match n {
        Num::Int(i) => i.to_string(),
        Num::Float(x) => x.to_string(),
        Num::Date(d) => chrono::NaiveDate::default()
            .checked_add_signed(chrono::TimeDelta::days(d.into()))
            .map_or_else(|| d.to_string(), |d| d.format("%Y-%m-%d").to_string()),
        Num::Decimal(d) => match ty {
            ColumnType::Decimal { scale, .. } => crate::types::decimal_text(d, scale),
            _ => d.to_string(),
        },
        Num::Timestamp(us) => chrono::DateTime::from_timestamp_micros(us).map_or_else(
            || us.to_string(),
            |t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        ),
    }
}

/// `min`/`max` of one column from its row groups' statistics: a problem naming the first row
/// group whose smallest (largest) value breaks the bound; an `unchecked` entry when a row group
/// with values has no usable statistics.
fn check_range(
    md: &ParquetMetaData,
    leaf: usize,
    col: &crate::registry::Column,
    field: &Type,
    problems: &mut Problems,
    unchecked: &mut Vec<String>,
) -> bool {
    let r = &col.rules;
    if r.min.is_none() && r.max.is_none() {
        return false;
    }
    for (g, rg) in md.row_groups().iter().enumerate() {
        let c = rg.column(leaf);
        let range = c.statistics().and_then(|st| stat_range(st, col.ty, field));
        let Some((lo, hi)) = range else {
            let all_null = c
                .statistics()
                .and_then(|st| st.null_count_opt())
                .is_some_and(|n| i64::try_from(n).is_ok_and(|n| n == rg.num_rows()));
            if rg.num_rows() > 0 && !all_null {
                unchecked.push(format!(
                    "{}: min/max (row group {} has no usable statistics)",
                    col.name,
                    g + 1
                ));
                return false;
            }
            continue;
        };
        let broken = if let Some(b) = r.min.as_ref().filter(|b| lo < b.value) {
            Some((
                ProblemCode::Min,
                lo,
                format!("smallest value below the minimum (min {})", b.text),
            ))
        } else {
            r.max.as_ref().filter(|b| hi > b.value).map(|b| {
                (
                    ProblemCode::Max,
                    hi,
                    format!("largest value above the maximum (max {})", b.text),
                )
            })
        };
        if let Some((code, v, what)) = broken {
            let p = Problem {
                code,
                line: None,
                row: None,
                column: Some(col.name.clone()),
                value: Some(num_text(v, col.ty)),
                message: format!("row group {} statistics: {what}", g + 1),
            };
            return problems.push(p);
        }
    }
    false
}

/// The codecs this build reads (the parquet crate's features in the workspace Cargo.toml).
fn readable(c: parquet::basic::Compression) -> bool {
    use parquet::basic::Compression as C;
    matches!(
        c,
        C::UNCOMPRESSED | C::SNAPPY | C::GZIP(_) | C::LZ4 | C::LZ4_RAW | C::ZSTD(_)
    )
}

fn compare(
    md: &ParquetMetaData,
    ds: &Dataset,
    problems: &mut Problems,
    unchecked: &mut Vec<String>,
) {
    for col in ds.columns.iter() {
        unchecked_rules(col, unchecked);
    }
    if !ds.unique_key.is_empty() {
        unchecked.push(format!("unique_key ({})", ds.unique_key.join(", ")));
    }
    // A codec curation cannot decompress is the file's problem, found by its footer.
    let unreadable = md
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .find(|c| !readable(c.compression()));
    if let Some(c) = unreadable {
        let p = Problem {
            code: ProblemCode::ParquetCodec,
            line: None,
            row: None,
            column: Some(c.column_path().string()),
            value: None,
            message: format!(
                "compressed with {}, which lakeline does not read: write it with zstd, snappy, gzip or lz4",
                c.compression()
            ),
        };
        if problems.push(p) {
            return;
        }
    }
    let schema = md.file_metadata().schema_descr();
    let fields = schema.root_schema().get_fields();
    for col in ds.columns.iter() {
        let at = |code, message: String| Problem {
            code,
            line: None,
            row: None,
            column: Some(col.name.clone()),
            value: None,
            message,
        };
        let Some(field) = fields.iter().find(|f| f.name() == col.name) else {
            if problems.push(at(
                ProblemCode::MissingColumn,
                "declared column is not in the file".into(),
            )) {
                return;
            }
            continue;
        };
        if let Err(found) = type_fits(col.ty, field) {
            let msg = format!("declared {}, the file has {found}", col.ty);
            if problems.push(at(ProblemCode::ParquetType, msg)) {
                return;
            }
            continue;
        }
        let leaf = (0..schema.num_columns())
            .find(|&i| schema.column(i).path().parts() == [col.name.clone()]);
        if let Some(i) = leaf {
            if check_range(md, i, col, field, problems, unchecked) {
                return;
            }
        }
        if col.refuses_null() && field.get_basic_info().repetition() != Repetition::REQUIRED {
            // An OPTIONAL column can still be full: the row-group statistics tell.
            let nulls: u64 = leaf
                .map(|i| {
                    md.row_groups()
                        .iter()
                        .filter_map(|rg| rg.column(i).statistics().and_then(|s| s.null_count_opt()))
                        .sum()
                })
                .unwrap_or(0);
            if nulls > 0 {
                let msg = format!("required column holds {nulls} nulls (row-group statistics)");
                if problems.push(at(ProblemCode::ParquetNulls, msg)) {
                    return;
                }
            }
        }
    }
    if ds.extra_columns == ExtraColumns::Reject {
        for f in fields {
            if !ds.columns.iter().any(|c| c.name == f.name()) {
                let p = Problem {
                    code: ProblemCode::ExtraColumn,
                    line: None,
                    row: None,
                    column: Some(f.name().to_string()),
                    value: None,
                    message: "column in the file is not declared for this dataset".into(),
                };
                if problems.push(p) {
                    return;
                }
            }
        }
    }
}

/// Whether a Parquet field can hold the declared type; Err names what the file has.
fn type_fits(ty: ColumnType, field: &Type) -> Result<(), String> {
    if !field.is_primitive() {
        return Err("a nested group".into());
    }
    let info = field.get_basic_info();
    let physical = field.get_physical_type();
    let logical = info.logical_type_ref();
    let converted = info.converted_type();
    let ok = match ty {
        ColumnType::String => {
            physical == Physical::BYTE_ARRAY
                && (matches!(
                    logical,
                    Some(LogicalType::String | LogicalType::Enum | LogicalType::Json)
                ) || matches!(
                    converted,
                    ConvertedType::UTF8 | ConvertedType::ENUM | ConvertedType::JSON
                ))
        }
        ColumnType::Int => {
            matches!(physical, Physical::INT32 | Physical::INT64)
                && matches!(logical, None | Some(LogicalType::Integer { .. }))
                && matches!(
                    converted,
                    ConvertedType::NONE
                        | ConvertedType::INT_8
                        | ConvertedType::INT_16
                        | ConvertedType::INT_32
                        | ConvertedType::INT_64
                        | ConvertedType::UINT_8
                        | ConvertedType::UINT_16
                        | ConvertedType::UINT_32
                )
        }
        ColumnType::Float => {
            matches!(physical, Physical::FLOAT | Physical::DOUBLE)
                || matches!(logical, Some(LogicalType::Decimal { .. }))
                || converted == ConvertedType::DECIMAL
        }
        ColumnType::Json => {
            physical == Physical::BYTE_ARRAY
                && (matches!(logical, Some(LogicalType::String | LogicalType::Json))
                    || matches!(converted, ConvertedType::UTF8 | ConvertedType::JSON))
        }
        ColumnType::Bool => physical == Physical::BOOLEAN,
        ColumnType::Date => {
            physical == Physical::INT32
                && (matches!(logical, Some(LogicalType::Date)) || converted == ConvertedType::DATE)
        }
        ColumnType::Decimal { precision, scale } => {
            // Only a decimal of the same scale and no more digits converts exactly: another
            // scale would round or rescale, a float is not exact, an int may not fit.
            let (p, s) = match logical {
                Some(LogicalType::Decimal { precision, scale }) => (*precision, *scale),
                _ if converted == ConvertedType::DECIMAL => {
                    (field.get_precision(), field.get_scale())
                }
                _ => (-1, -1),
            };
            if p < 0 {
                false
            } else if s != i32::from(scale) || p > i32::from(precision) {
                return Err(format!(
                    "decimal({p},{s}) ({})",
                    if s != i32::from(scale) {
                        "another scale would be rounded or rescaled, not curated as is"
                    } else {
                        "more digits than the column holds"
                    }
                ));
            } else {
                true
            }
        }
        ColumnType::Timestamp => {
            physical == Physical::INT96
                || (physical == Physical::INT64
                    && (matches!(logical, Some(LogicalType::Timestamp { .. }))
                        || matches!(
                            converted,
                            ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS
                        )))
        }
    };
    if ok {
        return Ok(());
    }
    let annotation = match (logical, converted) {
        (Some(l), _) => format!(" ({l:?})"),
        (None, ConvertedType::NONE) => String::new(),
        (None, c) => format!(" ({c})"),
    };
    Err(format!("{physical}{annotation}"))
}

/// After the tail: either the verdict is already known, or the metadata must be read.
#[derive(Debug)]
pub enum ParquetStep {
    /// Rejected by the tail alone (not Parquet, encrypted, impossible length).
    Done(Report),
    /// Read `footer.metadata_len` bytes at `footer.metadata_start`, then call [`parquet_finish`].
    NeedMetadata(ParquetFooter, Report),
}

/// First step of the footer-only check: judge the last [`PARQUET_TAIL_LEN`] bytes of an object
/// of `size` bytes. Callers do the reads (ranged GETs in the Lambda, seeks in the CLI).
pub fn parquet_tail(name: &str, ds: &Dataset, key: &str, size: u64, tail: &[u8]) -> ParquetStep {
    let mut report = super::rejected_unread(name, ds, key, Vec::new());
    report.bytes_read = tail.len() as u64;
    match parquet_footer(tail, size) {
        Ok(footer) => ParquetStep::NeedMetadata(footer, report),
        Err(p) => {
            report.problems.push(p);
            ParquetStep::Done(report)
        }
    }
}

/// Second step: judge the metadata bytes.
pub fn parquet_finish(
    mut report: Report,
    meta: &[u8],
    ds: &Dataset,
    max_problems: usize,
) -> Report {
    let FooterCheck {
        rows,
        problems,
        stopped_early,
        unchecked,
    } = check_parquet_footer(meta, ds, max_problems);
    report.bytes_read += meta.len() as u64;
    report.rows = rows;
    report.stopped_early = stopped_early;
    report.unchecked = unchecked;
    report.verdict = if problems.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    report.problems = problems;
    report
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Decimal128Array, Float64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::registry::Registry;

    /// The footer metadata of a Parquet file of one column `amount` holding `values`.
    fn footer_of(ty: DataType, values: arrow_array::ArrayRef) -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![Field::new("amount", ty, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![values]).unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let n = out.len();
        let len = u32::from_le_bytes(out[n - 8..n - 4].try_into().unwrap()) as usize;
        out[n - 8 - len..n - 8].to_vec()
    }

    fn decimals(p: u8, s: i8, v: Vec<i128>) -> arrow_array::ArrayRef {
        Arc::new(
            Decimal128Array::from(v)
                .with_precision_and_scale(p, s)
                .unwrap(),
        )
    }

    #[test]
    fn decimal_columns_take_the_same_scale_and_no_more_digits() {
        let reg = Registry::from_yaml(
            "version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{file}\n    format: parquet\n    columns:\n      - {name: amount, type: \"decimal(12,2)\", min: 0, max: 100}\n",
            "t.yaml",
        )
        .unwrap();
        let (_, ds) = reg.dataset("t").unwrap();
        let problems = |meta: Vec<u8>| -> Vec<String> {
            check_parquet_footer(&meta, ds, 10)
                .problems
                .iter()
                .map(|p| format!("{} {}", p.code, p.message))
                .collect()
        };
        let cases: Vec<(DataType, arrow_array::ArrayRef, &str)> = vec![
            (DataType::Decimal128(12, 2), decimals(12, 2, vec![1, 9_999]), ""),
            // Fewer digits: INT32 in the file, widened exactly.
            (DataType::Decimal128(9, 2), decimals(9, 2, vec![0, 10_000]), ""),
            // Statistics decide the bounds on INT32, INT64 and fixed-length decimals alike.
            (DataType::Decimal128(9, 2), decimals(9, 2, vec![10_001]), "max row group 1 statistics: largest value above the maximum (max 100)"),
            (DataType::Decimal128(12, 2), decimals(12, 2, vec![-1]), "min row group 1 statistics: smallest value below the minimum (min 0)"),
            (
                DataType::Decimal128(12, 3),
                decimals(12, 3, vec![1]),
                "parquet_type declared decimal(12,2), the file has decimal(12,3) (another scale would be rounded or rescaled, not curated as is)",
            ),
            (
                DataType::Decimal128(20, 2),
                decimals(20, 2, vec![1]),
                "parquet_type declared decimal(12,2), the file has decimal(20,2) (more digits than the column holds)",
            ),
            (
                DataType::Float64,
                Arc::new(Float64Array::from(vec![1.5])),
                "parquet_type declared decimal(12,2), the file has DOUBLE",
            ),
        ];
        for (ty, values, want) in cases {
            let got = problems(footer_of(ty.clone(), values));
            if want.is_empty() {
                assert!(got.is_empty(), "{ty}: {got:?}");
            } else {
                assert_eq!(got.len(), 1, "{ty}: {got:?}");
                assert!(
                    got[0].starts_with(want),
                    "{ty}: {:?} lacks {want:?}",
                    got[0]
                );
            }
        }
        let wide = Registry::from_yaml(
            "version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{file}\n    format: parquet\n    columns:\n      - {name: amount, type: \"decimal(38,2)\", max: 1}\n",
            "t.yaml",
        )
        .unwrap();
        let (_, ds) = wide.dataset("t").unwrap();
        let meta = footer_of(DataType::Decimal128(38, 2), decimals(38, 2, vec![-5, 101]));
        let got = check_parquet_footer(&meta, ds, 10).problems;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].value.as_deref(), Some("1.01"));
    }
}
