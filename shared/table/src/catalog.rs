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
use iceberg::spec::{PrimitiveType, TableMetadata, TableMetadataBuilder, Type};
use iceberg::table::Table;
use iceberg::{
    Catalog, CatalogBuilder, MetadataLocation, NamespaceIdent, Runtime, TableCreation, TableIdent,
};
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
        /// Glue's own optimizers keep the tables' history (a stack deployed with
        /// `GlueTableMaintenance=glue-optimizers`): `table sync` and `registry push` put them
        /// on each table, and the maintenance sweep leaves expiry and orphans to them.
        optimizers: Option<GlueOptimizers>,
    },
}

/// Glue's table optimizers for snapshot retention and orphan file deletion, the managed
/// alternative to lakeline's own upkeep of Glue-catalog tables (`maintainTable`): what they are
/// told, per table. They run as `role_arn` (the template's `GlueTableOptimizerRole`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueOptimizers {
    /// The role Glue's optimizers run as.
    pub role_arn: String,
    /// Snapshots older than this many days are expired...
    pub snapshot_days: u32,
    /// ...but the newest this many.
    pub keep: u32,
    /// Files no snapshot references are deleted after this many days.
    pub orphan_days: u32,
}

/// The variable naming the role of Glue's table optimizers: set (by the template, with
/// `GlueTableMaintenance=glue-optimizers`) when they keep a Glue-catalog stack's tables.
pub const GLUE_OPTIMIZER_ROLE_VAR: &str = "LAKELINE_GLUE_OPTIMIZER_ROLE_ARN";

impl GlueOptimizers {
    /// The optimizers a stack's variables describe: the role ([`GLUE_OPTIMIZER_ROLE_VAR`]) and
    /// the retention the template also hands lakeline's own upkeep
    /// (`LAKELINE_SNAPSHOT_RETENTION_DAYS`, `LAKELINE_SNAPSHOTS_KEPT`,
    /// `LAKELINE_ORPHAN_RETENTION_DAYS`; 5, 1 and 3 when unset). `None` without a role.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<GlueOptimizers>, String> {
        let Some(role_arn) = var(GLUE_OPTIMIZER_ROLE_VAR).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let number = |name: &str, default: u32| -> Result<u32, String> {
            match var(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{name} = {v:?}: expected a whole number above 0")),
            }
        };
        Ok(Some(GlueOptimizers {
            role_arn,
            snapshot_days: number("LAKELINE_SNAPSHOT_RETENTION_DAYS", 5)?,
            keep: number("LAKELINE_SNAPSHOTS_KEPT", 1)?,
            orphan_days: number("LAKELINE_ORPHAN_RETENTION_DAYS", 3)?,
        }))
    }
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
                optimizers: None,
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
    /// A Glue Data Catalog database.
    Glue(GluePointer),
}

/// A Glue database's pointer: a table's `metadata_location` parameter, swapped by
/// `UpdateTable` with the `VersionId` that the `GetTable` which gave the base returned (Glue
/// answers `ConcurrentModificationException` when the table changed since). As for S3 Tables,
/// tables are loaded here, not by the crate, so that the version read with a base is the one
/// its swap sends.
struct GluePointer {
    client: aws_sdk_glue::Client,
    /// Lists a table's location (orphan removal): the lake bucket's S3.
    s3: aws_sdk_s3::Client,
    database: String,
    /// The database's `LocationUri` (no trailing `/`): tables live under it.
    location: String,
    file_io: FileIO,
    runtime: Runtime,
    /// Metadata location → the table's `VersionId` when that location was current.
    versions: std::sync::Mutex<HashMap<String, Option<String>>>,
    /// The account of the catalog (the database's `CatalogId`): Glue's optimizer calls name it.
    catalog_id: Option<String>,
    /// Glue's optimizers keep the tables' history instead of lakeline.
    optimizers: Option<GlueOptimizers>,
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
/// The environment variable that names where deliveries wait for a group commit
/// (`s3://<lake bucket>/_lakeline/pending/`, [`crate::group`]); unset: each writer commits
/// alone.
pub const PENDING_VAR: &str = "LAKELINE_PENDING";
/// The environment variable that names a stack's Glue database of tables, when the stack keeps
/// its tables in the Glue Data Catalog instead of S3 Tables.
pub const TABLE_GLUE_DATABASE_VAR: &str = "LAKELINE_TABLE_GLUE_DATABASE";

/// The tables of one target: the catalog (loads, creates) and the commit point.
pub struct Tables {
    /// iceberg-rust's catalog of the target, where lakeline creates tables through it (the
    /// local warehouse, S3 Tables). A Glue database has none: iceberg-catalog-glue 0.10.1
    /// cannot describe a `timestamptz` column to Glue ("Conversion from Timestamptz is not
    /// supported"), so lakeline writes the first metadata file with the crate's
    /// `TableMetadataBuilder` and creates the Glue table itself.
    catalog: Option<Arc<dyn Catalog>>,
    pointer: Pointer,
    namespace: NamespaceIdent,
    /// A local warehouse's lock files: one committer per table at a time.
    locks: Option<PathBuf>,
    /// Where deliveries that lost a commit race wait to be taken in by the next commit
    /// ([`crate::group`]); `None`: each writer commits alone.
    board: Option<Arc<dyn crate::group::Board>>,
    /// What the target is, for messages.
    label: String,
}

/// The FileIO properties (iceberg's `s3.*`, read by its OpenDAL S3 storage) for the tables'
/// data and metadata files, from an SDK configuration: its region, its endpoint (with
/// path-style addressing, which emulators need; real table buckets take either) and the
/// credentials it resolves now. Session credentials are taken as they are at open: a command
/// outliving them fails and is run again.
/// An S3 client of `conf`; path-style addressing when an endpoint override points at an
/// emulator (as `lakeline_aws::s3_client`, a crate this layer does not depend on).
fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(conf.endpoint_url().is_some())
            .build(),
    )
}

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

/// The tables' FileIO (iceberg's OpenDAL S3 storage) from the `s3.*` properties of `props`.
fn s3_file_io(props: &HashMap<String, String>) -> FileIO {
    FileIOBuilder::new(Arc::new(OpenDalStorageFactory::S3 {
        customized_credential_load: None,
    }))
    .with_props(
        props
            .iter()
            .filter(|(k, _)| k.starts_with("s3."))
            .map(|(k, v)| (k.clone(), v.clone())),
    )
    .build()
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
            Target::S3Tables { .. } | Target::Glue { .. } => Some(
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
            Target::Glue {
                database,
                optimizers,
            } => match conf {
                Some(conf) => Ok(Tables::open_glue(conf, database)
                    .await?
                    .with_glue_optimizers(optimizers.clone())),
                None => Box::pin(Tables::open(target)).await,
            },
        }
    }

    /// The tables of the Glue Data Catalog database `database`, every call signed with `conf`.
    /// The database must exist and have a `LocationUri` (the template's `TablesDatabase` has
    /// `s3://<lake bucket>/tables/`): each table's files live under `<LocationUri>/<table>`.
    pub async fn open_glue(conf: &SdkConfig, database: &str) -> Result<Tables, Error> {
        let client = aws_sdk_glue::Client::new(conf);
        let db = client
            .get_database()
            .name(database)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("GetDatabase {database}"), e))?;
        let location = db
            .database()
            .and_then(|d| d.location_uri())
            .filter(|l| !l.is_empty())
            .map(|l| l.trim_end_matches('/').to_string())
            .ok_or_else(|| {
                Error::Catalog(format!(
                    "Glue database {database} has no LocationUri: set it to where its tables' files go (the template's TablesDatabase uses s3://<lake bucket>/tables/)"
                ))
            })?;
        let props = s3_file_props(conf).await?;
        Ok(Tables {
            catalog: None,
            pointer: Pointer::Glue(GluePointer {
                client,
                s3: s3_client(conf),
                database: database.to_string(),
                location,
                file_io: s3_file_io(&props),
                runtime: Runtime::try_current()?,
                versions: std::sync::Mutex::new(HashMap::new()),
                catalog_id: db
                    .database()
                    .and_then(|d| d.catalog_id())
                    .map(str::to_string),
                optimizers: None,
            }),
            namespace: NamespaceIdent::new(database.to_string()),
            locks: None,
            board: None,
            label: format!("Glue database {database}"),
        })
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
        let file_io = s3_file_io(&props);
        Ok(Tables {
            catalog: Some(Arc::new(catalog)),
            pointer: Pointer::S3Tables(S3Pointer {
                client,
                bucket_arn: bucket_arn.to_string(),
                file_io,
                runtime: Runtime::try_current()?,
                tokens: std::sync::Mutex::new(HashMap::new()),
            }),
            namespace: NamespaceIdent::new(namespace.to_string()),
            locks: None,
            board: None,
            label: format!("S3 Tables {bucket_arn}/{namespace}"),
        })
    }

    /// A function's stack tables, from its environment (`var` reads a variable): the S3 Tables
    /// bucket [`TABLE_BUCKET_VAR`] with namespace [`TABLE_NAMESPACE_VAR`] (default
    /// `lakeline`), or the Glue database [`TABLE_GLUE_DATABASE_VAR`]; `None` when the stack
    /// has neither. A failure (both set, or the catalog cannot be opened) is the environment's
    /// error (`Lakeline.Config`).
    pub async fn of_stack(
        conf: &SdkConfig,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Arc<Tables>>, lakeline_core::Error> {
        let set = |name| var(name).filter(|v: &String| !v.is_empty());
        let (name, opened) = match (set(TABLE_BUCKET_VAR), set(TABLE_GLUE_DATABASE_VAR)) {
            (None, None) => return Ok(None),
            (Some(arn), None) => {
                let ns = set(TABLE_NAMESPACE_VAR).unwrap_or_else(|| "lakeline".into());
                (
                    TABLE_BUCKET_VAR,
                    Tables::open_s3tables(conf, &arn, &ns)
                        .await
                        .map_err(|e| format!("opening the tables of {arn}/{ns}: {e}")),
                )
            }
            (None, Some(db)) => (
                TABLE_GLUE_DATABASE_VAR,
                match GlueOptimizers::from_vars(&var) {
                    Ok(optimizers) => Tables::open_glue(conf, &db)
                        .await
                        .map(|t| t.with_glue_optimizers(optimizers))
                        .map_err(|e| format!("opening the tables of Glue database {db}: {e}")),
                    Err(e) => Err(e),
                },
            ),
            (Some(_), Some(_)) => (
                TABLE_GLUE_DATABASE_VAR,
                Err(format!(
                    "both {TABLE_BUCKET_VAR} and {TABLE_GLUE_DATABASE_VAR} are set: a stack keeps its tables in one catalog"
                )),
            ),
        };
        let board = match set(PENDING_VAR) {
            Some(uri) => Some(crate::group::S3Board::from_uri(s3_client(conf), &uri))
                .transpose()
                .map_err(|message| lakeline_core::Error::Env {
                    name: PENDING_VAR.into(),
                    message,
                })?,
            None => None,
        };
        opened
            .map(|t| {
                Some(Arc::new(t.with_board(
                    board.map(|b| Arc::new(b) as Arc<dyn crate::group::Board>),
                )))
            })
            .map_err(|message| lakeline_core::Error::Env {
                name: name.into(),
                message,
            })
    }

    /// The identifier of a dataset's table.
    pub fn ident(&self, dataset: &lakeline_core::registry::DatasetName) -> TableIdent {
        TableIdent::new(self.namespace.clone(), dataset.table_name())
    }

    /// iceberg-rust's catalog of the target (`None` for a Glue database: see [`Tables`]).
    pub fn catalog(&self) -> Option<&dyn Catalog> {
        self.catalog.as_deref()
    }

    /// Creates a table in the target's namespace. An error when it exists already (another
    /// writer created it first: load it).
    pub async fn create_table(&self, creation: TableCreation) -> Result<(), Error> {
        match (&self.pointer, &self.catalog) {
            (Pointer::Glue(p), _) => p.create(creation).await,
            (_, Some(catalog)) => {
                catalog.create_table(&self.namespace, creation).await?;
                Ok(())
            }
            (_, None) => Err(Error::Unsupported(format!(
                "{}: no catalog to create tables in",
                self.label
            ))),
        }
    }

    /// The table, or `None` when it does not exist yet. A commit's base must be loaded here
    /// (or with [`Tables::load_table`]): for S3 Tables, this is where the version token its
    /// swap needs is read.
    pub async fn load(&self, ident: &TableIdent) -> Result<Option<Table>, Error> {
        match &self.pointer {
            #[cfg(feature = "warehouse")]
            Pointer::Sqlite(_) => {
                let catalog = self.catalog.as_ref().expect("a warehouse has its catalog");
                if !catalog.table_exists(ident).await? {
                    return Ok(None);
                }
                Ok(Some(catalog.load_table(ident).await?))
            }
            Pointer::S3Tables(p) => p.load(ident).await,
            Pointer::Glue(p) => p.load(ident).await,
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

    /// These tables with `board` for group commits ([`crate::group`]). A local warehouse's
    /// committers take turns on a lock, so they need none (they lose no races), but take one.
    pub fn with_board(mut self, board: Option<Arc<dyn crate::group::Board>>) -> Tables {
        self.board = board;
        self
    }

    /// The board of group commits, if these tables have one.
    pub fn board(&self) -> Option<&dyn crate::group::Board> {
        self.board.as_deref()
    }

    /// These tables with Glue's optimizers keeping their history (a Glue database only; the
    /// other targets are returned as they are).
    pub fn with_glue_optimizers(mut self, optimizers: Option<GlueOptimizers>) -> Tables {
        if let Pointer::Glue(p) = &mut self.pointer {
            p.optimizers = optimizers;
        }
        self
    }

    /// Whether something other than lakeline expires these tables' snapshots and removes their
    /// orphan files: S3 Tables itself, or Glue's optimizers. The maintenance sweep then hands
    /// them no `maintainTable` item.
    pub fn history_kept_elsewhere(&self) -> bool {
        match &self.pointer {
            Pointer::S3Tables(_) => true,
            Pointer::Glue(p) => p.optimizers.is_some(),
            #[cfg(feature = "warehouse")]
            Pointer::Sqlite(_) => false,
        }
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

    /// Makes the table's managed compaction match who compacts it (`compaction.engine`): in S3
    /// Tables, its own compaction is turned off when lakeline compacts the table (one
    /// compactor commits to it; S3 Tables' snapshot management and unreferenced-file removal
    /// stay on), and on, at `target_file_size`, for `s3tables`. A Glue table or a local
    /// warehouse has no managed compaction: `s3tables` there is refused. On a Glue database
    /// whose history Glue's optimizers keep ([`GlueOptimizers`]), the table's retention and
    /// orphan-file-deletion optimizers are put as well. What was set, as `"lakeline"` or
    /// `"s3tables"`.
    pub async fn set_compactor(
        &self,
        ident: &TableIdent,
        s: &lakeline_core::compaction::CompactionSettings,
    ) -> Result<&'static str, Error> {
        use aws_sdk_s3tables::types::{
            IcebergCompactionSettings, MaintenanceStatus, TableMaintenanceConfigurationValue,
            TableMaintenanceSettings, TableMaintenanceType,
        };
        use lakeline_core::compaction::Compactor;
        let managed = s.engine == Compactor::S3tables;
        if let (Pointer::Glue(g), false) = (&self.pointer, managed) {
            if let Some(o) = &g.optimizers {
                put_glue_optimizers(g, ident, o).await?;
            }
            return Ok("lakeline");
        }
        let Pointer::S3Tables(p) = &self.pointer else {
            if managed {
                return Err(Error::Schema(format!(
                    "table {ident}: compaction.engine s3tables needs a table in S3 Tables, and this one is in {}: use lakeline (the default)",
                    self.label
                )));
            }
            return Ok("lakeline");
        };
        let value = TableMaintenanceConfigurationValue::builder()
            .status(if managed {
                MaintenanceStatus::Enabled
            } else {
                MaintenanceStatus::Disabled
            })
            .settings(TableMaintenanceSettings::IcebergCompaction(
                IcebergCompactionSettings::builder()
                    .target_file_size_mb(
                        i32::try_from(s.target_file_size.bytes() >> 20).unwrap_or(i32::MAX),
                    )
                    .build(),
            ))
            .build();
        p.client
            .put_table_maintenance_configuration()
            .table_bucket_arn(&p.bucket_arn)
            .namespace(ident.namespace().join("."))
            .name(ident.name())
            .r#type(TableMaintenanceType::IcebergCompaction)
            .value(value)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("PutTableMaintenanceConfiguration {ident}"), e))?;
        Ok(if managed { "s3tables" } else { "lakeline" })
    }

    /// Every file under `table`'s location, with its last-modified time (Unix milliseconds):
    /// a local warehouse's directory walked, a Glue table's S3 prefix listed. A table bucket
    /// refuses listing: `Unsupported` there.
    pub async fn list_files(&self, table: &Table) -> Result<Vec<(String, i64)>, Error> {
        let loc = table
            .metadata()
            .location()
            .trim_end_matches('/')
            .to_string();
        match &self.pointer {
            Pointer::Glue(p) => {
                let (bucket, prefix) = loc
                    .strip_prefix("s3://")
                    .and_then(|r| r.split_once('/'))
                    .ok_or_else(|| Error::Catalog(format!("{loc} is not an s3:// location")))?;
                let mut out = Vec::new();
                let mut pages =
                    p.s3.list_objects_v2()
                        .bucket(bucket)
                        .prefix(format!("{prefix}/"))
                        .into_paginator()
                        .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| sdk_error(&format!("ListObjectsV2 {loc}"), e))?;
                    for o in page.contents() {
                        let modified = o
                            .last_modified()
                            .and_then(|t| t.to_millis().ok())
                            .unwrap_or(i64::MAX);
                        out.push((
                            format!("s3://{bucket}/{}", o.key().unwrap_or_default()),
                            modified,
                        ));
                    }
                }
                Ok(out)
            }
            Pointer::S3Tables(_) => Err(Error::Unsupported(format!(
                "{}: a table bucket refuses listing",
                self.label
            ))),
            #[cfg(feature = "warehouse")]
            Pointer::Sqlite(_) => {
                let dir = loc.strip_prefix("file://").unwrap_or(&loc).to_string();
                tokio::task::spawn_blocking(move || walk(std::path::Path::new(&dir)))
                    .await
                    .map_err(|e| Error::Catalog(format!("listing {loc}: {e}")))?
            }
        }
    }

    /// Where a new table of this target goes, when the target decides it (a Glue database:
    /// under its `LocationUri`); `None` leaves it to the catalog.
    pub fn location_for(&self, ident: &TableIdent) -> Option<String> {
        match &self.pointer {
            Pointer::Glue(p) => Some(format!("{}/{}", p.location, ident.name())),
            _ => None,
        }
    }

    /// Points `ident` at `new` (whose metadata is `new_md`) if it still points at `base`: `true` when this commit won,
    /// `false` when another writer moved the pointer first (nothing of this commit is then
    /// visible).
    pub async fn swap(
        &self,
        ident: &TableIdent,
        base: &str,
        new: &str,
        new_md: &TableMetadata,
    ) -> Result<bool, Error> {
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
            Pointer::Glue(p) => p.swap(ident, base, new, new_md).await,
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
        table_at(ident, location, metadata, &self.file_io, &self.runtime).map(Some)
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

impl GluePointer {
    /// Writes the table's first metadata file under `<database location>/<name>` (or the
    /// creation's own location) and creates the Glue table pointing at it. A table of that
    /// name already there is an error, and the file written for it is deleted.
    async fn create(&self, mut creation: TableCreation) -> Result<(), Error> {
        let name = creation.name.clone();
        let location = creation
            .location
            .get_or_insert_with(|| format!("{}/{name}", self.location))
            .clone();
        let md = TableMetadataBuilder::from_table_creation(creation)?
            .build()?
            .metadata;
        let at = MetadataLocation::new_with_metadata(&location, &md);
        md.write_to(&self.file_io, &at).await?;
        let at = at.to_string();
        let input = glue_table_input(&name, &at, None, &md)?;
        if let Err(e) = self
            .client
            .create_table()
            .database_name(&self.database)
            .table_input(input)
            .send()
            .await
        {
            if let Err(d) = self.file_io.delete(&at).await {
                tracing::warn!(path = %at, error = %d, "could not delete an unpublished metadata file");
            }
            return Err(sdk_error(
                &format!("CreateTable {}.{name}", self.database),
                e,
            ));
        }
        Ok(())
    }

    async fn load(&self, ident: &TableIdent) -> Result<Option<Table>, Error> {
        let resp = match self
            .client
            .get_table()
            .database_name(&self.database)
            .name(ident.name())
            .send()
            .await
        {
            Ok(r) => r,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_entity_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(sdk_error(&format!("GetTable {ident}"), e)),
        };
        let t = resp
            .table()
            .ok_or_else(|| Error::Catalog(format!("GetTable {ident}: no table in the answer")))?;
        let params = t.parameters();
        let is_iceberg = params
            .and_then(|p| p.get("table_type"))
            .is_some_and(|v| v.eq_ignore_ascii_case("ICEBERG"));
        // A Hive table of the same name (the retired `catalog sync` made those) is not ours to
        // take over: its readers expect plain Parquet under its own location.
        let location = params
            .and_then(|p| p.get("metadata_location"))
            .filter(|_| is_iceberg)
            .ok_or_else(|| {
                Error::Catalog(format!(
                    "Glue table {}.{} exists but is not an Iceberg table (no table_type=ICEBERG and metadata_location): drop or rename it (the retired `catalog sync` made Hive tables of these names)",
                    self.database,
                    ident.name()
                ))
            })?;
        let metadata = TableMetadata::read_from(&self.file_io, location).await?;
        self.versions
            .lock()
            .expect("version map")
            .insert(location.to_string(), t.version_id().map(str::to_string));
        table_at(ident, location, metadata, &self.file_io, &self.runtime).map(Some)
    }

    async fn swap(
        &self,
        ident: &TableIdent,
        base: &str,
        new: &str,
        new_md: &TableMetadata,
    ) -> Result<bool, Error> {
        let version = self
            .versions
            .lock()
            .expect("version map")
            .get(base)
            .cloned()
            .ok_or_else(|| {
                Error::Catalog(format!(
                    "table {ident}: no Glue VersionId for {base}; a commit's base must be loaded through Tables"
                ))
            })?;
        let input = glue_table_input(ident.name(), new, Some(base), new_md)?;
        match self
            .client
            .update_table()
            .database_name(&self.database)
            .set_version_id(version)
            // The pointer's history is the table's snapshots and metadata log, not Glue's table
            // versions (which a busy table would exhaust: Glue keeps a bounded number).
            .skip_archive(true)
            .table_input(input)
            .send()
            .await
        {
            Ok(_) => {
                // The new VersionId is not in UpdateTable's answer: the next commit on this
                // location loads it (a base read through `load`) before it swaps.
                Ok(true)
            }
            // The table changed since the base was read: this commit lost the race.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_concurrent_modification_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error(&format!("UpdateTable {ident}"), e)),
        }
    }
}

/// A table loaded through our own pointer (S3 Tables, Glue): `metadata`, read from `location`.
fn table_at(
    ident: &TableIdent,
    location: &str,
    metadata: TableMetadata,
    file_io: &FileIO,
    runtime: &Runtime,
) -> Result<Table, Error> {
    Ok(Table::builder()
        .identifier(ident.clone())
        .metadata(metadata)
        .metadata_location(location)
        .file_io(file_io.clone())
        .runtime(runtime.clone())
        .build()?)
}

/// A Glue table pointing at the Iceberg metadata file `location` (whose content is `md`), as
/// Iceberg's own Glue catalogs describe one: `table_type=ICEBERG`, `metadata_location` and the
/// one before it, the table's location, and its current schema as the Glue columns.
fn glue_table_input(
    name: &str,
    location: &str,
    previous: Option<&str>,
    md: &TableMetadata,
) -> Result<aws_sdk_glue::types::TableInput, Error> {
    use aws_sdk_glue::types::{StorageDescriptor, TableInput};
    let build = |e: aws_sdk_glue::error::BuildError| {
        Error::Catalog(format!("Glue table input of {name}: {e}"))
    };
    let columns = glue_columns(md).map_err(build)?;
    let mut params = HashMap::from([
        ("table_type".to_string(), "ICEBERG".to_string()),
        ("metadata_location".to_string(), location.to_string()),
    ]);
    if let Some(p) = previous {
        params.insert("previous_metadata_location".into(), p.to_string());
    }
    TableInput::builder()
        .name(name)
        .table_type("EXTERNAL_TABLE")
        .set_parameters(Some(params))
        .storage_descriptor(
            StorageDescriptor::builder()
                .location(md.location())
                .set_columns(Some(columns))
                .build(),
        )
        .build()
        .map_err(build)
}

/// The Glue columns of a table's current schema, for engines that read the Glue schema rather
/// than the Iceberg metadata (Athena's DDL view, the Glue console). Each column carries its
/// Iceberg field id, as Iceberg's own Glue catalogs write them.
fn glue_columns(
    md: &TableMetadata,
) -> Result<Vec<aws_sdk_glue::types::Column>, aws_sdk_glue::error::BuildError> {
    md.current_schema()
        .as_struct()
        .fields()
        .iter()
        .map(|f| {
            aws_sdk_glue::types::Column::builder()
                .name(&f.name)
                .r#type(hive_type(&f.field_type))
                .parameters("iceberg.field.id", f.id.to_string())
                .parameters("iceberg.field.optional", (!f.required).to_string())
                .parameters("iceberg.field.current", "true")
                .build()
        })
        .collect()
}

/// The Hive type name Glue and Athena use for an Iceberg type.
fn hive_type(t: &Type) -> String {
    match t {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => "boolean".into(),
            PrimitiveType::Int => "int".into(),
            PrimitiveType::Long => "bigint".into(),
            PrimitiveType::Float => "float".into(),
            PrimitiveType::Double => "double".into(),
            PrimitiveType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            PrimitiveType::Date => "date".into(),
            PrimitiveType::Time => "string".into(),
            PrimitiveType::Timestamp
            | PrimitiveType::Timestamptz
            | PrimitiveType::TimestampNs
            | PrimitiveType::TimestamptzNs => "timestamp".into(),
            PrimitiveType::String | PrimitiveType::Uuid => "string".into(),
            PrimitiveType::Fixed(_) | PrimitiveType::Binary => "binary".into(),
        },
        Type::Struct(s) => format!(
            "struct<{}>",
            s.fields()
                .iter()
                .map(|f| format!("{}:{}", f.name, hive_type(&f.field_type)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Type::List(l) => format!("array<{}>", hive_type(&l.element_field.field_type)),
        Type::Map(m) => format!(
            "map<{},{}>",
            hive_type(&m.key_field.field_type),
            hive_type(&m.value_field.field_type)
        ),
    }
}

/// Every file below `dir`, as `file://` locations with their modification times.
#[cfg(feature = "warehouse")]
fn walk(dir: &Path) -> Result<Vec<(String, i64)>, Error> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Error::Catalog(format!("listing {}: {e}", d.display())))?;
        for e in entries {
            let e = e.map_err(|e| Error::Catalog(format!("listing {}: {e}", d.display())))?;
            let meta = e
                .metadata()
                .map_err(|err| Error::Catalog(format!("{}: {err}", e.path().display())))?;
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(i64::MAX, |d| d.as_millis() as i64);
                out.push((format!("file://{}", e.path().display()), modified));
            }
        }
    }
    Ok(out)
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
        catalog: Some(Arc::new(catalog)),
        pointer: Pointer::Sqlite(pool),
        namespace,
        locks: Some(locks),
        board: None,
        label: format!("warehouse {}", dir.display()),
    })
}

/// Puts `ident`'s two Glue optimizers, retention and orphan file deletion, as `o` says:
/// created, or updated when the table has them (`AlreadyExistsException`), enabled, running as
/// `o.role_arn`. Orphans are looked for under the table's own folder. Glue runs them on its own
/// schedule; that they run is proven on AWS only (moto has no table optimizers: the local
/// router stands in for the calls).
async fn put_glue_optimizers(
    g: &GluePointer,
    ident: &TableIdent,
    o: &GlueOptimizers,
) -> Result<(), Error> {
    use aws_sdk_glue::types::{
        IcebergOrphanFileDeletionConfiguration, IcebergRetentionConfiguration,
        OrphanFileDeletionConfiguration, RetentionConfiguration, TableOptimizerConfiguration,
        TableOptimizerType,
    };
    let catalog = g.catalog_id.clone().ok_or_else(|| {
        Error::Catalog(format!(
            "Glue database {}: GetDatabase named no CatalogId, which Glue's table optimizers need",
            g.database
        ))
    })?;
    let days = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let base = || {
        TableOptimizerConfiguration::builder()
            .role_arn(&o.role_arn)
            .enabled(true)
    };
    let retention = base()
        .retention_configuration(
            RetentionConfiguration::builder()
                .iceberg_configuration(
                    IcebergRetentionConfiguration::builder()
                        .snapshot_retention_period_in_days(days(o.snapshot_days))
                        .number_of_snapshots_to_retain(days(o.keep))
                        .clean_expired_files(true)
                        .build(),
                )
                .build(),
        )
        .build();
    let orphans = base()
        .orphan_file_deletion_configuration(
            OrphanFileDeletionConfiguration::builder()
                .iceberg_configuration(
                    IcebergOrphanFileDeletionConfiguration::builder()
                        .orphan_file_retention_period_in_days(days(o.orphan_days))
                        .location(format!("{}/{}/", g.location, ident.name()))
                        .build(),
                )
                .build(),
        )
        .build();
    for (kind, conf) in [
        (TableOptimizerType::Retention, retention),
        (TableOptimizerType::OrphanFileDeletion, orphans),
    ] {
        let created = g
            .client
            .create_table_optimizer()
            .catalog_id(&catalog)
            .database_name(&g.database)
            .table_name(ident.name())
            .r#type(kind.clone())
            .table_optimizer_configuration(conf.clone())
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_already_exists_exception()) =>
            {
                g.client
                    .update_table_optimizer()
                    .catalog_id(&catalog)
                    .database_name(&g.database)
                    .table_name(ident.name())
                    .r#type(kind.clone())
                    .table_optimizer_configuration(conf)
                    .send()
                    .await
                    .map_err(|e| {
                        sdk_error(
                            &format!("UpdateTableOptimizer {} of {ident}", kind.as_str()),
                            e,
                        )
                    })?;
            }
            Err(e) => {
                return Err(sdk_error(
                    &format!("CreateTableOptimizer {} of {ident}", kind.as_str()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::operation::update_table::{UpdateTableError, UpdateTableOutput};
    use aws_sdk_glue::types::error::ConcurrentModificationException;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use iceberg::spec::{NestedField, Schema};

    fn metadata() -> TableMetadata {
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::required(1, "order_id", Type::Primitive(PrimitiveType::Long)).into(),
                NestedField::optional(
                    2,
                    "amount",
                    Type::Primitive(PrimitiveType::Decimal {
                        precision: 12,
                        scale: 2,
                    }),
                )
                .into(),
                NestedField::optional(3, "at", Type::Primitive(PrimitiveType::Timestamptz)).into(),
            ])
            .build()
            .unwrap();
        let creation = TableCreation::builder()
            .name("orders".into())
            .location("s3://lake/tables/orders".into())
            .schema(schema)
            .build();
        TableMetadataBuilder::from_table_creation(creation)
            .unwrap()
            .build()
            .unwrap()
            .metadata
    }

    /// The Glue columns carry Athena's type names and Iceberg's field ids (timestamptz too,
    /// which iceberg-catalog-glue 0.10.1 refuses to describe).
    #[test]
    fn glue_columns_name_hive_types_and_field_ids() {
        let input = glue_table_input(
            "orders",
            "s3://m/1.json",
            Some("s3://m/0.json"),
            &metadata(),
        )
        .unwrap();
        let cols: Vec<(&str, &str, &str)> = input
            .storage_descriptor()
            .unwrap()
            .columns()
            .iter()
            .map(|c| {
                (
                    c.name(),
                    c.r#type().unwrap(),
                    c.parameters().unwrap()["iceberg.field.id"].as_str(),
                )
            })
            .collect();
        assert_eq!(
            cols,
            [
                ("order_id", "bigint", "1"),
                ("amount", "decimal(12,2)", "2"),
                ("at", "timestamp", "3")
            ]
        );
        let p = input.parameters().unwrap();
        assert_eq!(p["table_type"], "ICEBERG");
        assert_eq!(p["metadata_location"], "s3://m/1.json");
        assert_eq!(p["previous_metadata_location"], "s3://m/0.json");
        assert_eq!(input.table_type(), Some("EXTERNAL_TABLE"));
    }

    #[test]
    fn glue_optimizers_come_from_the_stacks_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(GlueOptimizers::from_vars(vars(&[])), Ok(None));
        assert_eq!(
            GlueOptimizers::from_vars(vars(&[(GLUE_OPTIMIZER_ROLE_VAR, "")])),
            Ok(None),
            "the template's empty value: lakeline keeps the history"
        );
        assert_eq!(
            GlueOptimizers::from_vars(vars(&[(GLUE_OPTIMIZER_ROLE_VAR, "arn:r")])),
            Ok(Some(GlueOptimizers {
                role_arn: "arn:r".into(),
                snapshot_days: 5,
                keep: 1,
                orphan_days: 3,
            }))
        );
        assert_eq!(
            GlueOptimizers::from_vars(vars(&[
                (GLUE_OPTIMIZER_ROLE_VAR, "arn:r"),
                ("LAKELINE_SNAPSHOT_RETENTION_DAYS", "9"),
                ("LAKELINE_SNAPSHOTS_KEPT", "2"),
                ("LAKELINE_ORPHAN_RETENTION_DAYS", "4"),
            ]))
            .unwrap()
            .map(|o| (o.snapshot_days, o.keep, o.orphan_days)),
            Some((9, 2, 4))
        );
        let bad = GlueOptimizers::from_vars(vars(&[
            (GLUE_OPTIMIZER_ROLE_VAR, "arn:r"),
            ("LAKELINE_SNAPSHOTS_KEPT", "0"),
        ]))
        .unwrap_err();
        assert!(bad.contains("LAKELINE_SNAPSHOTS_KEPT"), "{bad}");
    }

    fn glue_pointer(client: aws_sdk_glue::Client) -> GluePointer {
        GluePointer {
            client,
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                    .region(aws_sdk_s3::config::Region::new("us-east-1"))
                    .build(),
            ),
            database: "lake".into(),
            location: "s3://lake/tables".into(),
            file_io: FileIOBuilder::new(Arc::new(iceberg::io::LocalFsStorageFactory)).build(),
            runtime: Runtime::try_current().unwrap(),
            versions: std::sync::Mutex::new(HashMap::from([(
                "s3://m/0.json".to_string(),
                Some("7".to_string()),
            )])),
            catalog_id: Some("123456789012".into()),
            optimizers: None,
        }
    }

    /// A Glue swap sends the VersionId read with its base and keeps no archive; Glue's
    /// ConcurrentModificationException (another writer's commit came first) is a lost race,
    /// not an error. moto ignores VersionId and never answers so: canned answers here.
    #[tokio::test]
    async fn a_glue_swap_is_conditional_on_the_bases_version() {
        let ident = TableIdent::from_strs(["lake", "orders"]).unwrap();
        let sent = |r: &aws_sdk_glue::operation::update_table::UpdateTableInput| {
            let p = r.table_input().and_then(|t| t.parameters()).unwrap();
            r.version_id() == Some("7")
                && r.skip_archive() == Some(true)
                && r.database_name() == Some("lake")
                && p["metadata_location"] == "s3://m/1.json"
                && p["previous_metadata_location"] == "s3://m/0.json"
        };
        let lost = mock!(aws_sdk_glue::Client::update_table)
            .match_requests(sent)
            .then_error(|| {
                UpdateTableError::ConcurrentModificationException(
                    ConcurrentModificationException::builder().build(),
                )
            });
        let won = mock!(aws_sdk_glue::Client::update_table)
            .match_requests(sent)
            .then_output(|| UpdateTableOutput::builder().build());
        let p = glue_pointer(mock_client!(
            aws_sdk_glue,
            RuleMode::Sequential,
            [&lost, &won]
        ));
        let md = metadata();
        assert!(!p
            .swap(&ident, "s3://m/0.json", "s3://m/1.json", &md)
            .await
            .unwrap());
        assert!(p
            .swap(&ident, "s3://m/0.json", "s3://m/1.json", &md)
            .await
            .unwrap());
        // A base that was not loaded through the pointer has no version to send.
        let e = p
            .swap(&ident, "s3://m/9.json", "s3://m/1.json", &md)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be loaded through Tables"), "{e}");
    }

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
                database: "lake".into(),
                optimizers: None,
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
