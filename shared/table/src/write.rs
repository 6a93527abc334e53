//! A delivery's data file: where it is written in the table, and how it is committed once
//! written. Shared by every writer of data files (the curate Lambda, the command line), so a
//! file lands in the same place, with the same statistics, under the same exactly-once commit.

use std::sync::Arc;

use iceberg::spec::{Literal, Struct};
use iceberg::table::Table;
use parquet::file::metadata::RowGroupMetaData;

use crate::commit::{commit_delivery, Delivery, Outcome};
use crate::datafile::{self, FileFacts};
use crate::{Error, Tables};

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
/// snapshot, exactly once ([`commit_delivery`]). Files the commit did not publish (already
/// committed, or an error) are deleted where the target lets lakeline delete
/// ([`Tables::discard`]), so they never linger as orphans that lakeline made.
pub async fn commit_written(
    tables: &Tables,
    table: &Table,
    d: &Delivery,
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
    let outcome = match described {
        Ok(dfs) => commit_delivery(tables, table.identifier(), d, dfs).await,
        Err(e) => Err(e),
    };
    if !matches!(outcome, Ok(Outcome::Committed { .. })) {
        tables.discard(table, &uris).await;
    }
    outcome
}
