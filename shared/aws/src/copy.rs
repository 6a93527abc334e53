//! Copying an object of any size within S3: CopyObject copies at most 5 GiB, so a larger
//! object is copied part by part (UploadPartCopy), every part conditional on the source's ETag,
//! and the upload aborted on any failure. validate-upload's quarantine and `lakeline replay`
//! share it.

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use aws_sdk_s3::config::http::HttpResponse;
use lakeline_core::Error;

use crate::{error_code, sdk_error};

/// CopyObject copies at most 5 GiB; above that a multipart copy is needed.
pub const COPY_OBJECT_MAX: u64 = 5 << 30;
/// Default part size of a multipart copy.
pub const DEFAULT_PART: u64 = 512 << 20;
/// S3's part-count limit.
const MAX_PARTS: u64 = 10_000;

/// The object copied, as it was judged.
pub struct Source<'a> {
    /// Bucket.
    pub bucket: &'a str,
    /// Key.
    pub key: &'a str,
    /// Version, on a versioned bucket.
    pub version_id: Option<&'a str>,
    /// The ETag every part is conditional on.
    pub etag: &'a str,
    /// Bytes.
    pub size: u64,
}

impl Source<'_> {
    /// `bucket/key[?versionId=…]`, the key URL-encoded (slashes kept), as S3's copy source.
    pub fn copy_source(&self) -> String {
        let mut s = format!(
            "{}/{}",
            self.bucket,
            lakeline_core::keys::encode_event_key(self.key)
        );
        if let Some(v) = self.version_id {
            s.push_str("?versionId=");
            s.push_str(v);
        }
        s
    }
}

/// Where it goes, and with what.
pub struct Target<'a> {
    /// Bucket.
    pub bucket: &'a str,
    /// Key.
    pub key: &'a str,
    /// User metadata.
    pub metadata: &'a [(&'a str, String)],
    /// Tags, URL-query encoded; none when `None`.
    pub tagging: Option<&'a str>,
    /// Content type.
    pub content_type: Option<&'a str>,
    /// Complete only when the key holds nothing (`If-None-Match: *`): never over a newer upload.
    pub only_if_absent: bool,
}

/// How a copy ended, when no call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    /// The target holds the source's bytes.
    Done,
    /// A condition failed, nothing is at the target: the source changed (`If-Match`) or the
    /// target holds an object (`If-None-Match`).
    PreconditionFailed,
}

fn precondition_failed<E>(e: &aws_sdk_s3::error::SdkError<E, HttpResponse>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    error_code(e).as_deref() == Some("PreconditionFailed")
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 412)
}

/// Copies `src` to `dst` in parts of at least `part_size` bytes (more when 10,000 parts would
/// not hold the object). Nothing is visible at `dst` unless every part was copied from the
/// source at its ETag; any failure, or a failed condition, aborts the upload.
pub async fn multipart_copy(
    s3: &aws_sdk_s3::Client,
    src: &Source<'_>,
    dst: &Target<'_>,
    part_size: u64,
) -> Result<Copied, Error> {
    let what = format!(
        "multipart copy of s3://{}/{} to s3://{}/{}",
        src.bucket, src.key, dst.bucket, dst.key
    );
    let mut create = s3
        .create_multipart_upload()
        .bucket(dst.bucket)
        .key(dst.key)
        .set_tagging(dst.tagging.map(str::to_string))
        .set_content_type(dst.content_type.map(str::to_string));
    for (k, v) in dst.metadata {
        create = create.metadata(*k, v);
    }
    let upload = create.send().await.map_err(|e| sdk_error(&what, &e))?;
    let upload_id = upload.upload_id().unwrap_or_default().to_string();
    let part = part_size.max(src.size.div_ceil(MAX_PARTS)).max(1);
    let result: Result<Copied, Error> = async {
        let mut parts = Vec::new();
        let mut start = 0u64;
        let mut number = 1i32;
        while start < src.size {
            let end = (start + part).min(src.size) - 1;
            let out = s3
                .upload_part_copy()
                .bucket(dst.bucket)
                .key(dst.key)
                .upload_id(&upload_id)
                .part_number(number)
                .copy_source(src.copy_source())
                .copy_source_if_match(src.etag)
                .copy_source_range(format!("bytes={start}-{end}"))
                .send()
                .await;
            let out = match out {
                Ok(out) => out,
                Err(e) if precondition_failed(&e) => return Ok(Copied::PreconditionFailed),
                Err(e) => return Err(sdk_error(&what, &e)),
            };
            let etag = out
                .copy_part_result()
                .and_then(|r| r.e_tag())
                .unwrap_or_default()
                .to_string();
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .build(),
            );
            start = end + 1;
            number += 1;
        }
        let mut complete = s3
            .complete_multipart_upload()
            .bucket(dst.bucket)
            .key(dst.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        if dst.only_if_absent {
            complete = complete.if_none_match("*");
        }
        match complete.send().await {
            Ok(_) => Ok(Copied::Done),
            Err(e) if precondition_failed(&e) => Ok(Copied::PreconditionFailed),
            Err(e) => Err(sdk_error(&what, &e)),
        }
    }
    .await;
    if !matches!(result, Ok(Copied::Done)) {
        // Best effort: an abandoned upload only costs storage, and the bucket's lifecycle rule
        // aborts incomplete uploads anyway.
        let _ = s3
            .abort_multipart_upload()
            .bucket(dst.bucket)
            .key(dst.key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    result
}
