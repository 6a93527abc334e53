//! Lambda entry point: read config, build the client once, serve events.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use notify_failure::{handle, Deps};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let conf = lakeline::aws::sdk_config().await;
    let deps = Deps {
        sns: aws_sdk_sns::Client::new(&conf),
        topic_arn: lakeline::aws::env("ALERT_TOPIC_ARN")?,
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
