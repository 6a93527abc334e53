//! Parquet inputs: read from S3 by [`lakeline_aws::parquet`] (ranged, conditional reads of
//! the declared columns only) and re-written to the declared schema by
//! [`lakeline_core::curate::curate_batches`].

use std::sync::Arc;
use std::time::Instant;

use lakeline_aws::parquet::{Batches, S3File};
use lakeline_aws::upload::PartWriter;
use lakeline_core::curate::{self, Provenance, TableShape};
use lakeline_core::registry::Registry;

use crate::{Converted, CurateError, Source};

/// Converts a Parquet object on a blocking thread that drives the async reader.
#[allow(clippy::too_many_arguments)] // one conversion's settings, moved to a blocking thread
pub(crate) async fn convert(
    s3: aws_sdk_s3::Client,
    registry: Arc<Registry>,
    name: String,
    src: Source,
    prov: Provenance,
    shape: Option<TableShape>,
    writer: PartWriter,
    stop_at: Option<Instant>,
    max_row_group_bytes: u64,
) -> Result<Converted, CurateError> {
    let shown = src.uri();
    let size = src.size;
    let mut file = S3File::new(s3, src.clone());
    let probe = file.clone();
    let meta = file
        .metadata()
        .await
        .map_err(|e| CurateError::Transient(format!("{shown}: reading the Parquet footer: {e}")))?;
    {
        let (_, ds) = registry.dataset(&name).expect("looked up by the handler");
        let declared: Vec<&str> = ds.columns.iter().map(|c| c.name.as_str()).collect();
        if let Some(why) = curate::input::row_group_too_large(&meta, &declared, max_row_group_bytes)
        {
            return Err(CurateError::TooLarge(format!("{shown}: {why}")));
        }
    }
    let rt = tokio::runtime::Handle::current();
    let key = src.key.clone();
    let res = tokio::task::spawn_blocking(move || {
        let (_, ds) = registry.dataset(&name).expect("looked up by the handler");
        let columns: Vec<&str> = ds.columns.iter().map(|c| c.name.as_str()).collect();
        let rows = curate::input::batch_rows(&meta, &columns);
        let mut batches = Batches::open(&rt, file, Some(&columns), Some(meta), rows)
            .map_err(|e| lakeline_core::Error::Input(format!("reading the Parquet footer: {e}")))?;
        let mut timed_out = false;
        let limited = std::iter::from_fn(|| {
            if stop_at.is_some_and(|t| Instant::now() >= t) {
                timed_out = true;
                return None;
            }
            batches.next()
        });
        let res =
            curate::curate_batches_as(&name, ds, &key, limited, writer, &prov, shape.as_ref());
        if timed_out {
            return Ok(None);
        }
        res.map(|(c, w)| Some((c, w.into_tail())))
    })
    .await
    .map_err(|e| CurateError::Failed(format!("conversion task failed: {e}")))?;
    if probe.replaced() {
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
