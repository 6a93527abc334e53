//! A dataset's table schema, from the registry.
//!
//! Field ids are the table's, never the registry's order: a column keeps its id for as long as
//! the table has it, a new column gets the next id after the highest the table ever used, and
//! an id is never given twice. So a registry that reorders, adds or drops columns never makes
//! a reader take one column's values for another's.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{
    NestedField, NestedFieldRef, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec,
};
use lakeline_core::registry::Dataset;
use lakeline_core::table::{added_columns, DATE_COLUMN};
use lakeline_core::types::ColumnType;

use crate::Error;

/// The Iceberg type a declared column is stored as: the same types curated Parquet carries
/// (int → long, float → double, decimal(p,s) → decimal(p,s), timestamp → timestamptz,
/// microseconds in UTC).
pub fn iceberg_type(ty: ColumnType) -> PrimitiveType {
    match ty {
        ColumnType::String => PrimitiveType::String,
        ColumnType::Int => PrimitiveType::Long,
        ColumnType::Float => PrimitiveType::Double,
        ColumnType::Bool => PrimitiveType::Boolean,
        ColumnType::Date => PrimitiveType::Date,
        ColumnType::Timestamp => PrimitiveType::Timestamptz,
        ColumnType::Decimal { precision, scale } => PrimitiveType::Decimal {
            precision: precision.into(),
            scale: scale.into(),
        },
    }
}

/// Every column the table needs for `ds`: the declared ones, then lakeline's added ones
/// (always required: every row has them), as (name, type, required).
fn wanted(ds: &Dataset) -> Vec<(String, PrimitiveType, bool)> {
    let mut out: Vec<_> = ds
        .columns
        .iter()
        .map(|c| (c.name.clone(), iceberg_type(c.ty), c.required))
        .collect();
    for (name, _) in added_columns(ds) {
        let ty = if name == DATE_COLUMN {
            PrimitiveType::Date
        } else {
            PrimitiveType::String
        };
        out.push((name.to_string(), ty, true));
    }
    out
}

/// Whether data files written under `ds` fit a table of schema `current` as it is: every
/// column `ds` writes is in it with the same type, and none it may leave null is required
/// there. Columns the table has beyond `ds` are fine (those files read null there), so a
/// writer still on the previous registry keeps committing while `registry push` evolves the
/// table ahead of it. `Err` names the first column that does not fit.
pub fn fits(ds: &Dataset, current: &Schema) -> Result<(), String> {
    for (name, ty, required) in wanted(ds) {
        let Some(f) = current.field_by_name(&name) else {
            return Err(format!("the table has no column {name:?}"));
        };
        if f.field_type.as_primitive_type() != Some(&ty) {
            return Err(format!(
                "column {name:?} is {} in the table and {ty} in the registry",
                f.field_type
            ));
        }
        if f.required && !required {
            return Err(format!(
                "column {name:?} is required in the table and optional in the registry"
            ));
        }
    }
    Ok(())
}

/// The schema `ds` needs, given the table's `current` schema and the highest field id it ever
/// used (`None` for a new table): `Ok(None)` when the current one serves.
///
/// - A column the table has keeps its id; its type must not change (refused, naming it).
/// - A new column is added as optional (earlier rows read null), with a fresh id.
/// - A column the registry no longer declares stays, optional (old rows keep it; new files
///   lack it).
/// - A required column the registry now declares optional becomes optional.
pub fn evolve(ds: &Dataset, current: Option<(&Schema, i32)>) -> Result<Option<Schema>, Error> {
    let Some((current, last_id)) = current else {
        let fields = wanted(ds)
            .into_iter()
            .enumerate()
            .map(|(i, (name, ty, required))| field(i as i32 + 1, name, ty, required))
            .collect::<Vec<_>>();
        return Ok(Some(build(0, fields)?));
    };
    let wanted = wanted(ds);
    let mut next_id = last_id.max(current.highest_field_id());
    let mut fields: Vec<NestedFieldRef> = Vec::new();
    let mut changed = false;
    for f in current.as_struct().fields() {
        match wanted.iter().find(|(n, _, _)| *n == f.name) {
            Some((name, ty, required)) => {
                if f.field_type.as_primitive_type() != Some(ty) {
                    return Err(Error::Schema(format!(
                        "column {name:?} is {} in the table and {ty} in the registry: a column's type does not change in place (add a new column instead)",
                        f.field_type
                    )));
                }
                let keep_required = f.required && *required;
                changed |= keep_required != f.required;
                fields.push(field(f.id, name.clone(), ty.clone(), keep_required));
            }
            None => {
                changed |= f.required;
                fields.push(Arc::new(NestedField {
                    required: false,
                    ..f.as_ref().clone()
                }));
            }
        }
    }
    for (name, ty, _) in &wanted {
        if current.field_by_name(name).is_none() {
            next_id += 1;
            changed = true;
            fields.push(field(next_id, name.clone(), ty.clone(), false));
        }
    }
    if !changed {
        return Ok(None);
    }
    Ok(Some(build(current.schema_id() + 1, fields)?))
}

fn field(id: i32, name: String, ty: PrimitiveType, required: bool) -> NestedFieldRef {
    let ty = Type::Primitive(ty);
    Arc::new(if required {
        NestedField::required(id, name, ty)
    } else {
        NestedField::optional(id, name, ty)
    })
}

fn build(schema_id: i32, fields: Vec<NestedFieldRef>) -> Result<Schema, Error> {
    Schema::builder()
        .with_schema_id(schema_id)
        .with_fields(fields)
        .build()
        .map_err(|e| Error::Schema(format!("building the table schema: {e}")))
}

/// The partition spec of a new table: identity on [`DATE_COLUMN`] for a dataset whose key has
/// a `{date}`, else none.
pub fn partition_spec(ds: &Dataset, schema: &Schema) -> Result<UnboundPartitionSpec, Error> {
    let mut b = UnboundPartitionSpec::builder();
    if ds.key_pattern.has_date() {
        let f = schema
            .field_by_name(DATE_COLUMN)
            .ok_or_else(|| Error::Schema(format!("the schema lacks {DATE_COLUMN}")))?;
        b = b
            .add_partition_field(f.id, DATE_COLUMN, Transform::Identity)
            .map_err(|e| Error::Schema(format!("partition spec: {e}")))?;
    }
    Ok(b.build())
}

/// The table's field id of every top-level column, by name.
pub fn field_ids(schema: &Schema) -> HashMap<String, i32> {
    schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| (f.name.clone(), f.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakeline_core::registry::Registry;

    fn dataset(columns: &str) -> Registry {
        Registry::from_yaml(
            &format!("version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/dt={{date}}/{{file}}\n    format: csv\n    columns:\n{columns}"),
            "t.yaml",
        )
        .unwrap()
    }

    fn names_ids(s: &Schema) -> Vec<(String, i32, bool)> {
        s.as_struct()
            .fields()
            .iter()
            .map(|f| (f.name.clone(), f.id, f.required))
            .collect()
    }

    #[test]
    fn ids_are_stable_and_never_reused() {
        let v1 = dataset(
            "      - {name: id, type: int, required: true}\n      - {name: name, type: string}\n",
        );
        let (_, ds) = v1.dataset("t").unwrap();
        let s1 = evolve(ds, None).unwrap().unwrap();
        assert_eq!(
            names_ids(&s1),
            [
                ("id".into(), 1, true),
                ("name".into(), 2, false),
                ("_lakeline_source".into(), 3, true),
                ("_lakeline_version".into(), 4, true),
                ("_lakeline_date".into(), 5, true),
            ]
        );
        assert!(
            evolve(ds, Some((&s1, 5))).unwrap().is_none(),
            "same registry, no change"
        );
        let spec = partition_spec(ds, &s1).unwrap();
        assert_eq!(spec.fields()[0].source_id, 5);

        // Reordered, `name` dropped, `amount` added: `id` keeps 1, `amount` gets 6, `name`
        // stays (optional) for the rows that have it.
        let v2 = dataset("      - {name: amount, type: float}\n      - {name: id, type: int}\n");
        let (_, ds2) = v2.dataset("t").unwrap();
        let s2 = evolve(ds2, Some((&s1, 5))).unwrap().unwrap();
        assert_eq!(s2.schema_id(), 1);
        assert_eq!(
            names_ids(&s2),
            [
                ("id".into(), 1, false),
                ("name".into(), 2, false),
                ("_lakeline_source".into(), 3, true),
                ("_lakeline_version".into(), 4, true),
                ("_lakeline_date".into(), 5, true),
                ("amount".into(), 6, false),
            ]
        );
        // A column dropped and declared again later is the table's old column, by name; a
        // new name after ids up to 9 were used (by columns since dropped) gets 10.
        let v3 = dataset("      - {name: id, type: int}\n      - {name: note, type: string}\n");
        let (_, ds3) = v3.dataset("t").unwrap();
        let s3 = evolve(ds3, Some((&s2, 9))).unwrap().unwrap();
        assert_eq!(field_ids(&s3)["note"], 10);
        assert_eq!(field_ids(&s3)["id"], 1);
    }

    #[test]
    fn a_type_change_is_refused_by_name() {
        let v1 = dataset("      - {name: id, type: int}\n");
        let s1 = evolve(v1.dataset("t").unwrap().1, None).unwrap().unwrap();
        let v2 = dataset("      - {name: id, type: string}\n");
        let err = evolve(v2.dataset("t").unwrap().1, Some((&s1, 4)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column \"id\" is long in the table and string in the registry"),
            "{err}"
        );
    }
}
