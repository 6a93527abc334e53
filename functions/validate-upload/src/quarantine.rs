//! Moving a rejected object to quarantine without ever losing it, and alerting a human.
//!
//! Order: copy (conditional on the source ETag) → verify the copy → delete the original
//! (conditional on its ETag) → publish the alert → mark the alert sent on the copy. A crash
//! anywhere before the delete leaves the original in raw (the retry redoes everything); a crash
//! after it leaves the copy tagged `lakeline:alert=pending`, which the retry finds (the original
//! is gone by then) and finishes.

use std::collections::HashMap;

use aws_sdk_s3::types::{MetadataDirective, TaggingDirective};
use lakeline_aws as laws;
use lakeline_core::alert::{rejection_alert, report_reasons, Alert, Rejection};
use lakeline_core::validate::Report;
use lakeline_core::{keys, text};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::s3io::{self, Object};
use crate::{Deps, HandlerError, Outcome};

const TAG_STATUS: &str = "lakeline:status";
const TAG_REASON: &str = "lakeline:reason";
const TAG_ALERT: &str = "lakeline:alert";
const META_REASON: &str = "lakeline-reason";
const META_DATASET: &str = "lakeline-dataset";
const META_PARTITION: &str = "lakeline-partition";
/// The ETag of the upload a quarantined copy came from: tells a retry of the same upload
/// (reuse the key) from a new bad upload of the same key (must not overwrite it).
const META_SOURCE_ETAG: &str = "lakeline-source-etag";

fn tag_query(tags: &[(&str, &str)]) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Quarantines `obj` for the reasons in `report`, then alerts.
pub async fn quarantine(
    deps: &Deps,
    obj: &Object,
    report: Report,
    partition: Option<&str>,
) -> Result<Outcome, HandlerError> {
    let qkey = target_key(deps, obj).await?;
    let reason = report
        .reason_code()
        .map_or("invalid", |c| c.as_str())
        .to_string();
    let summary = report.summary(1200);
    let meta = [
        (META_REASON, text::header_safe(&summary, 1200)),
        (META_DATASET, text::header_safe(&report.dataset, 64)),
        (
            META_PARTITION,
            text::header_safe(partition.unwrap_or("-"), 128),
        ),
        (META_SOURCE_ETAG, text::header_safe(&obj.etag, 64)),
    ];
    let tags = tag_query(&[
        (TAG_STATUS, "quarantined"),
        (TAG_REASON, &reason),
        (TAG_ALERT, "pending"),
    ]);

    let multipart = obj.size > deps.config.multipart_copy_threshold;
    if multipart {
        multipart_copy(deps, obj, &qkey, &meta, &tags).await?;
    } else {
        copy(deps, obj, &qkey, &meta, &tags).await?;
    }
    verify_copy(deps, obj, &qkey, multipart).await?;

    let mut del = deps.s3.delete_object().bucket(&obj.bucket).key(&obj.key);
    del = match &obj.version_id {
        Some(v) => del.version_id(v),
        // Only delete what we copied: a newer upload of the same key stays for its own event.
        None => del.if_match(&obj.etag),
    };
    match del.send().await {
        Ok(_) => {}
        Err(e) if laws::error_code(&e).as_deref() == Some("PreconditionFailed") => {
            tracing::warn!(key = %obj.key, "a newer upload replaced the object during quarantine; it stays in raw for its own event");
        }
        Err(e) => {
            return Err(HandlerError::from_sdk(
                &format!("DeleteObject s3://{}/{}", obj.bucket, obj.key),
                &e,
            ))
        }
    }

    let alert = rejection_alert(Rejection {
        dataset: &report.dataset,
        bucket: &obj.bucket,
        key: &obj.key,
        partition,
        reason_code: &reason,
        reasons: report_reasons(&report),
        quarantine_key: &qkey,
        region: &deps.config.region,
    });
    let message_id = publish(deps, &alert).await?;
    mark_alert_sent(deps, &obj.bucket, &qkey, &reason).await?;
    Ok(Outcome::Quarantined {
        key: obj.key.clone(),
        dataset: report.dataset.clone(),
        quarantine_key: qkey,
        reason,
        report: Box::new(report),
        alert_message_id: message_id,
        withdrawn_by: None,
    })
}

/// The user metadata of an object, `None` when it does not exist.
async fn metadata(
    deps: &Deps,
    bucket: &str,
    key: &str,
) -> Result<Option<HashMap<String, String>>, HandlerError> {
    match deps.s3.head_object().bucket(bucket).key(key).send().await {
        Ok(h) => Ok(Some(h.metadata().cloned().unwrap_or_default())),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(HandlerError::from_sdk(
            &format!("HeadObject s3://{bucket}/{key}"),
            &e,
        )),
    }
}

/// The quarantine key for this upload: `quarantine/<key>`, unless that already holds another
/// rejected upload of the same key, which must not be overwritten.
async fn target_key(deps: &Deps, obj: &Object) -> Result<String, HandlerError> {
    let prefix = &deps.registry.lake.quarantine_prefix;
    let base = keys::quarantine_key(prefix, &obj.key);
    match metadata(deps, &obj.bucket, &base).await? {
        Some(m)
            if !m
                .get(META_SOURCE_ETAG)
                .is_some_and(|e| same_etag(e, &obj.etag)) =>
        {
            Ok(keys::quarantine_key_for_upload(prefix, &obj.key, &obj.etag))
        }
        _ => Ok(base),
    }
}

async fn copy(
    deps: &Deps,
    obj: &Object,
    qkey: &str,
    meta: &[(&str, String)],
    tags: &str,
) -> Result<(), HandlerError> {
    let mut req = deps
        .s3
        .copy_object()
        .bucket(&obj.bucket)
        .key(qkey)
        .copy_source(source(obj).copy_source())
        .copy_source_if_match(&obj.etag)
        .metadata_directive(MetadataDirective::Replace)
        .tagging_directive(TaggingDirective::Replace)
        .tagging(tags)
        // S3 computes the copy's checksum with the original's algorithm, so the two compare.
        .set_checksum_algorithm(
            obj.checksum
                .as_ref()
                .filter(|c| c.full_object)
                .map(|c| aws_sdk_s3::types::ChecksumAlgorithm::from(c.algorithm)),
        )
        .set_content_type(obj.content_type.clone());
    for (k, v) in meta {
        req = req.metadata(*k, v);
    }
    req.send().await.map_err(|e| {
        HandlerError::from_sdk(
            &format!("CopyObject s3://{}/{} to {qkey}", obj.bucket, obj.key),
            &e,
        )
    })?;
    Ok(())
}

async fn multipart_copy(
    deps: &Deps,
    obj: &Object,
    qkey: &str,
    meta: &[(&str, String)],
    tags: &str,
) -> Result<(), HandlerError> {
    let target = laws::copy::Target {
        bucket: &obj.bucket,
        key: qkey,
        metadata: meta,
        tagging: Some(tags),
        content_type: obj.content_type.as_deref(),
        only_if_absent: false,
    };
    match laws::copy::multipart_copy(&deps.s3, &source(obj), &target, deps.config.copy_part_size)
        .await
    {
        Ok(laws::copy::Copied::Done) => Ok(()),
        Ok(laws::copy::Copied::PreconditionFailed) => Err(HandlerError::Config(format!(
            "multipart copy of s3://{}/{} to {qkey}: the object changed (ETag {}) while it was copied; the original stays in raw/",
            obj.bucket, obj.key, obj.etag
        ))),
        Err(lakeline_core::Error::Aws { transient: true, message }) => {
            Err(HandlerError::Transient(message))
        }
        Err(e) => Err(HandlerError::Config(e.to_string())),
    }
}

/// The object as the copy's source: at its version (when known), conditional on its ETag.
fn source(obj: &Object) -> laws::copy::Source<'_> {
    laws::copy::Source {
        bucket: &obj.bucket,
        key: &obj.key,
        version_id: obj.version_id.as_deref(),
        etag: &obj.etag,
        size: obj.size,
    }
}

/// How a quarantine copy was shown to hold the original's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
    /// Equal full-object checksums (S3 computed the copy's as it wrote it).
    Checksum,
    /// Equal ETags: both are MD5s of the bytes (single part, not KMS or SSE-C).
    ETag,
    /// Only the size could be compared (no stored checksum, and an ETag that is not an MD5:
    /// SSE-KMS, or a multipart object). The copy was conditional on the validated ETag, so it
    /// is of the object that was judged.
    Size,
}

/// Whether the copy `dst` holds the bytes of `src`; the error says what differs.
///
/// ETags are not MD5s under SSE-KMS or SSE-C, or for multipart objects, so comparing them
/// would refuse every such copy (and the upload would never leave raw/); checksums are
/// comparable whatever the encryption.
pub(crate) fn verify(src: &Object, dst: &s3io::Head, multipart: bool) -> Result<Verified, String> {
    if src.size != dst.size {
        return Err(format!("size {} vs {}", dst.size, src.size));
    }
    if let (Some(a), Some(b)) = (&src.checksum, &dst.checksum) {
        if a.full_object && b.full_object && a.algorithm == b.algorithm {
            return if a.value == b.value {
                Ok(Verified::Checksum)
            } else {
                Err(format!("{} {} vs {}", a.algorithm, b.value, a.value))
            };
        }
    }
    let md5s = !multipart && !src.etag.contains('-') && !src.etag_not_md5 && !dst.etag_not_md5;
    if md5s {
        return if src.etag == dst.etag {
            Ok(Verified::ETag)
        } else {
            Err(format!("ETag {} vs {}", dst.etag, src.etag))
        };
    }
    Ok(Verified::Size)
}

/// The copy must exist and hold the original's bytes ([`verify`]).
async fn verify_copy(
    deps: &Deps,
    obj: &Object,
    qkey: &str,
    multipart: bool,
) -> Result<(), HandlerError> {
    let head = s3io::head(&deps.s3, &obj.bucket, qkey, None).await?;
    let Some(h) = head else {
        return Err(HandlerError::Transient(format!(
            "quarantine copy s3://{}/{qkey} is not visible after the copy; original kept",
            obj.bucket
        )));
    };
    match verify(obj, &h, multipart) {
        Ok(how) => {
            tracing::info!(quarantine_key = %qkey, verified_by = ?how, "quarantine copy verified");
            Ok(())
        }
        Err(diff) => Err(HandlerError::Transient(format!(
            "quarantine copy s3://{}/{qkey} does not match the original ({diff}); original kept",
            obj.bucket
        ))),
    }
}

async fn publish(deps: &Deps, alert: &Alert) -> Result<String, HandlerError> {
    laws::publish_alert(&deps.sns, &deps.config.topic_arn, alert)
        .await
        .map_err(|e| HandlerError::from_sdk("SNS Publish", &e))
}

async fn mark_alert_sent(
    deps: &Deps,
    bucket: &str,
    qkey: &str,
    reason: &str,
) -> Result<(), HandlerError> {
    let q = Object {
        bucket: bucket.to_string(),
        key: qkey.to_string(),
        version_id: None,
        etag: String::new(),
        size: 0,
        content_type: None,
        last_modified: None,
        checksum: None,
        etag_not_md5: false,
    };
    s3io::merge_tags(
        &deps.s3,
        &q,
        &[
            (TAG_STATUS, "quarantined"),
            (TAG_REASON, reason),
            (TAG_ALERT, "sent"),
        ],
    )
    .await
}

/// The original is gone: if an earlier attempt quarantined it but died before alerting, send
/// that alert now (rebuilt from the copy's metadata). Returns the SNS message id if it did.
///
/// Only this upload's copy counts: with `etag` known, a copy recording another source ETag
/// (an earlier rejected upload of the same key) is left for that upload's own retry, so one
/// upload's retry never sends another's alert and leaves its own pending.
pub async fn resume_pending_alert(
    deps: &Deps,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
) -> Result<Option<String>, HandlerError> {
    let prefix = &deps.registry.lake.quarantine_prefix;
    let mut candidates: Vec<String> = etag
        .map(|e| keys::quarantine_key_for_upload(prefix, key, e))
        .into_iter()
        .collect();
    candidates.push(keys::quarantine_key(prefix, key));
    for qkey in candidates {
        if let Some(id) = resume_one(deps, bucket, key, &qkey, etag).await? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Whether two ETags name the same object version: S3 quotes them in headers, not in events.
fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

async fn resume_one(
    deps: &Deps,
    bucket: &str,
    key: &str,
    qkey: &str,
    etag: Option<&str>,
) -> Result<Option<String>, HandlerError> {
    let what = format!("checking s3://{bucket}/{qkey}");
    let tags = match deps
        .s3
        .get_object_tagging()
        .bucket(bucket)
        .key(qkey)
        .send()
        .await
    {
        Ok(t) => t,
        Err(e)
            if matches!(
                laws::error_code(&e).as_deref(),
                Some("NoSuchKey" | "NotFound")
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(HandlerError::from_sdk(&what, &e)),
    };
    let tag = |k: &str| {
        tags.tag_set()
            .iter()
            .find(|t| t.key() == k)
            .map(|t| t.value().to_string())
    };
    if tag(TAG_ALERT).as_deref() != Some("pending") {
        return Ok(None);
    }
    let Some(meta) = metadata(deps, bucket, qkey).await? else {
        return Ok(None);
    };
    if let (Some(want), Some(got)) = (etag, meta.get(META_SOURCE_ETAG)) {
        if !same_etag(want, got) {
            return Ok(None);
        }
    }
    let reason = tag(TAG_REASON).unwrap_or_else(|| "invalid".into());
    let alert = rejection_alert(Rejection {
        dataset: meta.get(META_DATASET).map_or("-", String::as_str),
        bucket,
        key,
        partition: meta.get(META_PARTITION).map(String::as_str),
        reason_code: &reason,
        reasons: vec![meta
            .get(META_REASON)
            .cloned()
            .unwrap_or_else(|| "see the quarantined object's metadata".into())],
        quarantine_key: qkey,
        region: &deps.config.region,
    });
    let id = publish(deps, &alert).await?;
    mark_alert_sent(deps, bucket, qkey, &reason).await?;
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3io::{Checksum, Head};

    fn sum(algorithm: &'static str, value: &str) -> Option<Checksum> {
        Some(Checksum {
            algorithm,
            value: value.into(),
            full_object: !value.contains('-'),
        })
    }

    fn obj(etag: &str, checksum: Option<Checksum>, kms: bool) -> Object {
        Object {
            bucket: "lake".into(),
            key: "raw/a.csv".into(),
            version_id: None,
            etag: etag.into(),
            size: 10,
            content_type: None,
            last_modified: None,
            checksum,
            etag_not_md5: kms,
        }
    }

    fn head(size: u64, etag: &str, checksum: Option<Checksum>, kms: bool) -> Head {
        Head {
            metadata: Default::default(),
            etag: etag.into(),
            size,
            content_type: None,
            last_modified: None,
            checksum,
            etag_not_md5: kms,
        }
    }

    /// (source, copy, multipart, verdict): SSE-KMS copies have other ETags and must still pass.
    #[test]
    fn copies_are_verified_by_checksum_then_md5_etag_then_size() {
        use Verified::*;
        let c = || sum("CRC64NVME", "AAAA");
        let cases: Vec<(Object, Head, bool, Result<Verified, &str>)> = vec![
            (
                obj("e1", c(), true),
                head(10, "e2", c(), true),
                false,
                Ok(Checksum),
            ),
            (
                obj("e1", c(), false),
                head(10, "e1", sum("CRC64NVME", "BBBB"), false),
                false,
                Err("CRC64NVME"),
            ),
            (
                obj("e1", None, true),
                head(10, "e2", None, true),
                false,
                Ok(Size),
            ),
            (
                obj("e1", None, false),
                head(10, "e1", None, false),
                false,
                Ok(ETag),
            ),
            (
                obj("e1", None, false),
                head(10, "e2", None, false),
                false,
                Err("ETag"),
            ),
            (
                obj("e1-3", None, false),
                head(10, "e9", None, false),
                true,
                Ok(Size),
            ),
            (
                obj("e1", c(), false),
                head(9, "e1", c(), false),
                false,
                Err("size"),
            ),
            // A composite checksum (multipart source) does not compare with the copy's.
            (
                obj("e1-3", sum("CRC32", "AAAA-3"), false),
                head(10, "e9", sum("CRC32", "CCCC"), false),
                true,
                Ok(Size),
            ),
            // Different algorithms: fall back to the ETag, which under KMS says nothing.
            (
                obj("e1", sum("SHA256", "x"), true),
                head(10, "e2", sum("CRC32", "y"), true),
                false,
                Ok(Size),
            ),
        ];
        for (i, (src, dst, multipart, want)) in cases.into_iter().enumerate() {
            let got = verify(&src, &dst, multipart);
            match want {
                Ok(v) => assert_eq!(got, Ok(v), "case {i}"),
                Err(fragment) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(fragment)),
                    "case {i}: {got:?}"
                ),
            }
        }
    }
}
