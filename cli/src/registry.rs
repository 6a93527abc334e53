//! `lakeline registry push`: the datasets' tables brought up to a registry, then the registry
//! published where the stack's functions read it.

use anyhow::{bail, Context};
use lakeline_core::registry::Registry;
use lakeline_table::Tables;

use crate::stack::StackOutputs;
use crate::table::{sync_all, TargetArgs};

/// Publishes registry `reg` (its text `text`, checked) to `to`, or to the `RegistryUri` of
/// the stack whose `outputs` are given: first every dataset's table is created or evolved to
/// it (`tables`, or the stack's table bucket), unless `no_tables`; a refused table change
/// publishes nothing. Every call is signed with `conf`.
pub async fn push(
    conf: &aws_config::SdkConfig,
    reg: &Registry,
    text: &str,
    to: Option<&str>,
    outputs: Option<&StackOutputs>,
    tables: &TargetArgs,
    no_tables: bool,
) -> anyhow::Result<()> {
    let to = match (to, outputs) {
        (Some(to), _) => to.to_string(),
        (None, Some(o)) => o.registry_uri()?.to_string(),
        (None, None) => {
            bail!("say where the live registry is: --to s3://bucket/key, or --stack NAME")
        }
    };
    let Some((bucket, key)) = to.strip_prefix("s3://").and_then(|r| r.split_once('/')) else {
        bail!("--to {to:?} is not an s3://bucket/key URI");
    };
    let target = match (outputs, no_tables) {
        (_, true) => None,
        (Some(o), false) => Some(o.tables()?),
        (None, false) => Some(tables.target_if_any(Some(conf)).await?.ok_or_else(|| {
            anyhow::anyhow!(
                "say where the datasets' tables are: --stack NAME, --catalog s3tables:<table bucket ARN>/<namespace> or --warehouse DIR; or --no-tables to publish the registry alone"
            )
        })?),
    };
    if let Some(target) = target {
        let tables = Tables::open_with(Some(conf), &target).await?;
        let synced = sync_all(&tables, reg, None)
            .await
            .context("the registry was not published")?;
        for t in &synced {
            println!(
                "table {}: {}",
                t["table"].as_str().unwrap_or("?"),
                t["sync"]
            );
        }
    }
    let s3 = lakeline_aws::s3_client(conf);
    let sha = reg.content_hash();
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)?
        .replace(':', "");
    let dir = key.rsplit_once('/').map_or("", |(d, _)| d);
    let version_key = format!(
        "{}versions/{now}-{}.yaml",
        if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        },
        &sha[..12]
    );
    for k in [version_key.as_str(), key] {
        s3.put_object()
            .bucket(bucket)
            .key(k)
            .content_type("application/yaml")
            .metadata("lakeline-sha256", &sha)
            .metadata("lakeline-version", &version_key)
            .body(text.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "PutObject s3://{bucket}/{k}: {}",
                    lakeline_aws::describe(&e)
                )
            })?;
    }
    println!("published s3://{bucket}/{key} (version s3://{bucket}/{version_key})");
    Ok(())
}
