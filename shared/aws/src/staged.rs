//! Data files another engine staged in the lake bucket (a Spark run's output under
//! `_lakeline/staging/`): listing them, and streaming one into a table's location. The curate
//! function commits a Spark curation's files this way, the compact function a Spark rewrite's.

use lakeline_core::Error;

use crate::parquet::S3Object;
use crate::sdk_error;
use crate::upload::{self, Target};

/// The upload target of an `s3://bucket/key` location, `None` for any other scheme.
pub fn target_of(uri: &str) -> Option<Target> {
    let (bucket, key) = uri.strip_prefix("s3://")?.split_once('/')?;
    Some(Target {
        bucket: bucket.to_string(),
        key: key.to_string(),
        metadata: Vec::new(),
    })
}

/// The `.parquet` objects under `prefix` (all pages), in key order, each with its ETag: side
/// files (`_SUCCESS`, `.crc`) are not data.
pub async fn list_parquet(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<S3Object>, Error> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e))?;
        for o in page.contents() {
            let Some(key) = o.key().filter(|k| k.ends_with(".parquet")) else {
                continue;
            };
            out.push(S3Object {
                bucket: bucket.to_string(),
                key: key.to_string(),
                etag: o.e_tag().map(|e| e.trim_matches('"').to_string()),
                version_id: None,
                size: o.size().unwrap_or(0).max(0) as u64,
            });
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Streams `from` (at its listed ETag) into `to` by multipart upload, in bounded memory;
/// nothing appears at `to` unless the whole object was copied (a table bucket authorizes the
/// upload as `s3tables:PutTableData` on the table). Returns the bytes copied.
pub async fn stream_copy(
    s3: &aws_sdk_s3::Client,
    from: &S3Object,
    to: &Target,
) -> Result<u64, Error> {
    let body = s3
        .get_object()
        .bucket(&from.bucket)
        .key(&from.key)
        .set_if_match(from.etag.clone())
        .send()
        .await
        .map_err(|e| sdk_error(&format!("GetObject {}", from.uri()), &e))?
        .body;
    let (tx, uploader) = upload::start(s3.clone(), to.clone());
    let mut writer = upload::PartWriter::new(tx, upload::PART_SIZE);
    let copied = tokio::task::spawn_blocking(move || {
        let mut reader = tokio_util::io::SyncIoBridge::new(body.into_async_read());
        std::io::copy(&mut reader, &mut writer).map(|_| writer.into_tail())
    })
    .await
    .map_err(|e| Error::Output(format!("copy task of {} failed: {e}", from.uri())))?;
    let mut parts = uploader.await.map_err(|e| Error::Aws {
        transient: true,
        message: format!("upload task of s3://{}/{} failed: {e}", to.bucket, to.key),
    })?;
    let tail = match (copied, parts.error.take()) {
        (Ok(tail), None) => tail,
        (_, Some(e)) => {
            parts.abort(s3, to).await;
            return Err(e);
        }
        (Err(e), None) => {
            parts.abort(s3, to).await;
            return Err(Error::Aws {
                transient: true,
                message: format!("reading {}: {e}", from.uri()),
            });
        }
    };
    Ok(parts.commit(s3, to, tail).await?.bytes)
}
