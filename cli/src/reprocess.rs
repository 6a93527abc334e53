//! `lakeline reprocess --dataset D --from DATE --to DATE`: every raw object of a date range
//! validated and curated again under today's registry, through the pipeline.
//!
//! - Each object is handed to validate-upload (`{"lakeline": "reprocess"}`), as `rerun` does:
//!   the work runs under the stack's own roles, and a file that now fails is quarantined with
//!   its alert as any upload is, its rows taken out of the table in one snapshot (the
//!   pipeline's `Withdraw` step).
//! - A valid file's rows are recorded at the upload's version *and the rules pass*
//!   ([`lakeline_core::table::delivery_version`]; the pass is the first 12 hex digits of the
//!   dataset's [`Dataset::rules_hash`]), so the commit replaces the rows the table held of that
//!   upload in one snapshot, and a second pass under the same rules adds nothing.
//! - The execution of each object's pass is named after the object and the pass
//!   ([`keys::reprocess_name`]): the command looks it up before invoking anything, so a run
//!   stopped and started again does no work for objects already done, and runs throttled
//!   (`--rate`).
//! - A date is the key's `{date}`; for a dataset whose keys have none, the day the object was
//!   uploaded.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use lakeline_core::event::ReprocessRequest;
use lakeline_core::keys;
use lakeline_core::registry::{Dataset, DatasetName};
use serde::Serialize;
use serde_json::{json, Value};

use crate::progress::Progress;

/// The digits of a rules pass (validate-upload checks the same number).
pub const PASS_LEN: usize = 12;

/// The clients the command calls AWS with (the operator's).
pub struct Clients {
    /// Lists the raw objects.
    pub s3: aws_sdk_s3::Client,
    /// Looks the passes' executions up.
    pub sfn: aws_sdk_sfn::Client,
    /// Invokes validate-upload.
    pub lambda: aws_sdk_lambda::Client,
}

/// Where the stack's pieces are (its outputs).
pub struct Pipeline {
    /// The lake bucket.
    pub bucket: String,
    /// The pipeline state machine.
    pub state_machine_arn: String,
    /// validate-upload.
    pub function: String,
}

/// One raw object of the range.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Its key.
    pub key: String,
    /// Its ETag (its content).
    pub etag: String,
    /// Bytes.
    pub size: u64,
    /// The key's `{date}`, or the upload's day.
    pub date: String,
    /// The execution of its pass.
    pub execution: String,
}

/// What a run would touch: the dataset, its rules pass, and the objects of the range.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The dataset.
    pub dataset: String,
    /// The rules pass.
    pub pass: String,
    /// The range, inclusive.
    pub from: String,
    /// The range's end, inclusive.
    pub to: String,
    /// The objects, oldest date first.
    pub objects: Vec<Item>,
}

/// How one object ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Valid, and its rows replaced those the table held of it.
    Replaced,
    /// Valid, and its rows added (the table held none of them).
    Added,
    /// Its pass was done already (an earlier run), or the table held its rows at this pass.
    Unchanged,
    /// Invalid under today's rules: quarantined with an alert, its rows taken out.
    Quarantined,
    /// Replaced by a newer upload (or deleted) since it was listed: its own event handles it.
    Skipped,
    /// Its pass failed: the detail says why and what to run.
    Failed,
    /// Still running when the command stopped waiting.
    Running,
}

/// One object's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    /// The key.
    pub key: String,
    /// How it ended.
    pub fate: Fate,
    /// Rows the table holds of it now (valid), or rows taken out (quarantined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Rows of it the table held before, replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_rows: Option<u64>,
    /// The execution of its pass.
    pub execution: String,
    /// Why, for a quarantined, skipped or failed object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Options of a run.
pub struct Options {
    /// List what would be touched, touch nothing.
    pub dry_run: bool,
    /// Objects handed to validate-upload per second.
    pub rate: f64,
    /// How long to wait for the passes' executions before reporting them as running.
    pub wait: Duration,
}

/// Parses `YYYY-MM-DD` as days since 1970-01-01.
pub fn day(text: &str) -> anyhow::Result<i32> {
    lakeline_core::types::parse_date(text.as_bytes())
        .with_context(|| format!("{text:?} is not a date (YYYY-MM-DD)"))
}

/// The `YYYY-MM-DD` of days since 1970-01-01.
pub fn date_text(day: i32) -> String {
    lakeline_core::validate::day_text(day)
}

/// Lists the objects of `dataset` whose date is in `from..=to` (`YYYY-MM-DD`), and names the
/// execution of each one's pass under the dataset's rules as `ds` has them.
pub async fn plan(
    c: &Clients,
    p: &Pipeline,
    name: &DatasetName,
    ds: &Dataset,
    from: &str,
    to: &str,
) -> anyhow::Result<Plan> {
    let (lo, hi) = (day(from)?, day(to)?);
    if lo > hi {
        bail!("--from {from} is after --to {to}");
    }
    if hi - lo > 3660 {
        bail!("{from}..{to} is more than ten years: give a shorter range");
    }
    let pass = ds.rules_hash()[..PASS_LEN].to_string();
    // One folder per day when the pattern has a folder per date; else the dataset's prefix.
    let folders: Vec<String> = match ds.key_pattern.folder_for_date(from) {
        Some(_) => (lo..=hi)
            .filter_map(|d| ds.key_pattern.folder_for_date(&date_text(d)))
            .collect(),
        None => vec![ds.key_pattern.prefix().to_string()],
    };
    let mut objects = Vec::new();
    for folder in folders {
        let mut pages =
            c.s3.list_objects_v2()
                .bucket(&p.bucket)
                .prefix(&folder)
                .into_paginator()
                .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                anyhow::anyhow!(
                    "ListObjectsV2 s3://{}/{folder}: {}",
                    p.bucket,
                    lakeline_aws::describe(&e)
                )
            })?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let size = o.size().unwrap_or(0).max(0) as u64;
                let Ok(m) = ds.key_pattern.matches(key) else {
                    continue; // misnamed: validate-upload quarantined or ignored it already
                };
                let date = match &m.date {
                    Some(d) => d.clone(),
                    None => match o.last_modified() {
                        Some(t) => {
                            date_text(lakeline_core::validate::day_of_unix_seconds(t.secs()))
                        }
                        None => continue,
                    },
                };
                if !day(&date).is_ok_and(|d| (lo..=hi).contains(&d))
                    || keys::is_folder_marker(key, size)
                {
                    continue;
                }
                let etag = o.e_tag().unwrap_or_default().trim_matches('"').to_string();
                let execution = keys::reprocess_name(
                    name.as_str(),
                    m.date.as_deref(),
                    &m.file,
                    &p.bucket,
                    key,
                    &etag,
                    &pass,
                );
                objects.push(Item {
                    key: key.to_string(),
                    etag,
                    size,
                    date,
                    execution,
                });
            }
        }
    }
    objects.sort_by(|a, b| (&a.date, &a.key).cmp(&(&b.date, &b.key)));
    Ok(Plan {
        dataset: name.to_string(),
        pass,
        from: from.to_string(),
        to: to.to_string(),
        objects,
    })
}

/// The ARN of execution `name` of `state_machine_arn`.
fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replace(":stateMachine:", ":execution:")
    )
}

/// An execution's status and output, `None` when there is none of that name.
async fn execution(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
) -> anyhow::Result<Option<(String, Value)>> {
    match sfn.describe_execution().execution_arn(arn).send().await {
        Ok(d) => Ok(Some((
            d.status().as_str().to_string(),
            d.output()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(Value::Null),
        ))),
        Err(e) if lakeline_aws::error_code(&e).as_deref() == Some("ExecutionDoesNotExist") => {
            Ok(None)
        }
        Err(e) => bail!("DescribeExecution {arn}: {}", lakeline_aws::describe(&e)),
    }
}

/// How a finished pass's execution ended, from its status and output.
pub fn fate_of(
    status: &str,
    output: &Value,
    arn: &str,
) -> (Fate, Option<u64>, Option<u64>, Option<String>) {
    // The pipeline's summary: `job` is what the engine answered (`status`, rows, …).
    let job = &output["job"];
    let n = |v: &Value| v.as_u64();
    match (status, job["status"].as_str().unwrap_or_default()) {
        ("SUCCEEDED", "COMMITTED") => {
            let replaced = n(&job["removedRows"]).unwrap_or(0);
            let fate = if replaced > 0 || job["removedFiles"].as_u64().unwrap_or(0) > 0 {
                Fate::Replaced
            } else {
                Fate::Added
            };
            (fate, n(&job["rows"]), Some(replaced), None)
        }
        ("SUCCEEDED", "ALREADY_COMMITTED") => (Fate::Unchanged, None, None, None),
        ("SUCCEEDED", "WITHDRAWN" | "NOTHING_TO_WITHDRAW") => (
            Fate::Quarantined,
            n(&job["removedRows"]),
            None,
            Some("invalid under today's rules: quarantined, its rows taken out of the table".into()),
        ),
        ("SUCCEEDED", "SUPERSEDED") => (
            Fate::Skipped,
            None,
            None,
            Some("replaced by a newer upload before it was curated".into()),
        ),
        ("SUCCEEDED", other) => (
            Fate::Unchanged,
            None,
            None,
            Some(format!("the pipeline answered {other:?}")),
        ),
        ("RUNNING" | "PENDING_REDRIVE", _) => (Fate::Running, None, None, None),
        (other, _) => (
            Fate::Failed,
            None,
            None,
            Some(format!(
                "execution {arn} is {other}: see its alert, fix the cause, then `lakeline rerun {arn}`"
            )),
        ),
    }
}

/// Runs `plan`: each object not yet done is handed to validate-upload (at most `rate` per
/// second), then the started passes are awaited. The summary counts what happened.
pub async fn run(
    c: &Clients,
    p: &Pipeline,
    plan: &Plan,
    opts: &Options,
    progress: &mut Progress,
) -> anyhow::Result<Value> {
    let mut done: Vec<Done> = Vec::new();
    let mut waiting: Vec<(String, String)> = Vec::new(); // (key, execution)
    let mut quarantined: BTreeMap<String, String> = BTreeMap::new(); // key → reason
    let period = Duration::from_secs_f64(1.0 / opts.rate.max(0.01));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for item in &plan.objects {
        let arn = execution_arn(&p.state_machine_arn, &item.execution);
        if let Some((status, output)) = execution(&c.sfn, &arn).await? {
            if status == "RUNNING" {
                waiting.push((item.key.clone(), item.execution.clone()));
                progress.step(&format!("{}: running already", item.key));
                continue;
            }
            let (fate, rows, _, detail) = fate_of(&status, &output, &arn);
            // Done by an earlier run: nothing is done again.
            let fate = match fate {
                Fate::Replaced | Fate::Added => Fate::Unchanged,
                f => f,
            };
            progress.step(&format!("{}: {fate:?} (an earlier run)", item.key).to_lowercase());
            done.push(Done {
                key: item.key.clone(),
                fate,
                rows,
                replaced_rows: None,
                execution: item.execution.clone(),
                detail: detail.or(Some("its pass under these rules ran before".into())),
            });
            continue;
        }
        if opts.dry_run {
            progress.step(&format!("{}: would be reprocessed", item.key));
            continue;
        }
        tick.tick().await;
        let req = ReprocessRequest {
            bucket: p.bucket.clone(),
            key: item.key.clone(),
            etag: item.etag.clone(),
            version_id: None,
            pass: plan.pass.clone(),
        };
        let answer = match crate::again::invoke(&c.lambda, &p.function, &req.payload()).await {
            Ok(a) => a,
            Err(e) => {
                progress.step(&format!("{}: failed", item.key));
                done.push(Done {
                    key: item.key.clone(),
                    fate: Fate::Failed,
                    rows: None,
                    replaced_rows: None,
                    execution: item.execution.clone(),
                    detail: Some(format!("{e:#}")),
                });
                continue;
            }
        };
        let o = &answer["outcomes"][0];
        match o["outcome"].as_str().unwrap_or_default() {
            "valid" => {
                waiting.push((item.key.clone(), item.execution.clone()));
                progress.step(&format!("{}: valid, curating", item.key));
            }
            "quarantined" => {
                let why = format!(
                    "invalid under today's rules ({}): moved to {}, alert sent",
                    o["reason"].as_str().unwrap_or("?"),
                    o["quarantine_key"].as_str().unwrap_or("quarantine")
                );
                quarantined.insert(item.key.clone(), why);
                waiting.push((item.key.clone(), item.execution.clone()));
                progress.step(&format!("{}: quarantined", item.key));
            }
            other => {
                progress.step(&format!("{}: {other}", item.key));
                done.push(Done {
                    key: item.key.clone(),
                    fate: Fate::Skipped,
                    rows: None,
                    replaced_rows: None,
                    execution: item.execution.clone(),
                    detail: Some(format!(
                        "validate-upload answered {other}: {}",
                        o.get("why").and_then(Value::as_str).unwrap_or(
                            "the object was replaced or deleted since it was listed; its own upload event handles it"
                        )
                    )),
                });
            }
        }
    }
    if !waiting.is_empty() {
        progress.note(&format!(
            "waiting for {} execution(s) to finish",
            waiting.len()
        ));
    }
    let deadline = tokio::time::Instant::now() + opts.wait;
    for (key, name) in waiting {
        let arn = execution_arn(&p.state_machine_arn, &name);
        let (status, output) = loop {
            let got = execution(&c.sfn, &arn).await?;
            match got {
                Some((s, o)) if s != "RUNNING" => break (s, o),
                _ if tokio::time::Instant::now() >= deadline => {
                    break ("RUNNING".to_string(), Value::Null)
                }
                // Polling a remote execution's status: Step Functions has no wait call.
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        };
        let (fate, rows, replaced, mut detail) = fate_of(&status, &output, &arn);
        if let Some(why) = quarantined.get(&key) {
            detail = Some(match fate {
                Fate::Quarantined => why.clone(),
                _ => format!(
                    "{why}; taking its rows out of the table: {}",
                    detail.unwrap_or_default()
                ),
            });
        }
        let fate = match (fate, quarantined.contains_key(&key)) {
            (Fate::Failed, _) => Fate::Failed,
            (Fate::Running, _) => Fate::Running,
            (_, true) => Fate::Quarantined,
            (f, false) => f,
        };
        done.push(Done {
            key,
            fate,
            rows,
            replaced_rows: replaced,
            execution: name,
            detail,
        });
    }
    progress.finish();
    let count = |f: Fate| done.iter().filter(|d| d.fate == f).count();
    let reprocessed = done
        .iter()
        .filter(|d| matches!(d.fate, Fate::Replaced | Fate::Added | Fate::Quarantined))
        .count();
    let mut plan_json = serde_json::to_value(plan)?;
    if opts.dry_run {
        plan_json["wouldReprocess"] = json!(plan.objects.len() - done.len());
        plan_json["dryRun"] = json!(true);
        plan_json["done"] = serde_json::to_value(&done)?;
        return Ok(plan_json);
    }
    Ok(json!({
        "dataset": plan.dataset,
        "pass": plan.pass,
        "from": plan.from,
        "to": plan.to,
        "objects": plan.objects.len(),
        "reprocessed": reprocessed,
        "replaced": count(Fate::Replaced),
        "added": count(Fate::Added),
        "newlyQuarantined": count(Fate::Quarantined),
        "unchanged": count(Fate::Unchanged),
        "skipped": count(Fate::Skipped),
        "failed": count(Fate::Failed),
        "running": count(Fate::Running),
        "results": done,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (status, job status, fate).
    #[test]
    fn fates_of_finished_passes() {
        let out = |job: Value| json!({"job": job});
        let cases = [
            (
                "SUCCEEDED",
                out(json!({"status": "COMMITTED", "rows": 5, "removedRows": 4, "removedFiles": 1})),
                Fate::Replaced,
            ),
            (
                "SUCCEEDED",
                out(json!({"status": "COMMITTED", "rows": 5, "removedRows": 0, "removedFiles": 0})),
                Fate::Added,
            ),
            (
                "SUCCEEDED",
                out(json!({"status": "ALREADY_COMMITTED"})),
                Fate::Unchanged,
            ),
            (
                "SUCCEEDED",
                out(json!({"status": "WITHDRAWN", "removedRows": 3})),
                Fate::Quarantined,
            ),
            (
                "SUCCEEDED",
                out(json!({"status": "SUPERSEDED"})),
                Fate::Skipped,
            ),
            ("FAILED", Value::Null, Fate::Failed),
            ("TIMED_OUT", Value::Null, Fate::Failed),
            ("RUNNING", Value::Null, Fate::Running),
        ];
        for (status, output, want) in cases {
            let (fate, ..) = fate_of(status, &output, "arn");
            assert_eq!(fate, want, "{status} {output}");
        }
        let (_, _, _, why) = fate_of("FAILED", &Value::Null, "arn:x");
        assert!(why.unwrap().contains("lakeline rerun arn:x"));
    }

    #[test]
    fn dates_parse_and_print_back() {
        assert_eq!(date_text(day("2026-12-01").unwrap()), "2026-12-01");
        assert!(day("2026-13-01").is_err());
        assert_eq!(
            execution_arn("arn:aws:states:r:1:stateMachine:p", "n"),
            "arn:aws:states:r:1:execution:p:n"
        );
    }
}
