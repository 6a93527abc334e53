//! Lambda entry point: read config, build clients once, serve requests.

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use start_job::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let conf = lakeline::aws::sdk_config().await;
    let s3 = lakeline::aws::s3_client(&conf);
    let registry =
        lakeline::aws::load_registry(&lakeline::aws::env("LAKELINE_REGISTRY")?, &s3).await?;
    let deps = Deps {
        glue: aws_sdk_glue::Client::new(&conf),
        emr: aws_sdk_emrserverless::Client::new(&conf),
        registry: Arc::new(registry),
        region: conf
            .region()
            .map_or("us-east-1", |r| r.as_ref())
            .to_string(),
    };
    let deps = &deps;
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        handle(deps, ev.payload).await
    }))
    .await
}
