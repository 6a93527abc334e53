//! Where tables live, and the commit point.
//!
//! A commit is built on one version of a table (its metadata file) and becomes visible by
//! swapping the catalog's pointer from exactly that file to the new one. If another writer
//! moved the pointer first, the swap fails and nothing of the commit is visible; the caller
//! decides and builds again on the new version. Each catalog has its own compare-and-swap:
//! - the local warehouse: a conditional `UPDATE … WHERE metadata_location = <base>` on the
//!   sql catalog's sqlite file (the same table layout pyiceberg's `SqlCatalog` reads);
//! - S3 Tables: `UpdateTableMetadataLocation` with the version token that the `GetTable` which
//!   gave the base metadata location returned (kept per metadata location, below): S3 Tables
//!   answers `ConflictException` when the table moved on since;
//! - the Glue Data Catalog: `UpdateTable` with the `VersionId` read with the base.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_config::SdkConfig;
use iceberg::io::{FileIO, FileIOBuilder};
use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, Runtime, TableIdent};
use iceberg_catalog_s3tables::S3TablesCatalogBuilder;
#[cfg(feature = "warehouse")]
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalog, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalStorageFactory;
#[cfg(feature = "warehouse")]
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
    #[cfg(feature = "warehouse")]
    Sqlite(SqlitePool),
    /// An S3 Tables table bucket.
    S3Tables(S3Pointer),
}

/// An S3 Tables bucket's pointer: tables are loaded here with our own `GetTable`, so that the
/// version token that came with each metadata location is kept, and a commit built on that
/// metadata is swapped in with exactly that token. (The crate's `update_table` reads a fresh
/// token inside the commit, which would publish on whatever is current and skip the
/// exactly-once decision made on the base.)
struct S3Pointer {
    client: aws_sdk_s3tables::Client,
    bucket_arn: String,
    file_io: FileIO,
    runtime: Runtime,
    /// Metadata location → the version token `GetTable` (or our last swap) returned with it.
    tokens: std::sync::Mutex<HashMap<String, String>>,
}

/// The environment variable that names a stack's table bucket (its ARN) to the functions that
/// commit to or read its tables.
pub const TABLE_BUCKET_VAR: &str = "LAKELINE_TABLE_BUCKET_ARN";
/// The environment variable that names the tables' namespace (default `lakeline`).
pub const TABLE_NAMESPACE_VAR: &str = "LAKELINE_TABLE_NAMESPACE";

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

/// The FileIO properties (iceberg's `s3.*`, read by its OpenDAL S3 storage) for the tables'
/// data and metadata files, from an SDK configuration: its region, its endpoint (with
/// path-style addressing, which emulators need; real table buckets take either) and the
/// credentials it resolves now. Session credentials are taken as they are at open: a command
/// outliving them fails and is run again.
async fn s3_file_props(conf: &SdkConfig) -> Result<HashMap<String, String>, Error> {
    use aws_sdk_s3tables::config::ProvideCredentials;
    let mut props = HashMap::new();
    if let Some(region) = conf.region() {
        props.insert("s3.region".into(), region.to_string());
        props.insert("region_name".into(), region.to_string());
    }
    if let Some(endpoint) = conf.endpoint_url() {
        props.insert("s3.endpoint".into(), endpoint.to_string());
        props.insert("s3.path-style-access".into(), "true".into());
        props.insert("endpoint_url".into(), endpoint.to_string());
    }
    let provider = conf
        .credentials_provider()
        .ok_or_else(|| Error::Catalog("no AWS credentials for the table bucket".into()))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| Error::Catalog(format!("AWS credentials for the table bucket: {e}")))?;
    props.insert("s3.access-key-id".into(), creds.access_key_id().into());
    props.insert(
        "s3.secret-access-key".into(),
        creds.secret_access_key().into(),
    );
    if let Some(token) = creds.session_token() {
        props.insert("s3.session-token".into(), token.into());
    }
    Ok(props)
}

/// An SDK error with its causes, for messages.
fn sdk_error<E: std::error::Error>(what: &str, e: E) -> Error {
    Error::Catalog(format!(
        "{what}: {}",
        aws_sdk_s3tables::error::DisplayErrorContext(e)
    ))
}

impl Tables {
    /// Opens the target's catalog; a local warehouse is created on first use.
    /// S3 Tables take their AWS configuration from the environment (`AWS_ENDPOINT_URL`,
    /// `AWS_REGION`, the credential chain).
    pub async fn open(target: &Target) -> Result<Tables, Error> {
        let conf = match target {
            Target::S3Tables { .. } => Some(
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await,
            ),
            _ => None,
        };
        Tables::open_with(conf.as_ref(), target).await
    }

    /// [`Tables::open`], AWS calls signed with `conf` (the environment's when `None`).
    pub async fn open_with(conf: Option<&SdkConfig>, target: &Target) -> Result<Tables, Error> {
        match target {
            Target::Warehouse(dir) => open_warehouse(dir).await,
            Target::S3Tables {
                bucket_arn,
                namespace,
            } => match conf {
                Some(conf) => Tables::open_s3tables(conf, bucket_arn, namespace).await,
                None => Box::pin(Tables::open(target)).await,
            },
            Target::Glue { .. } => Err(Error::Unsupported(format!(
                "{target:?}: this build commits to local warehouses and S3 Tables only; the Glue catalog is not wired in yet"
            ))),
        }
    }

    /// The tables of namespace `namespace` in the S3 Tables table bucket `bucket_arn`, every
    /// call signed with `conf` (the table bucket's API and the tables' files alike). The
    /// namespace must exist: it is the stack's (or the account's), not a command's, to create.
    pub async fn open_s3tables(
        conf: &SdkConfig,
        bucket_arn: &str,
        namespace: &str,
    ) -> Result<Tables, Error> {
        let client = aws_sdk_s3tables::Client::new(conf);
        let mut props = s3_file_props(conf).await?;
        props.insert("table_bucket_arn".into(), bucket_arn.to_string());
        // The catalog (namespaces, table creation) and our own loads and swaps share one
        // client, so one principal signs everything; the remaining props configure the
        // tables' FileIO, which both build the same way.
        let catalog = S3TablesCatalogBuilder::default()
            .with_client(client.clone())
            .load("s3tables", props.clone())
            .await?;
        let file_io = FileIOBuilder::new(Arc::new(OpenDalStorageFactory::S3 {
            customized_credential_load: None,
        }))
        .with_props(
            props
                .iter()
                .filter(|(k, _)| k.starts_with("s3."))
                .map(|(k, v)| (k.clone(), v.clone())),
        )
        .build();
        Ok(Tables {
            catalog: Arc::new(catalog),
            pointer: Pointer::S3Tables(S3Pointer {
                client,
                bucket_arn: bucket_arn.to_string(),
                file_io,
                runtime: Runtime::try_current()?,
                tokens: std::sync::Mutex::new(HashMap::new()),
            }),
            namespace: NamespaceIdent::new(namespace.to_string()),
            locks: None,
            label: format!("S3 Tables {bucket_arn}/{namespace}"),
        })
    }

    /// A function's stack tables, from its environment (`var` reads a variable):
    /// [`TABLE_BUCKET_VAR`] and [`TABLE_NAMESPACE_VAR`] (default `lakeline`); `None` when the
    /// stack has no table bucket. A failure is the environment's error (`Lakeline.Config`).
    pub async fn of_stack(
        conf: &SdkConfig,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Arc<Tables>>, lakeline_core::Error> {
        let Some(arn) = var(TABLE_BUCKET_VAR).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let ns = var(TABLE_NAMESPACE_VAR)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "lakeline".into());
        match Tables::open_s3tables(conf, &arn, &ns).await {
            Ok(t) => Ok(Some(Arc::new(t))),
            Err(e) => Err(lakeline_core::Error::Env {
                name: TABLE_BUCKET_VAR.into(),
                message: format!("opening the tables of {arn}/{ns}: {e}"),
            }),
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

    /// The table, or `None` when it does not exist yet. A commit's base must be loaded here
    /// (or with [`Tables::load_table`]): for S3 Tables, this is where the version token its
    /// swap needs is read.
    pub async fn load(&self, ident: &TableIdent) -> Result<Option<Table>, Error> {
        match &self.pointer {
            #[cfg(feature = "warehouse")]
            Pointer::Sqlite(_) => {
                if !self.catalog.table_exists(ident).await? {
                    return Ok(None);
                }
                Ok(Some(self.catalog.load_table(ident).await?))
            }
            Pointer::S3Tables(p) => p.load(ident).await,
        }
    }

    /// The table, which must exist.
    pub async fn load_table(&self, ident: &TableIdent) -> Result<Table, Error> {
        self.load(ident)
            .await?
            .ok_or_else(|| Error::Catalog(format!("table {ident} not found in {}", self.label)))
    }

    /// Whether files a commit wrote and did not publish are deleted by lakeline. An S3 Tables
    /// warehouse refuses deletes (S3 Tables' unreferenced file removal deletes what no
    /// snapshot references, after its `unreferencedDays`): there they are left to it.
    pub fn deletes_orphans(&self) -> bool {
        !matches!(self.pointer, Pointer::S3Tables(_))
    }

    /// Deletes `paths` (files of `table` that no snapshot references) where the target lets
    /// lakeline delete ([`Tables::deletes_orphans`]); best effort.
    pub async fn discard(&self, table: &Table, paths: &[String]) {
        if !self.deletes_orphans() {
            return;
        }
        for p in paths {
            if let Err(e) = table.file_io().delete(p).await {
                tracing::warn!(path = %p, error = %e, "could not delete an unreferenced file");
            }
        }
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
            #[cfg(feature = "warehouse")]
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
            Pointer::S3Tables(p) => p.swap(ident, base, new).await,
        }
    }
}

impl S3Pointer {
    async fn load(&self, ident: &TableIdent) -> Result<Option<Table>, Error> {
        let resp = match self
            .client
            .get_table()
            .table_bucket_arn(&self.bucket_arn)
            .namespace(ident.namespace().join("."))
            .name(ident.name())
            .send()
            .await
        {
            Ok(r) => r,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(sdk_error(&format!("GetTable {ident}"), e)),
        };
        // A table S3 Tables created whose first metadata file was never published (its
        // creator died in between) has none: nothing can be built on it.
        let location = resp.metadata_location().ok_or_else(|| {
            Error::Catalog(format!(
                "table {ident} has no metadata location yet (created, never initialised)"
            ))
        })?;
        let metadata = TableMetadata::read_from(&self.file_io, location).await?;
        self.tokens
            .lock()
            .expect("token map")
            .insert(location.to_string(), resp.version_token().to_string());
        Ok(Some(
            Table::builder()
                .identifier(ident.clone())
                .metadata(metadata)
                .metadata_location(location)
                .file_io(self.file_io.clone())
                .runtime(self.runtime.clone())
                .build()?,
        ))
    }

    async fn swap(&self, ident: &TableIdent, base: &str, new: &str) -> Result<bool, Error> {
        let token = self
            .tokens
            .lock()
            .expect("token map")
            .get(base)
            .cloned()
            .ok_or_else(|| {
                Error::Catalog(format!(
                    "table {ident}: no version token for {base}; a commit's base must be loaded through Tables"
                ))
            })?;
        match self
            .client
            .update_table_metadata_location()
            .table_bucket_arn(&self.bucket_arn)
            .namespace(ident.namespace().join("."))
            .name(ident.name())
            .version_token(token)
            .metadata_location(new)
            .send()
            .await
        {
            Ok(out) => {
                // The base's token stays: another commit of this process built on the same
                // base must still send it, and lose with ConflictException. A metadata
                // location's token never changes, so the map only grows by one per commit.
                self.tokens
                    .lock()
                    .expect("token map")
                    .insert(new.to_string(), out.version_token().to_string());
                Ok(true)
            }
            // The table moved on since the base was read: this commit lost the race.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error(
                &format!("UpdateTableMetadataLocation {ident}"),
                e,
            )),
        }
    }
}

#[cfg(not(feature = "warehouse"))]
async fn open_warehouse(dir: &Path) -> Result<Tables, Error> {
    Err(Error::Unsupported(format!(
        "warehouse {}: this build has no local warehouse (feature `warehouse` of lakeline-table)",
        dir.display()
    )))
}

#[cfg(feature = "warehouse")]
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
        .with_storage_factory(Arc::new(iceberg::io::LocalFsStorageFactory))
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
    let opts = <SqliteConnectOptions as std::str::FromStr>::from_str(&uri)?
        .busy_timeout(std::time::Duration::from_secs(30));
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
