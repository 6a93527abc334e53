//! Lambda entry point: read config, build clients once, serve events.

use lakeline_aws::ProcessEnv;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use notify_failure::{handle, Deps};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let conf = lakeline_aws::sdk_config().await;
    let deps = &Deps::from_env(&conf, &ProcessEnv).await?;
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        handle(deps, ev.payload).await
    }))
    .await
}
