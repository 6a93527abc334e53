//! The declared columns as Arrow: the schema curated Parquet carries, the text → typed value
//! conversions (the same accepted forms as [`crate::types`]), and column builders fed one
//! valid row at a time.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::{Map, Value};

use crate::registry::Dataset;
use crate::types::ColumnType;

/// The timezone curated timestamps are stored in: instants, normalised to UTC (written as an
/// offset, which arrow-cast understands without the time zone database).
pub const UTC: &str = "+00:00";

/// The Arrow type a declared column is curated to: int → Int64, float → Float64 (DOUBLE),
/// string → Utf8, bool → Boolean, date → Date32 (DATE), timestamp → microseconds in UTC.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
    }
}

/// The curated schema of a dataset: one field per declared column, in declared order;
/// required columns are non-nullable.
pub fn schema(ds: &Dataset) -> SchemaRef {
    Arc::new(Schema::new(
        ds.columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.ty), !c.required))
            .collect::<Vec<_>>(),
    ))
}

/// An `i64` from text [`crate::types::is_int`] accepted (optional sign, at most 19 digits, in
/// range). Accumulates negatively so `i64::MIN` needs no special case.
#[inline]
pub fn parse_int(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v.first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() {
        return None;
    }
    if digits.len() <= 18 {
        // Below 10^18: no overflow is possible, so no checked step per digit (ids and counts
        // are parsed once per row by rules and curate alike).
        let n = decimal(digits)? as i64;
        return Some(if neg { -n } else { n });
    }
    long_int(neg, digits)
}

/// [`parse_int`] of 19 digits or more, with a checked step per digit (out of line: it kept
/// registers that the short case, nearly every value, then had to save).
#[cold]
#[inline(never)]
fn long_int(neg: bool, digits: &[u8]) -> Option<i64> {
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if neg {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// The value of 1 to 18 ASCII digits (`None` if any byte is not one), eight at a time.
///
/// A byte loop costs about ten instructions a digit; an id of seven digits is parsed once per
/// row by `unique` and by curate, so its digits are read as one word ([`eight_digits`]).
#[inline]
fn decimal(d: &[u8]) -> Option<u64> {
    if d.len() <= 8 {
        up_to_eight(d)
    } else {
        decimal_long(d)
    }
}

/// [`decimal`] of more than eight digits (out of line: its loop kept registers that the
/// short case, nearly every value, then had to save).
#[inline(never)]
fn decimal_long(d: &[u8]) -> Option<u64> {
    let (mut n, mut rest) = (0u64, d);
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        n = n * 100_000_000 + eight_digits(u64::from_le_bytes(*head))?;
        rest = tail;
    }
    const POW10: [u64; 9] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ];
    Some(n * POW10[rest.len()] + up_to_eight(rest)?)
}

/// [`decimal`] of at most eight digits (none is 0).
#[inline]
fn up_to_eight(d: &[u8]) -> Option<u64> {
    digits_in_word(crate::types::load_word(d)?, d.len())
}

/// The value of the `k` (at most eight) ASCII digits in the low bytes of `word`
/// ([`crate::types::load_word`]); `None` if one is not a digit. No digit is 0.
#[inline]
pub(crate) fn digits_in_word(word: u64, k: usize) -> Option<u64> {
    // The digits to the top of the word, ASCII zeros below them: leading zeros.
    let shift = 8 * (8 - k as u32);
    let zeros = 0x3030_3030_3030_3030u64
        .checked_shr(64 - shift)
        .unwrap_or(0);
    eight_digits(word.checked_shl(shift).unwrap_or(0) | zeros)
}

/// The value of eight ASCII digits, the first in the lowest byte; `None` if any byte is not
/// a digit.
#[inline]
fn eight_digits(word: u64) -> Option<u64> {
    let t = crate::types::digit_values(word)?;
    // Pairs, then fours, then all eight (the first digit is the most significant).
    let t = (t * 10 + (t >> 8)) & 0x00ff_00ff_00ff_00ff;
    let t = (t * 100 + (t >> 16)) & 0x0000_ffff_0000_ffff;
    Some((t * 10_000 + (t >> 32)) & 0xffff_ffff)
}

/// An `f64` from text [`crate::types::is_float`] accepted; the standard library's parser takes
/// the same forms (`.5`, `5.`, `1e-3`, `NaN`, `inf`, `Infinity`, any case).
#[inline]
pub fn parse_float(v: &[u8]) -> Option<f64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A bool from the words [`crate::types::is_bool`] accepted.
#[inline]
pub fn parse_bool(v: &[u8]) -> Option<bool> {
    const TRUE: [&[u8]; 5] = [b"true", b"t", b"yes", b"y", b"1"];
    const FALSE: [&[u8]; 5] = [b"false", b"f", b"no", b"n", b"0"];
    if TRUE.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

fn num(v: &[u8]) -> Option<u32> {
    v.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
#[inline]
pub fn parse_date(v: &[u8]) -> Option<i32> {
    if v.len() != 10 || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let d = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(num(&v[..4])?).ok()?,
        num(&v[5..7])?,
        num(&v[8..10])?,
    )?;
    i32::try_from(
        d.signed_duration_since(chrono::NaiveDate::default())
            .num_days(),
    )
    .ok()
}

/// Microseconds since the epoch (UTC) of a timestamp [`crate::types::is_timestamp`] accepted.
///
/// A timestamp without an offset is taken as UTC. Digits of a fraction beyond microseconds
/// are dropped (truncated, as Spark and Arrow cast do). A leap second (`:60`) is the first
/// second of the next minute: the instant a UTC clock without leap seconds shows.
pub fn parse_timestamp(v: &[u8]) -> Option<i64> {
    if v.len() < 16 || !matches!(v[10], b'T' | b't' | b' ') || v[13] != b':' {
        return None;
    }
    let days = i64::from(parse_date(&v[..10])?);
    let (h, m) = (i64::from(num(&v[11..13])?), i64::from(num(&v[14..16])?));
    let mut rest = &v[16..];
    let mut secs = 0i64;
    let mut micros = 0i64;
    if let Some(r) = rest.strip_prefix(b":") {
        secs = i64::from(num(r.get(..2)?)?);
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
            let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let kept = &r[..n.min(6)];
            micros = i64::from(num(kept)?) * 10i64.pow(6 - kept.len() as u32);
            rest = &r[n..];
        }
    }
    let offset_secs = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), tz @ ..] => {
            let (hh, mm) = match tz.len() {
                2 => (num(tz)?, 0),
                4 => (num(&tz[..2])?, num(&tz[2..])?),
                5 if tz[2] == b':' => (num(&tz[..2])?, num(&tz[3..])?),
                _ => return None,
            };
            let s = i64::from(hh * 3600 + mm * 60);
            if *sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return None,
    };
    let local = days * 86_400 + h * 3600 + m * 60 + secs;
    (local - offset_secs)
        .checked_mul(1_000_000)?
        .checked_add(micros)
}

/// One column being built.
enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    /// Bytes already checked as UTF-8 per field by validation; the whole column is checked
    /// once more, in one pass, when the batch is finished.
    Str(BinaryBuilder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
}

/// A value that validation accepted but curation cannot convert: a disagreement between the
/// two, which is a bug, reported with where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Unconvertible {
    /// The column.
    pub column: String,
    /// The value, shortened.
    pub value: String,
}

/// Builds record batches of a dataset's curated schema, one valid row at a time.
pub struct Columns {
    schema: SchemaRef,
    types: Vec<ColumnType>,
    builders: Vec<Builder>,
    rows: usize,
}

impl Columns {
    /// Empty builders for `ds`, each sized for `capacity` rows.
    pub fn new(ds: &Dataset, capacity: usize) -> Columns {
        let types: Vec<ColumnType> = ds.columns.iter().map(|c| c.ty).collect();
        let builders = types.iter().map(|&t| new_builder(t, capacity)).collect();
        Columns {
            schema: schema(ds),
            types,
            builders,
            rows: 0,
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The schema of the batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends one text row; `value(i)` is column `i`'s text or `None` for null. After an
    /// error the columns are uneven: the caller discards them (nothing is written).
    #[inline]
    pub fn push_text<'v>(
        &mut self,
        value: impl Fn(usize) -> Option<&'v [u8]>,
    ) -> Result<(), Unconvertible> {
        for i in 0..self.builders.len() {
            let v = value(i);
            let ok = match (&mut self.builders[i], v) {
                (Builder::Str(b), Some(v)) => {
                    b.append_value(v);
                    true
                }
                (Builder::Int(b), Some(v)) => parse_int(v).map(|x| b.append_value(x)).is_some(),
                (Builder::Float(b), Some(v)) => parse_float(v).map(|x| b.append_value(x)).is_some(),
                (Builder::Bool(b), Some(v)) => parse_bool(v).map(|x| b.append_value(x)).is_some(),
                (Builder::Date(b), Some(v)) => parse_date(v).map(|x| b.append_value(x)).is_some(),
                (Builder::Ts(b), Some(v)) => {
                    parse_timestamp(v).map(|x| b.append_value(x)).is_some()
                }
                (b, None) => {
                    append_null(b);
                    true
                }
            };
            if !ok {
                return Err(self.unconvertible(i, &String::from_utf8_lossy(v.unwrap_or_default())));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends one JSON Lines row; a missing field or `null` is null.
    pub fn push_json(&mut self, obj: &Map<String, Value>) -> Result<(), Unconvertible> {
        for i in 0..self.builders.len() {
            let name = self.schema.field(i).name();
            let v = obj.get(name).filter(|v| !v.is_null());
            let ok = match (&mut self.builders[i], v) {
                (b, None) => {
                    append_null(b);
                    true
                }
                (Builder::Str(b), Some(Value::String(s))) => {
                    b.append_value(s);
                    true
                }
                (Builder::Int(b), Some(Value::Number(n))) => {
                    n.as_i64().map(|x| b.append_value(x)).is_some()
                }
                (Builder::Float(b), Some(Value::Number(n))) => {
                    n.as_f64().map(|x| b.append_value(x)).is_some()
                }
                (Builder::Bool(b), Some(Value::Bool(x))) => {
                    b.append_value(*x);
                    true
                }
                (Builder::Date(b), Some(Value::String(s))) => parse_date(s.as_bytes())
                    .map(|x| b.append_value(x))
                    .is_some(),
                (Builder::Ts(b), Some(Value::String(s))) => parse_timestamp(s.as_bytes())
                    .map(|x| b.append_value(x))
                    .is_some(),
                _ => false,
            };
            if !ok {
                let shown = v.map(Value::to_string).unwrap_or_default();
                return Err(self.unconvertible(i, &shown));
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn unconvertible(&self, i: usize, value: &str) -> Unconvertible {
        Unconvertible {
            column: format!(
                "{} ({})",
                self.schema.field(i).name(),
                self.types[i].as_str()
            ),
            value: crate::text::shorten(value, crate::validate::VALUE_SHOWN),
        }
    }

    /// The rows held as one batch; the builders start over, empty.
    pub fn finish(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> Result<ArrayRef, arrow_schema::ArrowError> {
                Ok(match b {
                    Builder::Int(b) => Arc::new(b.finish()),
                    Builder::Float(b) => Arc::new(b.finish()),
                    Builder::Str(b) => Arc::new(StringArray::try_from_binary(b.finish())?),
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Ts(b) => Arc::new(b.finish().with_timezone(UTC)),
                })
            })
            .collect::<Result<_, _>>()?;
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

fn new_builder(ty: ColumnType, n: usize) -> Builder {
    match ty {
        ColumnType::String => Builder::Str(BinaryBuilder::with_capacity(n, n * 16)),
        ColumnType::Int => Builder::Int(Int64Builder::with_capacity(n)),
        ColumnType::Float => Builder::Float(Float64Builder::with_capacity(n)),
        ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(n)),
        ColumnType::Date => Builder::Date(Date32Builder::with_capacity(n)),
        ColumnType::Timestamp => Builder::Ts(TimestampMicrosecondBuilder::with_capacity(n)),
    }
}

fn append_null(b: &mut Builder) {
    match b {
        Builder::Int(b) => b.append_null(),
        Builder::Float(b) => b.append_null(),
        Builder::Str(b) => b.append_null(),
        Builder::Bool(b) => b.append_null(),
        Builder::Date(b) => b.append_null(),
        Builder::Ts(b) => b.append_null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ColumnType as T;
    use arrow_array::Array;

    /// The word-at-a-time digits give what a byte loop gives.
    #[test]
    fn decimals_match_a_digit_loop() {
        // Every length, every byte value at every position of a value of that length (the
        // others digits), and the digit strings of many numbers, against a byte loop.
        let reference = |d: &[u8]| {
            d.iter().try_fold(0u64, |n, &b| {
                b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
            })
        };
        for len in 1..=18 {
            let base: Vec<u8> = (0..len).map(|i| b"9081726354"[i % 10]).collect();
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut v = base.clone();
                    v[pos] = b;
                    assert_eq!(decimal(&v), reference(&v), "{v:?}");
                }
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = x % 10u64.pow((x >> 59) as u32 % 18 + 1);
            for text in [n.to_string(), format!("{n:018}")] {
                assert_eq!(decimal(text.as_bytes()), Some(n), "{text}");
            }
        }
        assert_eq!(decimal(b""), Some(0));
    }

    /// Every value the type checks accept converts, and to the right value.
    #[test]
    fn conversions_table() {
        let ints: &[(&str, i64)] = &[
            ("0", 0),
            ("-42", -42),
            ("+7", 7),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("007", 7),
            ("999999999999999999", 999_999_999_999_999_999),
            ("-999999999999999999", -999_999_999_999_999_999),
            ("1000000000000000000", 1_000_000_000_000_000_000),
            ("-0", 0),
        ];
        for (v, want) in ints {
            assert!(T::Int.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_int(v.as_bytes()), Some(*want), "{v}");
        }
        assert_eq!(parse_int(b"9223372036854775808"), None);
        for bad in ["", "-", "+", "1a", "12345678901234567a", "-1-"] {
            assert_eq!(parse_int(bad.as_bytes()), None, "{bad}");
        }
        let floats: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-1.5", -1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("+.5", 0.5),
            ("1e-3", 0.001),
            ("2.5E+10", 2.5e10),
            ("-Infinity", f64::NEG_INFINITY),
            ("+inf", f64::INFINITY),
            ("INF", f64::INFINITY),
        ];
        for (v, want) in floats {
            assert!(T::Float.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_float(v.as_bytes()), Some(*want), "{v}");
        }
        for v in ["NaN", "-nan", "nan"] {
            assert!(T::Float.accepts(v.as_bytes()), "{v}");
            assert!(parse_float(v.as_bytes()).is_some_and(f64::is_nan), "{v}");
        }
        for (v, want) in [
            ("TRUE", true),
            ("t", true),
            ("Yes", true),
            ("y", true),
            ("1", true),
            ("false", false),
            ("F", false),
            ("no", false),
            ("N", false),
            ("0", false),
        ] {
            assert!(T::Bool.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_bool(v.as_bytes()), Some(want), "{v}");
        }
        for (v, want) in [
            ("1970-01-01", 0),
            ("1970-01-02", 1),
            ("1969-12-31", -1),
            ("2000-02-29", 11_016),
            ("2026-11-25", 20_782),
            ("0001-01-01", -719_162),
        ] {
            assert!(T::Date.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_date(v.as_bytes()), Some(want), "{v}");
        }
        let day = 20_782i64 * 86_400 * 1_000_000;
        let hour = 3_600_000_000i64;
        for (v, want) in [
            ("2026-11-25T00:00:00Z", day),
            ("2026-11-25 10:00:00", day + 10 * hour),
            ("2026-11-25T10:00", day + 10 * hour),
            ("2026-11-25t10:00:00z", day + 10 * hour),
            ("2026-11-25T10:00:00.5Z", day + 10 * hour + 500_000),
            ("2026-11-25T10:00:00,25Z", day + 10 * hour + 250_000),
            (
                "2026-11-25T10:00:00.123456789+01:00",
                day + 9 * hour + 123_456,
            ),
            (
                "2026-11-25T10:00:00-0530",
                day + 15 * hour + 30 * 60_000_000,
            ),
            ("2026-11-25T10:00:00+05", day + 5 * hour),
            ("2026-11-25T23:59:60Z", day + 24 * hour),
        ] {
            assert!(T::Timestamp.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_timestamp(v.as_bytes()), Some(want), "{v}");
        }
    }

    #[test]
    fn builds_batches_with_nulls() {
        let reg = crate::registry::Registry::from_yaml(
            "version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    columns:\n      - {name: id, type: int, required: true}\n      - {name: name, type: string}\n      - {name: ok, type: bool}\n",
            "t",
        )
        .unwrap();
        let (_, ds) = reg.dataset("t").unwrap();
        let mut c = Columns::new(ds, 4);
        let rows: [[Option<&[u8]>; 3]; 2] = [
            [Some(b"1"), Some("é".as_bytes()), None],
            [Some(b"-2"), None, Some(b"yes")],
        ];
        for r in &rows {
            c.push_text(|i| r[i]).unwrap();
        }
        let bad: [Option<&[u8]>; 3] = [Some(b"x"), None, None];
        let err = c.push_text(|i| bad[i]).unwrap_err();
        assert_eq!(err.column, "id (int)");
        let b = c.finish().unwrap();
        assert_eq!(b.num_rows(), 2);
        assert!(!b.schema().field(0).is_nullable());
        let names = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(names.value(0), "é");
        assert!(names.is_null(1));
        assert!(c.is_empty());
    }
}
