//! Lambda entry point: read config, build clients once, serve events.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use start_job::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let live = &lakeline_aws::live::start("start-job", Deps::from_env).await?;
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        handle(&*live.current(Deps::with_registry).await, ev.payload).await
    }))
    .await
}
