//! validate-upload: the S3 `ObjectCreated` handler that guards the raw area of the lake.
//!
//! For each record: decode the key, find its dataset, check it (streaming, constant memory),
//! then either tag it and start the pipeline with a deterministic execution name, or move it
//! to quarantine and alert a human. Every decision comes from the `lakeline` crate; this crate
//! only moves bytes between S3, Step Functions and SNS.
//!
//! Invariant: an uploaded object is always in `raw/` or in `quarantine/`. Quarantine copies,
//! verifies the copy, and only then deletes the original (conditionally on its ETag, so a newer
//! upload of the same key is never deleted); any failure before the delete leaves the original
//! where it was and returns an error so Lambda retries.

mod quarantine;
mod s3io;

use std::sync::Arc;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use lakeline_aws as laws;
use lakeline_aws::Emit;
use lakeline_core::event::{parse_notification, Notification, ObjectEvent};
use lakeline_core::metrics::{Emf, Unit};
use lakeline_core::registry::{KeyRoute, Registry};
use lakeline_core::validate::{self, Report, Verdict};
use lakeline_core::{error_names, keys};
use serde::Serialize;
use serde_json::{json, Value};
use tracing::{info, warn};

/// Settings from the environment, read once per cold start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The pipeline state machine started for each valid file (`STATE_MACHINE_ARN`).
    pub state_machine_arn: String,
    /// The SNS topic for alerts (`ALERT_TOPIC_ARN`).
    pub topic_arn: String,
    /// Region, for console links in alerts.
    pub region: String,
    /// Objects above this size are quarantined with a multipart copy (CopyObject stops at 5 GiB).
    pub multipart_copy_threshold: u64,
    /// Part size of that multipart copy.
    pub copy_part_size: u64,
}

/// Everything the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    /// S3 client.
    pub s3: aws_sdk_s3::Client,
    /// Step Functions client.
    pub sfn: aws_sdk_sfn::Client,
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// The dataset registry.
    pub registry: Arc<Registry>,
    /// Settings.
    pub config: Config,
}

impl Deps {
    /// Builds everything from the environment: `LAKELINE_REGISTRY`, `STATE_MACHINE_ARN`,
    /// `ALERT_TOPIC_ARN`.
    pub async fn from_env(
        conf: &aws_config::SdkConfig,
        env: &dyn laws::Env,
    ) -> Result<Deps, lakeline_core::Error> {
        let s3 = laws::s3_client(conf);
        let registry = laws::registry_from_env(env, &s3).await?;
        Ok(Deps {
            config: Config {
                state_machine_arn: env.require("STATE_MACHINE_ARN")?,
                topic_arn: env.require("ALERT_TOPIC_ARN")?,
                region: laws::region_of(conf),
                multipart_copy_threshold: laws::copy::COPY_OBJECT_MAX,
                copy_part_size: laws::copy::DEFAULT_PART,
            },
            sfn: aws_sdk_sfn::Client::new(conf),
            sns: aws_sdk_sns::Client::new(conf),
            s3,
            registry: Arc::new(registry),
        })
    }
    /// The same dependencies around another registry: a reload
    /// ([`lakeline_aws::live::Live`]) without a cold start.
    pub fn with_registry(&self, registry: Registry) -> Deps {
        Deps {
            registry: Arc::new(registry),
            ..self.clone()
        }
    }
}

/// The function's error; its `errorType` is one of [`lakeline_core::error_names`].
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A transient AWS failure: Lambda's retry will redo the record safely.
    #[error("{0}")]
    Transient(String),
    /// Configuration or permissions: a human must fix something.
    #[error("{0}")]
    Config(String),
    /// The payload is not an S3 notification.
    #[error("{0}")]
    BadInput(String),
}

impl HandlerError {
    /// The stable Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Transient(_) => error_names::TRANSIENT,
            HandlerError::Config(_) => error_names::CONFIG,
            HandlerError::BadInput(_) => error_names::BAD_INPUT,
        }
    }

    /// Classifies an SDK error: transient ones are retried, the rest need a human.
    pub(crate) fn from_sdk<E>(what: &str, e: &SdkError<E, HttpResponse>) -> HandlerError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let msg = format!("{what}: {}", laws::describe(e));
        if laws::is_transient(e) {
            HandlerError::Transient(msg)
        } else {
            HandlerError::Config(msg)
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Not lakeline's business (no dataset, folder marker, not a create event, …).
    Ignored {
        /// The decoded key (or the raw one when it does not decode).
        key: String,
        /// Why.
        why: String,
    },
    /// The object no longer exists (deleted, or quarantined by an earlier delivery).
    Gone {
        /// The key.
        key: String,
        /// Set when an earlier attempt quarantined it and this one sent its pending alert.
        #[serde(skip_serializing_if = "Option::is_none")]
        resumed_alert: Option<String>,
    },
    /// A newer upload replaced the object; its own event will be validated.
    Superseded {
        /// The key.
        key: String,
    },
    /// Under the raw prefix, but no dataset claims it: left where it is, counted, and alerted
    /// once per prefix per hour.
    Unclaimed {
        /// The key.
        key: String,
        /// The folder it is reported under.
        prefix: String,
        /// SNS message id, when this object's upload sent the hour's alert.
        #[serde(skip_serializing_if = "Option::is_none")]
        alert_message_id: Option<String>,
    },
    /// Valid: tagged, pipeline started.
    Valid {
        /// The key.
        key: String,
        /// Dataset.
        dataset: String,
        /// Rows checked.
        rows: u64,
        /// The execution name.
        execution: String,
        /// True when an earlier delivery had already started it.
        duplicate: bool,
        /// A replayed object: the quarantined copy it came back from, removed now that it
        /// validated.
        #[serde(skip_serializing_if = "Option::is_none")]
        released: Option<String>,
    },
    /// Invalid: moved to quarantine, alert sent.
    Quarantined {
        /// The key.
        key: String,
        /// Dataset.
        dataset: String,
        /// Where it is now.
        quarantine_key: String,
        /// Main reason code.
        reason: String,
        /// The validation report.
        report: Box<Report>,
        /// SNS message id of the alert.
        alert_message_id: String,
        /// `lakeline reprocess`: the execution that takes the file's rows out of its table.
        #[serde(skip_serializing_if = "Option::is_none")]
        withdrawn_by: Option<String>,
    },
}

/// Handles one invocation: every record is attempted; if any failed, the error of the first
/// failure is returned after the others ran (they are idempotent, so Lambda's retry is safe).
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let (records, again) = match parse_notification(&payload).map_err(HandlerError::BadInput)? {
        Notification::Test => {
            info!("s3:TestEvent received: the bucket notification is wired up");
            return Ok(json!({"test_event": true, "outcomes": []}));
        }
        Notification::Records(r) => (r, Again::Upload),
        Notification::Rerun(r) => (vec![r.object_event()], Again::Rerun(r.of)),
        Notification::Reprocess(r) => (vec![r.object_event()], Again::Reprocess(r.pass)),
    };
    let mut outcomes = Vec::with_capacity(records.len());
    let mut first_err = None;
    for rec in &records {
        match handle_record(deps, rec, &again).await {
            Ok(o) => {
                log_outcome(&o);
                outcomes.push(o);
            }
            Err(e) => {
                warn!(bucket = %rec.bucket, key = %rec.raw_key, error_type = e.error_type(), error = %e, "record failed; original left in place");
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(json!({"outcomes": outcomes})),
    }
}

fn log_outcome(o: &Outcome) {
    match o {
        Outcome::Ignored { key, why } => info!(%key, %why, "ignored"),
        Outcome::Unclaimed {
            key,
            prefix,
            alert_message_id,
        } => {
            warn!(%key, %prefix, ?alert_message_id, "no dataset claims this upload; left in place")
        }
        Outcome::Gone { key, resumed_alert } => {
            info!(%key, ?resumed_alert, "object already gone; skipped")
        }
        Outcome::Superseded { key } => info!(%key, "superseded by a newer upload; skipped"),
        Outcome::Valid {
            key,
            dataset,
            rows,
            execution,
            duplicate,
            ..
        } => {
            if *duplicate {
                info!(%key, %dataset, %execution, "duplicate delivery: execution already exists");
            } else {
                info!(%key, %dataset, rows, %execution, "valid; pipeline started");
            }
        }
        Outcome::Quarantined {
            key,
            dataset,
            quarantine_key,
            reason,
            ..
        } => {
            warn!(%key, %dataset, %quarantine_key, %reason, "invalid; quarantined")
        }
    }
}

/// Why a record is handled: an upload's own event, or a command running an upload again.
enum Again {
    /// The upload's event: its execution is named after the upload.
    Upload,
    /// `lakeline rerun` of the execution named here: the new execution is named after it
    /// ([`keys::rerun_name`]).
    Rerun(String),
    /// `lakeline reprocess` under the dataset rules pass named here: the execution is named
    /// after the object and the pass ([`keys::reprocess_name`]), its rows are recorded at
    /// the pass ([`lakeline_core::table::delivery_version`]), and a file that now fails takes
    /// its rows out of the table as it goes to quarantine.
    Reprocess(String),
}

/// One record.
async fn handle_record(
    deps: &Deps,
    ev: &ObjectEvent,
    again: &Again,
) -> Result<Outcome, HandlerError> {
    let key = match keys::decode_event_key(&ev.raw_key) {
        Ok(k) => k,
        Err(why) => {
            return Ok(Outcome::Ignored {
                key: ev.raw_key.clone(),
                why,
            })
        }
    };
    let ignored = |why: &str| {
        Ok(Outcome::Ignored {
            key: key.clone(),
            why: why.to_string(),
        })
    };
    if !ev.event_name.is_empty() && !ev.event_name.starts_with("ObjectCreated") {
        return ignored(&format!(
            "event {} is not an object creation",
            ev.event_name
        ));
    }
    let qprefix = &deps.registry.lake.quarantine_prefix;
    if key.starts_with(qprefix.as_str()) {
        return ignored("already under the quarantine prefix");
    }
    if keys::is_folder_marker(&key, ev.size.unwrap_or(0)) {
        return ignored("folder marker");
    }
    let route = deps.registry.route(&key);
    if route == KeyRoute::Unowned {
        if deps.registry.unclaimed_is_ignored(&key) {
            return ignored("no dataset's key pattern covers this key (outside the raw prefix, or ignored on purpose)");
        }
        return unclaimed(deps, &ev.bucket, &key).await;
    }

    let head = match s3io::head(&deps.s3, &ev.bucket, &key, ev.version_id.as_deref()).await? {
        Some(h) => h,
        None => {
            let resumed =
                quarantine::resume_pending_alert(deps, &ev.bucket, &key, ev.etag.as_deref())
                    .await?;
            return Ok(Outcome::Gone {
                key,
                resumed_alert: resumed,
            });
        }
    };
    if ev.version_id.is_none() || !matches!(again, Again::Upload) {
        if let Some(e) = &ev.etag {
            if *e != head.etag {
                return Ok(Outcome::Superseded { key });
            }
        }
    }
    let obj = s3io::Object {
        bucket: ev.bucket.clone(),
        key: key.clone(),
        version_id: ev.version_id.clone(),
        etag: head.etag.clone(),
        size: head.size,
        content_type: head.content_type.clone(),
        last_modified: head.last_modified.clone(),
        checksum: head.checksum.clone(),
        etag_not_md5: head.etag_not_md5,
    };

    let (name, dataset, m) = match route {
        KeyRoute::Matched { name, dataset, m } => (name, dataset, Some(m)),
        KeyRoute::Misnamed { name, dataset, .. } => (name, dataset, None),
        KeyRoute::Unowned => unreachable!("handled above"),
    };
    let pass = match again {
        Again::Reprocess(pass) => {
            let ours = &dataset.rules_hash()[..PASS_LEN];
            if pass != ours {
                return Err(HandlerError::BadInput(format!(
                    "reprocess of {key}: the command read dataset {name}'s rules as pass {pass}, this function judges by pass {ours} (the registry changed since, or this function has not reloaded it yet: it looks again every few minutes); nothing was done, run the reprocess again"
                )));
            }
            Some(pass.as_str())
        }
        _ => None,
    };
    let max_problems = deps.registry.lake.max_problems;
    let report = match (&route_problem(&deps.registry, &key), &m) {
        (Some(p), _) => validate::rejected_unread(name.as_str(), dataset, &key, vec![p.clone()]),
        (None, Some(m)) => {
            let mut pre = validate::precheck(dataset, &m.file, obj.size);
            // Judged on arrival, against today's date: the same rule `lakeline validate` runs.
            // A reprocess judges the day the object arrived, so last week's files are not
            // refused for being a week old.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let arrived = obj
                .last_modified
                .as_deref()
                .and_then(|t| {
                    aws_smithy_types::DateTime::from_str(
                        t,
                        aws_smithy_types::date_time::Format::DateTime,
                    )
                    .ok()
                })
                .map(|t| t.secs());
            let today = validate::day_of_unix_seconds(match (pass, arrived) {
                (Some(_), Some(t)) => t,
                _ => now,
            });
            pre.extend(validate::partition_problem(dataset, m, today));
            pre.extend(validate::checksum_problem(
                dataset,
                obj.checksum.as_ref().map(|c| c.algorithm),
            ));
            if !pre.is_empty() {
                validate::rejected_unread(name.as_str(), dataset, &key, pre)
            } else {
                match s3io::validate_object(
                    &deps.s3,
                    &deps.registry,
                    name.as_str(),
                    &obj,
                    max_problems,
                )
                .await?
                {
                    Some(r) => r,
                    None => return Ok(Outcome::Superseded { key }),
                }
            }
        }
        (None, None) => unreachable!("a misnamed key always has a route problem"),
    };
    emit_metrics(&report);

    let partition = m.as_ref().map(|m| validate::partition_label(m).to_string());
    // A reprocess pass's execution, for the file's rows (valid) or their withdrawal (invalid).
    let pass_execution = |m: &lakeline_core::registry::KeyMatch, pass: &str| {
        keys::reprocess_name(
            &report.dataset,
            m.date.as_deref(),
            &m.file,
            &obj.bucket,
            &obj.key,
            &obj.etag,
            pass,
        )
    };
    match report.verdict {
        Verdict::Valid => {
            let m = m.expect("valid implies matched");
            let upload = keys::upload_identity(
                obj.version_id.as_deref(),
                ev.sequencer.as_deref(),
                &obj.etag,
                obj.last_modified.as_deref(),
            );
            let name = match again {
                Again::Rerun(of) => keys::rerun_name(of),
                Again::Reprocess(pass) => pass_execution(&m, pass),
                Again::Upload => keys::execution_name(
                    &report.dataset,
                    m.date.as_deref(),
                    &m.file,
                    &obj.bucket,
                    &obj.key,
                    &upload,
                ),
            };
            let replayed = keys::replayed_from(
                |k| head.metadata.get(k).map(String::as_str),
                &deps.registry.lake.quarantine_prefix,
                &obj.key,
            );
            let start = Start {
                execution: name,
                pass,
                withdraw: false,
            };
            start_pipeline(deps, &obj, &report, &m, start, replayed).await
        }
        Verdict::Invalid => {
            if let (Some(pass), Some(m)) = (pass, &m) {
                // The rows this file put in the table are no longer justified by it: an
                // execution takes them out (curate's role holds the table), started before the
                // file moves, so a retry after a failed move starts it once (its name) and
                // the table never keeps rows whose file is in quarantine.
                let start = Start {
                    execution: pass_execution(m, pass),
                    pass: Some(pass),
                    withdraw: true,
                };
                start_execution(deps, &obj, &report, m, &start).await?;
                let mut out =
                    quarantine::quarantine(deps, &obj, report, partition.as_deref()).await?;
                if let Outcome::Quarantined { withdrawn_by, .. } = &mut out {
                    *withdrawn_by = Some(start.execution);
                }
                return Ok(out);
            }
            quarantine::quarantine(deps, &obj, report, partition.as_deref()).await
        }
    }
}

/// An upload no dataset claims: metric, and the prefix's alert unless this hour's was sent (a
/// marker created with `If-None-Match: *` decides which upload sends it).
async fn unclaimed(deps: &Deps, bucket: &str, key: &str) -> Result<Outcome, HandlerError> {
    use lakeline_core::alert::{unclaimed_alert, unclaimed_marker, unclaimed_prefix};
    let prefix = unclaimed_prefix(&deps.registry.lake.raw_prefix, key);
    Emf::new(&[("Function", "validate-upload"), ("Prefix", prefix.as_str())])
        .metric("UnclaimedUploads", Unit::Count, 1.0)
        .property("Key", key.to_string())
        .emit();
    let hour = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .map_err(|e| HandlerError::Config(format!("clock: {e}")))?;
    let marker = unclaimed_marker(&prefix, &hour[..13]);
    let first = deps
        .s3
        .put_object()
        .bucket(bucket)
        .key(&marker)
        .if_none_match("*")
        .body(key.as_bytes().to_vec().into())
        .send()
        .await;
    let alert_message_id = match first {
        Ok(_) => {
            let alert = unclaimed_alert(bucket, key, &prefix);
            match laws::publish_alert(&deps.sns, &deps.config.topic_arn, &alert).await {
                Ok(id) => Some(id),
                Err(e) => {
                    // Give the hour's alert back, so the retry (or the next upload) sends it.
                    let _ = deps
                        .s3
                        .delete_object()
                        .bucket(bucket)
                        .key(&marker)
                        .send()
                        .await;
                    return Err(HandlerError::from_sdk("SNS Publish (unclaimed upload)", &e));
                }
            }
        }
        Err(e)
            if e.raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
        {
            None
        }
        Err(e) => return Err(HandlerError::from_sdk("PutObject (unclaimed marker)", &e)),
    };
    Ok(Outcome::Unclaimed {
        key: key.to_string(),
        prefix,
        alert_message_id,
    })
}

/// The key problem of a misnamed key, if the key is misnamed.
fn route_problem(reg: &Registry, key: &str) -> Option<validate::Problem> {
    match reg.route(key) {
        KeyRoute::Misnamed { dataset, why, .. } => {
            Some(validate::key_problem(&why, dataset.key_pattern.as_str()))
        }
        _ => None,
    }
}

fn emit_metrics(r: &Report) {
    let dims = [
        ("Function", "validate-upload"),
        ("Dataset", r.dataset.as_str()),
    ];
    let emf = Emf::new(&dims)
        .metric("BytesRead", Unit::Bytes, r.bytes_read as f64)
        .metric("RowsChecked", Unit::Count, r.rows as f64)
        .property("Key", r.key.clone());
    let emf = match r.verdict {
        Verdict::Valid => {
            emf.metric("FilesValidated", Unit::Count, 1.0)
                .metric("FilesRejected", Unit::Count, 0.0)
        }
        Verdict::Invalid => emf
            .metric("FilesValidated", Unit::Count, 0.0)
            .metric("FilesRejected", Unit::Count, 1.0)
            .property("Reason", r.reason_code().map_or("invalid", |c| c.as_str())),
    };
    emf.emit();
    if let (Verdict::Invalid, Some(code)) = (r.verdict, r.reason_code()) {
        // Rejections by reason get their own dimension set, so an alarm can watch one reason.
        Emf::new(&[("Function", "validate-upload"), ("Reason", code.as_str())])
            .metric("FilesRejected", Unit::Count, 1.0)
            .emit();
    }
}

/// The execution input: everything the pipeline needs about the file. Deterministic (no
/// timestamps), so a redelivery while the first execution runs is accepted as the same start.
///
/// `engine` is where the file goes (`lakeline_core::jobs::route`): `lambda` (curate), `glue`,
/// `emr-serverless`, or `none` with `engineError` saying why and what to set; the state machine
/// chooses its path on it. `withdraw` (a reprocessed file that now fails) takes the file's
/// rows out of its table instead. `reprocess` is the rules pass of `lakeline reprocess`
/// (null otherwise), which the engines record the rows' version with.
pub fn execution_input(
    obj: &s3io::Object,
    report: &Report,
    m: &lakeline_core::registry::KeyMatch,
    dataset: &lakeline_core::registry::Dataset,
    start: &Start<'_>,
) -> Value {
    let route = lakeline_core::jobs::route(
        &report.dataset,
        dataset.job.as_ref(),
        dataset.format,
        obj.size,
        dataset.is_gzip(&obj.key),
    );
    let engine_error = match &route {
        lakeline_core::jobs::Route::TooLarge(why) if !start.withdraw => Some(why.clone()),
        _ => None,
    };
    let engine = if start.withdraw {
        WITHDRAW_ENGINE
    } else {
        route.engine_name()
    };
    json!({
        "engine": engine,
        "reprocess": start.pass,
        "engineError": engine_error,
        "bucket": obj.bucket,
        "key": obj.key,
        "versionId": obj.version_id,
        "etag": obj.etag,
        "dataset": report.dataset,
        "partition": validate::partition_label(m),
        "date": m.date,
        "file": m.file,
        "format": report.format.as_str(),
        "size": obj.size,
        "rows": report.rows,
    })
}

/// The `engine` of an execution that takes a reprocessed file's rows out of its table.
pub const WITHDRAW_ENGINE: &str = "withdraw";

/// The length of a rules pass: the first hex digits of [`lakeline_core::registry::Dataset::rules_hash`].
pub const PASS_LEN: usize = 12;

/// The execution to start for a valid file (or a withdrawal).
pub struct Start<'a> {
    /// Its name.
    pub execution: String,
    /// `lakeline reprocess`'s rules pass, if it is one.
    pub pass: Option<&'a str>,
    /// Whether it takes the file's rows out instead of curating them.
    pub withdraw: bool,
}

/// Starts the execution; `true` when one of that name existed already (a duplicate).
async fn start_execution(
    deps: &Deps,
    obj: &s3io::Object,
    report: &Report,
    m: &lakeline_core::registry::KeyMatch,
    start: &Start<'_>,
) -> Result<bool, HandlerError> {
    let (_, dataset) = deps
        .registry
        .dataset(&report.dataset)
        .expect("a report names its routed dataset");
    let input = execution_input(obj, report, m, dataset, start);
    let res = deps
        .sfn
        .start_execution()
        .state_machine_arn(&deps.config.state_machine_arn)
        .name(&start.execution)
        .input(input.to_string())
        .send()
        .await;
    match res {
        Ok(_) => Ok(false),
        Err(e) if laws::error_code(&e).as_deref() == Some("ExecutionAlreadyExists") => Ok(true),
        Err(e) => Err(HandlerError::from_sdk("StartExecution", &e)),
    }
}

async fn start_pipeline(
    deps: &Deps,
    obj: &s3io::Object,
    report: &Report,
    m: &lakeline_core::registry::KeyMatch,
    start: Start<'_>,
    replayed: Option<(String, String)>,
) -> Result<Outcome, HandlerError> {
    s3io::merge_tags(
        &deps.s3,
        obj,
        &[
            ("lakeline:status", "validated"),
            ("lakeline:execution", start.execution.as_str()),
        ],
    )
    .await?;
    let duplicate = start_execution(deps, obj, report, m, &start).await?;
    let execution = start.execution;
    // A replayed object that validated is back in the lake for good: its quarantined copy goes
    // (only validate-upload may delete there), and only the copy it was replayed from (its
    // ETag), never a newer quarantined upload of the key. A retry finds it gone: fine.
    let released = match replayed {
        Some((qkey, qetag)) => {
            s3io::delete_if_match(&deps.s3, &obj.bucket, &qkey, &qetag).await?;
            info!(key = %obj.key, quarantined = %qkey, "replayed object validated; its quarantined copy removed");
            Some(qkey)
        }
        None => None,
    };
    Ok(Outcome::Valid {
        key: obj.key.clone(),
        dataset: report.dataset.clone(),
        rows: report.rows,
        execution,
        duplicate,
        released,
    })
}
