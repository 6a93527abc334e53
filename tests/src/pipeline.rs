//! A whole deployment on the emulator, for end-to-end tests and the demo: the lake, a Glue job,
//! an EMR Serverless application, the registry in S3, the four functions deployed to the local
//! Lambda router with their environments, and the real `statemachine/pipeline.asl.json` with
//! its `${Placeholders}` substituted the way template.yaml's DefinitionSubstitutions do.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lakeline::registry::Registry;
use serde_json::{json, Value};

use crate::jobs::Jobs;
use crate::{http, unique, Lake};

/// The pipeline definition as committed.
pub fn definition_template() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/pipeline.asl.json"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Replaces every `${Name}` with its value; panics on a placeholder without a value, so a new
/// placeholder cannot slip through untested.
pub fn substitute(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    if let Some(i) = out.find("${") {
        panic!(
            "placeholder without a substitution: {}",
            &out[i..out.len().min(i + 40)]
        );
    }
    out
}

/// The placeholders of a definition, in order of first appearance.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("${") {
        let Some(end) = rest[i..].find('}') else {
            break;
        };
        let name = rest[i + 2..i + end].to_string();
        if !out.contains(&name) {
            out.push(name);
        }
        rest = &rest[i + end + 1..];
    }
    out
}

/// The router's base URL, from the environment `scripts/local-aws` sets.
pub fn router_url() -> String {
    std::env::var("LAKELINE_ROUTER_URL")
        .expect("LAKELINE_ROUTER_URL is not set: run with `make test`")
}

/// Deploys one function to the router, as `sam deploy` would deploy it to Lambda.
pub async fn deploy(name: &str, handler: &str, env: &BTreeMap<&str, String>) {
    let body = json!({"handler": handler, "env": env}).to_string();
    let (status, text) = http(
        &router_url(),
        "PUT",
        &format!("/_lakeline/functions/{name}"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "deploying {name}: {text}");
}

/// The Lambda ARN of a function name.
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// One deployment.
pub struct Deployment {
    /// The lake (bucket, topic + queue, state machine).
    pub lake: Lake,
    /// The Glue job the orders dataset runs.
    pub glue_job: String,
    /// The EMR Serverless application compactions run on.
    pub emr_app: String,
    /// The registry, as uploaded to `s3://<bucket>/config/datasets.yaml`.
    pub registry: Registry,
    /// validate-upload's function name on the router.
    pub validate_function: String,
    /// Job service clients.
    pub jobs: Jobs,
}

/// Knobs for a deployment.
pub struct Options {
    /// Glue MaxConcurrentRuns of the orders job (1 makes a second run fail to start).
    pub glue_max_concurrent_runs: i32,
    /// Whether the orders Glue job exists at all.
    pub glue_job_exists: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            glue_max_concurrent_runs: 10,
            glue_job_exists: true,
        }
    }
}

impl Deployment {
    /// Deploys everything; partitions of the orders dataset close at once (no grace period, no
    /// quiet time), so a test can compact what it just wrote.
    pub async fn new(opts: Options) -> Deployment {
        let jobs = Jobs::new().await;
        let glue_job = if opts.glue_job_exists {
            jobs.glue_job(opts.glue_max_concurrent_runs).await
        } else {
            unique("no-such-job")
        };
        let emr_app = jobs.emr_application().await;
        let id = unique("fn");
        let names = [
            (
                "StartJobFunctionArn",
                format!("{id}-start-job"),
                "start-job",
            ),
            (
                "CheckCompactionFunctionArn",
                format!("{id}-check-compaction"),
                "check-compaction",
            ),
            (
                "NotifyFailureFunctionArn",
                format!("{id}-notify-failure"),
                "notify-failure",
            ),
        ];
        let subs: BTreeMap<&str, String> = names
            .iter()
            .map(|(k, n, _)| (*k, function_arn(n)))
            .collect();
        let definition = substitute(&definition_template(), &subs);
        let lake = Lake::new(&definition).await;

        let mut registry = crate::shipped_registry();
        for ds in registry.datasets.values_mut() {
            if let Some(lakeline::jobs::JobSpec::Glue(g)) = ds.job.as_mut() {
                g.job_name = glue_job.clone();
            }
            if let Some(c) = ds.compaction.as_mut() {
                c.grace_days = 0;
                c.quiet_minutes = 0;
                c.job.application_id = Some(emr_app.clone());
                c.job.execution_role_arn = Some(crate::jobs::EMR_ROLE_ARN.to_string());
            }
            if let Some(lakeline::jobs::JobSpec::EmrServerless(e)) = ds.job.as_mut() {
                e.application_id = emr_app.clone();
                e.execution_role_arn = crate::jobs::EMR_ROLE_ARN.to_string();
            }
        }
        let yaml = serde_yaml_ng::to_string(&registry).unwrap();
        let registry_uri = format!("s3://{}/config/datasets.yaml", lake.bucket);
        lake.put("config/datasets.yaml", yaml.into_bytes()).await;

        let mut env = BTreeMap::new();
        env.insert("LAKELINE_REGISTRY", registry_uri);
        env.insert("ALERT_TOPIC_ARN", lake.topic_arn.clone());
        env.insert("STATE_MACHINE_ARN", lake.state_machine_arn.clone());
        // Local waits between job checks are a second, not 15 s doubling to 5 minutes.
        env.insert("LAKELINE_POLL_FIRST_SECONDS", "1".to_string());
        env.insert("LAKELINE_POLL_MAX_SECONDS", "1".to_string());
        for (_, name, handler) in &names {
            deploy(name, handler, &env).await;
        }
        let validate_function = format!("{id}-validate-upload");
        deploy(&validate_function, "validate-upload", &env).await;
        Deployment {
            lake,
            glue_job,
            emr_app,
            registry,
            validate_function,
            jobs,
        }
    }

    /// Delivers an S3 event to validate-upload through the Lambda Invoke API, as S3 would.
    pub async fn deliver(&self, event: &Value) -> (Option<String>, Value) {
        invoke(&self.validate_function, event).await
    }

    /// Waits (polling the API, bounded) until the execution is no longer RUNNING.
    pub async fn finished(
        &self,
        execution_arn: &str,
        within: Duration,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let deadline = Instant::now() + within;
        loop {
            let d = self
                .lake
                .sfn
                .describe_execution()
                .execution_arn(execution_arn)
                .send()
                .await
                .unwrap();
            if d.status().as_str() != "RUNNING" || Instant::now() > deadline {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The execution's history events (all pages).
    pub async fn history(&self, execution_arn: &str) -> Vec<aws_sdk_sfn::types::HistoryEvent> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .lake
                .sfn
                .get_execution_history()
                .execution_arn(execution_arn)
                .set_next_token(token)
                .max_results(1000)
                .send()
                .await
                .unwrap();
            out.extend(page.events().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return out;
            }
        }
    }
}

/// Invokes a function on the router; returns (X-Amz-Function-Error, payload).
pub async fn invoke(function: &str, payload: &Value) -> (Option<String>, Value) {
    let path = format!("/2015-03-31/functions/{function}/invocations");
    let base = router_url();
    let host = base.trim_start_matches("http://");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = payload.to_string();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let err = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-amz-function-error:")
            .map(|v| v.trim().to_string())
    });
    (
        err,
        serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
    )
}

/// State transitions of an execution, counted as AWS bills them: every state entered.
pub fn transitions(history: &[aws_sdk_sfn::types::HistoryEvent]) -> usize {
    history
        .iter()
        .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
        .count()
}
