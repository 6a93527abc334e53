//! `lakeline compaction-report s3://bucket/prefix/ [--target 128MiB]`: the small-file report of
//! every folder under a prefix, worst first, with totals, judged by the same rules as
//! check-compaction (`lakeline_core::compaction`), so a team can look at a lake before deploying.
//!
//! Every folder that directly holds data files is a partition. The sub-folders directly under
//! the prefix are listed concurrently (bounded); each listing folds objects into per-folder
//! statistics as pages arrive, so memory grows with folders, not objects.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Context};
use lakeline_core::compaction::{
    self, CompactionSettings, PartitionReport, PartitionStats, TargetSize,
};
use lakeline_core::size::ByteSize;
use tokio::task::JoinSet;

type Folders = BTreeMap<String, PartitionStats>;

/// Keys per listing page: S3's maximum and its default, asked for explicitly because
/// S3-compatible stores differ (moto defaults to 100, ten times the requests).
const PAGE: i32 = 1000;

/// Splits `s3://bucket/prefix` into bucket and prefix (empty, or ending in `/`).
fn parse_uri(uri: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = uri.strip_prefix("s3://") else {
        bail!("{uri:?} is not an s3:// URI")
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{uri:?} names no bucket");
    }
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket.to_string(), prefix))
}

/// Adds one object to the statistics of its folder. Objects inside `_…` or `.…` folders are
/// Spark/Hive scratch space (`_temporary/`), never data.
fn fold(
    folders: &mut Folders,
    root: &str,
    key: &str,
    size: u64,
    modified: Option<i64>,
    small_below: u64,
) {
    let rel = key.strip_prefix(root).unwrap_or(key);
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    if dir
        .split('/')
        .any(|s| s.starts_with('_') || s.starts_with('.'))
    {
        return;
    }
    let folder = format!("{root}{dir}").trim_end_matches('/').to_string();
    folders
        .entry(folder)
        .or_default()
        .observe(name, size, modified, small_below);
}

/// Adds one page of a listing to `folders`.
fn fold_page(
    folders: &mut Folders,
    root: &str,
    objects: &[aws_sdk_s3::types::Object],
    small_below: u64,
) {
    for o in objects {
        let size = u64::try_from(o.size().unwrap_or(0)).unwrap_or(0);
        fold(
            folders,
            root,
            o.key().unwrap_or_default(),
            size,
            o.last_modified().map(|t| t.secs()),
            small_below,
        );
    }
}

/// Lists everything under `prefix` (no delimiter) into `folders`.
async fn list_into(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    root: &str,
    prefix: &str,
    small_below: u64,
    page: i32,
) -> anyhow::Result<Folders> {
    let mut folders = Folders::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(page)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| anyhow::anyhow!(lakeline_aws::describe(&e)))
            .with_context(|| format!("ListObjectsV2 s3://{bucket}/{prefix}"))?;
        fold_page(&mut folders, root, page.contents(), small_below);
    }
    Ok(folders)
}

/// Runs the report; prints the table on stdout.
pub async fn run(
    uri: &str,
    target: Option<ByteSize>,
    concurrency: usize,
) -> anyhow::Result<ExitCode> {
    let (bucket, root) = parse_uri(uri)?;
    let mut settings = CompactionSettings::default();
    if let Some(t) = target {
        settings.target_file_size = TargetSize::try_from(t).map_err(anyhow::Error::msg)?;
    }
    let conf = lakeline_aws::sdk_config().await;
    let s3 = lakeline_aws::s3_client(&conf);
    let folders = scan(
        &s3,
        &bucket,
        &root,
        settings.small_below(),
        concurrency,
        PAGE,
    )
    .await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut reports: Vec<PartitionReport> = folders
        .iter()
        .map(|(p, st)| compaction::decide(p, st, &settings, now))
        .collect();
    compaction::sort_worst_first(&mut reports);
    print!("{}", render(&reports, &settings, uri));
    Ok(ExitCode::SUCCESS)
}

/// Lists everything under `root` into per-folder statistics: first one level with a
/// delimiter (objects right under `root`, and its sub-folders), then the sub-folders
/// concurrently, at most `concurrency` at a time, `page` keys per request.
async fn scan(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    root: &str,
    small_below: u64,
    concurrency: usize,
    page: i32,
) -> anyhow::Result<Folders> {
    let mut folders = Folders::new();
    let mut children = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(root)
        .delimiter("/")
        .max_keys(page)
        .into_paginator()
        .send();
    while let Some(p) = pages.next().await {
        let p = p
            .map_err(|e| anyhow::anyhow!(lakeline_aws::describe(&e)))
            .with_context(|| format!("ListObjectsV2 s3://{bucket}/{root}"))?;
        fold_page(&mut folders, root, p.contents(), small_below);
        children.extend(
            p.common_prefixes()
                .iter()
                .filter_map(|c| c.prefix().map(str::to_string)),
        );
    }
    let mut set = JoinSet::new();
    let mut queue = children.into_iter();
    loop {
        while set.len() < concurrency.max(1) {
            let Some(child) = queue.next() else { break };
            let (s3, bucket, root) = (s3.clone(), bucket.to_string(), root.to_string());
            set.spawn(
                async move { list_into(&s3, &bucket, &root, &child, small_below, page).await },
            );
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        // Sub-folders are disjoint, so their folders never collide.
        folders.extend(done.context("listing task")??);
    }
    // A folder of side files only (Spark's `_SUCCESS` at the output root) is no partition.
    folders.retain(|_, st| st.files > 0);
    Ok(folders)
}

/// The table: one row per partition, worst first, then the totals.
fn render(reports: &[PartitionReport], s: &CompactionSettings, uri: &str) -> String {
    use std::fmt::Write;
    let b = |n: u64| ByteSize(n).to_string();
    let width = reports
        .iter()
        .map(|r| r.partition.len())
        .max()
        .unwrap_or(9)
        .max(9);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "compaction report for {uri}: target {}, small < {} ({} %), at least {} small files\n",
        b(s.target_file_size.bytes()),
        b(s.small_below()),
        s.small_file_percent.get(),
        s.min_small_files
    );
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:>9}  {:>8}  {:>9}  {:>9}  {:>7}  {:<8}  reason",
        "partition", "files", "size", "small", "small sz", "avg", "→ files", "decision"
    );
    for r in reports {
        let decision = match r.decision {
            compaction::Decision::Compact => "COMPACT",
            compaction::Decision::Skip => r.reason_code.as_str(),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>9}  {:>8}  {:>9}  {:>9}  {:>7}  {:<8}  {}",
            r.partition,
            r.files,
            b(r.bytes),
            r.small_files,
            b(r.small_bytes),
            b(r.average_bytes),
            r.recommended_files,
            decision,
            r.reason
        );
    }
    let t = compaction::totals(reports);
    let _ = writeln!(
        out,
        "\ntotal: {} partitions, {} files, {}, {} small files ({}); {} partitions to compact, {} files → {}",
        t.partitions,
        t.files,
        b(t.bytes),
        t.small_files,
        b(t.small_bytes),
        t.compactions,
        t.files,
        t.files_after
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        assert_eq!(
            parse_uri("s3://lake/curated/orders").unwrap(),
            ("lake".into(), "curated/orders/".into())
        );
        assert_eq!(parse_uri("s3://lake/").unwrap(), ("lake".into(), "".into()));
        assert_eq!(parse_uri("s3://lake").unwrap(), ("lake".into(), "".into()));
        assert!(parse_uri("lake/x").is_err());
        assert!(parse_uri("s3:///x").is_err());
    }

    #[test]
    fn folds_objects_by_folder_and_skips_scratch() {
        let mut f = Folders::new();
        for key in [
            "c/o/dt=1/a",
            "c/o/dt=1/b",
            "c/o/dt=2/a",
            "c/o/dt=2/_temporary/0/x",
            "c/o/top",
        ] {
            fold(&mut f, "c/o/", key, 10, Some(1), 100);
        }
        let got: Vec<(&str, u64)> = f.iter().map(|(k, v)| (k.as_str(), v.files)).collect();
        assert_eq!(got, [("c/o", 1), ("c/o/dt=1", 2), ("c/o/dt=2", 1)]);
    }

    #[test]
    fn renders_worst_first_with_totals() {
        let s = CompactionSettings::default();
        let mut st = PartitionStats::default();
        for i in 0..10 {
            st.observe(&format!("f{i}"), 1000, Some(0), s.small_below());
        }
        let r = compaction::decide("c/o/dt=2020-01-01", &st, &s, 2_000_000_000);
        let text = render(&[r], &s, "s3://lake/c/o/");
        assert!(text.contains("COMPACT"), "{text}");
        assert!(text.contains("total: 1 partitions, 10 files"), "{text}");
    }

    /// The listing against the local S3 (moto server; `make test` sets `AWS_ENDPOINT_URL`),
    /// two keys a page so every folder takes several pages: nested partitions, Spark's
    /// `_SUCCESS` and scratch space, a side file (an old compaction marker), and a neighbour
    /// prefix that must not leak in.
    #[tokio::test]
    async fn scans_folders_across_pages_in_the_local_s3() {
        // Signed as the keys of lakeline_local::identity (the router records each call for the
        // permissions check): the objects are the test's set-up (admin, unchecked); the report
        // runs as the operator, who runs `lakeline compaction-report` (docs/permissions.md).
        let conf = lakeline_aws::sdk_config().await;
        let as_key = |key: &str| {
            lakeline_aws::s3_client(
                &conf
                    .to_builder()
                    .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                        aws_sdk_s3::config::Credentials::new(key, "x", None, None, "test"),
                    ))
                    .build(),
            )
        };
        let s3 = as_key("lakeline-admin");
        let operator = as_key("lakeline-person-operator");
        let bucket = format!(
            "report-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let mut objects = vec![("curated/orders/_SUCCESS".to_string(), 0)];
        objects.push((
            "curated/orders/dt=2026-01-02/_lakeline_compaction.json".into(),
            10,
        ));
        for i in 0..7 {
            objects.push((
                format!("curated/orders/dt=2026-01-01/part-{i}.parquet"),
                100,
            ));
        }
        for i in 0..3 {
            objects.push((
                format!("curated/orders/dt=2026-01-02/part-{i}.parquet"),
                5000,
            ));
        }
        for i in 0..3 {
            objects.push((format!("curated/orders/region=eu/dt=2026-01-01/p{i}"), 100));
        }
        objects.push(("curated/orders/dt=2026-01-02/_temporary/0/x".into(), 100));
        objects.push(("curated/ordersx/dt=2026-01-01/p".into(), 100));
        for (key, size) in &objects {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(vec![b'x'; *size].into())
                .send()
                .await
                .unwrap();
        }
        let folders = scan(&operator, &bucket, "curated/orders/", 1000, 3, 2)
            .await
            .unwrap();
        let got: Vec<(&str, u64, u64, u64)> = folders
            .iter()
            .map(|(k, v)| (k.as_str(), v.files, v.small_files, v.bytes))
            .collect();
        assert_eq!(
            got,
            [
                ("curated/orders/dt=2026-01-01", 7, 7, 700),
                ("curated/orders/dt=2026-01-02", 3, 0, 15000),
                ("curated/orders/region=eu/dt=2026-01-01", 3, 3, 300),
            ]
        );
        let err = scan(
            &operator,
            &format!("{bucket}-missing"),
            "curated/",
            1000,
            3,
            2,
        )
        .await
        .unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("s3://{bucket}-missing/curated/")),
            "{err:#}"
        );
    }
}
