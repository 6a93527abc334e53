//! Lambda entry point: read config, build clients once, serve events.

use std::sync::Arc;

use check_compaction::{handle, Config, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let conf = lakeline::aws::sdk_config().await;
    let s3 = lakeline::aws::s3_client(&conf);
    let registry =
        lakeline::aws::load_registry(&lakeline::aws::env("LAKELINE_REGISTRY")?, &s3).await?;
    let deps = Deps {
        s3,
        registry: Arc::new(registry),
        config: Config::from_env()?,
    };
    let deps = &deps;
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        handle(deps, ev.payload).await
    }))
    .await
}
