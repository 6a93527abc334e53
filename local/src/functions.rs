//! The lakeline handlers as the local router hosts them: built from a deployment's own
//! environment (a cold start), then invoked with JSON like Lambda does.

use lakeline_aws::Env;
use lambda_runtime::Diagnostic;
use serde_json::Value;

use crate::router::Deployment;

/// Handler names a deployment may use (the function crates' names).
pub const HANDLERS: &[&str] = &[
    "validate-upload",
    "start-job",
    "notify-failure",
    "check-compaction",
    "curate",
    "compact",
];

/// A function after its cold start.
pub enum Warm {
    /// validate-upload.
    Validate(validate_upload::Deps),
    /// start-job.
    StartJob(start_job::Deps),
    /// notify-failure.
    Notify(notify_failure::Deps),
    /// check-compaction.
    Compaction(check_compaction::Deps),
    /// curate.
    Curate(curate::Deps),
    /// compact.
    Compact(compact::Deps),
}

impl Warm {
    /// The cold start: exactly what each function's `main` does, with the deployment's env,
    /// and the credentials of the function's own template role (so each call it makes is
    /// checked against that role's policies: crate::identity).
    pub async fn build(d: &Deployment, conf: &aws_config::SdkConfig) -> anyhow::Result<Warm> {
        let env: &dyn Env = &d.env;
        let conf = &crate::identity::as_function(conf, &d.handler);
        Ok(match d.handler.as_str() {
            "validate-upload" => Warm::Validate(validate_upload::Deps::from_env(conf, env).await?),
            "start-job" => Warm::StartJob(start_job::Deps::from_env(conf, env).await?),
            "notify-failure" => Warm::Notify(notify_failure::Deps::from_env(conf, env).await?),
            "check-compaction" => {
                Warm::Compaction(check_compaction::Deps::from_env(conf, env).await?)
            }
            "curate" => Warm::Curate(curate::Deps::from_env(conf, env).await?),
            "compact" => Warm::Compact(compact::Deps::from_env(conf, env).await?),
            other => anyhow::bail!("unknown handler {other}"),
        })
    }

    /// One invocation; an error is (errorType, errorMessage), as the runtime would report it.
    pub async fn invoke(&self, payload: Value) -> Result<Value, (String, String)> {
        fn diag<E: Into<Diagnostic>>(e: E) -> (String, String) {
            let d: Diagnostic = e.into();
            (d.error_type, d.error_message)
        }
        match self {
            Warm::Validate(d) => validate_upload::handle(d, payload).await.map_err(diag),
            Warm::StartJob(d) => start_job::handle(d, payload).await.map_err(diag),
            Warm::Notify(d) => notify_failure::handle(d, payload).await.map_err(diag),
            Warm::Compaction(d) => check_compaction::handle(d, payload).await.map_err(diag),
            // The router has no Lambda deadline: curate runs to the end, as in a test.
            Warm::Curate(d) => curate::handle(d, payload, None).await.map_err(diag),
            Warm::Compact(d) => compact::handle(d, payload).await.map_err(diag),
        }
    }
}
