//! Reading Parquet objects from S3 with ranged GETs: the footer, then each row group's column
//! chunks (of the projected columns only), every read conditional on the ETag the object was
//! judged at. Memory holds one row group's chunks, not the object.
//!
//! The writers downstream are synchronous (the `parquet` crate's `ArrowWriter` into a
//! [`super::upload::PartWriter`]), so [`Batches`] drives the async reader from a blocking
//! thread one batch at a time.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{
    AsyncFileReader, ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::describe;

/// One object exactly as it was judged.
#[derive(Debug, Clone)]
pub struct S3Object {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The ETag every read is conditional on.
    pub etag: Option<String>,
    /// The version read, on versioned buckets.
    pub version_id: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

impl S3Object {
    /// `s3://bucket/key`.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Ranged, conditional reads of one object for the parquet crate's async reader.
#[derive(Clone)]
pub struct S3File {
    s3: aws_sdk_s3::Client,
    obj: S3Object,
    replaced: Arc<AtomicBool>,
}

impl S3File {
    /// A reader of `obj`.
    pub fn new(s3: aws_sdk_s3::Client, obj: S3Object) -> S3File {
        S3File {
            s3,
            obj,
            replaced: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a read found the object replaced or deleted (a 412 or 404): its reads then
    /// failed, and the caller should say "superseded", not "corrupt".
    pub fn replaced(&self) -> bool {
        self.replaced.load(Ordering::Relaxed)
    }

    async fn range(&self, r: Range<u64>) -> parquet::errors::Result<Bytes> {
        if r.is_empty() {
            return Ok(Bytes::new());
        }
        let out = self
            .s3
            .get_object()
            .bucket(&self.obj.bucket)
            .key(&self.obj.key)
            .set_version_id(self.obj.version_id.clone())
            .set_if_match(self.obj.etag.clone())
            .range(format!("bytes={}-{}", r.start, r.end - 1))
            .send()
            .await
            .map_err(|e| {
                if super::is_gone(&e) {
                    self.replaced.store(true, Ordering::Relaxed);
                }
                ParquetError::External(
                    format!("GetObject {} range {r:?}: {}", self.obj.uri(), describe(&e)).into(),
                )
            })?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(body.into_bytes())
    }

    /// The object's footer metadata (two ranged reads at most).
    pub async fn metadata(&mut self) -> parquet::errors::Result<Arc<ParquetMetaData>> {
        self.get_metadata(None).await
    }
}

impl AsyncFileReader for S3File {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { self.range(range).await }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.obj.size;
            // The reader options' metadata and page-index policies, as parquet's own readers
            // apply them.
            let mut reader = ParquetMetaDataReader::new()
                .with_metadata_options(options.map(|o| o.metadata_options().clone()));
            if let Some(o) = options {
                reader = reader
                    .with_column_index_policy(o.column_index_policy())
                    .with_offset_index_policy(o.offset_index_policy());
            }
            let meta = reader.load_and_finish(&mut *self, size).await?;
            Ok(Arc::new(meta))
        }
        .boxed()
    }
}

/// Record batches of one object, read on demand from a blocking thread.
pub struct Batches {
    rt: tokio::runtime::Handle,
    stream: ParquetRecordBatchStream<S3File>,
}

impl Batches {
    /// Opens `file` (on the runtime `rt`, from a blocking thread), reading only `columns` (all
    /// when `None`), `batch_rows` rows at a time. `metadata`, when already read, saves the
    /// footer reads.
    pub fn open(
        rt: &tokio::runtime::Handle,
        file: S3File,
        columns: Option<&[&str]>,
        metadata: Option<Arc<ParquetMetaData>>,
        batch_rows: usize,
    ) -> parquet::errors::Result<Batches> {
        let builder = match metadata {
            Some(m) => {
                let meta = parquet::arrow::arrow_reader::ArrowReaderMetadata::try_new(
                    m,
                    ArrowReaderOptions::new(),
                )?;
                ParquetRecordBatchStreamBuilder::new_with_metadata(file, meta)
            }
            None => rt.block_on(ParquetRecordBatchStreamBuilder::new(file))?,
        };
        let mask = match columns {
            Some(cols) => ProjectionMask::columns(builder.parquet_schema(), cols.iter().copied()),
            None => ProjectionMask::all(),
        };
        let stream = builder
            .with_projection(mask)
            .with_batch_size(batch_rows)
            .build()?;
        Ok(Batches {
            rt: rt.clone(),
            stream,
        })
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt
            .block_on(self.stream.next())
            .map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}
