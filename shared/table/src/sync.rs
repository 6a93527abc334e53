//! A dataset's table made to match the registry: created when missing, its schema evolved
//! when the registry added columns ([`crate::schema::evolve`]), committed like any other change
//! (a new metadata file, published by compare-and-swap on the version it was built on).

use std::collections::HashMap;

use iceberg::table::Table;
use iceberg::TableCreation;
use lakeline_core::registry::{Dataset, DatasetName};
use lakeline_core::table::{SOURCE_COLUMN, VERSION_COLUMN};
use serde::Serialize;

use crate::commit::{backoff, publish_metadata, MAX_ATTEMPTS};
use crate::schema::{evolve, partition_spec};
use crate::{Error, Tables};

/// What a sync did to a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Synced {
    /// The table was created.
    Created,
    /// Its schema changed: a new schema id.
    Evolved {
        /// The new current schema id.
        schema_id: i32,
        /// What changed, in words ([`crate::schema::Change`]).
        changes: Vec<String>,
    },
    /// It already matched the registry.
    Unchanged,
}

/// The properties of a new table. iceberg-rust's writer ignores metrics modes, but other
/// writers (pyiceberg, Spark) honour them: their `_lakeline_source` bounds stay whole too, so a
/// delivery is found from the manifests whoever wrote it.
fn table_properties(name: &DatasetName) -> HashMap<String, String> {
    HashMap::from([
        (
            format!("write.metadata.metrics.column.{SOURCE_COLUMN}"),
            "full".to_string(),
        ),
        (
            format!("write.metadata.metrics.column.{VERSION_COLUMN}"),
            "full".to_string(),
        ),
        ("write.parquet.compression-codec".into(), "zstd".into()),
        ("lakeline.dataset".into(), name.to_string()),
    ])
}

/// The table of `name`, matching `ds`: created, evolved or as it was.
pub async fn sync_table(
    tables: &Tables,
    name: &DatasetName,
    ds: &Dataset,
) -> Result<(Table, Synced), Error> {
    let ident = tables.ident(name);
    for attempt in 1..=MAX_ATTEMPTS {
        let Some(table) = tables.load(&ident).await? else {
            let schema = evolve(ds, None)?
                .expect("a new table always has a schema")
                .schema;
            let mut creation = TableCreation::builder()
                .name(ident.name().to_string())
                .partition_spec(partition_spec(ds, &schema)?)
                .schema(schema)
                .properties(table_properties(name))
                .build();
            creation.location = tables.location_for(&ident);
            match tables.create_table(creation).await {
                // Loaded again through `tables`, so that for S3 Tables its version token is
                // kept like any base's (the catalog's own create returns none).
                Ok(_) => return Ok((tables.load_table(&ident).await?, Synced::Created)),
                // Another writer created it first: use theirs.
                Err(_) if tables.load(&ident).await?.is_some() => continue,
                Err(e) => return Err(e),
            }
        };
        let md = table.metadata();
        let Some(evolution) = evolve(ds, Some((md.current_schema(), md.last_column_id())))? else {
            return Ok((table, Synced::Unchanged));
        };
        let changes: Vec<String> = evolution.changes.iter().map(ToString::to_string).collect();
        let base = table.metadata_location_result()?.to_string();
        let new_md = md
            .clone()
            .into_builder(Some(base.clone()))
            .add_current_schema(evolution.schema)?
            .build()?
            .metadata;
        if publish_metadata(tables, &table, &base, &new_md).await? {
            let table = tables.load_table(&ident).await?;
            let schema_id = table.metadata().current_schema_id();
            return Ok((table, Synced::Evolved { schema_id, changes }));
        }
        backoff(attempt).await;
    }
    Err(Error::Conflict {
        table: ident.to_string(),
        attempts: MAX_ATTEMPTS,
    })
}

/// What [`sync_table`] would do to the table of `name` for `ds`, without doing it: `None` when
/// the table does not exist (it would be created), else the schema changes (empty: none). A
/// change lakeline refuses is the `Err`, naming the column ([`crate::schema::evolve`]).
pub async fn plan_sync(
    tables: &Tables,
    name: &DatasetName,
    ds: &Dataset,
) -> Result<Option<Vec<crate::schema::Change>>, Error> {
    let Some(table) = tables.load(&tables.ident(name)).await? else {
        return Ok(None);
    };
    let md = table.metadata();
    Ok(Some(
        evolve(ds, Some((md.current_schema(), md.last_column_id())))?
            .map(|e| e.changes)
            .unwrap_or_default(),
    ))
}

/// The table of `name` for a command-line writer: created when missing, as it is when files
/// written under `ds` fit it ([`crate::schema::fits`]: a registry the table has evolved past
/// still commits, mapped by field id, and never evolves the table back), else evolved to `ds`.
pub async fn table_for_append(
    tables: &Tables,
    name: &DatasetName,
    ds: &Dataset,
) -> Result<Table, Error> {
    if let Some(table) = tables.load(&tables.ident(name)).await? {
        if crate::schema::fits(ds, table.metadata()).is_ok() {
            return Ok(table);
        }
    }
    Ok(sync_table(tables, name, ds).await?.0)
}

/// [`sync_table`], then the table's managed compaction set to match the registry's
/// `compaction.engine` ([`Tables::set_compactor`]): what `table sync` and `registry push` do.
/// The compactor set is the third value (`lakeline` or `s3tables`).
pub async fn sync_dataset(
    tables: &Tables,
    name: &DatasetName,
    ds: &Dataset,
) -> Result<(Table, Synced, &'static str), Error> {
    let (table, change) = sync_table(tables, name, ds).await?;
    let compactor = tables
        .set_compactor(
            table.identifier(),
            &ds.compaction.clone().unwrap_or_default(),
        )
        .await?;
    Ok((table, change, compactor))
}

/// The table of `name` for a writer that may not create or evolve it (the curate Lambda: its
/// role commits data, `registry push` changes tables): the table as it is, when files written
/// under `ds` fit its current schema ([`crate::schema::fits`]). A missing table, or one behind
/// the registry, is an error that names the command that brings it up to date.
pub async fn table_to_write(
    tables: &Tables,
    name: &DatasetName,
    ds: &Dataset,
) -> Result<Table, Error> {
    let ident = tables.ident(name);
    let fix = "`lakeline registry push` (or `lakeline table sync`) creates and updates the tables; nothing was written";
    let Some(table) = tables.load(&ident).await? else {
        return Err(Error::Schema(format!(
            "dataset {name}: its table {ident} does not exist in {}: {fix}",
            tables.label()
        )));
    };
    if let Err(why) = crate::schema::fits(ds, table.metadata()) {
        return Err(Error::Schema(format!(
            "dataset {name}: table {ident} does not match the registry ({why}): {fix}"
        )));
    }
    Ok(table)
}
