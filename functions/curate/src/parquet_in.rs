//! Parquet inputs: read from S3 with ranged GETs (the footer, then each row group's column
//! chunks of the declared columns only), conditional on the validated ETag, and re-written to
//! the declared schema by [`lakeline::curate::curate_batches`]. Memory holds one row group's
//! chunks of the declared columns, not the file.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_schema::ArrowError;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use lakeline::curate::{self, Provenance};
use lakeline::registry::Registry;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::upload::PartWriter;
use crate::{Converted, CurateError, Source};

/// Ranged, conditional reads of one S3 object.
struct S3File {
    s3: aws_sdk_s3::Client,
    src: Source,
    /// Set when a read found the object replaced: the caller reports SUPERSEDED.
    replaced: Arc<AtomicBool>,
}

impl S3File {
    async fn range(&self, r: Range<u64>) -> parquet::errors::Result<Bytes> {
        if r.is_empty() {
            return Ok(Bytes::new());
        }
        let out = self
            .s3
            .get_object()
            .bucket(&self.src.bucket)
            .key(&self.src.key)
            .set_version_id(self.src.version_id.clone())
            .set_if_match(self.src.etag.clone())
            .range(format!("bytes={}-{}", r.start, r.end - 1))
            .send()
            .await
            .map_err(|e| {
                if crate::upload::is_gone(&e) {
                    self.replaced.store(true, Ordering::Relaxed);
                }
                ParquetError::External(
                    format!("GetObject range {r:?}: {}", lakeline::aws::describe(&e)).into(),
                )
            })?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(body.into_bytes())
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
            let size = self.src.size;
            let meta = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(meta))
        }
        .boxed()
    }
}

/// Converts a Parquet object. Runs the synchronous writer on a blocking thread that drives the
/// async reader one batch at a time.
pub(crate) async fn convert(
    s3: aws_sdk_s3::Client,
    registry: Arc<Registry>,
    name: String,
    src: Source,
    prov: Provenance,
    writer: PartWriter,
    stop_at: Option<Instant>,
) -> Result<Converted, CurateError> {
    let replaced = Arc::new(AtomicBool::new(false));
    let shown = format!("s3://{}/{}", src.bucket, src.key);
    let size = src.size;
    let file = S3File {
        s3,
        src: src.clone(),
        replaced: Arc::clone(&replaced),
    };
    let rt = tokio::runtime::Handle::current();
    let key = src.key.clone();
    let res = tokio::task::spawn_blocking(move || {
        let (_, ds) = registry.dataset(&name).expect("looked up by the handler");
        let builder = rt
            .block_on(ParquetRecordBatchStreamBuilder::new(file))
            .map_err(|e| lakeline::Error::Input(format!("reading the Parquet footer: {e}")))?;
        let wanted = ds.columns.iter().map(|c| c.name.as_str());
        let mask = ProjectionMask::columns(builder.parquet_schema(), wanted);
        let mut stream = builder
            .with_projection(mask)
            .with_batch_size(curate::BATCH_ROWS)
            .build()
            .map_err(|e| lakeline::Error::Input(format!("reading Parquet: {e}")))?;
        let mut timed_out = false;
        let batches = std::iter::from_fn(|| {
            if stop_at.is_some_and(|t| Instant::now() >= t) {
                timed_out = true;
                return None;
            }
            rt.block_on(stream.next())
                .map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
        });
        let res = curate::curate_batches(&name, ds, &key, batches, writer, &prov);
        if timed_out {
            return Ok(None);
        }
        res.map(|(c, w)| Some((c, w.into_tail())))
    })
    .await
    .map_err(|e| CurateError::Failed(format!("conversion task failed: {e}")))?;
    if replaced.load(Ordering::Relaxed) {
        return Ok(Converted::Superseded(
            "the object was replaced or deleted while it was read".into(),
        ));
    }
    match res {
        Ok(Some((c, tail))) => Ok(Converted::Done(c, tail)),
        Ok(None) => Err(crate::too_slow(&shown, size)),
        Err(e) => Err(CurateError::from_lib(e, &format!("curating {shown}"))),
    }
}
