//! `lakeline status`: gathers each dataset's facts from a stack (its outputs, the live
//! registry, the raw and quarantine listings of the last seven days, the table's snapshots and
//! files, the pipeline's failed executions) and hands them to
//! [`lakeline_core::status::summarize`]; [`render`] prints the answer.
//!
//! Bounded work per dataset: one listing per day folder, at most [`MAX_HEADS`] tag reads for
//! quarantine reasons, at most [`MAX_FAILURES`] failed executions described.

pub mod render;

use anyhow::Context;
use lakeline_core::registry::{Dataset, DatasetName, Registry};
use lakeline_core::status::{
    self, Commit, Facts, Failure, Quarantined, Status, TableFacts, Upload,
};

use crate::stack::StackOutputs;

/// Quarantined objects of the last 24 h whose reason is read (one GetObjectTagging each).
pub const MAX_HEADS: usize = 100;
/// Failed executions described (input: dataset and key; and whether a rerun exists).
pub const MAX_FAILURES: usize = 50;
/// Folders listed per dataset (the week's date folders, then those of recent commits).
pub const MAX_FOLDERS: usize = 60;
/// Keys listed under a dataset's prefix when its keys have no date folders.
pub const MAX_UNDATED_KEYS: usize = 10_000;

/// The clients (the operator's).
pub struct Clients {
    /// Listings and HEADs.
    pub s3: aws_sdk_s3::Client,
    /// Failed executions.
    pub sfn: aws_sdk_sfn::Client,
    /// The tables' catalog.
    pub conf: aws_config::SdkConfig,
}

/// Everything `status` reports on a stack at `now` (Unix seconds); `only` limits it to one
/// dataset.
pub async fn gather(
    c: &Clients,
    stack: &str,
    outputs: &StackOutputs,
    registry: &Registry,
    only: Option<&str>,
    now: i64,
) -> anyhow::Result<Status> {
    let bucket = outputs.get("LakeBucketName")?.to_string();
    let machine = outputs.get("StateMachineArn")?.to_string();
    let datasets: Vec<(&DatasetName, &Dataset)> = registry
        .datasets
        .iter()
        .filter(|(n, _)| only.is_none_or(|o| n.as_str() == o))
        .collect();
    if let (Some(o), true) = (only, datasets.is_empty()) {
        anyhow::bail!("no dataset {o:?} in the live registry");
    }
    let tables = match outputs.tables() {
        Ok(t) => lakeline_table::Tables::open_with(Some(&c.conf), &t)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let failures = failures(c, &machine, now).await?;
    let mut out = Vec::new();
    for (name, ds) in datasets {
        let mut f = Facts::of(name.as_str(), ds);
        f.table = match &tables {
            Ok(t) => table_facts(t, name).await,
            Err(e) => Err(e.clone()),
        };
        let quarantine = &registry.lake.quarantine_prefix;
        let mut recent = 0;
        for folder in folders(ds, &f.table, now) {
            for (key, at, bytes) in list(c, &bucket, &folder).await? {
                if ds.key_pattern.matches(&key).is_ok() {
                    f.uploads.push(Upload { key, at, bytes });
                }
            }
        }
        // Quarantine is small (broken files only): its whole dataset prefix, so a misnamed
        // key (quarantined where no date folder is) is counted too.
        let qprefix = format!("{quarantine}{}", ds.key_pattern.prefix());
        for (key, at, bytes) in list(c, &bucket, &qprefix).await? {
            if at < now - status::DAYS * 86_400 {
                continue;
            }
            let raw = key[quarantine.len()..].to_string();
            let reason = if at > now - 86_400 && recent < MAX_HEADS {
                recent += 1;
                reason(c, &bucket, &key).await?
            } else {
                None
            };
            f.uploads.push(Upload {
                key: raw,
                at,
                bytes,
            });
            f.quarantined.push(Quarantined { key, at, reason });
        }
        f.failures = failures
            .iter()
            .filter(|(d, _)| d.as_deref() == Some(name.as_str()))
            .map(|(_, x)| x.clone())
            .collect();
        out.push(status::summarize(&f, now));
    }
    Ok(Status {
        schema: status::SCHEMA,
        stack: stack.to_string(),
        generated_at: status::time_text(now),
        datasets: out,
    })
}

/// The folders to list: those of the last [`status::DAYS`] days (one per date), and those of
/// the keys the table committed in that time (a backfill of older dates arrives now), at most
/// [`MAX_FOLDERS`]; the dataset's prefix when its keys have no date folder.
fn folders(ds: &Dataset, table: &Result<TableFacts, String>, now: i64) -> Vec<String> {
    let today = now.div_euclid(86_400) as i32;
    let mut out: Vec<String> = (today - (status::DAYS as i32 - 1)..=today)
        .filter_map(|d| {
            ds.key_pattern
                .folder_for_date(&lakeline_core::validate::day_text(d))
        })
        .collect();
    if out.is_empty() {
        return vec![ds.key_pattern.prefix().to_string()];
    }
    let since_ms = (now - status::DAYS * 86_400) * 1000;
    let committed = table
        .iter()
        .flat_map(|t| &t.commits)
        .filter(|c| c.at_ms >= since_ms);
    for source in committed.flat_map(|c| &c.sources) {
        let folder = source.rfind('/').map_or("", |i| &source[..=i]);
        if !folder.is_empty() && !out.iter().any(|f| f == folder) && out.len() < MAX_FOLDERS {
            out.push(folder.to_string());
        }
    }
    out
}

/// (key, LastModified, bytes) under `prefix`, at most [`MAX_UNDATED_KEYS`].
async fn list(c: &Clients, bucket: &str, prefix: &str) -> anyhow::Result<Vec<(String, i64, u64)>> {
    let mut out = Vec::new();
    let mut pages =
        c.s3.list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!(
                "ListObjectsV2 s3://{bucket}/{prefix}: {}",
                lakeline_aws::describe(&e)
            )
        })?;
        for o in page.contents() {
            let (Some(key), Some(at)) = (o.key(), o.last_modified()) else {
                continue;
            };
            let bytes = o.size().unwrap_or(0).max(0) as u64;
            if !lakeline_core::keys::is_folder_marker(key, bytes) {
                out.push((key.to_string(), at.secs(), bytes));
            }
        }
        if out.len() >= MAX_UNDATED_KEYS {
            break;
        }
    }
    Ok(out)
}

/// A quarantined object's reason code (its `lakeline:reason` tag, which validate-upload sets
/// when it quarantines).
async fn reason(c: &Clients, bucket: &str, key: &str) -> anyhow::Result<Option<String>> {
    match c
        .s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(t) => Ok(t
            .tag_set()
            .iter()
            .find(|t| t.key() == "lakeline:reason")
            .map(|t| t.value().to_string())),
        Err(e) if lakeline_aws::is_gone(&e) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "GetObjectTagging s3://{bucket}/{key}: {}",
            lakeline_aws::describe(&e)
        )),
    }
}

/// The table's snapshots and live files.
async fn table_facts(
    tables: &lakeline_table::Tables,
    name: &DatasetName,
) -> Result<TableFacts, String> {
    let ident = tables.ident(name);
    let table = match tables.load(&ident).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(format!(
                "no table {ident}: `lakeline registry push` creates it"
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    let view = lakeline_table::show::show(&table)
        .await
        .map_err(|e| e.to_string())?;
    Ok(TableFacts {
        commits: view
            .snapshots
            .iter()
            .map(|s| Commit {
                at_ms: s.timestamp_ms,
                sources: s.sources.clone(),
                added_rows: s.added_rows,
                rewrite: s.rewrite.clone(),
                engine: s.engine.clone(),
            })
            .collect(),
        file_bytes: view.files.iter().map(|f| f.bytes).collect(),
        rows: view.rows,
    })
}

/// The pipeline's executions that did not succeed in the last [`status::DAYS`] days, with
/// their dataset (from their input).
async fn failures(
    c: &Clients,
    machine: &str,
    now: i64,
) -> anyhow::Result<Vec<(Option<String>, Failure)>> {
    use aws_sdk_sfn::types::ExecutionStatus;
    let since = now - status::DAYS * 86_400;
    let mut found = Vec::new();
    for s in [
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Aborted,
    ] {
        let out = c
            .sfn
            .list_executions()
            .state_machine_arn(machine)
            .status_filter(s.clone())
            .max_results(100)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("ListExecutions {machine}: {}", lakeline_aws::describe(&e))
            })?;
        for e in out.executions() {
            let at = e.stop_date().map_or(e.start_date().secs(), |t| t.secs());
            if at >= since {
                found.push((e.execution_arn().to_string(), at, s.as_str().to_string()));
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.1));
    found.truncate(MAX_FAILURES);
    let mut out = Vec::new();
    for (arn, at, status) in found {
        let d = c
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("DescribeExecution {arn}: {}", lakeline_aws::describe(&e))
            })?;
        let input: serde_json::Value =
            serde_json::from_str(d.input().unwrap_or("{}")).unwrap_or_default();
        let name = d.name().unwrap_or_default();
        let rerun_arn = format!(
            "{}:{}",
            machine.replace(":stateMachine:", ":execution:"),
            lakeline_core::keys::rerun_name(name)
        );
        let rerun = c
            .sfn
            .describe_execution()
            .execution_arn(&rerun_arn)
            .send()
            .await
            .is_ok();
        let dataset = input["dataset"].as_str().map(str::to_string);
        out.push((
            dataset,
            Failure {
                arn,
                at,
                status,
                error: d.error().map(str::to_string),
                key: input["key"].as_str().map(str::to_string),
                rerun,
            },
        ));
    }
    Ok(out)
}

/// Reads the stack's outputs and live registry as `conf`.
pub async fn stack_and_registry(
    conf: &aws_config::SdkConfig,
    s3: &aws_sdk_s3::Client,
    stack: &str,
) -> anyhow::Result<(StackOutputs, Registry)> {
    let outputs = StackOutputs::read(conf, stack).await?;
    let registry =
        lakeline_aws::load_registry(outputs.registry_uri()?, s3, &outputs.placeholder_vars())
            .await
            .with_context(|| format!("reading stack {stack}'s live registry"))?;
    Ok((outputs, registry))
}
