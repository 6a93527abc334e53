//! The shape of a table's data file: the curated columns, then the columns lakeline adds to
//! every row ([`crate::table`]), each field carrying its Iceberg field id.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};

use crate::registry::Dataset;
use crate::table::{added_columns, Lineage, FIELD_ID_KEY, SOURCE_COLUMN, VERSION_COLUMN};

/// The shape of one delivery's data file: the dataset's declared columns, then the added
/// columns with this delivery's values, each field carrying its Iceberg field id.
#[derive(Debug, Clone)]
pub struct TableShape {
    schema: SchemaRef,
    /// The added columns' values, one per trailing field of `schema`: constant for the file,
    /// so the writer writes their column chunks whole ([`super::writer`]).
    constants: Vec<Constant>,
}

/// The value an added column holds in every row of one delivery's data file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Constant {
    /// A string (the raw key, its version).
    Text(String),
    /// A date, in days since the epoch (the partition date).
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
                SOURCE_COLUMN => Constant::Text(lineage.source.clone()),
                VERSION_COLUMN => Constant::Text(lineage.version.clone()),
                _ => Constant::Date(lineage.date.ok_or_else(|| {
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
        })
    }

    /// The data file's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// How many of the schema's fields are the dataset's declared columns (the rest are added).
    pub(crate) fn declared(&self) -> usize {
        self.schema.fields().len() - self.constants.len()
    }

    /// The added columns' values, in the schema's order after the declared columns.
    pub(crate) fn constants(&self) -> &[Constant] {
        &self.constants
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::table::DATE_COLUMN;

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
        assert_eq!(shape.declared(), 1);
        assert_eq!(
            shape.constants(),
            [
                Constant::Text("raw/t/dt=2026-12-06/a.csv".into()),
                Constant::Text("v1".into()),
                Constant::Date(20_793)
            ]
        );

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
