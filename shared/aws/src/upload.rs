//! Uploading a Parquet object (curated or compacted) from a synchronous writer: a synchronous [`Write`] for the Parquet writer on a blocking
//! thread, whose full parts travel over a one-slot channel to an async task that uploads them
//! as they come. Memory holds at most the part being filled, one queued and one in flight.
//!
//! The multipart upload is created with the first full part; an output smaller than one part
//! is a single PutObject at commit. Either way the final key shows nothing until the commit
//! (CompleteMultipartUpload or PutObject), and every failure path aborts the upload, so no
//! partial object and no orphaned parts are left (the bucket's lifecycle rule that aborts
//! incomplete uploads after 7 days is the last resort for a killed invocation).

use std::io::{self, Write};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::{describe, sdk_error};
use lakeline_core::Error;

/// Part size: S3's minimum is 5 MiB (but for the last part); 8 MiB keeps memory low and gives
/// 10,000 parts × 8 MiB = 78 GiB of output, far above any file the Lambda engine takes.
pub const PART_SIZE: usize = 8 << 20;

/// The content type of curated objects.
pub const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// Where the object goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// User metadata (`x-amz-meta-*`).
    pub metadata: Vec<(String, String)>,
}

impl Target {
    fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// The writer's end of the part channel.
pub type PartSender = mpsc::Sender<Vec<u8>>;

/// The [`Write`] the Parquet writer writes into.
pub struct PartWriter {
    buf: Vec<u8>,
    part_size: usize,
    tx: PartSender,
}

impl PartWriter {
    /// A writer sending `part_size` parts to `tx`.
    pub fn new(tx: PartSender, part_size: usize) -> PartWriter {
        PartWriter {
            buf: Vec::with_capacity(part_size + (64 << 10)),
            part_size,
            tx,
        }
    }

    /// The bytes after the last full part: the last (short) part, or the whole object when it
    /// is smaller than one part. Closes the channel, so the uploader finishes.
    pub fn into_tail(self) -> Vec<u8> {
        self.buf
    }
}

impl Write for PartWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while self.buf.len() >= self.part_size {
            let rest = self.buf.split_off(self.part_size);
            let part = std::mem::replace(&mut self.buf, rest);
            self.buf.reserve(self.part_size);
            self.tx.blocking_send(part).map_err(|_| {
                io::Error::new(io::ErrorKind::BrokenPipe, "the part upload stopped")
            })?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the uploader did: the upload it created and the parts it sent, or why it stopped.
pub struct Parts {
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    bytes: u64,
    /// Why the uploader stopped early.
    pub error: Option<Error>,
}

/// What the commit wrote.
pub struct Written {
    /// Object size.
    pub bytes: u64,
    /// Its ETag.
    pub etag: String,
    /// Parts uploaded (0 for a single PutObject).
    pub parts: usize,
}

/// Starts the uploader; the sender goes to a [`PartWriter`].
pub fn start(s3: aws_sdk_s3::Client, target: Target) -> (PartSender, JoinHandle<Parts>) {
    let (tx, rx) = mpsc::channel(1);
    (tx, tokio::spawn(upload_parts(s3, target, rx)))
}

async fn upload_parts(
    s3: aws_sdk_s3::Client,
    target: Target,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> Parts {
    let mut p = Parts {
        upload_id: None,
        parts: Vec::new(),
        bytes: 0,
        error: None,
    };
    while let Some(part) = rx.recv().await {
        // A panic while sending a part (a bug, in the SDK or here) must not lose the upload id
        // with the task: it is caught, so the caller still aborts the upload.
        let sent = std::panic::AssertUnwindSafe(p.send(&s3, &target, part))
            .catch_unwind()
            .await;
        let failed = match sent {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                Error::Aws {
                    transient: true,
                    message: format!(
                        "uploading a part of {}: the uploader panicked ({why}); the upload is aborted",
                        target.uri()
                    ),
                }
            }
        };
        p.error = Some(failed);
        // Dropping the receiver fails the writer's next send: the conversion stops.
        break;
    }
    p
}

impl Parts {
    async fn create(&mut self, s3: &aws_sdk_s3::Client, t: &Target) -> Result<String, Error> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let mut req = s3
            .create_multipart_upload()
            .bucket(&t.bucket)
            .key(&t.key)
            .content_type(PARQUET_CONTENT_TYPE);
        for (k, v) in &t.metadata {
            req = req.metadata(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| sdk_error(&format!("CreateMultipartUpload {}", t.uri()), &e))?;
        let id = out.upload_id.unwrap_or_default();
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn send(
        &mut self,
        s3: &aws_sdk_s3::Client,
        t: &Target,
        part: Vec<u8>,
    ) -> Result<(), Error> {
        let id = self.create(s3, t).await?;
        let n = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let len = part.len() as u64;
        let out = s3
            .upload_part()
            .bucket(&t.bucket)
            .key(&t.key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("UploadPart {n} of {}", t.uri()), &e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag)
                .set_checksum_crc32(out.checksum_crc32)
                .set_checksum_crc32_c(out.checksum_crc32_c)
                .set_checksum_crc64_nvme(out.checksum_crc64_nvme)
                .set_checksum_sha1(out.checksum_sha1)
                .set_checksum_sha256(out.checksum_sha256)
                .build(),
        );
        self.bytes += len;
        Ok(())
    }

    /// Makes the object appear: the tail as the last part and CompleteMultipartUpload, or one
    /// PutObject when no part was sent. Aborts the upload if that fails.
    pub async fn commit(
        mut self,
        s3: &aws_sdk_s3::Client,
        t: &Target,
        tail: Vec<u8>,
    ) -> Result<Written, Error> {
        if self.upload_id.is_none() {
            let bytes = tail.len() as u64;
            let mut req = s3
                .put_object()
                .bucket(&t.bucket)
                .key(&t.key)
                .content_type(PARQUET_CONTENT_TYPE)
                .body(ByteStream::from(tail));
            for (k, v) in &t.metadata {
                req = req.metadata(k, v);
            }
            let out = req
                .send()
                .await
                .map_err(|e| sdk_error(&format!("PutObject {}", t.uri()), &e))?;
            return Ok(Written {
                bytes,
                etag: out.e_tag.unwrap_or_default().trim_matches('"').to_string(),
                parts: 0,
            });
        }
        let res = self.complete(s3, t, tail).await;
        if res.is_err() {
            self.abort(s3, t).await;
        }
        res
    }

    async fn complete(
        &mut self,
        s3: &aws_sdk_s3::Client,
        t: &Target,
        tail: Vec<u8>,
    ) -> Result<Written, Error> {
        if !tail.is_empty() {
            self.send(s3, t, tail).await?;
        }
        let id = self.upload_id.clone().unwrap_or_default();
        let out = s3
            .complete_multipart_upload()
            .bucket(&t.bucket)
            .key(&t.key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error(&format!("CompleteMultipartUpload {}", t.uri()), &e))?;
        Ok(Written {
            bytes: self.bytes,
            etag: out.e_tag.unwrap_or_default().trim_matches('"').to_string(),
            parts: self.parts.len(),
        })
    }

    /// Aborts the multipart upload, if one was created. A failed abort is logged: the bucket's
    /// lifecycle rule removes the parts later, and the final key never showed anything.
    pub async fn abort(&self, s3: &aws_sdk_s3::Client, t: &Target) {
        let Some(id) = &self.upload_id else { return };
        if let Err(e) = s3
            .abort_multipart_upload()
            .bucket(&t.bucket)
            .key(&t.key)
            .upload_id(id)
            .send()
            .await
        {
            warn!(target = %t.uri(), upload_id = %id, error = %describe(&e), "abort of the multipart upload failed; the lifecycle rule removes its parts");
        }
    }
}
