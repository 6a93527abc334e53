//! `join` and `start_batch`: one Spark run per partition and window ([`lakeline_core::batch`] has
//! the design and the decisions; this is its S3 and engine side).

use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use lakeline_core::batch::{self as b, Joined, Manifest, Member, OpenBatch};
use lakeline_core::jobs::{JobSpec, RunHandle};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::{lambda_engine, start_run, Deps, JobError, StartRequest};

/// `join`: the execution input's file, and the execution.
#[derive(Debug, Clone, Deserialize)]
pub struct JoinRequest {
    /// Bucket.
    pub bucket: String,
    /// The raw object's key.
    pub key: String,
    /// Its validated ETag.
    #[serde(default)]
    pub etag: String,
    /// Dataset.
    pub dataset: String,
    /// Partition label.
    #[serde(default)]
    pub partition: Option<String>,
    /// `$$.Execution.Name`.
    pub execution: String,
    /// `lakeline reprocess`'s rules pass: such a file gets a run of its own, which records
    /// the rows' version with the pass (a batch's members are uploads' own deliveries).
    #[serde(default)]
    pub reprocess: Option<String>,
}

/// `start_batch`: `join`'s answer, and the execution.
#[derive(Debug, Clone, Deserialize)]
pub struct StartBatchRequest {
    /// Bucket.
    pub bucket: String,
    /// Dataset.
    pub dataset: String,
    /// Partition label.
    #[serde(default)]
    pub partition: Option<String>,
    /// `$$.Execution.Name`.
    pub execution: String,
    /// What `join` answered.
    pub batch: Joined,
}

/// `run.json`: the batch's run and its manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRun {
    /// The run every member follows.
    pub run: RunHandle,
    /// The files it curates.
    pub manifest: Manifest,
}

/// What `start_batch` answers: the run, and whether this execution's file is in it (if not,
/// the pipeline joins the next batch).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// The batch's run.
    pub run: RunHandle,
    /// Whether this execution's file is one of the run's.
    pub included: bool,
}

fn spec<'a>(deps: &'a Deps, dataset: &str) -> Result<&'a JobSpec, JobError> {
    deps.registry
        .dataset(dataset)
        .and_then(|(_, d)| d.job.as_ref())
        .ok_or_else(|| {
            JobError::Config(format!(
                "dataset {dataset:?} is not in the registry or has no job: block"
            ))
        })
}

fn s3_err<E>(
    what: &str,
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> JobError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let msg = format!("{what}: {}", lakeline_aws::describe(e));
    if lakeline_aws::is_transient(e) {
        JobError::Transient(msg)
    } else {
        JobError::Config(msg)
    }
}

/// A JSON object and its ETag; `None` when absent.
async fn get_json<T: DeserializeOwned>(
    deps: &Deps,
    bucket: &str,
    key: &str,
) -> Result<Option<(T, String)>, JobError> {
    match deps.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag().unwrap_or_default().to_string();
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| JobError::Transient(format!("reading s3://{bucket}/{key}: {e}")))?
                .into_bytes();
            let v = serde_json::from_slice(&bytes).map_err(|e| {
                JobError::Config(format!(
                    "s3://{bucket}/{key} is not what lakeline wrote: {e}"
                ))
            })?;
            Ok(Some((v, etag)))
        }
        Err(e) if lakeline_aws::is_gone(&e) => Ok(None),
        Err(e) => Err(s3_err(&format!("GetObject s3://{bucket}/{key}"), &e)),
    }
}

/// The condition of a write.
pub(crate) enum Cond<'a> {
    /// None: the write wins.
    None,
    /// Only if there is no object (`If-None-Match: *`).
    Absent,
    /// Only over the object with this ETag (`If-Match`).
    Match(&'a str),
}

/// Writes `v` as JSON; false when its condition failed (nothing written).
async fn put_json<T: Serialize>(
    deps: &Deps,
    bucket: &str,
    key: &str,
    v: &T,
    cond: Cond<'_>,
) -> Result<bool, JobError> {
    let body = serde_json::to_vec(v).expect("batch documents serialise");
    put_body(deps, bucket, key, body, cond).await
}

/// Writes a JSON `body`; false when its condition failed (nothing written).
pub(crate) async fn put_body(
    deps: &Deps,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    cond: Cond<'_>,
) -> Result<bool, JobError> {
    let mut req = deps
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(body.into());
    req = match cond {
        Cond::None => req,
        Cond::Absent => req.if_none_match("*"),
        Cond::Match(etag) => req.if_match(etag),
    };
    match req.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if !matches!(cond, Cond::None)
                && e.raw_response()
                    .is_some_and(|r| matches!(r.status().as_u16(), 404 | 409 | 412)) =>
        {
            Ok(false)
        }
        Err(e) => Err(s3_err(&format!("PutObject s3://{bucket}/{key}"), &e)),
    }
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::from(t).fmt(Format::DateTime).unwrap_or_default()
}

/// Joins the partition's open batch, opening one when there is none (or when the open one is
/// orphaned: [`b::orphaned`]). A retried join answers the batch the first attempt joined.
pub async fn join(deps: &Deps, req: &JoinRequest) -> Result<Joined, JobError> {
    let spec = spec(deps, &req.dataset)?;
    if matches!(spec, JobSpec::Lambda(_)) {
        return Err(lambda_engine(&req.dataset));
    }
    let window = spec.batch_seconds();
    if window == 0 || req.reprocess.is_some() {
        return Ok(Joined {
            per_file: true,
            batch: String::new(),
            leader: false,
            seal_at: String::new(),
        });
    }
    let root = b::root(&req.dataset, req.partition.as_deref());
    let joined_key = b::joined_key(&root, &req.execution);
    // A retry whose first attempt joined (its answer lost): the same batch, never a second one.
    let joined = match get_json::<Joined>(deps, &req.bucket, &joined_key).await? {
        Some((j, _)) => j,
        None => {
            let open = open_batch(deps, req, &root, window).await?;
            let mine = Joined {
                per_file: false,
                leader: open.batch == req.execution,
                batch: open.batch,
                seal_at: open.seal_at,
            };
            if put_json(deps, &req.bucket, &joined_key, &mine, Cond::Absent).await? {
                mine
            } else {
                // A concurrent duplicate of this join recorded first: follow it.
                get_json::<Joined>(deps, &req.bucket, &joined_key)
                    .await?
                    .map(|(j, _)| j)
                    .unwrap_or(mine)
            }
        }
    };
    let member = Member {
        execution: req.execution.clone(),
        key: req.key.clone(),
        etag: req.etag.clone(),
    };
    put_json(
        deps,
        &req.bucket,
        &b::member_key(&root, &joined.batch, &req.execution),
        &member,
        Cond::None,
    )
    .await?;
    info!(dataset = %req.dataset, batch = %joined.batch, execution = %req.execution, seal_at = %joined.seal_at, "joined a batch");
    Ok(joined)
}

/// The partition's open batch: the one in `open.json`, else a new one led by this execution
/// (created with `If-None-Match: *`: of two at once, one wins and the other follows it). An
/// orphaned one is replaced (`If-Match` on it, so one joiner does).
async fn open_batch(
    deps: &Deps,
    req: &JoinRequest,
    root: &str,
    window: u32,
) -> Result<OpenBatch, JobError> {
    let open_key = b::open_key(root);
    let now = SystemTime::now();
    let mine = OpenBatch {
        batch: req.execution.clone(),
        seal_at: rfc3339(now + Duration::from_secs(u64::from(window))),
    };
    let now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for _ in 0..3 {
        match get_json::<OpenBatch>(deps, &req.bucket, &open_key).await? {
            Some((o, etag)) if b::orphaned(&o, now_secs) => {
                tracing::warn!(dataset = %req.dataset, orphaned = %o.batch, seal_at = %o.seal_at, execution = %req.execution, "an open batch long past its seal (its leader never started it): leading a new one");
                if put_json(deps, &req.bucket, &open_key, &mine, Cond::Match(&etag)).await? {
                    return Ok(mine);
                }
            }
            Some((o, _)) => return Ok(o),
            None => {
                if put_json(deps, &req.bucket, &open_key, &mine, Cond::Absent).await? {
                    return Ok(mine);
                }
            }
        }
    }
    Err(JobError::Retryable(format!(
        "s3://{}/{open_key} kept changing while joining a batch",
        req.bucket
    )))
}

/// The members recorded under a batch.
async fn members(deps: &Deps, bucket: &str, prefix: &str) -> Result<Vec<Member>, JobError> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = deps
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| s3_err(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some((m, _)) = get_json::<Member>(deps, bucket, &k).await? {
            out.push(m);
        }
    }
    Ok(out)
}

/// Forgets which batch `req`'s execution joined, when it is `batch` (conditional on the record
/// read), so its next join joins the open batch.
async fn release_join(
    deps: &Deps,
    req: &StartBatchRequest,
    root: &str,
    batch: &str,
) -> Result<(), JobError> {
    let key = b::joined_key(root, &req.execution);
    let Some((j, etag)) = get_json::<Joined>(deps, &req.bucket, &key).await? else {
        return Ok(());
    };
    if j.batch != batch {
        return Ok(());
    }
    match deps
        .s3
        .delete_object()
        .bucket(&req.bucket)
        .key(&key)
        .if_match(etag)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(()),
        Err(e) => Err(s3_err(
            &format!("DeleteObject s3://{}/{key}", req.bucket),
            &e,
        )),
    }
}

/// The batch's run: its leader starts it, every member then finds it.
pub async fn start(deps: &Deps, req: &StartBatchRequest) -> Result<Started, JobError> {
    let root = b::root(&req.dataset, req.partition.as_deref());
    let batch = &req.batch.batch;
    let run_key = b::run_key_of(&root, batch);
    if let Some((r, _)) = get_json::<BatchRun>(deps, &req.bucket, &run_key).await? {
        let included = r.manifest.includes(&req.execution);
        if !included {
            // Its marker landed after the listing: the pipeline joins the next batch, which
            // the record of this join would otherwise answer again.
            release_join(deps, req, &root, batch).await?;
        }
        return Ok(Started {
            included,
            run: r.run,
        });
    }
    if !req.batch.leader {
        // The state machine retries this error with a backoff; the leader starts meanwhile.
        return Err(JobError::Retryable(format!(
            "batch {batch} has no run yet: its leader starts it at {}",
            req.batch.seal_at
        )));
    }
    // Close: later files open the next batch. Only this batch's open.json is removed.
    let open_key = b::open_key(&root);
    if let Some((o, etag)) = get_json::<OpenBatch>(deps, &req.bucket, &open_key).await? {
        if o.batch == *batch {
            match deps
                .s3
                .delete_object()
                .bucket(&req.bucket)
                .key(&open_key)
                .if_match(etag)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {}
                Err(e) => {
                    return Err(s3_err(
                        &format!("DeleteObject s3://{}/{open_key}", req.bucket),
                        &e,
                    ))
                }
            }
        }
    }
    // Written once: a retried leader starts the run over the files it listed first, so the
    // manifest the run reads is the one its members were told about.
    let manifest_key = b::manifest_key(&root, batch);
    let manifest = match get_json::<Manifest>(deps, &req.bucket, &manifest_key).await? {
        Some((m, _)) => m,
        None => {
            let found = members(deps, &req.bucket, &b::members_prefix(&root, batch)).await?;
            let listed = b::manifest(
                batch,
                &req.bucket,
                &req.dataset,
                req.partition.as_deref(),
                found,
            );
            if put_json(deps, &req.bucket, &manifest_key, &listed, Cond::Absent).await? {
                listed
            } else {
                get_json::<Manifest>(deps, &req.bucket, &manifest_key)
                    .await?
                    .map_or(listed, |(m, _)| m)
            }
        }
    };
    let manifest_uri = format!("s3://{}/{manifest_key}", req.bucket);
    let spec = spec(deps, &req.dataset)?;
    let start_req = StartRequest {
        bucket: req.bucket.clone(),
        key: manifest_key.clone(),
        dataset: req.dataset.clone(),
        partition: req.partition.clone(),
        execution: Some(format!("{batch}-batch")),
        date: None,
        file: None,
        version_id: None,
        etag: None,
        reprocess: None,
    };
    let execution = start_req.execution_name()?;
    let run = start_run(deps, spec, &start_req, &execution, Some(&manifest_uri)).await?;
    info!(dataset = %req.dataset, %batch, files = manifest.files.len(), run_id = %run.run_id, "batch run started");
    let included = manifest.includes(&req.execution);
    put_json(
        deps,
        &req.bucket,
        &run_key,
        &BatchRun {
            run: run.clone(),
            manifest,
        },
        Cond::None,
    )
    .await?;
    Ok(Started { run, included })
}
