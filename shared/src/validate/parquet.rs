//! Parquet: only the footer is read. Two ranged reads (the last 8 bytes, then the metadata)
//! are enough to reject a truncated, encrypted or non-Parquet file and to compare the schema
//! with the declared columns; the data pages are never fetched.

use parquet::basic::{ConvertedType, LogicalType, Repetition, Type as Physical};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::schema::types::Type;

use super::{Problem, ProblemCode, Problems, Report, Verdict};
use crate::registry::{Dataset, ExtraColumns};
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
/// Returns (rows in the file, problems found, at most `max_problems`).
pub fn check_parquet_metadata(
    meta: &[u8],
    ds: &Dataset,
    max_problems: usize,
) -> (u64, Vec<Problem>, bool) {
    let mut problems = Problems::new(max_problems);
    let rows = match ParquetMetaDataReader::decode_metadata(meta) {
        Ok(md) => {
            compare(&md, ds, &mut problems);
            u64::try_from(md.file_metadata().num_rows()).unwrap_or(0)
        }
        Err(e) => {
            problems.push(Problem::object(
                ProblemCode::ParquetFooter,
                format!("the Parquet metadata cannot be decoded: {e}"),
            ));
            0
        }
    };
    let full = problems.full();
    (rows, problems.list, full)
}

/// The codecs this build reads (the parquet crate's features in the workspace Cargo.toml).
fn readable(c: parquet::basic::Compression) -> bool {
    use parquet::basic::Compression as C;
    matches!(
        c,
        C::UNCOMPRESSED | C::SNAPPY | C::GZIP(_) | C::LZ4 | C::LZ4_RAW | C::ZSTD(_)
    )
}

fn compare(md: &ParquetMetaData, ds: &Dataset, problems: &mut Problems) {
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
            let msg = format!("declared {}, the file has {found}", col.ty.as_str());
            if problems.push(at(ProblemCode::ParquetType, msg)) {
                return;
            }
            continue;
        }
        if col.required && field.get_basic_info().repetition() != Repetition::REQUIRED {
            // An OPTIONAL column can still be full: the row-group statistics tell.
            let leaf = (0..schema.num_columns())
                .find(|&i| schema.column(i).path().parts() == [col.name.clone()]);
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
                && matches!(logical, None | Some(LogicalType::Integer(_)))
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
                || matches!(logical, Some(LogicalType::Decimal(_)))
                || converted == ConvertedType::DECIMAL
        }
        ColumnType::Bool => physical == Physical::BOOLEAN,
        ColumnType::Date => {
            physical == Physical::INT32
                && (matches!(logical, Some(LogicalType::Date)) || converted == ConvertedType::DATE)
        }
        ColumnType::Timestamp => {
            physical == Physical::INT96
                || (physical == Physical::INT64
                    && (matches!(logical, Some(LogicalType::Timestamp(_)))
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
    let (rows, problems, stopped) = check_parquet_metadata(meta, ds, max_problems);
    report.bytes_read += meta.len() as u64;
    report.rows = rows;
    report.stopped_early = stopped;
    report.verdict = if problems.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    report.problems = problems;
    report
}
