//! Runs the handler once on an event file, outside Lambda, with the environment main.rs reads:
//! `LAKELINE_REGISTRY=config/datasets.yaml cargo run -p check-compaction --example invoke -- events/check-compaction-sweep.json`
//! (point `AWS_ENDPOINT_URL` at the local emulator, or use real credentials). Prints the output.

use std::sync::Arc;

use check_compaction::{handle, Config, Deps};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: invoke EVENT.json")?;
    let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let conf = lakeline::aws::sdk_config().await;
    let s3 = lakeline::aws::s3_client(&conf);
    let registry =
        lakeline::aws::load_registry(&lakeline::aws::env("LAKELINE_REGISTRY")?, &s3).await?;
    let deps = Deps {
        s3,
        registry: Arc::new(registry),
        config: Config::from_env()?,
    };
    let out = handle(&deps, event)
        .await
        .map_err(|e| format!("{}: {e}", e.error_type()))?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
