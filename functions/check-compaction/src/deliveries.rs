//! The scheduled delivery check (`{"action": "deliveries"}`): for every dataset that declares
//! `expect:`, is the file due by "now" there? A missed period gets one alert (a marker object
//! `_lakeline/sla/<dataset>/<period>`, created with `If-None-Match: *`, decides which run sends
//! it), one `MissedDeliveries` metric, and nothing more however often the check runs.
//!
//! Every decision is [`lakeline_core::sla`]; this module lists S3, writes the marker and publishes.
//! A file "arrived" when an object exists in the raw partition: validate-upload moves rejected
//! files to quarantine, so what stays under `raw/` was accepted (or is being judged).

use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use lakeline_aws::Emit;
use lakeline_core::metrics::{Emf, Unit};
use lakeline_core::registry::Dataset;
use lakeline_core::sla::{self, Evidence, Seen};
use serde_json::{json, Value};
use tracing::info;

use crate::{Deps, HandlerError};

/// Checks every dataset with `expect:` (or only `dataset`) at `now` (Unix seconds).
pub async fn check(
    deps: &Deps,
    bucket: &str,
    dataset: Option<&str>,
    now: i64,
) -> Result<Value, HandlerError> {
    let mut out = Vec::new();
    for (name, ds) in &deps.registry.datasets {
        if dataset.is_some_and(|d| d != name.as_str()) {
            continue;
        }
        let Some(expect) = ds.expect else {
            continue;
        };
        let due = sla::due(&expect, now);
        let prefix = ds.key_pattern.prefix();
        // every: day looks in the partition's folder; every: Nh in the whole dataset.
        let folder = match &due.date {
            Some(date) => match ds.key_pattern.folder_for_date(date) {
                Some(f) => f,
                None => {
                    out.push(json!({"dataset": name, "period": due.period,
                        "unchecked": "the key pattern has {any} before {date}: no single folder to look in"}));
                    continue;
                }
            },
            None => prefix.to_string(),
        };
        let ev = evidence(deps, bucket, ds, &folder, due.date.is_some()).await?;
        let Some(missed) = sla::missed(&expect, now, &ev) else {
            out.push(
                json!({"dataset": name, "period": due.period, "deadline": due.deadline,
                "missed": false}),
            );
            continue;
        };
        let partition = missed.date.as_ref().map(|_| {
            folder
                .strip_prefix(prefix)
                .unwrap_or(&folder)
                .trim_end_matches('/')
        });
        let marker = sla::marker(name.as_str(), &missed);
        let alerted = alert_once(
            deps,
            bucket,
            &marker,
            sla::missed_alert(
                bucket,
                name.as_str(),
                &folder,
                partition,
                &expect,
                &missed,
                &ev,
            ),
        )
        .await?;
        if alerted {
            Emf::new(&[("Function", "check-compaction"), ("Dataset", name.as_str())])
                .metric("MissedDeliveries", Unit::Count, 1.0)
                .property("Period", missed.period.clone())
                .emit();
        }
        info!(dataset = %name, period = %missed.period, alerted, "missed delivery");
        out.push(
            json!({"dataset": name, "period": missed.period, "deadline": missed.deadline,
            "partition": partition, "missed": true, "alerted": alerted,
            "last_seen": ev.last_seen.as_ref().map(|s| &s.key)}),
        );
    }
    Ok(json!({"bucket": bucket, "now": now, "deliveries": out}))
}

/// What the listing finds: whether `folder` holds a file (`every: day`), and the newest file of
/// the dataset's latest folder (by name, which for `dt=YYYY-MM-DD` is the newest date).
async fn evidence(
    deps: &Deps,
    bucket: &str,
    ds: &Dataset,
    folder: &str,
    daily: bool,
) -> Result<Evidence, HandlerError> {
    let page = deps.config.page_size;
    let mut ev = Evidence::default();
    if daily {
        let first = list_page(deps, bucket, folder, 10, None).await?;
        ev.files_in_partition = files(&first).count() as u64;
    }
    let prefix = ds.key_pattern.prefix();
    let folders = crate::discover_partitions(&deps.s3, bucket, prefix, page)
        .await
        .map_err(|e| {
            HandlerError::from_sdk(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e)
        })?;
    let newest = match folders.last() {
        Some(f) => format!("{prefix}{f}/"),
        None => prefix.to_string(),
    };
    let mut token = None;
    loop {
        let p = list_page(deps, bucket, &newest, page, token.take()).await?;
        for o in files(&p) {
            let at = o.last_modified().map_or(0, |t| t.secs());
            if ev.last_seen.as_ref().is_none_or(|s| at > s.at) {
                ev.last_seen = Some(Seen {
                    key: o.key().unwrap_or_default().to_string(),
                    at,
                });
            }
        }
        match p.next_continuation_token() {
            Some(t) if p.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(ev)
}

/// Objects that are files (not console folder markers).
fn files(p: &ListObjectsV2Output) -> impl Iterator<Item = &aws_sdk_s3::types::Object> {
    p.contents()
        .iter()
        .filter(|o| !o.key().unwrap_or_default().ends_with('/'))
}

async fn list_page(
    deps: &Deps,
    bucket: &str,
    prefix: &str,
    max: i32,
    token: Option<String>,
) -> Result<ListObjectsV2Output, HandlerError> {
    deps.s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(max)
        .set_continuation_token(token)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e))
}

/// Publishes `alert` unless this period's marker exists; true when this run sent it. The
/// marker is created first (`If-None-Match: *`), so two overlapping runs send one alert; if
/// publishing fails the marker is deleted again, so the next run sends it.
async fn alert_once(
    deps: &Deps,
    bucket: &str,
    marker: &str,
    alert: lakeline_core::alert::Alert,
) -> Result<bool, HandlerError> {
    let Some(a) = &deps.alerts else {
        return Err(HandlerError::Config(
            "ALERT_TOPIC_ARN is not set: check-compaction cannot send delivery alerts".into(),
        ));
    };
    let put = deps
        .s3
        .put_object()
        .bucket(bucket)
        .key(marker)
        .if_none_match("*")
        .content_type("application/json")
        .body(alert.json().to_string().into_bytes().into())
        .send()
        .await;
    match put {
        Ok(_) => {}
        Err(e)
            if e.raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
        {
            return Ok(false)
        }
        Err(e) => return Err(HandlerError::from_sdk("PutObject (delivery marker)", &e)),
    }
    if let Err(e) = lakeline_aws::publish_alert(&a.sns, &a.topic_arn, &alert).await {
        // Give the period's alert back, so the next run sends it.
        let _ = deps
            .s3
            .delete_object()
            .bucket(bucket)
            .key(marker)
            .send()
            .await;
        return Err(HandlerError::from_sdk("SNS Publish (missed delivery)", &e));
    }
    Ok(true)
}
