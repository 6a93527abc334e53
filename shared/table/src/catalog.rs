//! Where tables live, and the commit point.
//!
//! A commit is built on one version of a table (its metadata file) and becomes visible by
//! swapping the catalog's pointer from exactly that file to the new one. If another writer
//! moved the pointer first, the swap fails and nothing of the commit is visible; the caller
//! decides and builds again on the new version. Each catalog has its own compare-and-swap:
//! - the local warehouse: a conditional `UPDATE … WHERE metadata_location = <base>` on the
//!   sql catalog's sqlite file (the same table layout pyiceberg's `SqlCatalog` reads);
//! - S3 Tables: `UpdateTableMetadataLocation` with the version token read with the base;
//! - the Glue Data Catalog: `UpdateTable` with the `VersionId` read with the base.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use iceberg::io::LocalFsStorageFactory;
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableIdent};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalog, SqlCatalogBuilder};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::Error;

/// The namespace of a local warehouse's tables.
pub const LOCAL_NAMESPACE: &str = "lakeline";
/// The catalog name a local warehouse records its tables under (pyiceberg's `SqlCatalog`
/// must be opened with the same name to see them).
pub const LOCAL_CATALOG: &str = "lakeline";

/// Where a command's tables live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local warehouse directory: a sqlite catalog (`catalog.db`) and the tables' files,
    /// namespace [`LOCAL_NAMESPACE`]. Needs no AWS.
    Warehouse(PathBuf),
    /// An S3 Tables table bucket and namespace.
    S3Tables {
        /// The table bucket's ARN.
        bucket_arn: String,
        /// The namespace.
        namespace: String,
    },
    /// A Glue Data Catalog database, the tables' files in the lake bucket.
    Glue {
        /// The database.
        database: String,
    },
}

impl Target {
    /// A `--catalog` (or `LAKELINE_CATALOG`) value: `s3tables:<table bucket ARN>/<namespace>`,
    /// `glue:<database>` or `warehouse:<directory>`.
    pub fn parse_catalog(s: &str) -> Result<Target, String> {
        if let Some(dir) = s.strip_prefix("warehouse:").filter(|d| !d.is_empty()) {
            return Ok(Target::Warehouse(PathBuf::from(dir)));
        }
        if let Some(rest) = s.strip_prefix("s3tables:") {
            // The ARN itself holds `/` (`…:bucket/<name>`): the namespace is after the last one.
            let (arn, ns) = rest
                .rsplit_once('/')
                .filter(|(arn, ns)| arn.contains(":bucket/") && !ns.is_empty())
                .ok_or_else(|| {
                    format!("{s:?}: expected s3tables:<table bucket ARN>/<namespace>")
                })?;
            return Ok(Target::S3Tables {
                bucket_arn: arn.to_string(),
                namespace: ns.to_string(),
            });
        }
        if let Some(db) = s.strip_prefix("glue:").filter(|d| !d.is_empty()) {
            return Ok(Target::Glue {
                database: db.to_string(),
            });
        }
        Err(format!(
            "{s:?}: expected s3tables:<table bucket ARN>/<namespace>, glue:<database> or warehouse:<directory>"
        ))
    }
}

/// The compare-and-swap of a table's metadata pointer.
enum Pointer {
    /// The local warehouse's sqlite catalog.
    Sqlite(SqlitePool),
}

/// The tables of one target: the catalog (loads, creates) and the commit point.
pub struct Tables {
    catalog: Arc<dyn Catalog>,
    pointer: Pointer,
    namespace: NamespaceIdent,
    /// A local warehouse's lock files: one committer per table at a time.
    locks: Option<PathBuf>,
    /// What the target is, for messages.
    label: String,
}

impl Tables {
    /// Opens the target's catalog; a local warehouse is created on first use.
    pub async fn open(target: &Target) -> Result<Tables, Error> {
        match target {
            Target::Warehouse(dir) => open_warehouse(dir).await,
            Target::S3Tables { .. } | Target::Glue { .. } => Err(Error::Unsupported(format!(
                "{target:?}: this build commits to local warehouses only (--warehouse DIR); the S3 Tables and Glue catalogs are not wired in yet"
            ))),
        }
    }

    /// The identifier of a dataset's table.
    pub fn ident(&self, dataset: &lakeline_core::registry::DatasetName) -> TableIdent {
        TableIdent::new(self.namespace.clone(), dataset.table_name())
    }

    /// The catalog.
    pub fn catalog(&self) -> &dyn Catalog {
        self.catalog.as_ref()
    }

    /// The table, or `None` when it does not exist yet.
    pub async fn load(&self, ident: &TableIdent) -> Result<Option<Table>, Error> {
        if !self.catalog.table_exists(ident).await? {
            return Ok(None);
        }
        Ok(Some(self.catalog.load_table(ident).await?))
    }

    /// The namespace tables are created in.
    pub fn namespace(&self) -> &NamespaceIdent {
        &self.namespace
    }

    /// Where the tables live, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Waits until this process is the table's only lakeline committer on this warehouse, and
    /// stays so until the returned guard is dropped (`None` where the catalog has no such
    /// lock). Without it, committers that keep losing the pointer race to each other would
    /// rebuild their snapshots again and again (measured: 8 processes appending at once made
    /// one lose 20 races in a row); with it they wait their turn. The pointer's
    /// compare-and-swap still guards against writers that take no lock (pyiceberg, Spark).
    pub async fn committer(&self, ident: &TableIdent) -> Result<Option<std::fs::File>, Error> {
        let Some(dir) = &self.locks else {
            return Ok(None);
        };
        let path = dir.join(format!(
            "{}.{}.lock",
            ident.namespace().join("."),
            ident.name()
        ));
        let f = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            // Released when the file is closed (the guard dropped), also if the process dies.
            f.lock()?;
            Ok(f)
        })
        .await
        .map_err(|e| Error::Catalog(format!("waiting for the table lock: {e}")))?
        .map_err(|e| Error::Catalog(format!("the table lock of {ident}: {e}")))?;
        Ok(Some(f))
    }

    /// Points `ident` at `new` if it still points at `base`: `true` when this commit won,
    /// `false` when another writer moved the pointer first (nothing of this commit is then
    /// visible).
    pub async fn swap(&self, ident: &TableIdent, base: &str, new: &str) -> Result<bool, Error> {
        match &self.pointer {
            Pointer::Sqlite(pool) => {
                let done = sqlx::query(
                    "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? \
                     WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
                     AND metadata_location = ?",
                )
                .bind(new)
                .bind(base)
                .bind(LOCAL_CATALOG)
                .bind(ident.namespace().join("."))
                .bind(ident.name())
                .bind(base)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    }
}

async fn open_warehouse(dir: &Path) -> Result<Tables, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Catalog(format!("creating the warehouse {}: {e}", dir.display())))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::Catalog(format!("warehouse {}: {e}", dir.display())))?;
    let db = dir.join("catalog.db");
    // `mode=rwc` creates the sqlite file on first use.
    let uri = format!("sqlite://{}?mode=rwc", db.display());
    let catalog: SqlCatalog = SqlCatalogBuilder::default()
        .uri(uri.clone())
        .warehouse_location(format!("file://{}", dir.display()))
        .sql_bind_style(SqlBindStyle::QMark)
        .with_storage_factory(Arc::new(LocalFsStorageFactory))
        .load(LOCAL_CATALOG, HashMap::new())
        .await?;
    let namespace = NamespaceIdent::new(LOCAL_NAMESPACE.into());
    if !catalog.namespace_exists(&namespace).await? {
        // Two first commands at once may both try: the loser finds it made.
        if let Err(e) = catalog.create_namespace(&namespace, HashMap::new()).await {
            if !catalog.namespace_exists(&namespace).await? {
                return Err(e.into());
            }
        }
    }
    // Commits from several processes meet on this file: wait for a writer's lock rather
    // than fail.
    let opts = SqliteConnectOptions::from_str(&uri)?.busy_timeout(Duration::from_secs(30));
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await?;
    let locks = dir.join(".locks");
    std::fs::create_dir_all(&locks)
        .map_err(|e| Error::Catalog(format!("creating {}: {e}", locks.display())))?;
    Ok(Tables {
        catalog: Arc::new(catalog),
        pointer: Pointer::Sqlite(pool),
        namespace,
        locks: Some(locks),
        label: format!("warehouse {}", dir.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_targets() {
        let arn = "arn:aws:s3tables:eu-west-1:123456789012:bucket/lake-tables";
        assert_eq!(
            Target::parse_catalog(&format!("s3tables:{arn}/curated")),
            Ok(Target::S3Tables {
                bucket_arn: arn.into(),
                namespace: "curated".into()
            })
        );
        assert_eq!(
            Target::parse_catalog("warehouse:/tmp/w"),
            Ok(Target::Warehouse("/tmp/w".into()))
        );
        assert_eq!(
            Target::parse_catalog("glue:lake"),
            Ok(Target::Glue {
                database: "lake".into()
            })
        );
        for bad in [
            "s3tables:arn:aws:s3tables:x",
            "s3tables:",
            "glue:",
            "warehouse:",
            "hive:x",
            "",
        ] {
            assert!(Target::parse_catalog(bad).is_err(), "{bad}");
        }
    }
}
