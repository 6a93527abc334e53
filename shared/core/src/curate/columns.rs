//! The declared columns as Arrow: the schema curated Parquet carries, the text → typed value
//! conversions (the same accepted forms as [`crate::types`]), and column builders fed one
//! valid row at a time.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::{Map, Value};

use crate::registry::Dataset;
use crate::types::{
    json_decimal, parse_bool, parse_date, parse_decimal, parse_float, parse_int,
    parse_timestamp_in, ColumnType, Zone,
};

/// The timezone curated timestamps are stored in: instants, normalised to UTC (written as an
/// offset, which arrow-cast understands without the time zone database).
pub const UTC: &str = "+00:00";

/// The Arrow type a declared column is curated to: int → Int64, float → Float64 (DOUBLE),
/// string → Utf8, bool → Boolean, date → Date32 (DATE), timestamp → microseconds in UTC,
/// decimal(p,s) → Decimal128(p,s) (Parquet DECIMAL on INT32 up to 9 digits, INT64 up to 18,
/// FIXED_LEN_BYTE_ARRAY above, as the parquet crate's writer chooses by precision).
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale as i8),
        ColumnType::Json => DataType::Utf8,
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
    /// Unscaled values, with the column's precision and scale.
    Dec(Decimal128Builder, u8, u8),
    /// JSON text: a CSV value as written, a JSON Lines field as compact JSON (its keys in
    /// their order).
    Json(BinaryBuilder),
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
    /// The dataset's `timezone`, for timestamps without an offset.
    zone: Option<Zone>,
    /// Per column, its `default`: the text curated where a row has no value.
    defaults: Vec<Option<Box<[u8]>>>,
}

/// How often [`Columns::full`] adds up the text held: every 64 rows, so a batch ends at most
/// 64 records (64 MiB at the largest `max_record`) past [`super::BATCH_BYTES`].
pub const TEXT_CHECK_ROWS: usize = 64;

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
            zone: ds.timezone.clone(),
            defaults: ds
                .columns
                .iter()
                .map(|c| c.default.as_ref().map(|d| d.as_bytes().into()))
                .collect(),
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

    /// Bytes of text held (string and JSON columns): what grows with the width of rows.
    pub fn text_bytes(&self) -> usize {
        self.builders
            .iter()
            .map(|b| match b {
                Builder::Str(b) | Builder::Json(b) => b.values_slice().len(),
                _ => 0,
            })
            .sum()
    }

    /// Whether the rows held make a batch: [`super::BATCH_ROWS`] rows, or [`super::BATCH_BYTES`]
    /// of text (looked at every [`TEXT_CHECK_ROWS`] rows, so at most that many records past it).
    #[inline]
    pub fn full(&self) -> bool {
        self.rows >= super::BATCH_ROWS
            || (self.rows.is_multiple_of(TEXT_CHECK_ROWS)
                && self.text_bytes() >= super::BATCH_BYTES)
    }

    /// The schema of the batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends one text row; `value(i)` is column `i`'s text or `None` for null (then the
    /// column's default, if it has one). After an
    /// error the columns are uneven: the caller discards them (nothing is written).
    #[inline]
    pub fn push_text<'v>(
        &mut self,
        value: impl Fn(usize) -> Option<&'v [u8]>,
    ) -> Result<(), Unconvertible> {
        for i in 0..self.builders.len() {
            let v = value(i).or(self.defaults[i].as_deref());
            let ok = append_text(&mut self.builders[i], v, self.zone.as_ref());
            if !ok {
                return Err(self.unconvertible(i, &String::from_utf8_lossy(v.unwrap_or_default())));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends one JSON Lines row; a missing field or `null` is the column's default, or null.
    pub fn push_json(&mut self, obj: &Map<String, Value>) -> Result<(), Unconvertible> {
        for i in 0..self.builders.len() {
            let name = self.schema.field(i).name();
            let v = obj.get(name).filter(|v| !v.is_null());
            let ok = match (&mut self.builders[i], v) {
                (b, None) => append_text(b, self.defaults[i].as_deref(), self.zone.as_ref()),
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
                (Builder::Ts(b), Some(Value::String(s))) => {
                    parse_timestamp_in(s.as_bytes(), self.zone.as_ref())
                        .ok()
                        .flatten()
                        .map(|x| b.append_value(x))
                        .is_some()
                }
                (Builder::Dec(b, p, s), Some(v)) => {
                    json_decimal(v, *p, *s).map(|x| b.append_value(x)).is_ok()
                }
                (Builder::Json(b), Some(v @ (Value::Object(_) | Value::Array(_)))) => {
                    b.append_value(v.to_string());
                    true
                }
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
            column: format!("{} ({})", self.schema.field(i).name(), self.types[i]),
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
                    Builder::Str(b) | Builder::Json(b) => {
                        Arc::new(StringArray::try_from_binary(b.finish())?)
                    }
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Ts(b) => Arc::new(b.finish().with_timezone(UTC)),
                    Builder::Dec(b, p, s) => {
                        Arc::new(b.finish().with_precision_and_scale(*p, *s as i8)?)
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

/// Appends the text value `v` (`None`: null) to `b`, converted by the builder's type (a
/// timestamp without an offset in `zone`); false when the text is not of the type.
#[inline]
fn append_text(b: &mut Builder, v: Option<&[u8]>, zone: Option<&Zone>) -> bool {
    match (b, v) {
        (Builder::Str(b) | Builder::Json(b), Some(v)) => {
            b.append_value(v);
            true
        }
        (Builder::Int(b), Some(v)) => parse_int(v).map(|x| b.append_value(x)).is_some(),
        (Builder::Float(b), Some(v)) => parse_float(v).map(|x| b.append_value(x)).is_some(),
        (Builder::Bool(b), Some(v)) => parse_bool(v).map(|x| b.append_value(x)).is_some(),
        (Builder::Date(b), Some(v)) => parse_date(v).map(|x| b.append_value(x)).is_some(),
        (Builder::Ts(b), Some(v)) => parse_timestamp_in(v, zone)
            .ok()
            .flatten()
            .map(|x| b.append_value(x))
            .is_some(),
        (Builder::Dec(b, p, s), Some(v)) => {
            parse_decimal(v, *p, *s).map(|x| b.append_value(x)).is_ok()
        }
        (b, None) => {
            append_null(b);
            true
        }
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
        ColumnType::Decimal { precision, scale } => {
            Builder::Dec(Decimal128Builder::with_capacity(n), precision, scale)
        }
        ColumnType::Json => Builder::Json(BinaryBuilder::with_capacity(n, n * 32)),
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
        Builder::Dec(b, ..) => b.append_null(),
        Builder::Json(b) => b.append_null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

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

    /// Wide rows end a batch by bytes, long before its rows: 40 KB rows at 64 MiB, not 64 Ki
    /// rows (2.6 GB, past a string column's 32-bit offsets); narrow rows by rows.
    #[test]
    fn a_batch_of_wide_rows_ends_by_its_bytes() {
        let reg = crate::registry::Registry::from_yaml(
            "version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n      - {name: blob, type: string}\n",
            "t",
        )
        .unwrap();
        let (_, ds) = reg.dataset("t").unwrap();
        let wide = vec![b'x'; 40_000];
        let mut c = Columns::new(ds, 16);
        let mut rows = 0;
        while !c.full() {
            c.push_text(|i| Some(if i == 0 { &b"1"[..] } else { &wide[..] }))
                .unwrap();
            rows += 1;
        }
        let bytes = c.text_bytes();
        assert!(bytes >= super::super::BATCH_BYTES, "{bytes}");
        assert!(
            bytes < super::super::BATCH_BYTES + TEXT_CHECK_ROWS * wide.len(),
            "{bytes}"
        );
        assert!(rows < super::super::BATCH_ROWS / 30, "{rows} rows");
        assert_eq!(c.finish().unwrap().num_rows(), rows);
        // Narrow rows: the row count ends the batch.
        let mut narrow = Columns::new(ds, 16);
        for _ in 0..super::super::BATCH_ROWS - 1 {
            narrow.push_text(|_| Some(&b"1"[..])).unwrap();
            assert!(!narrow.full());
        }
        narrow.push_text(|_| Some(&b"1"[..])).unwrap();
        assert!(narrow.full());
    }
}
