//! Erase, for a deletion request (GDPR): the rows a filter matches
//! ([`lakeline_core::erase::parse_where`]) leave the table in one snapshot. Files the
//! manifests cannot rule out are read for the filter's columns (and the lineage), those with
//! matching rows are rewritten without them (copy on write: no delete files, which not every
//! reader applies), and the rest are left alone.
//!
//! The snapshot names the columns the filter used, never its values: a snapshot summary is
//! readable by anyone who can read the table, and the values are what is being erased.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use futures_util::{StreamExt, TryStreamExt};
use iceberg::expr::{Predicate, Reference};
use iceberg::spec::{Datum, Operation, PrimitiveType, Type};
use iceberg::table::Table;
use iceberg::TableIdent;
use lakeline_core::erase::Condition;
use lakeline_core::table::SOURCE_COLUMN;
use serde::Serialize;

use crate::commit::summary;
use crate::maintain::{commit_rewrite, live_files};
use crate::rewrite::{lineage, rewrite};
use crate::{Error, Tables};

/// The snapshot summary key naming the columns an erase filtered on.
pub const ERASED_COLUMNS: &str = "lakeline.erase-columns";

/// What an erase found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    /// `namespace.table`.
    pub table: String,
    /// Rows removed, per data file rewritten.
    pub files: BTreeMap<String, u64>,
    /// Rows removed in all.
    pub rows: u64,
    /// The raw keys whose rows matched: their raw (and quarantined) objects still hold them.
    pub sources: BTreeSet<String>,
    /// Whether a snapshot was committed (false for a dry run or when nothing matched).
    pub committed: bool,
    /// The snapshot, when committed.
    pub snapshot_id: Option<i64>,
    /// When the erased rows are gone from storage, not only from the current snapshot.
    pub physically_gone: String,
}

/// Checks the filter against the table's current schema: every column must exist.
fn check_columns(table: &Table, conds: &[Condition]) -> Result<(), Error> {
    let schema = table.metadata().current_schema();
    for c in conds {
        if schema.field_by_name(&c.column).is_none() {
            return Err(Error::Schema(format!(
                "table {} has no column {:?}: nothing was erased",
                table.identifier(),
                c.column
            )));
        }
    }
    Ok(())
}

/// The filter as an Iceberg predicate, for pruning files by their column bounds; `None` when a
/// literal does not convert to its column's type (then every file is read: correct, slower).
fn predicate(table: &Table, conds: &[Condition]) -> Option<Predicate> {
    let schema = table.metadata().current_schema();
    let mut out: Option<Predicate> = None;
    for c in conds {
        let field = schema.field_by_name(&c.column)?;
        let Type::Primitive(pt) = field.field_type.as_ref() else {
            return None;
        };
        let data: Option<Vec<Datum>> = c
            .values
            .iter()
            .map(|v| {
                let t = v.as_text();
                match pt {
                    PrimitiveType::String => Some(Datum::string(t)),
                    PrimitiveType::Long => t.parse::<i64>().ok().map(Datum::long),
                    PrimitiveType::Int => t.parse::<i32>().ok().map(Datum::int),
                    PrimitiveType::Double => t.parse::<f64>().ok().map(Datum::double),
                    PrimitiveType::Boolean => t.parse::<bool>().ok().map(Datum::bool),
                    PrimitiveType::Date => Datum::date_from_str(&t).ok(),
                    _ => None,
                }
            })
            .collect();
        let p = Reference::new(&c.column).is_in(data?);
        out = Some(match out {
            Some(acc) => acc.and(p),
            None => p,
        });
    }
    out
}

/// Which rows of `b` the filter matches: every condition's column equals one of its values
/// (each literal cast to the column's Arrow type). A null never matches.
pub fn matches(b: &RecordBatch, conds: &[Condition]) -> Result<BooleanArray, Error> {
    let mut acc: Vec<bool> = vec![true; b.num_rows()];
    for c in conds {
        let col: &ArrayRef = b
            .column_by_name(&c.column)
            .ok_or_else(|| Error::Schema(format!("no column {:?} in a data file", c.column)))?;
        let mut any = vec![false; b.num_rows()];
        for v in &c.values {
            let lit: ArrayRef = Arc::new(StringArray::from(vec![v.as_text()]));
            let lit = arrow_cast::cast(&lit, col.data_type()).map_err(|e| {
                Error::Schema(format!(
                    "{:?} is not a value of column {} ({}): {e}",
                    v.as_text(),
                    c.column,
                    col.data_type()
                ))
            })?;
            if lit.is_null(0) {
                return Err(Error::Schema(format!(
                    "{:?} is not a value of column {} ({})",
                    v.as_text(),
                    c.column,
                    col.data_type()
                )));
            }
            let eq = arrow_ord::cmp::eq(col, &arrow_array::Scalar::new(lit))
                .map_err(|e| Error::Catalog(format!("comparing column {}: {e}", c.column)))?;
            for (i, a) in any.iter_mut().enumerate() {
                *a |= eq.is_valid(i) && eq.value(i);
            }
        }
        for (a, m) in acc.iter_mut().zip(any) {
            *a &= m;
        }
    }
    Ok(BooleanArray::from(acc))
}

/// Erases the rows of `ident` that `conds` match, in one snapshot (`dry_run`: count only).
pub async fn erase(
    tables: &Tables,
    ident: &TableIdent,
    conds: &[Condition],
    dry_run: bool,
    obs: &mut dyn crate::Observer,
) -> Result<Erased, Error> {
    let table = tables.load_table(ident).await?;
    check_columns(&table, conds)?;
    // In the schema's order: iceberg-rust 0.10.1's reader returns the columns in the file's
    // order under names in the order selected, so another order mislabels them.
    let wanted: BTreeSet<&str> = conds
        .iter()
        .map(|c| c.column.as_str())
        .chain([SOURCE_COLUMN])
        .collect();
    let mut columns: Vec<&str> = wanted.into_iter().collect();
    let schema = table.metadata().current_schema().clone();
    columns.sort_by_key(|c| schema.field_by_name(c).map(|f| f.id));
    let mut scan = table.scan().select(columns);
    if let Some(p) = predicate(&table, conds) {
        scan = scan.with_filter(p);
    }
    // Count the matches per candidate file, reading only the filter's columns and the lineage.
    let tasks: Vec<_> = scan.build()?.plan_files().await?.try_collect().await?;
    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    let mut sources = BTreeSet::new();
    obs.phase("reading", tasks.len() as u64);
    for task in tasks {
        let path = task.data_file_path.clone();
        let mut task = task;
        // The scan's predicate also filters rows; the count needs every row of the file.
        task.predicate = None;
        let reader = table
            .reader_builder()
            .with_batch_size(8192)
            .with_data_file_concurrency_limit(1)
            .build();
        let mut batches = reader
            .read(futures_util::stream::iter([Ok(task)]).boxed())?
            .stream();
        let mut n = 0;
        while let Some(b) = batches.next().await {
            let b = b?;
            let m = matches(&b, conds)?;
            let src = lineage(&b, SOURCE_COLUMN)?;
            for i in (0..b.num_rows()).filter(|i| m.value(*i)) {
                n += 1;
                if src.is_valid(i) {
                    sources.insert(src.value(i).to_string());
                }
            }
        }
        obs.step(&format!("{path}: {n} row(s) match"));
        if n > 0 {
            files.insert(path, n);
        }
    }
    let physically_gone = if tables.deletes_orphans() {
        "the rows stay in older snapshots (time travel) until they are expired; the replaced files then leave storage, and on a versioned bucket their noncurrent versions after NoncurrentVersionExpirationDays".to_string()
    } else {
        "the rows stay in older snapshots (time travel) until S3 Tables expires them (its snapshot management: minimum snapshots and maximum age); the replaced files are then deleted by unreferenced-file removal (the stack's TableBucket: unreferenced after 3 days, deleted 10 days later)".to_string()
    };
    let mut done = Erased {
        table: ident.to_string(),
        rows: files.values().sum(),
        files,
        sources,
        committed: false,
        snapshot_id: None,
        physically_gone,
    };
    if dry_run || done.files.is_empty() {
        return Ok(done);
    }
    let live: HashMap<String, crate::maintain::LiveFile> = live_files(&table)
        .await?
        .into_iter()
        .map(|f| (f.file.file_path().to_string(), f))
        .collect();
    let keep = |b: &RecordBatch| -> Result<BooleanArray, Error> {
        let m = matches(b, conds)?;
        Ok((0..b.num_rows()).map(|i| Some(!m.value(i))).collect())
    };
    let mut added = Vec::new();
    obs.phase("rewriting", done.files.len() as u64);
    for (path, want) in &done.files {
        let f = &live[path];
        let out = match rewrite(
            &table,
            std::slice::from_ref(path),
            f.file.partition(),
            f.spec_id,
            f.date(),
            &keep,
            u64::MAX,
        )
        .await
        {
            Ok(out) => out,
            Err(e) => {
                let paths: Vec<String> = added
                    .iter()
                    .map(|f: &iceberg::spec::DataFile| f.file_path().to_string())
                    .collect();
                tables.discard(&table, &paths).await;
                return Err(e);
            }
        };
        let dropped = out.rows_dropped.get(path).copied().unwrap_or(0);
        if dropped != *want {
            return Err(Error::Catalog(format!(
                "{path}: {want} rows matched when counted and {dropped} when rewritten: nothing was erased"
            )));
        }
        obs.step(&format!("{path}: {want} row(s) left out"));
        added.extend(out.files);
    }
    let remove: Vec<String> = done.files.keys().cloned().collect();
    let columns: HashSet<&str> = conds.iter().map(|c| c.column.as_str()).collect();
    let mut columns: Vec<&str> = columns.into_iter().collect();
    columns.sort();
    let props = HashMap::from([
        (summary::REWRITE.to_string(), "erase".to_string()),
        (
            ERASED_COLUMNS.to_string(),
            crate::commit::json_list(&columns),
        ),
        (summary::ENGINE.to_string(), "lakeline".to_string()),
    ]);
    let operation = if added.is_empty() {
        Operation::Delete
    } else {
        Operation::Overwrite
    };
    done.snapshot_id = Some(commit_rewrite(tables, table, remove, added, operation, props).await?);
    done.committed = true;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakeline_core::erase::parse_where;

    #[test]
    fn a_filter_matches_typed_values_and_never_nulls() {
        let b = RecordBatch::try_from_iter([
            (
                "customer",
                Arc::new(StringArray::from(vec![
                    Some("Anna Müller"),
                    None,
                    Some("Bo"),
                ])) as ArrayRef,
            ),
            (
                "order_id",
                Arc::new(arrow_array::Int64Array::from(vec![1, 2, 3])) as ArrayRef,
            ),
        ])
        .unwrap();
        for (expr, want) in [
            ("customer = 'Anna Müller'", vec![true, false, false]),
            ("customer IN ('Bo', 'Anna Müller')", vec![true, false, true]),
            ("order_id = 3", vec![false, false, true]),
            (
                "customer = 'Bo' AND order_id IN (1, 2)",
                vec![false, false, false],
            ),
            (
                "order_id IN (2, 3) AND customer = 'Bo'",
                vec![false, false, true],
            ),
        ] {
            let m = matches(&b, &parse_where(expr).unwrap()).unwrap();
            let got: Vec<bool> = (0..3).map(|i| m.value(i)).collect();
            assert_eq!(got, want, "{expr}");
        }
        let e = matches(&b, &parse_where("order_id = 'x'").unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("not a value of column order_id"),
            "{e}"
        );
    }
}
