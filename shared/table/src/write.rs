//! A delivery's data file: where it is written in the table, and how it is committed once
//! written. Shared by every writer of data files (the curate Lambda, the command line), so a
//! file lands in the same place, with the same statistics, under the same exactly-once commit.

use std::sync::Arc;

use iceberg::spec::{Literal, Struct};
use iceberg::table::Table;
use parquet::file::metadata::RowGroupMetaData;

use crate::commit::{commit_delivery, Delivery, Outcome};
use crate::datafile::{self, FileFacts};
use crate::schema::write_ids;
use crate::{Error, Tables};
use lakeline_core::registry::Dataset;

/// A new data file's location in `table`:
/// `<table location>/data/[_lakeline_date=D/]<uuid>.parquet`. A fresh name per attempt: a
/// table bucket refuses overwrites and deletes, so an attempt never reuses another's file.
pub fn data_file_uri(table: &Table, date: Option<i32>) -> String {
    let loc = table.metadata().location().trim_end_matches('/');
    let dir = match date {
        Some(d) => format!(
            "{loc}/data/{}={}",
            lakeline_core::table::DATE_COLUMN,
            iceberg::spec::Datum::date(d)
        ),
        None => format!("{loc}/data"),
    };
    format!("{dir}/{}.parquet", uuid::Uuid::new_v4())
}

/// A data file written into a table's location for one delivery.
pub struct Written {
    /// Its location, as [`data_file_uri`] gave it.
    pub uri: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its row groups as its footer records them.
    pub row_groups: Arc<[RowGroupMetaData]>,
    /// See [`datafile::FileFacts::untagged_exact`] (false for lakeline's own writer, which
    /// flags exact statistics).
    pub untagged_exact: bool,
}

/// Describes `files` from their footers and commits them to `table` as delivery `d`, in one
/// snapshot, exactly once ([`commit_delivery`], which deletes what it did not publish where the
/// target lets lakeline delete, [`Tables::discard`]).
pub async fn commit_written(
    tables: &Tables,
    table: &Table,
    d: &Delivery,
    guard: &dyn crate::commit::Guard,
    files: Vec<Written>,
) -> Result<Outcome, Error> {
    let md = table.metadata();
    let partition = match d.date {
        Some(day) => Struct::from_iter([Some(Literal::date(day))]),
        None => Struct::empty(),
    };
    let uris: Vec<String> = files.iter().map(|f| f.uri.clone()).collect();
    let described: Result<Vec<_>, Error> = files
        .into_iter()
        .map(|file| {
            datafile::from_footer(
                md.current_schema(),
                &file.row_groups,
                FileFacts {
                    path: file.uri,
                    size: file.size,
                    partition: partition.clone(),
                    spec_id: md.default_partition_spec_id(),
                    untagged_exact: file.untagged_exact,
                },
            )
        })
        .collect();
    match described {
        // The commit deletes what it did not publish (and keeps what it posted for a group).
        Ok(dfs) => commit_delivery(tables, table.identifier(), d, guard, dfs).await,
        Err(e) => {
            tables.discard(table, &uris).await;
            Err(e)
        }
    }
}

/// Whether a data file another engine wrote fits `table` as delivery `d`: every leaf column
/// carries a field id the table has under the same name, every column the dataset writes is
/// there, and the lineage columns hold exactly `d`'s key, version (and date), by the file's
/// exact statistics.
pub fn check_staged(
    table: &Table,
    ds: &Dataset,
    shown: &str,
    meta: &parquet::file::metadata::ParquetMetaData,
    d: &Delivery,
    untagged_exact: bool,
) -> Result<(), Error> {
    use iceberg::spec::Datum;
    use lakeline_core::table::{DATE_COLUMN, SOURCE_COLUMN, VERSION_COLUMN};
    let ids_of = write_ids(table.metadata());
    let ids = check_ids(table, shown, meta)?;
    let mut needed: Vec<&str> = ds.columns.iter().map(|c| c.name.as_str()).collect();
    needed.extend([SOURCE_COLUMN, VERSION_COLUMN]);
    if d.date.is_some() {
        needed.push(DATE_COLUMN);
    }
    for n in &needed {
        if !ids_of.get(*n).is_some_and(|id| ids.contains(id)) {
            return Err(Error::Schema(format!(
                "{shown}: the column {n:?} is missing"
            )));
        }
    }
    let df = datafile::footer_statistics(table, shown, meta, untagged_exact)?;
    let mut want = vec![
        (SOURCE_COLUMN, Datum::string(&d.source)),
        (VERSION_COLUMN, Datum::string(&d.version)),
    ];
    if let Some(day) = d.date {
        want.push((DATE_COLUMN, Datum::date(day)));
    }
    for (col, value) in want {
        let id = ids_of[col];
        let (lo, hi) = (df.lower_bounds().get(&id), df.upper_bounds().get(&id));
        if df.record_count() > 0 && (lo != Some(&value) || hi != Some(&value)) {
            return Err(Error::Schema(format!(
                "{shown}: {col} must be {value} in every row, the file's statistics say {} to {}",
                lo.map_or("unknown".into(), |v| v.to_string()),
                hi.map_or("unknown".into(), |v| v.to_string()),
            )));
        }
        if df.null_value_counts().get(&id).copied().unwrap_or(0) > 0 {
            return Err(Error::Schema(format!("{shown}: {col} has nulls")));
        }
    }
    Ok(())
}

/// The table's field ids of a data file another engine wrote: every leaf column must carry a
/// field id that the table has under the same name. Names as any schema of the table gave them
/// count: a file written before a rename names the column as it was then, and one written
/// before a drop may still carry the column.
pub fn check_ids(
    table: &Table,
    shown: &str,
    meta: &parquet::file::metadata::ParquetMetaData,
) -> Result<std::collections::HashSet<i32>, Error> {
    let schema = table.metadata().current_schema();
    let ids_of = write_ids(table.metadata());
    let mut ids = std::collections::HashSet::new();
    for col in meta.file_metadata().schema_descr().columns() {
        let info = col.self_type().get_basic_info();
        let name = col.name();
        if !info.has_id() {
            return Err(Error::Schema(format!(
                "{shown}: column {name:?} has no Iceberg field id: write it with the table's ids (Spark: field metadata parquet.field.id)"
            )));
        }
        let id = info.id();
        match schema.field_by_id(id) {
            Some(f) if f.name == name || ids_of.get(name) == Some(&id) => {
                ids.insert(id);
            }
            Some(f) => {
                return Err(Error::Schema(format!(
                "{shown}: column {name:?} carries field id {id}, which is the table's column {:?}",
                f.name
            )))
            }
            None if ids_of.get(name) == Some(&id) => {
                ids.insert(id);
            }
            None => {
                return Err(Error::Schema(format!(
                    "{shown}: column {name:?} carries field id {id}, which the table does not have"
                )))
            }
        }
    }
    Ok(ids)
}
