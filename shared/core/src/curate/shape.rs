//! The shape of a table's data file: the curated columns, then the columns lakeline adds to
//! every row ([`crate::table`]), each field carrying its Iceberg field id.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};

use crate::registry::Dataset;
use crate::table::{added_columns, Lineage, FIELD_ID_KEY, SOURCE_COLUMN, VERSION_COLUMN};

/// The shape of one delivery's data file: the dataset's declared columns, then the added
/// columns with this delivery's values, each field carrying its Iceberg field id.
#[derive(Debug)]
pub struct TableShape {
    schema: SchemaRef,
    constants: Vec<ArrayValue>,
    /// The added columns built once for the longest batch so far: every batch of a file takes a
    /// zero-copy slice of them instead of copying the raw key and version into every row again.
    built: std::sync::Mutex<Vec<ArrayRef>>,
}

impl Clone for TableShape {
    fn clone(&self) -> Self {
        TableShape {
            schema: self.schema.clone(),
            constants: self.constants.clone(),
            built: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
enum ArrayValue {
    Text(String),
    Date(i32),
}

impl TableShape {
    /// The shape for `ds` with the table's field ids (`ids[name]`, for every declared and added
    /// column) and one delivery's lineage. An id missing, or a dated dataset without a date,
    /// is an error naming it.
    pub fn new(
        ds: &Dataset,
        ids: &HashMap<String, i32>,
        lineage: &Lineage,
    ) -> Result<TableShape, String> {
        let id_of = |name: &str| {
            ids.get(name).copied().ok_or_else(|| {
                format!("the table has no column {name:?}: run `lakeline table sync`")
            })
        };
        let with_id = |f: Field, id: i32| {
            f.with_metadata(HashMap::from([(FIELD_ID_KEY.to_string(), id.to_string())]))
        };
        let mut fields = Vec::new();
        for f in super::schema(ds).fields() {
            fields.push(with_id(f.as_ref().clone(), id_of(f.name())?));
        }
        let mut constants = Vec::new();
        for (name, ty) in added_columns(ds) {
            fields.push(with_id(Field::new(name, ty, false), id_of(name)?));
            constants.push(match name {
                SOURCE_COLUMN => ArrayValue::Text(lineage.source.clone()),
                VERSION_COLUMN => ArrayValue::Text(lineage.version.clone()),
                _ => ArrayValue::Date(lineage.date.ok_or_else(|| {
                    format!(
                        "{} has no {{date}} in its key: cannot place it in a partition",
                        lineage.source
                    )
                })?),
            });
        }
        Ok(TableShape {
            schema: Arc::new(Schema::new(fields)),
            constants,
            built: Default::default(),
        })
    }

    /// The data file's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// `batch` (the declared columns, in the curated schema) with the added columns appended,
    /// in the data file's schema.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let n = batch.num_rows();
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if built.first().is_none_or(|a| a.len() < n) {
            *built = self
                .constants
                .iter()
                .map(|c| -> ArrayRef {
                    match c {
                        ArrayValue::Text(v) => Arc::new(StringArray::from_iter_values(
                            std::iter::repeat_n(v.as_str(), n),
                        )),
                        ArrayValue::Date(d) => Arc::new(Date32Array::from(vec![*d; n])),
                    }
                })
                .collect();
        }
        cols.extend(built.iter().map(|a| a.slice(0, n)));
        RecordBatch::try_new(self.schema.clone(), cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::table::DATE_COLUMN;
    use arrow_array::Int64Array;

    fn registry(datasets: &str) -> Registry {
        Registry::from_yaml(&format!("version: 1\ndatasets:\n{datasets}"), "t.yaml").unwrap()
    }

    #[test]
    fn a_shape_appends_lineage_with_field_ids() {
        let reg = registry("  t:\n    key_pattern: raw/t/dt={date}/{file}\n    format: csv\n    columns: [{name: id, type: int, required: true}]\n");
        let (_, ds) = reg.dataset("t").unwrap();
        let names = ["id", SOURCE_COLUMN, VERSION_COLUMN, DATE_COLUMN];
        let ids: HashMap<String, i32> = names
            .iter()
            .zip([1, 7, 8, 9])
            .map(|(n, i)| (n.to_string(), i))
            .collect();
        let lineage = Lineage {
            source: "raw/t/dt=2026-12-06/a.csv".into(),
            version: "v1".into(),
            date: Some(20_793),
        };
        let shape = TableShape::new(ds, &ids, &lineage).unwrap();
        let got: Vec<_> = shape
            .schema()
            .fields()
            .iter()
            .map(|f| {
                (
                    f.name().as_str(),
                    f.metadata()[FIELD_ID_KEY].as_str(),
                    f.is_nullable(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("id", "1", false),
                (SOURCE_COLUMN, "7", false),
                (VERSION_COLUMN, "8", false),
                (DATE_COLUMN, "9", false)
            ]
        );
        let plain = RecordBatch::try_new(
            super::super::schema(ds),
            vec![Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .unwrap();
        // A longer batch, then a shorter one: each gets its own row count of lineage.
        let three = RecordBatch::try_new(
            super::super::schema(ds),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        assert_eq!(shape.apply(&three).unwrap().column(1).len(), 3);
        let b = shape.apply(&plain).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(1).len(), 2);
        let src = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(src.value(1), "raw/t/dt=2026-12-06/a.csv");
        let day = b.column(3).as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(day.value(0), 20_793);

        let mut missing = ids.clone();
        missing.remove(VERSION_COLUMN);
        assert!(TableShape::new(ds, &missing, &lineage)
            .unwrap_err()
            .contains("_lakeline_version"));
        let undated = Lineage {
            date: None,
            ..lineage
        };
        assert!(TableShape::new(ds, &ids, &undated)
            .unwrap_err()
            .contains("{date}"));
    }
}
