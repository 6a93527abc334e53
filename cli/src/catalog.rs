//! `lakeline catalog sync`: one Glue Data Catalog database, one table per dataset
//! ([`lakeline_core::catalog::table_spec`]), created or updated idempotently. A table records the
//! hash of its spec, so an unchanged registry changes nothing and a changed one updates
//! exactly the tables whose spec changed.

use std::process::ExitCode;

use anyhow::Context;
use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use lakeline_core::catalog::{table_spec, CatalogColumn, TableSpec};
use lakeline_core::registry::Registry;
use serde_json::json;
use sha2::{Digest, Sha256};

const SPEC_PARAM: &str = "lakeline.spec_sha256";

/// What happened to one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// It did not exist.
    Created,
    /// Its spec changed.
    Updated,
    /// Nothing to do.
    Unchanged,
}

/// The curated prefix of a dataset: its target prefix without the partition.
pub fn curated_prefix(name: &str, ds: &lakeline_core::registry::Dataset) -> String {
    match &ds.job {
        Some(j) => j.target_prefix().render(name, None),
        None => lakeline_core::jobs::TargetPrefix::curated().render(name, None),
    }
}

fn columns(cols: &[CatalogColumn]) -> anyhow::Result<Vec<Column>> {
    cols.iter()
        .map(|c| {
            Column::builder()
                .name(&c.name)
                .r#type(&c.ty)
                .set_comment(c.comment.clone())
                .build()
                .context("catalog column")
        })
        .collect()
}

fn table_input(t: &TableSpec) -> anyhow::Result<TableInput> {
    let hash: String = Sha256::digest(serde_json::to_vec(t)?)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut params = t.parameters.clone();
    params.insert(SPEC_PARAM.into(), hash);
    params.insert("EXTERNAL".into(), "TRUE".into());
    let sd = StorageDescriptor::builder()
        .set_columns(Some(columns(&t.columns)?))
        .location(&t.location)
        .input_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
        .output_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                )
                .build(),
        )
        .build();
    Ok(TableInput::builder()
        .name(&t.name)
        .description(&t.description)
        .table_type("EXTERNAL_TABLE")
        .storage_descriptor(sd)
        .set_partition_keys(Some(columns(&t.partition_keys)?))
        .set_parameters(Some(params.into_iter().collect()))
        .build()?)
}

/// Creates the database if needed and every dataset's table, or updates those that differ.
pub async fn sync(
    glue: &aws_sdk_glue::Client,
    registry: &Registry,
    bucket: &str,
    database: &str,
) -> anyhow::Result<Vec<(String, Change)>> {
    if glue.get_database().name(database).send().await.is_err() {
        glue.create_database()
            .database_input(
                DatabaseInput::builder()
                    .name(database)
                    .description("lakeline: the curated layer, one table per dataset")
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("CreateDatabase {database}: {}", lakeline_aws::describe(&e))
            })?;
    }
    let mut out = Vec::new();
    for (name, ds) in &registry.datasets {
        let spec = table_spec(
            name.as_str(),
            ds,
            bucket,
            &curated_prefix(name.as_str(), ds),
        );
        let input = table_input(&spec)?;
        let want = input.parameters().and_then(|p| p.get(SPEC_PARAM)).cloned();
        let existing = glue
            .get_table()
            .database_name(database)
            .name(&spec.name)
            .send()
            .await;
        let change = match existing {
            Ok(t) => {
                let have = t
                    .table()
                    .and_then(|t| t.parameters())
                    .and_then(|p| p.get(SPEC_PARAM))
                    .cloned();
                if have == want {
                    Change::Unchanged
                } else {
                    glue.update_table()
                        .database_name(database)
                        .table_input(input)
                        .send()
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "UpdateTable {}: {}",
                                spec.name,
                                lakeline_aws::describe(&e)
                            )
                        })?;
                    Change::Updated
                }
            }
            Err(e)
                if lakeline_aws::error_code(&e).as_deref() == Some("EntityNotFoundException") =>
            {
                glue.create_table()
                    .database_name(database)
                    .table_input(input)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("CreateTable {}: {}", spec.name, lakeline_aws::describe(&e))
                    })?;
                Change::Created
            }
            Err(e) => anyhow::bail!("GetTable {}: {}", spec.name, lakeline_aws::describe(&e)),
        };
        out.push((spec.name, change));
    }
    Ok(out)
}

/// The command: sync, print what changed.
pub async fn run(registry: &Registry, bucket: &str, database: &str) -> anyhow::Result<ExitCode> {
    let conf = lakeline_aws::sdk_config().await;
    let glue = aws_sdk_glue::Client::new(&conf);
    let changes = sync(&glue, registry, bucket, database).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "database": database,
            "tables": changes.iter().map(|(t, c)| json!({"table": t, "change": c})).collect::<Vec<_>>(),
        }))?
    );
    Ok(ExitCode::SUCCESS)
}
