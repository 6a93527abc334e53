//! Lambda entry point: read config, build clients once, serve events.

use lakeline_aws::live::Live;
use lakeline_aws::ProcessEnv;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use start_job::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let conf = lakeline_aws::sdk_config().await;
    let deps = Deps::from_env(&conf, &ProcessEnv).await?;
    let s3 = lakeline_aws::s3_client(&conf);
    let live = &Live::new(deps, &ProcessEnv, s3, "start-job").await?;
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        handle(&*live.current(Deps::with_registry).await, ev.payload).await
    }))
    .await
}
