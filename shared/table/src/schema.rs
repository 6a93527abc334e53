//! A dataset's table schema, from the registry.
//!
//! Field ids are the table's, never the registry's order: a column keeps its id for as long as
//! the table has it, a new column gets the next id after the highest the table ever used, and
//! an id is never given twice. So a registry that reorders, adds or drops columns never makes
//! a reader take one column's values for another's.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{
    NestedField, NestedFieldRef, PrimitiveType, Schema, SchemaRef, TableMetadata, Transform, Type,
    UnboundPartitionSpec,
};
use lakeline_core::registry::Dataset;
use lakeline_core::table::{added_columns, DATE_COLUMN};
use lakeline_core::types::ColumnType;
use serde::Serialize;

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
        // Iceberg v2 has no JSON type: the text, as Athena and Spark read JSON columns.
        ColumnType::Json => PrimitiveType::String,
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

/// Whether a value stored as `from` reads as `to` under Iceberg's type promotions: int to
/// long, float to double, and a decimal's precision up at the same scale.
pub fn promotes(from: &PrimitiveType, to: &PrimitiveType) -> bool {
    match (from, to) {
        _ if from == to => true,
        (PrimitiveType::Int, PrimitiveType::Long)
        | (PrimitiveType::Float, PrimitiveType::Double) => true,
        (
            PrimitiveType::Decimal {
                precision: p1,
                scale: s1,
            },
            PrimitiveType::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s1 == s2 && p2 >= p1,
        _ => false,
    }
}

/// The table's field id of every column name a writer may use: the current schema's names,
/// then the names earlier schemas gave (a renamed or dropped column), newest first. A file
/// written under an earlier registry names its columns as that registry did; by these ids it
/// lands in the right column (renamed), or in none (dropped), whatever the name says.
pub fn write_ids(md: &TableMetadata) -> HashMap<String, i32> {
    let mut ids = field_ids(md.current_schema());
    let mut older: Vec<&SchemaRef> = md.schemas_iter().collect();
    older.sort_by_key(|s| std::cmp::Reverse(s.schema_id()));
    for s in older {
        for f in s.as_struct().fields() {
            ids.entry(f.name.clone()).or_insert(f.id);
        }
    }
    ids
}

/// Whether data files written under `ds` fit the table of metadata `md` as it is: every column
/// `ds` writes is, by name or by an earlier name ([`write_ids`]), a column of the current
/// schema whose type its values promote to, or one the table dropped (readers ignore it); and
/// none it may leave null is required there. Columns the table has beyond `ds` are fine
/// (those files read null there). So a writer still on the previous registry keeps committing
/// while `registry push` evolves the table ahead of it. `Err` names the first column that does
/// not fit.
pub fn fits(ds: &Dataset, md: &TableMetadata) -> Result<(), String> {
    let current = md.current_schema();
    let ids = write_ids(md);
    for (name, ty, required) in wanted(ds) {
        let Some(&id) = ids.get(&name) else {
            return Err(format!("the table has no column {name:?}"));
        };
        let Some(f) = current.field_by_id(id) else {
            // Dropped from the table: the file may carry it, no reader sees it.
            continue;
        };
        let table_ty = f.field_type.as_primitive_type();
        if !table_ty.is_some_and(|t| promotes(&ty, t)) {
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

/// One change [`evolve`] makes to a table's schema, as `registry check` and `registry push`
/// report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A new column, optional (earlier rows read null).
    Added {
        /// Its name.
        column: String,
        /// Its new field id.
        id: i32,
    },
    /// A column the registry no longer declares: gone from the current schema, kept by the
    /// snapshots written before.
    Dropped {
        /// Its name.
        column: String,
        /// Its field id (never given again).
        id: i32,
    },
    /// `renamed_from`: the same field id under a new name.
    Renamed {
        /// The table's name for it.
        from: String,
        /// The registry's.
        to: String,
        /// The id kept.
        id: i32,
    },
    /// A promotion ([`promotes`]): a decimal's precision up.
    Widened {
        /// The column.
        column: String,
        /// The table's type.
        from: String,
        /// The registry's.
        to: String,
    },
    /// A required column the registry now declares optional.
    MadeOptional {
        /// The column.
        column: String,
    },
    /// The columns the table keeps, in the registry's new order.
    Reordered,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added { column, id } => write!(
                f,
                "add column {column:?} (id {id}, optional: earlier rows read null)"
            ),
            Change::Dropped { column, id } => write!(
                f,
                "drop column {column:?} (id {id}; earlier snapshots keep it)"
            ),
            Change::Renamed { from, to, id } => write!(
                f,
                "rename {from:?} to {to:?} (id {id} kept, so its values are)"
            ),
            Change::Widened { column, from, to } => {
                write!(f, "widen {column:?} from {from} to {to}")
            }
            Change::MadeOptional { column } => write!(f, "make {column:?} optional"),
            Change::Reordered => f.write_str("reorder the columns as the registry declares them"),
        }
    }
}

/// A schema [`evolve`] built, and what it changed.
#[derive(Debug, Clone)]
pub struct Evolution {
    /// The new current schema.
    pub schema: Schema,
    /// The changes from the table's current schema (none for a new table).
    pub changes: Vec<Change>,
}

/// The schema `ds` needs, given the table's `current` schema and the highest field id it ever
/// used (`None` for a new table): `Ok(None)` when the current one serves. Every change is one
/// of Iceberg's schema evolutions, applied together as one new schema:
///
/// - A column the table has keeps its id, found by its name or its `renamed_from` (a rename).
///   Its type may only widen ([`promotes`]); any other change is refused, naming the column
///   and saying what a backfill would take.
/// - A new column is added as optional (earlier rows read null), with a fresh id.
/// - A column the registry no longer declares is dropped from the current schema; the
///   snapshots written before keep it, and its id is never given again.
/// - A required column the registry now declares optional becomes optional (the reverse
///   would refuse the rows the table has, so it is not made).
/// - The columns are in the registry's order, then lakeline's own.
pub fn evolve(ds: &Dataset, current: Option<(&Schema, i32)>) -> Result<Option<Evolution>, Error> {
    let Some((current, last_id)) = current else {
        let fields = wanted(ds)
            .into_iter()
            .enumerate()
            .map(|(i, (name, ty, required))| field(i as i32 + 1, name, ty, required))
            .collect::<Vec<_>>();
        return Ok(Some(Evolution {
            schema: build(0, fields)?,
            changes: Vec::new(),
        }));
    };
    let mut next_id = last_id.max(current.highest_field_id());
    let mut fields: Vec<NestedFieldRef> = Vec::new();
    let mut changes = Vec::new();
    let mut kept: Vec<i32> = Vec::new();
    for (name, ty, required) in wanted(ds) {
        let renamed_from = ds
            .columns
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.renamed_from.as_deref());
        let found = match current.field_by_name(&name) {
            Some(f) => Some((f, None)),
            None => renamed_from.and_then(|old| current.field_by_name(old).map(|f| (f, Some(old)))),
        };
        let Some((f, old)) = found else {
            next_id += 1;
            changes.push(Change::Added {
                column: name.clone(),
                id: next_id,
            });
            fields.push(field(next_id, name, ty, false));
            continue;
        };
        let table_ty = f.field_type.as_primitive_type();
        if table_ty != Some(&ty) {
            match table_ty {
                Some(t) if promotes(t, &ty) => changes.push(Change::Widened {
                    column: name.clone(),
                    from: t.to_string(),
                    to: ty.to_string(),
                }),
                _ => return Err(Error::Schema(refusal(&name, &f.field_type, &ty))),
            }
        }
        if let Some(old) = old {
            changes.push(Change::Renamed {
                from: old.to_string(),
                to: name.clone(),
                id: f.id,
            });
        }
        let keep_required = f.required && required;
        if f.required && !keep_required {
            changes.push(Change::MadeOptional {
                column: name.clone(),
            });
        }
        kept.push(f.id);
        fields.push(field(f.id, name, ty, keep_required));
    }
    for f in current.as_struct().fields() {
        if !kept.contains(&f.id) {
            changes.push(Change::Dropped {
                column: f.name.clone(),
                id: f.id,
            });
        }
    }
    let before: Vec<i32> = current
        .as_struct()
        .fields()
        .iter()
        .map(|f| f.id)
        .filter(|id| kept.contains(id))
        .collect();
    if before != kept {
        changes.push(Change::Reordered);
    }
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(Evolution {
        schema: build(current.schema_id() + 1, fields)?,
        changes,
    }))
}

/// Why a column's type change is refused, and what a backfill would take.
fn refusal(name: &str, table: &Type, registry: &PrimitiveType) -> String {
    let why = match (table.as_primitive_type(), registry) {
        (
            Some(PrimitiveType::Decimal { scale: s1, .. }),
            PrimitiveType::Decimal { scale: s2, .. },
        ) if s1 != s2 => format!(
            "a decimal's scale does not change in place ({s1} to {s2} would rescale every stored value)"
        ),
        (Some(PrimitiveType::Decimal { precision: p1, .. }), PrimitiveType::Decimal { precision: p2, .. }) if p2 < p1 => {
            format!("narrowing from {p1} to {p2} digits could not hold values the table has")
        }
        _ => format!("{table} to {registry} is not a promotion Iceberg allows (only int to long, float to double, decimal precision up at the same scale)"),
    };
    format!(
        "column {name:?} is {table} in the table and {registry} in the registry: {why}. A backfill would take: declare the new type under a new column name, curate the raw files again into it (`lakeline rerun` or `lakeline replay` per file), and drop the old column once nothing reads it"
    )
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

    fn evolved(ds: &Dataset, current: &Schema, last: i32) -> Evolution {
        evolve(ds, Some((current, last))).unwrap().unwrap()
    }

    fn said(e: &Evolution) -> Vec<String> {
        e.changes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ids_are_stable_and_never_reused() {
        let v1 = dataset(
            "      - {name: id, type: int, required: true}\n      - {name: name, type: string}\n",
        );
        let (_, ds) = v1.dataset("t").unwrap();
        let s1 = evolve(ds, None).unwrap().unwrap().schema;
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

        // `name` dropped, `amount` added before `id`, `id` optional now: `id` keeps 1,
        // `amount` gets 6, `name` leaves the current schema (the old one keeps it).
        let v2 = dataset("      - {name: amount, type: float}\n      - {name: id, type: int}\n");
        let (_, ds2) = v2.dataset("t").unwrap();
        let e2 = evolved(ds2, &s1, 5);
        assert_eq!(e2.schema.schema_id(), 1);
        assert_eq!(
            names_ids(&e2.schema),
            [
                ("amount".into(), 6, false),
                ("id".into(), 1, false),
                ("_lakeline_source".into(), 3, true),
                ("_lakeline_version".into(), 4, true),
                ("_lakeline_date".into(), 5, true),
            ]
        );
        assert_eq!(
            said(&e2),
            [
                "add column \"amount\" (id 6, optional: earlier rows read null)",
                "make \"id\" optional",
                "drop column \"name\" (id 2; earlier snapshots keep it)",
            ]
        );
        // A column dropped and declared again is a new column: its old values stay in the
        // snapshots that had it, and ids up to 9 having been used, it gets 10.
        let v3 = dataset("      - {name: id, type: int}\n      - {name: name, type: string}\n");
        let (_, ds3) = v3.dataset("t").unwrap();
        let e3 = evolved(ds3, &e2.schema, 9);
        assert_eq!(field_ids(&e3.schema)["name"], 10);
        assert_eq!(field_ids(&e3.schema)["id"], 1);
    }

    #[test]
    fn renames_widenings_and_reorders_keep_the_ids() {
        let v1 = dataset("      - {name: id, type: int, required: true}\n      - {name: amt, type: \"decimal(10,2)\"}\n      - {name: note, type: string}\n");
        let s1 = evolve(v1.dataset("t").unwrap().1, None)
            .unwrap()
            .unwrap()
            .schema;
        let v2 = dataset("      - {name: note, type: string}\n      - {name: amount, type: \"decimal(12,2)\", renamed_from: amt}\n      - {name: id, type: int, required: true}\n");
        let e = evolved(v2.dataset("t").unwrap().1, &s1, 6);
        assert_eq!(
            said(&e),
            [
                "widen \"amount\" from decimal(10, 2) to decimal(12, 2)",
                "rename \"amt\" to \"amount\" (id 2 kept, so its values are)",
                "reorder the columns as the registry declares them",
            ]
        );
        let ids: Vec<(String, i32, bool)> = names_ids(&e.schema).into_iter().take(3).collect();
        assert_eq!(
            ids,
            [
                ("note".into(), 3, false),
                ("amount".into(), 2, false),
                ("id".into(), 1, true)
            ]
        );
        // The rename is done: the same registry again changes nothing, `renamed_from` and all.
        assert!(evolve(v2.dataset("t").unwrap().1, Some((&e.schema, 6)))
            .unwrap()
            .is_none());
    }

    #[test]
    fn type_changes_other_than_promotions_are_refused_with_the_backfill() {
        let v1 = dataset(
            "      - {name: id, type: int}\n      - {name: amount, type: \"decimal(12,2)\"}\n",
        );
        let s1 = evolve(v1.dataset("t").unwrap().1, None)
            .unwrap()
            .unwrap()
            .schema;
        for (cols, want) in [
            (
                "      - {name: id, type: string}\n      - {name: amount, type: \"decimal(12,2)\"}\n",
                "column \"id\" is long in the table and string in the registry: long to string is not a promotion Iceberg allows",
            ),
            (
                "      - {name: id, type: int}\n      - {name: amount, type: \"decimal(10,2)\"}\n",
                "narrowing from 12 to 10 digits could not hold values the table has",
            ),
            (
                "      - {name: id, type: int}\n      - {name: amount, type: \"decimal(14,4)\"}\n",
                "a decimal's scale does not change in place (2 to 4 would rescale every stored value)",
            ),
            (
                "      - {name: id, type: \"decimal(20,0)\"}\n      - {name: amount, type: \"decimal(12,2)\"}\n",
                "long to decimal(20, 0) is not a promotion",
            ),
        ] {
            let v2 = dataset(cols);
            let err = evolve(v2.dataset("t").unwrap().1, Some((&s1, 5)))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
            assert!(err.contains("A backfill would take: declare the new type under a new column name"), "{err}");
        }
    }

    #[test]
    fn promotions_are_icebergs() {
        use PrimitiveType::*;
        let d = |precision, scale| Decimal { precision, scale };
        for (from, to, ok) in [
            (Int, Long, true),
            (Float, Double, true),
            (d(10, 2), d(12, 2), true),
            (d(12, 2), d(12, 2), true),
            (d(12, 2), d(10, 2), false),
            (d(10, 2), d(12, 3), false),
            (Long, d(38, 0), false),
            (Long, Int, false),
            (Date, Timestamptz, false),
        ] {
            assert_eq!(promotes(&from, &to), ok, "{from} -> {to}");
        }
    }
}
