//! Lambda entry point: read config, build clients once, serve events.

use curate::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let live = &lakeline_aws::live::start("curate", Deps::from_env).await?;
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        let deadline = curate::deadline_of(ev.context.deadline);
        handle(
            &*live.current(Deps::with_registry).await,
            ev.payload,
            deadline,
        )
        .await
    }))
    .await
}
