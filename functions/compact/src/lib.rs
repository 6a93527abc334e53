//! compact: rewrites and maintains the datasets' Iceberg tables, one item of the maintenance
//! state machine's Map per invocation.
//!
//! - `{"action": "compactTable", "dataset", "partition", "execution", "now"}`: the partition is
//!   planned again from the table's manifests, its small files are merged in bounded memory
//!   (row group by row group, never a whole input), and one `replace` snapshot swaps them for
//!   the new files (`table.rs`). A reader sees the old files or the new ones, never both; a
//!   commit that lost a race with an append is decided again on the new table.
//! - `{"action": "planRewrite", "bucket", "dataset", "partition", "now"}` and
//!   `{"action": "commitRewrite", "dataset", "plan", "engine", "execution"}`: a partition the
//!   dataset's Spark job rewrites (`spark.rs`): planned here, merged by the run, checked and
//!   committed here as one `replace` snapshot.
//! - `{"action": "maintainTable", "dataset", "execution", "now"}`: a Glue-catalog table's
//!   snapshot expiry and orphan removal (S3 Tables does both itself).
//!
//! Nothing here deletes a data file that a live snapshot references: replaced files leave
//! storage with snapshot expiry.

use std::sync::Arc;

use lakeline_aws as laws;
use lakeline_core::error_names;
use lakeline_core::registry::Registry;
use serde_json::Value;

mod spark;
mod table;

pub use spark::REWRITE_PREFIX;

/// Everything the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    /// S3: a Spark rewrite's plan and output in the lake bucket, copied into the table.
    pub s3: aws_sdk_s3::Client,
    /// The dataset registry.
    pub registry: Arc<Registry>,
    /// The stack's tables (from the environment), for `compactTable` and `maintainTable`.
    pub tables: Option<Arc<lakeline_table::Tables>>,
    /// How long a Glue-catalog table keeps its history (`maintainTable`):
    /// `LAKELINE_SNAPSHOT_RETENTION_DAYS`, `LAKELINE_SNAPSHOTS_KEPT`,
    /// `LAKELINE_ORPHAN_RETENTION_DAYS`.
    pub retention: table::Retention,
}

impl Deps {
    /// Builds everything from the environment: `LAKELINE_REGISTRY`.
    pub async fn from_env(
        conf: &aws_config::SdkConfig,
        env: &dyn laws::Env,
    ) -> Result<Deps, lakeline_core::Error> {
        let s3 = laws::s3_client(conf);
        let registry = laws::registry_from_env(env, &s3).await?;
        let tables = lakeline_table::Tables::of_stack(conf, |n| env.var(n)).await?;
        let d = table::Retention::default();
        let days = |name, default: u32| {
            env.positive(name, default as usize)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        let retention = table::Retention {
            snapshot_days: days("LAKELINE_SNAPSHOT_RETENTION_DAYS", d.snapshot_days)?,
            keep: env.positive("LAKELINE_SNAPSHOTS_KEPT", d.keep)?,
            orphan_days: days("LAKELINE_ORPHAN_RETENTION_DAYS", d.orphan_days)?,
        };
        Ok(Deps {
            s3,
            retention,
            registry: Arc::new(registry),
            tables,
        })
    }
    /// The same dependencies around another registry: a reload
    /// ([`lakeline_aws::live::Live`]) without a cold start.
    pub fn with_registry(&self, registry: Registry) -> Deps {
        Deps {
            registry: Arc::new(registry),
            ..self.clone()
        }
    }
}

/// The function's error; its `errorType` is one of [`lakeline_core::error_names`].
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// A transient failure (AWS, a table commit that kept losing races): the state machine
    /// retries.
    #[error("{0}")]
    Transient(String),
    /// Registry, tables or permissions.
    #[error("{0}")]
    Config(String),
    /// Not a compact request.
    #[error("{0}")]
    BadInput(String),
    /// The rewrite failed (a table lakeline cannot rewrite, a file that changed under it).
    #[error("{0}")]
    Failed(String),
}

impl CompactError {
    /// The stable Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            CompactError::Transient(_) => error_names::TRANSIENT,
            CompactError::Config(_) => error_names::CONFIG,
            CompactError::BadInput(_) => error_names::BAD_INPUT,
            CompactError::Failed(_) => error_names::COMPACT_FAILED,
        }
    }
}

impl From<CompactError> for lambda_runtime::Diagnostic {
    fn from(e: CompactError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one invocation.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, CompactError> {
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !matches!(
        action.as_str(),
        "compactTable" | "maintainTable" | "planRewrite" | "commitRewrite"
    ) {
        return Err(CompactError::BadInput(format!(
            "action {action:?}: compact takes \"compactTable\" (one partition of a table), \"planRewrite\" and \"commitRewrite\" (a Spark rewrite's plan and commit) or \"maintainTable\""
        )));
    }
    let Some(tables) = &deps.tables else {
        return Err(CompactError::Config(format!(
            "{action}: this function has no tables (LAKELINE_TABLE_BUCKET_ARN or LAKELINE_TABLE_GLUE_DATABASE)"
        )));
    };
    let bad = |e: serde_json::Error| CompactError::BadInput(format!("not a {action} request: {e}"));
    match action.as_str() {
        "compactTable" => {
            table::compact_table(deps, tables, serde_json::from_value(payload).map_err(bad)?).await
        }
        "planRewrite" => {
            spark::plan_rewrite(deps, tables, serde_json::from_value(payload).map_err(bad)?).await
        }
        "commitRewrite" => {
            spark::commit_rewrite(deps, tables, serde_json::from_value(payload).map_err(bad)?).await
        }
        _ => {
            table::maintain_table(deps, tables, serde_json::from_value(payload).map_err(bad)?).await
        }
    }
}
