//! Pipeline failures: what notify-failure receives from the state machine's `Catch`, read
//! leniently, and turned into the one alert format ([`crate::alert::Alert`]).
//!
//! A Cause can be a Lambda error payload (`errorType`, `errorMessage`, maybe a `stackTrace`),
//! a start-job status document, JSON inside a string inside JSON (each Lambda → Step Functions
//! hop stringifies once more), plain text (`States.Runtime`, SDK integrations), empty
//! (`States.Timeout`), or garbage. Whatever it is, the result names the root error first and
//! stays bounded: [`diagnose`] never fails.

use serde_json::Value;

use crate::alert::{Alert, Severity, REASON_MAX};
use crate::error_names;
use crate::jobs::{execution_url, run_links, JobStatus, Link, RunHandle, RunStatus};
use crate::text::shorten;

/// How deep JSON-in-a-string is unwrapped; real Causes nest two or three times.
const MAX_NESTING: usize = 6;
/// Stack-trace lines kept under the root reason.
const TRACE_LINES: usize = 5;

/// The event notify-failure is invoked with. The state machine's Catch sends
/// `{"stage": "job", "execution": $$.Execution, "input": $, "error": {"Error", "Cause"}}`;
/// every field is optional, and `Error`/`Cause` are also accepted at the top level.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureEvent {
    /// Pipeline stage that failed (`job`, `compaction`, …).
    pub stage: Option<String>,
    /// Execution ARN (`$$.Execution.Id`).
    pub execution_arn: Option<String>,
    /// Execution name.
    pub execution_name: Option<String>,
    /// The execution input (bucket, key, dataset, partition…), object form.
    pub input: Value,
    /// The caught `Error`.
    pub error: String,
    /// The caught `Cause`, as received.
    pub cause: String,
}

fn str_at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// Parses JSON that may be wrapped in strings (`"{\"a\":1}"`) until it is not a string any
/// more; text that is not JSON comes back as a string value.
pub fn unwrap_json(text: &str) -> Value {
    let mut v = Value::String(text.to_string());
    for _ in 0..MAX_NESTING {
        let Value::String(s) = &v else { break };
        let t = s.trim();
        if !(t.starts_with('{') || t.starts_with('[') || t.starts_with('"')) {
            break;
        }
        match serde_json::from_str::<Value>(t) {
            Ok(inner) => v = inner,
            Err(_) => break,
        }
    }
    v
}

/// The EventBridge `detail-type` of a Step Functions execution's status change.
pub const STATUS_CHANGE: &str = "Step Functions Execution Status Change";
/// The error name an alert gives an execution that was stopped (status `ABORTED` has none).
pub const ABORTED: &str = "ExecutionAborted";

/// The stage of an upload execution, from the engine validate-upload chose for it.
fn stage_of_engine(input: &Value) -> Option<String> {
    match str_at(input, &["engine"])? {
        "lambda" | "none" => Some("curate".into()),
        "glue" | "emr-serverless" => Some("job".into()),
        _ => None,
    }
}

impl FailureEvent {
    /// Reads the event leniently: nothing here makes notify-failure refuse to alert.
    ///
    /// Two shapes arrive: the EventBridge status change of a failed, timed-out or aborted
    /// upload execution (the template's rule; `detail` carries the execution's ARN, input,
    /// error and cause), and the maintenance state machine's own Catch payload.
    pub fn from_value(payload: &Value) -> FailureEvent {
        if payload.get("detail-type").and_then(Value::as_str) == Some(STATUS_CHANGE) {
            return FailureEvent::from_status_change(&payload["detail"]);
        }
        let err_obj = payload
            .get("error")
            .or_else(|| payload.get("Error").filter(|v| v.is_object()));
        let (error, cause) = match err_obj {
            Some(e) if e.is_object() => (
                str_at(e, &["Error", "error"]).unwrap_or("").to_string(),
                cause_text(e.get("Cause").or_else(|| e.get("cause"))),
            ),
            _ => (
                str_at(payload, &["Error"]).unwrap_or("").to_string(),
                cause_text(payload.get("Cause")),
            ),
        };
        let exec = payload.get("execution").cloned().unwrap_or(Value::Null);
        let input = payload
            .get("input")
            .or_else(|| exec.get("Input"))
            .map(|v| match v {
                Value::String(s) => unwrap_json(s),
                v => v.clone(),
            })
            .filter(Value::is_object)
            .unwrap_or(Value::Null);
        FailureEvent {
            stage: str_at(payload, &["stage"]).map(str::to_string),
            execution_arn: str_at(&exec, &["Id", "Arn"])
                .or_else(|| exec.as_str())
                .map(str::to_string),
            execution_name: str_at(&exec, &["Name"]).map(str::to_string),
            input,
            error,
            cause,
        }
    }
}

impl FailureEvent {
    fn from_status_change(d: &Value) -> FailureEvent {
        let status = str_at(d, &["status"]).unwrap_or_default();
        let error = str_at(d, &["error"])
            .map(str::to_string)
            .unwrap_or_else(|| {
                match status {
                    "TIMED_OUT" => "States.Timeout",
                    "ABORTED" => ABORTED,
                    _ => "",
                }
                .to_string()
            });
        let input = match d.get("input") {
            Some(Value::String(s)) => unwrap_json(s),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let input = if input.is_object() {
            input
        } else {
            Value::Null
        };
        FailureEvent {
            stage: stage_of_engine(&input),
            execution_arn: str_at(d, &["executionArn"]).map(str::to_string),
            execution_name: str_at(d, &["name"]).map(str::to_string),
            input,
            error,
            cause: cause_text(d.get("cause")),
        }
    }
}

fn cause_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Some callers pass the Cause already parsed.
        Some(other) => other.to_string(),
    }
}

/// What a failure means, root cause first.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    /// The stable error name for the alert (the inner `errorType` when the Step Functions
    /// name only says "a task failed").
    pub error_type: String,
    /// What failed, in a few words.
    pub what: String,
    /// Why, the root error first, each line shortened.
    pub reasons: Vec<String>,
    /// The job status, when the Cause was one.
    pub job: Option<JobStatus>,
    /// What a human should do.
    pub action: String,
}

/// Step Functions names that only say *where* something failed; the Cause says *what*.
fn is_generic(error: &str) -> bool {
    error.is_empty()
        || matches!(
            error,
            "States.TaskFailed" | "States.ALL" | "Lambda.Unknown" | "Error"
        )
}

/// Reads a Cause in the light of its Error name.
pub fn diagnose(error: &str, cause: &str) -> Diagnosis {
    let mut d = Diagnosis {
        error_type: if error.is_empty() {
            "Unknown".into()
        } else {
            error.to_string()
        },
        what: String::new(),
        reasons: Vec::new(),
        job: None,
        action: String::new(),
    };
    read_cause(&unwrap_json(cause), &mut d, 0);
    if d.reasons.is_empty() {
        d.reasons.push(match error {
            "States.Timeout" => "the step ran longer than its TimeoutSeconds (no further detail from Step Functions)".into(),
            "States.HeartbeatTimeout" => "the step sent no heartbeat in time".into(),
            _ => "no cause was given".into(),
        });
    }
    d.reasons = d
        .reasons
        .iter()
        .map(|r| shorten(r.trim(), REASON_MAX))
        .filter(|r| !r.is_empty())
        .collect();
    if d.what.is_empty() {
        d.what = what_for(&d.error_type);
    }
    d.action = action_for(&d.error_type, d.job.as_ref(), "pipeline", None);
    d
}

fn read_cause(v: &Value, d: &mut Diagnosis, depth: usize) {
    if depth > MAX_NESTING {
        return;
    }
    match v {
        Value::Object(_) if v.get("status").is_some() && v.get("run").is_some() => {
            match serde_json::from_value::<JobStatus>(v.clone()) {
                Ok(js) => read_job(js, d),
                Err(_) => generic_object(v, d),
            }
        }
        Value::Object(_) if v.get("errorType").is_some() || v.get("errorMessage").is_some() => {
            let et = str_at(v, &["errorType"]).unwrap_or_default();
            if is_generic(&d.error_type) && !et.is_empty() {
                d.error_type = et.to_string();
            }
            let msg = str_at(v, &["errorMessage"]).unwrap_or_default();
            let inner = unwrap_json(msg);
            if inner.is_object() {
                // A handler that failed with a JSON document as its message: read that instead.
                read_cause(&inner, d, depth + 1);
            } else if !msg.is_empty() {
                d.reasons.push(msg.to_string());
            }
            if !et.is_empty() && et != d.error_type {
                d.reasons.push(format!("errorType: {et}"));
            }
            let trace: Vec<String> = match v.get("stackTrace").or_else(|| v.get("trace")) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect(),
                Some(Value::String(s)) => s.lines().map(str::to_string).collect(),
                _ => Vec::new(),
            };
            for line in trace
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .take(TRACE_LINES)
            {
                d.reasons.push(format!("at {line}"));
            }
        }
        Value::Object(_) if v.get("Cause").is_some() || v.get("Error").is_some() => {
            let inner_err = str_at(v, &["Error"]).unwrap_or_default();
            if is_generic(&d.error_type) && !inner_err.is_empty() {
                d.error_type = inner_err.to_string();
            }
            let inner = unwrap_json(&cause_text(v.get("Cause")));
            read_cause(&inner, d, depth + 1);
        }
        Value::Object(_) | Value::Array(_) => generic_object(v, d),
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() {
                d.reasons.push(printable(s));
            }
        }
        Value::Null => {}
        other => d.reasons.push(other.to_string()),
    }
}

/// Control characters and long runs of whitespace make an alert unreadable.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(REASON_MAX * 4));
    for c in s.chars() {
        if out.len() > REASON_MAX * 4 {
            break;
        }
        if c.is_control() || c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn generic_object(v: &Value, d: &mut Diagnosis) {
    // Services disagree on the key of their message; take the first that is present.
    match str_at(
        v,
        &[
            "errorMessage",
            "ErrorMessage",
            "message",
            "Message",
            "error",
            "detail",
        ],
    ) {
        Some(m) => d.reasons.push(printable(m)),
        None => d.reasons.push(shorten(&v.to_string(), REASON_MAX)),
    }
}

fn read_job(js: JobStatus, d: &mut Diagnosis) {
    let engine = js.run.engine.label();
    let verb = match js.status {
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "was cancelled",
        RunStatus::TimedOut => "timed out",
        RunStatus::Running => "was still running",
        RunStatus::Succeeded => "succeeded",
    };
    d.what = format!("{engine} job {verb}");
    if is_generic(&d.error_type) {
        d.error_type = error_names::JOB_FAILED.to_string();
    }
    if let Some(m) = &js.message {
        d.reasons.push(printable(m));
    }
    let name = js
        .run
        .job_name
        .as_deref()
        .or(js.run.application_id.as_deref())
        .unwrap_or("?");
    let mut line = format!(
        "run {} of {name} ended {} ({})",
        js.run.run_id, js.status, js.engine_state
    );
    if let Some(s) = js.duration_seconds {
        line.push_str(&format!(" after {s} s"));
    }
    d.reasons.push(line);
    d.job = Some(js);
}

fn what_for(error_type: &str) -> String {
    let s = match error_type {
        "States.Timeout" => "step timed out",
        "States.HeartbeatTimeout" => "step heartbeat timed out",
        "States.Runtime" => "state machine error",
        "States.DataLimitExceeded" => "state data too large",
        "States.Permissions" => "permission denied",
        "Sandbox.Timedout" => "function timed out",
        n if n == error_names::JOB_FAILED => "job failed",
        n if n == error_names::JOB_RETRYABLE => "job could not start",
        n if n == error_names::JOB_NOT_FOUND => "job not found",
        n if n == error_names::TRANSIENT => "AWS kept failing",
        n if n == error_names::CONFIG => "configuration error",
        n if n == error_names::BAD_INPUT => "bad input",
        n if n == error_names::INVALID => "file no longer valid",
        n if n == error_names::ROW_COUNT => "curated row count differs",
        n if n == error_names::TOO_LARGE => "file too large for its engine",
        n if n == error_names::CURATE_FAILED => "curation failed",
        n if n.starts_with("Lambda.") => "function failed",
        _ => "step failed",
    };
    s.to_string()
}

/// How a failed upload execution is run again, as the alert's "What to do" names it.
///
/// A failure raised by a Task (a Lambda error, an exhausted retry) is resumed in place with
/// `RedriveExecution`: the execution continues at the failed step. A failure decided by a Fail
/// state (no engine can take the file, the Spark run itself failed or never finished) would
/// fail again at that state, so it is run again from the start as a new execution (`lakeline
/// rerun`), which also takes the registry's current routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// `lakeline redrive`: resume at the failed step.
    Redrive,
    /// `lakeline rerun`: a new execution of the same upload.
    Rerun,
    /// The maintenance sweep runs the partition again on its schedule.
    NextSweep,
}

impl Remedy {
    /// The remedy for a failure of `stage` with `error_type`.
    pub fn of(error_type: &str, stage: &str) -> Remedy {
        if stage == "compaction" {
            return Remedy::NextSweep;
        }
        match error_type {
            n if n == error_names::JOB_FAILED
                || n == error_names::JOB_POLL_LIMIT
                || n == error_names::TOO_LARGE =>
            {
                Remedy::Rerun
            }
            _ => Remedy::Redrive,
        }
    }

    /// The command (or console action) that carries the remedy out for `execution_arn`.
    pub fn command(self, execution_arn: Option<&str>) -> String {
        let arn = execution_arn.unwrap_or("<execution ARN>");
        match self {
            Remedy::Redrive => format!(
                "then run `lakeline redrive {arn}` (or Redrive in the Step Functions console): it resumes at the failed step"
            ),
            Remedy::Rerun => format!(
                "then run `lakeline rerun {arn} --function <validate-upload function>`: it validates and routes the upload again as a new execution (curated output is rewritten in place, never duplicated)"
            ),
            Remedy::NextSweep => "the next scheduled maintenance sweep retries the partition; to retry now, start the maintenance state machine (console: Start execution) with {\"dataset\": \"<dataset>\"}".to_string(),
        }
    }
}

fn action_for(
    error_type: &str,
    job: Option<&JobStatus>,
    stage: &str,
    execution_arn: Option<&str>,
) -> String {
    let again = Remedy::of(error_type, stage).command(execution_arn);
    match error_type {
        n if n == error_names::JOB_FAILED || job.is_some() => {
            format!("Read the job's error log (links above), fix the job or its input, {again}.")
        }
        n if n == error_names::JOB_POLL_LIMIT => {
            format!("The run never finished within the status checks: look at it in the job's console (links above), stop it if it is stuck, {again}.")
        }
        n if n == error_names::JOB_RETRYABLE => {
            format!("The job stayed at its concurrency limit or was throttled through every retry: raise MaxConcurrentRuns or the quota, or wait for the backlog to clear, {again}.")
        }
        n if n == error_names::JOB_NOT_FOUND => {
            format!("The job or application named in config/datasets.yaml does not exist in this account and region: deploy it or fix the registry (`lakeline registry push`), {again}.")
        }
        n if n == error_names::INVALID => {
            format!("The dataset's rules in the registry changed after this file was validated, and it no longer passes them (problems above): fix config/datasets.yaml and {again}; or fix the file and upload it again.")
        }
        n if n == error_names::ROW_COUNT || n == error_names::CURATE_FAILED => {
            format!("Nothing was committed to the table. This is a lakeline bug or an output failure: keep the raw file, read the curate function's log for this execution, report it, {again}.")
        }
        n if n == error_names::TOO_LARGE => {
            format!("Nothing was written. Give the dataset a Spark engine for files this large in config/datasets.yaml (job: {{engine: glue, job_name: <job>, above: 4GiB}}, or emr-serverless), or split the file; {again}.")
        }
        n if n == error_names::COMPACT_FAILED => {
            format!("Nothing was committed: the table is as it was. Fix the cause named above; {again}.")
        }
        n if n == error_names::CONFIG || n == "States.Permissions" => {
            format!("Fix the configuration or IAM permission named above, {again}.")
        }
        n if n == ABORTED => format!("Someone or something stopped the execution; if that was not meant, {again}."),
        "States.Timeout" | "Sandbox.Timedout" => {
            format!("Check whether the step is stuck or just slow (logs above); raise its timeout if the data grew, {again}.")
        }
        "States.Runtime" | "States.DataLimitExceeded" => {
            format!("This is a bug in the state machine definition or its input paths: fix the definition, {again}.")
        }
        _ => format!("Look at the execution history (link above) for the failing step, fix the cause, {again}."),
    }
}

/// The alert for a caught pipeline failure. `region` decides the console hosts.
pub fn failure_alert(ev: &FailureEvent, region: &str) -> Alert {
    let d = diagnose(&ev.error, &ev.cause);
    let input = &ev.input;
    // The run handle: from the job status in the Cause, or from the input (`$.run` after a
    // start, `$.job.run` after a status check).
    let run: Option<RunHandle> = d.job.as_ref().map(|j| j.run.clone()).or_else(|| {
        [input.get("run"), input.pointer("/job/run")]
            .into_iter()
            .flatten()
            .find_map(|v| serde_json::from_value::<RunHandle>(v.clone()).ok())
    });
    let mut links: Vec<Link> = Vec::new();
    if let Some(arn) = &ev.execution_arn {
        links.push(Link {
            label: "Execution".into(),
            url: execution_url(region, arn),
        });
    }
    match (&d.job, &run) {
        (Some(js), _) if !js.links.is_empty() => links.extend(js.links.iter().cloned()),
        (_, Some(r)) => links.extend(run_links(region, r)),
        _ => {}
    }
    let dataset = str_at(input, &["dataset"])
        .map(str::to_string)
        .or_else(|| run.as_ref().map(|r| r.dataset.clone()));
    let partition = str_at(input, &["partition"])
        .map(str::to_string)
        .or_else(|| run.as_ref().and_then(|r| r.partition.clone()));
    let object = match (str_at(input, &["bucket"]), str_at(input, &["key"])) {
        (Some(b), Some(k)) => Some(format!("s3://{b}/{k}")),
        _ => None,
    };
    let stage = ev.stage.clone().unwrap_or_else(|| {
        if run.is_some() {
            "job".into()
        } else {
            "pipeline".into()
        }
    });
    let action = action_for(
        &d.error_type,
        d.job.as_ref(),
        &stage,
        ev.execution_arn.as_deref(),
    );
    Alert {
        severity: Severity::Error,
        stage,
        dataset,
        what: d.what,
        object,
        partition,
        error_type: d.error_type,
        reasons: d.reasons,
        now_at: None,
        links: links.into_iter().map(|l| (l.label, l.url)).collect(),
        action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{BODY_MAX, SUBJECT_MAX};
    use serde_json::json;

    fn job_status_json() -> Value {
        json!({
            "status": "FAILED", "done": true, "engineState": "FAILED",
            "message": "AnalysisException: Path does not exist: s3://lake/raw/orders/dt=2026-11-25/o.csv",
            "durationSeconds": 95, "billed": {"dpuSeconds": 190.0}, "links": [], "waitSeconds": 0,
            "run": {"engine": "glue", "jobName": "lakeline-orders-curate", "runId": "jr_1", "runKey": "lakeline-ab",
                    "startedAt": "2026-11-25T10:00:00Z", "dataset": "orders", "partition": "dt=2026-11-25", "checks": 3}
        })
    }

    /// (Error, Cause, expected errorType, expected what, expected first reason fragment).
    #[test]
    fn reads_real_shaped_causes() {
        let lambda = json!({"errorType": "Lakeline.JobNotFound", "errorMessage": "Glue job lakeline-orders-curate: EntityNotFoundException: Job not found"}).to_string();
        let lambda_trace = json!({"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: 7c9 Error: Task timed out after 30.00 seconds", "stackTrace": ["line one", "line two"]}).to_string();
        let status = job_status_json().to_string();
        let doubly =
            serde_json::to_string(&json!({"Error": "States.TaskFailed", "Cause": lambda})).unwrap();
        let stringified = serde_json::to_string(&status).unwrap();
        let lambda_wrapping_status =
            json!({"errorType": "Lakeline.JobFailed", "errorMessage": status}).to_string();
        let cases: Vec<(&str, String, &str, &str, &str)> = vec![
            ("Lakeline.JobNotFound", lambda.clone(), "Lakeline.JobNotFound", "job not found", "Glue job lakeline-orders-curate: EntityNotFound"),
            ("States.TaskFailed", lambda.clone(), "Lakeline.JobNotFound", "job not found", "Glue job"),
            ("Sandbox.Timedout", lambda_trace, "Sandbox.Timedout", "function timed out", "RequestId: 7c9 Error: Task timed out"),
            ("Lakeline.JobFailed", status.clone(), "Lakeline.JobFailed", "Glue job failed", "AnalysisException: Path does not exist"),
            ("States.TaskFailed", stringified, "Lakeline.JobFailed", "Glue job failed", "AnalysisException"),
            ("States.TaskFailed", lambda_wrapping_status, "Lakeline.JobFailed", "Glue job failed", "AnalysisException"),
            ("States.ALL", doubly, "Lakeline.JobNotFound", "job not found", "Glue job"),
            ("States.Timeout", String::new(), "States.Timeout", "step timed out", "the step ran longer"),
            ("States.Runtime", "An error occurred while executing the state 'StartJob' (entered at the event id #2). The JSONPath '$.dataset' specified for the field 'dataset.$' could not be found in the input '{}'".into(), "States.Runtime", "state machine error", "An error occurred while executing the state 'StartJob'"),
            ("SNS.AuthorizationErrorException", "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: SNS:Publish (Service: Sns, Status Code: 403)".into(), "SNS.AuthorizationErrorException", "step failed", "User: arn:aws:sts"),
            ("States.TaskFailed", "{\"oops\": [1, 2, {\"deep\": true}]".into(), "States.TaskFailed", "step failed", "{\"oops\""),
            ("", "\u{0}\u{1}garbage\n\n\twith\u{7f} controls".into(), "Unknown", "step failed", "garbage with controls"),
            ("States.TaskFailed", "[1,2,3]".into(), "States.TaskFailed", "step failed", "[1,2,3]"),
            ("States.TaskFailed", "null".into(), "States.TaskFailed", "step failed", "null"),
        ];
        for (error, cause, et, what, first) in cases {
            let d = diagnose(error, &cause);
            assert_eq!(d.error_type, et, "{error} {cause}");
            assert_eq!(d.what, what, "{error} {cause}");
            assert!(
                d.reasons[0].starts_with(first),
                "{error} {cause}: {:?}",
                d.reasons
            );
            assert!(!d.action.is_empty());
        }
        let d = diagnose("States.TaskFailed", &json!({"errorType": "X", "errorMessage": "m", "stackTrace": ["a", "b", "c", "d", "e", "f", "g"]}).to_string());
        assert_eq!(d.reasons, ["m", "at a", "at b", "at c", "at d", "at e"]);
    }

    #[test]
    fn builds_the_alert_from_the_catch_event() {
        let ev = FailureEvent::from_value(&json!({
            "stage": "job",
            "execution": {"Id": "arn:aws:states:eu-west-1:123456789012:execution:lakeline:orders-x", "Name": "orders-x"},
            "input": {"bucket": "lake", "key": "raw/orders/dt=2026-11-25/o.csv", "dataset": "orders", "partition": "dt=2026-11-25"},
            "error": {"Error": "Lakeline.JobFailed", "Cause": job_status_json().to_string()}
        }));
        let a = failure_alert(&ev, "eu-west-1");
        assert_eq!(
            a.subject(),
            "[lakeline] ERROR orders job: Glue job failed (Lakeline.JobFailed)"
        );
        let t = a.text();
        assert!(t.starts_with("Glue job failed (dataset orders, stage job).\nFile:      s3://lake/raw/orders/dt=2026-11-25/o.csv\nPartition: dt=2026-11-25\n"), "{t}");
        assert!(t.contains("Why:\n  - AnalysisException"), "{t}");
        assert!(
            t.contains("run jr_1 of lakeline-orders-curate ended FAILED (FAILED) after 95 s"),
            "{t}"
        );
        assert!(
            t.contains("Execution: https://eu-west-1.console.aws.amazon.com/states/"),
            "{t}"
        );
        assert!(
            t.contains("Glue error log: https://eu-west-1.console.aws.amazon.com/cloudwatch/"),
            "{t}"
        );
        assert!(
            t.contains(
                "lakeline rerun arn:aws:states:eu-west-1:123456789012:execution:lakeline:orders-x"
            ),
            "{t}"
        );
        assert_eq!(
            a.attributes()[2],
            ("error_type", "Lakeline.JobFailed".to_string())
        );
    }

    /// The EventBridge rule's event, as Step Functions emits it for the pipeline.
    fn status_change(status: &str, error: Option<&str>, cause: Option<&str>) -> Value {
        json!({
            "version": "0", "id": "e1", "detail-type": STATUS_CHANGE, "source": "aws.states",
            "account": "123456789012", "time": "2026-11-25T10:05:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:states:eu-west-1:123456789012:execution:lakeline-pipeline:orders-x"],
            "detail": {
                "executionArn": "arn:aws:states:eu-west-1:123456789012:execution:lakeline-pipeline:orders-x",
                "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:lakeline-pipeline",
                "name": "orders-x", "status": status, "startDate": 1, "stopDate": 2,
                "input": json!({"engine": "lambda", "bucket": "lake", "key": "raw/orders/dt=2026-11-25/o.csv", "dataset": "orders", "partition": "dt=2026-11-25"}).to_string(),
                "output": null, "error": error, "cause": cause
            }
        })
    }

    /// (status, error, cause, expected errorType, stage, the command "What to do" must name).
    #[test]
    fn status_change_events_alert_with_the_command_that_works() {
        let arn = "arn:aws:states:eu-west-1:123456789012:execution:lakeline-pipeline:orders-x";
        let curate_err = json!({"errorType": "Lakeline.Config", "errorMessage": "PutObject curated/: AccessDenied"}).to_string();
        let cases = [
            (
                "FAILED",
                Some("Lakeline.Config"),
                Some(curate_err.as_str()),
                "Lakeline.Config",
                "lakeline redrive",
            ),
            (
                "FAILED",
                Some("Lakeline.TooLarge"),
                Some("raw/o.csv is 20 GiB: above the Lambda engine's 16 GiB"),
                "Lakeline.TooLarge",
                "lakeline rerun",
            ),
            (
                "TIMED_OUT",
                None,
                None,
                "States.Timeout",
                "lakeline redrive",
            ),
            ("ABORTED", None, None, ABORTED, "lakeline redrive"),
        ];
        for (status, error, cause, et, command) in cases {
            let ev = FailureEvent::from_value(&status_change(status, error, cause));
            assert_eq!(ev.execution_arn.as_deref(), Some(arn));
            assert_eq!(ev.input["dataset"], "orders");
            let a = failure_alert(&ev, "eu-west-1");
            assert_eq!(a.error_type, et, "{status}");
            assert_eq!(a.stage, "curate");
            assert_eq!(a.dataset.as_deref(), Some("orders"));
            assert!(
                a.action.contains(&format!("{command} {arn}")),
                "{status}: {}",
                a.action
            );
        }
        let sample: Value = serde_json::from_str(include_str!(
            "../../../events/notify-failure-status-change.json"
        ))
        .unwrap();
        let a = failure_alert(&FailureEvent::from_value(&sample), "eu-west-1");
        assert_eq!(
            (a.error_type.as_str(), a.stage.as_str()),
            ("Lakeline.Config", "curate")
        );
        assert!(a.reasons[0].contains("AccessDenied"), "{:?}", a.reasons);
        assert!(a.action.contains("lakeline redrive arn:aws:states:eu-west-1:123456789012:execution:lakeline-pipeline:orders-"), "{}", a.action);
        let mut job = status_change("FAILED", Some("Lakeline.JobFailed"), None);
        job["detail"]["cause"] = json!(job_status_json().to_string());
        job["detail"]["input"] = json!(json!({"engine": "glue", "dataset": "orders"}).to_string());
        let a = failure_alert(&FailureEvent::from_value(&job), "eu-west-1");
        assert_eq!(
            (a.stage.as_str(), a.what.as_str()),
            ("job", "Glue job failed")
        );
        assert!(a.action.contains("lakeline rerun"), "{}", a.action);
        assert!(!a.action.contains("redrive"), "{}", a.action);
    }

    /// Every error an alert can carry gets a "What to do" naming a command or console action
    /// that exists for it; which one follows [`Remedy::of`].
    #[test]
    fn every_alert_names_a_working_remedy() {
        let mut names: Vec<&str> = error_names::ALL.to_vec();
        names.extend([
            "States.Timeout",
            "States.Runtime",
            "States.Permissions",
            "Sandbox.Timedout",
            ABORTED,
            "Unknown",
        ]);
        for stage in ["curate", "job", "compaction"] {
            for n in &names {
                let action = action_for(n, None, stage, Some("arn:x"));
                let want = match Remedy::of(n, stage) {
                    Remedy::Redrive => "`lakeline redrive arn:x`",
                    Remedy::Rerun => "`lakeline rerun arn:x --function",
                    Remedy::NextSweep => "maintenance state machine",
                };
                assert!(action.contains(want), "{stage} {n}: {action}");
            }
        }
        assert_eq!(Remedy::of(error_names::JOB_FAILED, "job"), Remedy::Rerun);
        assert_eq!(Remedy::of(error_names::CONFIG, "curate"), Remedy::Redrive);
    }

    #[test]
    fn lenient_about_the_event_shape() {
        // Error/Cause at the top level, input as a string inside the execution context.
        let ev = FailureEvent::from_value(&json!({
            "Error": "States.Timeout", "Cause": null,
            "execution": {"Id": "arn:x", "Input": "{\"dataset\":\"clicks\",\"bucket\":\"b\",\"key\":\"k\"}"}
        }));
        assert_eq!(ev.error, "States.Timeout");
        assert_eq!(ev.input["dataset"], "clicks");
        let a = failure_alert(&ev, "us-east-1");
        assert_eq!(
            a.subject(),
            "[lakeline] ERROR clicks pipeline: step timed out (States.Timeout)"
        );
        // Nothing at all still gives an alert.
        let a = failure_alert(&FailureEvent::from_value(&json!("garbage")), "us-east-1");
        assert_eq!(
            a.subject(),
            "[lakeline] ERROR - pipeline: step failed (Unknown)"
        );
        // A run handle in the input gives job links even when the Cause is a Lambda error.
        let ev = FailureEvent::from_value(&json!({
            "input": {"dataset": "orders", "run": job_status_json()["run"]},
            "error": {"Error": "Lakeline.Transient", "Cause": "{\"errorType\":\"Lakeline.Transient\",\"errorMessage\":\"GetJobRun: dispatch failure\"}"}
        }));
        let a = failure_alert(&ev, "us-east-1");
        assert_eq!(a.stage, "job");
        assert!(
            a.links.iter().any(|(l, _)| l == "Glue job run"),
            "{:?}",
            a.links
        );
    }

    #[test]
    fn bounded_however_large_the_cause() {
        let huge_msg = "E".repeat(2_000_000);
        let mut status = job_status_json();
        status["message"] = json!(huge_msg);
        let nested = json!({"errorType": "Lakeline.JobFailed", "errorMessage": status.to_string()})
            .to_string();
        for cause in [
            huge_msg.clone(),
            nested,
            format!("{{\"a\":\"{}\"}}", "é".repeat(500_000)),
        ] {
            let ev = FailureEvent {
                error: "States.TaskFailed".into(),
                cause,
                ..Default::default()
            };
            let a = failure_alert(&ev, "us-east-1");
            assert!(a.subject().len() <= SUBJECT_MAX);
            assert!(a.text().len() <= BODY_MAX);
            assert!(a.reasons.iter().all(|r| r.chars().count() <= REASON_MAX));
            assert!(a.sns_message().len() < 128 * 1024);
        }
    }
}
