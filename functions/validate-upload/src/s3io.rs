//! S3 reads for validation: HEAD, the streaming GET bridged into the synchronous engine, the
//! two ranged GETs of a Parquet footer, and tag merging.

use std::sync::Arc;

use aws_sdk_s3::types::{Tag, Tagging};
use lakeline_aws as laws;
use lakeline_core::registry::{Format, Registry};
use lakeline_core::text;
use lakeline_core::validate::{self, Report};
use tokio_util::io::SyncIoBridge;

use crate::HandlerError;

/// The object being judged: exactly the upload the event announced.
#[derive(Debug, Clone)]
pub struct Object {
    /// Bucket.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// Version id, on versioned buckets.
    pub version_id: Option<String>,
    /// ETag without quotes; every read is conditional on it.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Content type, kept on the quarantined copy.
    pub content_type: Option<String>,
    /// Last-Modified (RFC 3339), part of the upload's identity ([`lakeline_core::keys::upload_identity`]).
    pub last_modified: Option<String>,
    /// The stored checksum, which the quarantine copy is checked against.
    pub checksum: Option<Checksum>,
    /// The ETag is not an MD5 of the bytes (SSE-KMS, DSSE-KMS, SSE-C).
    pub etag_not_md5: bool,
}

/// What HEAD told us.
#[derive(Debug, Clone)]
pub struct Head {
    /// ETag without quotes.
    pub etag: String,
    /// Size.
    pub size: u64,
    /// Content type.
    pub content_type: Option<String>,
    /// Last-Modified (RFC 3339).
    pub last_modified: Option<String>,
    /// The object's stored checksum, when S3 has one (all objects written since S3's default
    /// integrity protections have at least CRC64NVME).
    pub checksum: Option<Checksum>,
    /// SSE-KMS, DSSE-KMS or SSE-C: the ETag is then not the MD5 of the bytes.
    pub etag_not_md5: bool,
    /// User metadata (`x-amz-meta-…`), e.g. a replayed object's origin.
    pub metadata: std::collections::HashMap<String, String>,
}

/// A checksum as S3 stores it: algorithm (`CRC64NVME`, `CRC32`, `CRC32C`, `SHA1`, `SHA256`),
/// base64 value, and whether it covers the whole object (a multipart upload's composite
/// checksum is a checksum of part checksums, which a copy does not reproduce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// Algorithm name as S3 spells it.
    pub algorithm: &'static str,
    /// Base64 value.
    pub value: String,
    /// A full-object checksum (comparable across copies).
    pub full_object: bool,
}

impl Checksum {
    fn of(h: &aws_sdk_s3::operation::head_object::HeadObjectOutput) -> Option<Checksum> {
        let composite = h
            .checksum_type()
            .is_some_and(|t| *t == aws_sdk_s3::types::ChecksumType::Composite);
        [
            ("CRC64NVME", h.checksum_crc64_nvme()),
            ("SHA256", h.checksum_sha256()),
            ("CRC32C", h.checksum_crc32_c()),
            ("CRC32", h.checksum_crc32()),
            ("SHA1", h.checksum_sha1()),
        ]
        .into_iter()
        .find_map(|(algorithm, v)| {
            v.filter(|v| !v.is_empty()).map(|v| Checksum {
                algorithm,
                value: v.to_string(),
                // Composite values end in `-<parts>`.
                full_object: !composite && !v.contains('-'),
            })
        })
    }
}

/// HEAD; `None` when the object (version) does not exist.
pub async fn head(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Option<Head>, HandlerError> {
    match s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_string))
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
    {
        Ok(h) => Ok(Some(Head {
            checksum: Checksum::of(&h),
            etag_not_md5: h.sse_customer_algorithm().is_some()
                || h.server_side_encryption()
                    .is_some_and(|e| !matches!(e, aws_sdk_s3::types::ServerSideEncryption::Aes256)),
            etag: h.e_tag().unwrap_or_default().trim_matches('"').to_string(),
            size: h
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            content_type: h.content_type().map(str::to_string),
            metadata: h.metadata().cloned().unwrap_or_default(),
            last_modified: h
                .last_modified()
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(HandlerError::from_sdk(
            &format!("HeadObject s3://{bucket}/{key}"),
            &e,
        )),
    }
}

fn is_not_found<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    matches!(
        laws::error_code(e).as_deref(),
        Some("NoSuchKey" | "NotFound" | "NoSuchVersion")
    ) || e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}

fn is_precondition_failed<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    laws::error_code(e).as_deref() == Some("PreconditionFailed")
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 412)
}

/// A GET of the object, or of a byte range, conditional on the ETag. `Ok(None)` when the object
/// was replaced or deleted meanwhile.
async fn get(
    s3: &aws_sdk_s3::Client,
    obj: &Object,
    range: Option<(u64, u64)>,
) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>, HandlerError> {
    let req = s3
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .set_version_id(obj.version_id.clone())
        .if_match(&obj.etag)
        .set_range(range.map(|(a, b)| format!("bytes={a}-{b}")));
    match req.send().await {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_not_found(&e) || is_precondition_failed(&e) => Ok(None),
        Err(e) => Err(HandlerError::from_sdk(
            &format!("GetObject s3://{}/{}", obj.bucket, obj.key),
            &e,
        )),
    }
}

/// Validates the object's content. `Ok(None)`: the object changed under us (skip; its own event
/// follows).
pub async fn validate_object(
    s3: &aws_sdk_s3::Client,
    registry: &Arc<Registry>,
    name: &str,
    obj: &Object,
    max_problems: usize,
) -> Result<Option<Report>, HandlerError> {
    let (_, dataset) = registry.dataset(name).expect("routed dataset exists");
    if dataset.format == Format::Parquet {
        return validate_parquet(s3, name, dataset, obj, max_problems).await;
    }
    let Some(out) = get(s3, obj, None).await? else {
        return Ok(None);
    };
    // The engine is synchronous (one code path with the CLI); the bridge feeds it the body
    // stream chunk by chunk on a blocking thread, with the stream's own backpressure.
    let reader = SyncIoBridge::new(out.body.into_async_read());
    let registry = Arc::clone(registry);
    let (name, key) = (name.to_string(), obj.key.clone());
    let res = tokio::task::spawn_blocking(move || {
        let (_, dataset) = registry.dataset(&name).expect("routed dataset exists");
        validate::validate_stream(&name, dataset, &key, max_problems, reader)
    })
    .await
    .map_err(|e| HandlerError::Transient(format!("validation task failed: {e}")))?;
    res.map(Some).map_err(|e| {
        HandlerError::Transient(format!("reading s3://{}/{}: {e}", obj.bucket, obj.key))
    })
}

async fn validate_parquet(
    s3: &aws_sdk_s3::Client,
    name: &str,
    dataset: &lakeline_core::registry::Dataset,
    obj: &Object,
    max_problems: usize,
) -> Result<Option<Report>, HandlerError> {
    let tail_len = validate::PARQUET_TAIL_LEN.min(obj.size);
    let Some(tail) = read_range(s3, obj, obj.size - tail_len, tail_len).await? else {
        return Ok(None);
    };
    match validate::parquet_tail(name, dataset, &obj.key, obj.size, &tail) {
        validate::ParquetStep::Done(report) => Ok(Some(report)),
        validate::ParquetStep::NeedMetadata(footer, report) => {
            let Some(meta) =
                read_range(s3, obj, footer.metadata_start, footer.metadata_len).await?
            else {
                return Ok(None);
            };
            Ok(Some(validate::parquet_finish(
                report,
                &meta,
                dataset,
                max_problems,
            )))
        }
    }
}

async fn read_range(
    s3: &aws_sdk_s3::Client,
    obj: &Object,
    start: u64,
    len: u64,
) -> Result<Option<Vec<u8>>, HandlerError> {
    let Some(out) = get(s3, obj, Some((start, start + len - 1))).await? else {
        return Ok(None);
    };
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| {
            HandlerError::Transient(format!("reading s3://{}/{}: {e}", obj.bucket, obj.key))
        })?
        .into_bytes();
    Ok(Some(bytes.to_vec()))
}

/// S3 allows at most 10 tags per object.
const MAX_TAGS: usize = 10;

/// Adds lakeline's tags to the object's own, replacing only ours. Tags are informational: when
/// the object already carries too many to add ours, that is logged, not an error.
pub async fn merge_tags(
    s3: &aws_sdk_s3::Client,
    obj: &Object,
    ours: &[(&str, &str)],
) -> Result<(), HandlerError> {
    let what = format!("tagging s3://{}/{}", obj.bucket, obj.key);
    let existing = s3
        .get_object_tagging()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .set_version_id(obj.version_id.clone())
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk(&what, &e))?;
    let mut tags: Vec<Tag> = existing
        .tag_set()
        .iter()
        .filter(|t| !ours.iter().any(|(k, _)| *k == t.key()))
        .cloned()
        .collect();
    if tags.len() + ours.len() > MAX_TAGS {
        tracing::warn!(key = %obj.key, existing = tags.len(), "object has too many tags to add lakeline's; left as is");
        return Ok(());
    }
    for (k, v) in ours {
        let tag = Tag::builder()
            .key(*k)
            .value(text::truncate_bytes(v, 256))
            .build()
            .map_err(|e| HandlerError::Config(format!("{what}: {e}")))?;
        tags.push(tag);
    }
    let tagging = Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(|e| HandlerError::Config(format!("{what}: {e}")))?;
    s3.put_object_tagging()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .set_version_id(obj.version_id.clone())
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk(&what, &e))?;
    Ok(())
}

/// Deletes `key` only while its ETag is `etag`: gone already, or replaced by another object
/// (412), it is left as it is. Any other failure is the handler's error (a retry deletes it).
pub async fn delete_if_match(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<(), HandlerError> {
    match s3
        .delete_object()
        .bucket(bucket)
        .key(key)
        .if_match(etag)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) if laws::error_code(&e).as_deref() == Some("PreconditionFailed") => {
            tracing::warn!(%key, "not deleted: another object replaced it");
            Ok(())
        }
        Err(e) => Err(HandlerError::from_sdk(
            &format!("DeleteObject s3://{bucket}/{key}"),
            &e,
        )),
    }
}
