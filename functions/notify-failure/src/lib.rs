//! notify-failure: tells a human that a pipeline run failed. Turns the failure into one SNS
//! alert in lakeline's single format ([`lakeline_core::alert::Alert`], shared with validate-upload's
//! rejection alerts): a subject that says what failed, a body a human reads in five seconds,
//! a JSON variant for machine subscribers, and attributes for filter policies. Its "What to do"
//! names the command that runs the upload again ([`lakeline_core::failure::Remedy`]).
//!
//! Two callers ([`lakeline_core::failure::FailureEvent`] reads both, every field optional):
//! - the template's EventBridge rule on the upload pipeline's status changes (FAILED,
//!   TIMED_OUT, ABORTED): `{"detail-type": "Step Functions Execution Status Change",
//!   "detail": {"executionArn", "input", "error", "cause", ...}}`. The pipeline itself has no
//!   Catch, so a redrive resumes at the failed step;
//! - the maintenance state machine's per-partition Catch:
//!   `{"stage": "compaction", "execution": <$$.Execution>, "input": ..., "error": {"Error", "Cause"}}`.
//!
//! Output: `{"messageId", "subject", "errorType"}`. The function fails only when SNS does, so
//! the caller can retry the publish; an unreadable Cause still produces an alert.

use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use lakeline_aws as laws;
use lakeline_core::alert::Alert;
use lakeline_core::error_names;
use lakeline_core::failure::{failure_alert, FailureEvent};
use serde_json::{json, Value};
use tracing::info;

/// Everything the handler needs, built once per cold start.
pub struct Deps {
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// The alert topic (`ALERT_TOPIC_ARN`).
    pub topic_arn: String,
    /// Region, for console links.
    pub region: String,
}

impl Deps {
    /// Builds everything from the environment: `ALERT_TOPIC_ARN`.
    pub async fn from_env(
        conf: &aws_config::SdkConfig,
        env: &dyn lakeline_aws::Env,
    ) -> Result<Deps, lakeline_core::Error> {
        Ok(Deps {
            sns: aws_sdk_sns::Client::new(conf),
            topic_arn: env.require("ALERT_TOPIC_ARN")?,
            region: lakeline_aws::region_of(conf),
        })
    }
}

/// The function's error; its `errorType` is one of [`lakeline_core::error_names`].
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// SNS is throttling or unavailable: the state machine retries.
    #[error("{0}")]
    Transient(String),
    /// The topic is missing or the function may not publish to it.
    #[error("{0}")]
    Config(String),
}

impl NotifyError {
    /// The stable Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            NotifyError::Transient(_) => error_names::TRANSIENT,
            NotifyError::Config(_) => error_names::CONFIG,
        }
    }

    fn from_sdk<E>(what: &str, e: &SdkError<E, HttpResponse>) -> NotifyError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let msg = format!("{what}: {}", laws::describe(e));
        if laws::is_transient(e) {
            NotifyError::Transient(msg)
        } else {
            NotifyError::Config(msg)
        }
    }
}

impl From<NotifyError> for lambda_runtime::Diagnostic {
    fn from(e: NotifyError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one invocation: read the failure, publish its alert.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, NotifyError> {
    let ev = FailureEvent::from_value(&payload);
    let alert = failure_alert(&ev, &deps.region);
    let message_id = publish(&deps.sns, &deps.topic_arn, &alert).await?;
    info!(subject = %alert.subject(), error_type = %alert.error_type, %message_id, "failure alert sent");
    Ok(json!({"messageId": message_id, "subject": alert.subject(), "errorType": alert.error_type}))
}

/// Publishes an alert: text for email/SMS, JSON for queues and functions
/// (`MessageStructure: json`), and String attributes for subscription filter policies.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    alert: &Alert,
) -> Result<String, NotifyError> {
    lakeline_aws::publish_alert(sns, topic_arn, alert)
        .await
        .map_err(|e| NotifyError::from_sdk("SNS Publish", &e))
}
