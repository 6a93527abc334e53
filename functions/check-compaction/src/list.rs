//! S3 side of the check: partition discovery, paginated listing that folds each page into
//! [`PartitionStats`] (no object list is ever kept), bounded concurrency, and the marker.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use lakeline_core::compaction::plan::DataFile;
use lakeline_core::compaction::PartitionStats;
use tokio::task::JoinSet;

/// A failed listing.
pub type ListError = SdkError<ListObjectsV2Error, HttpResponse>;

/// Lists every object under `prefix` (all pages) and folds it into the partition's statistics.
/// Memory is one page at a time plus the constant-size stats.
pub async fn list_partition(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    page_size: i32,
    small_below: u64,
) -> Result<PartitionStats, ListError> {
    let mut stats = PartitionStats::default();
    each_object(s3, bucket, prefix, page_size, |o, name| {
        let size = u64::try_from(o.size().unwrap_or(0)).unwrap_or(0);
        stats.observe(name, size, o.last_modified().map(|t| t.secs()), small_below);
    })
    .await?;
    Ok(stats)
}

/// Calls `f` with every object under `prefix` and its name below the prefix, page by page:
/// memory is one page, whatever the partition holds.
async fn each_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    page_size: i32,
    mut f: impl FnMut(&aws_sdk_s3::types::Object, &str),
) -> Result<(), ListError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(page_size)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page?.contents() {
            let key = o.key().unwrap_or_default();
            f(o, key.strip_prefix(prefix).unwrap_or(key));
        }
    }
    Ok(())
}

/// The partitions directly under `curated_prefix` (its sub-folders, by `/` delimiter), names
/// without the prefix or trailing slash, sorted.
pub async fn discover_partitions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    curated_prefix: &str,
    page_size: i32,
) -> Result<Vec<String>, ListError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(curated_prefix)
        .delimiter("/")
        .max_keys(page_size)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        for cp in page?.common_prefixes() {
            let p = cp.prefix().unwrap_or_default();
            let name = p
                .strip_prefix(curated_prefix)
                .unwrap_or(p)
                .trim_end_matches('/');
            if !name.is_empty() {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lists many partitions, at most `concurrency` at a time; returns `(partition, stats)` in the
/// order given. `parts` are `(partition, partition prefix)` pairs.
pub async fn list_partitions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    parts: &[(String, String)],
    concurrency: usize,
    page_size: i32,
    small_below: u64,
) -> Result<Vec<(String, PartitionStats)>, ListError> {
    let mut results: Vec<Option<PartitionStats>> = vec![None; parts.len()];
    let mut set = JoinSet::new();
    let mut next = 0;
    // At most `concurrency` listings in flight: enough to hide S3 latency, bounded so a sweep
    // over thousands of partitions cannot open thousands of connections.
    while next < parts.len() || !set.is_empty() {
        while next < parts.len() && set.len() < concurrency.max(1) {
            let (s3, bucket, prefix) = (s3.clone(), bucket.to_string(), parts[next].1.clone());
            let i = next;
            set.spawn(async move {
                (
                    i,
                    list_partition(&s3, &bucket, &prefix, page_size, small_below).await,
                )
            });
            next += 1;
        }
        match set.join_next().await {
            Some(Ok((i, res))) => results[i] = Some(res?),
            // A panic in a listing is a bug: surface it rather than report a partial sweep.
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => {}
        }
    }
    Ok(parts
        .iter()
        .zip(results)
        .map(|((name, _), st)| (name.clone(), st.unwrap_or_default()))
        .collect())
}

/// The data files directly in one partition (side files such as markers and `_`/`.` names are
/// not data), with the ETags the compaction will read and delete them at.
pub async fn list_files(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    page_size: i32,
) -> Result<Vec<DataFile>, ListError> {
    let mut out = Vec::new();
    each_object(s3, bucket, prefix, page_size, |o, name| {
        if !name.contains('/') && lakeline_core::compaction::is_data_file(name) {
            out.push(DataFile {
                key: o.key().unwrap_or_default().to_string(),
                size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
            });
        }
    })
    .await?;
    Ok(out)
}
