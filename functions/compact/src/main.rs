//! Lambda entry point: read config, build clients once, serve events.

use compact::{handle, Deps};
use lakeline::aws::ProcessEnv;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let conf = lakeline::aws::sdk_config().await;
    let deps = &Deps::from_env(&conf, &ProcessEnv).await?;
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        handle(deps, ev.payload).await
    }))
    .await
}
