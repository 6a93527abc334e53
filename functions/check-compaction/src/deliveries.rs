//! The scheduled delivery check (`{"action": "deliveries"}`): for every dataset that declares
//! `expect:`, is the file due by "now" there? A missed period gets one alert (a marker object
//! `_lakeline/sla/<dataset>/<period>`, created pending with `If-None-Match: *`, decides which
//! run sends it, and is marked sent once it went out; one left pending by a crash is taken over
//! later: [`lakeline_core::sla::resend`]), one `MissedDeliveries` metric, and nothing more
//! however often the check runs.
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
            now,
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

/// Publishes `alert` unless this period's marker says it went out; true when this run sent it.
///
/// The marker is created first (`If-None-Match: *`), *pending*, so two overlapping runs send
/// one alert; once published it is marked *sent*. If publishing fails the marker is deleted
/// again, so the next run sends it. A run that crashes between the two leaves it pending: a run
/// [`sla::PENDING_STALE_SECONDS`] later takes it over (`If-Match` on the pending marker, so one
/// run does) and sends the alert. The alert may then go out twice (a crash after the publish,
/// before the marking), never not at all.
async fn alert_once(
    deps: &Deps,
    bucket: &str,
    marker: &str,
    alert: lakeline_core::alert::Alert,
    now: i64,
) -> Result<bool, HandlerError> {
    let Some(a) = &deps.alerts else {
        return Err(HandlerError::Config(
            "ALERT_TOPIC_ARN is not set: check-compaction cannot send delivery alerts".into(),
        ));
    };
    let body = sla::MarkerBody::pending(&alert, now);
    let claimed = match put_marker(deps, bucket, marker, &body, Claim::New).await? {
        Some(etag) => etag,
        None => {
            // The period is claimed: by a run that sent its alert, one still sending it, or one
            // that crashed before it did (pending for too long): then this run sends it.
            let Some((held, etag)) =
                crate::get_with_etag(&deps.s3, bucket, marker, "delivery marker").await?
            else {
                return Ok(false);
            };
            if !sla::resend(&held, now) {
                return Ok(false);
            }
            info!(%marker, "delivery marker left pending by a run that did not finish: sending its alert");
            match put_marker(deps, bucket, marker, &body, Claim::TakeOver(&etag)).await? {
                Some(etag) => etag,
                None => return Ok(false), // another run took it over first
            }
        }
    };
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
    if let Err(e) = put_marker(
        deps,
        bucket,
        marker,
        &body.sent(),
        Claim::TakeOver(&claimed),
    )
    .await
    {
        // Sent, but still pending: a later run may send it once more, which beats losing it.
        tracing::warn!(%marker, error = %e, "delivery alert sent; marking its marker sent failed");
    }
    Ok(true)
}

/// How a marker is written.
enum Claim<'a> {
    /// Only if there is none (`If-None-Match: *`).
    New,
    /// Only over the marker with this ETag (`If-Match`).
    TakeOver(&'a str),
}

/// Writes `body` to the marker; its new ETag, or `None` when the condition failed.
async fn put_marker(
    deps: &Deps,
    bucket: &str,
    marker: &str,
    body: &sla::MarkerBody,
    claim: Claim<'_>,
) -> Result<Option<String>, HandlerError> {
    let mut put = deps
        .s3
        .put_object()
        .bucket(bucket)
        .key(marker)
        .content_type("application/json")
        .body(serde_json::to_vec(body).unwrap_or_default().into());
    put = match claim {
        Claim::New => put.if_none_match("*"),
        Claim::TakeOver(etag) => put.if_match(etag),
    };
    match put.send().await {
        Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_string())),
        Err(e)
            if e.raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 404 | 409 | 412)) =>
        {
            Ok(None)
        }
        Err(e) => Err(HandlerError::from_sdk("PutObject (delivery marker)", &e)),
    }
}
