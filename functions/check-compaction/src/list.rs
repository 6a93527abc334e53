//! The one listing the function makes: the date folders of a dataset's raw prefix, for the
//! delivery check.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;

/// A failed listing.
pub type ListError = SdkError<ListObjectsV2Error, HttpResponse>;

/// The folders directly under `prefix` (a raw prefix, by `/` delimiter), names without the prefix or
/// trailing slash, sorted.
pub async fn discover_partitions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    page_size: i32,
) -> Result<Vec<String>, ListError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .max_keys(page_size)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        for cp in page?.common_prefixes() {
            let p = cp.prefix().unwrap_or_default();
            let name = p.strip_prefix(prefix).unwrap_or(p).trim_end_matches('/');
            if !name.is_empty() {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}
