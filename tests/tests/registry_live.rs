//! A running function follows its registry object: a new version is picked up after the TTL
//! without a cold start; a broken one is refused and the last good one keeps serving.

use std::collections::HashMap;

use lakeline_aws::live::Live;
use lakeline_core::registry::Registry;
use lakeline_tests::{Lake, WAITING_DEFINITION};

const V1: &str = "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n";
const V2: &str = "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{file}\n    format: csv\n    columns: [{name: id, type: int}, {name: note, type: string}]\n";
const BROKEN: &str = "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{file}\n    format: csv\n    colums: []\n";

#[tokio::test]
async fn a_new_registry_is_picked_up_and_a_broken_one_refused() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    lake.put("config/datasets.yaml", V1.into()).await;
    let location = format!("s3://{}/config/datasets.yaml", lake.bucket);
    let env: HashMap<String, String> = HashMap::from([
        ("LAKELINE_REGISTRY".to_string(), location.clone()),
        // Look at the object on every invocation.
        ("LAKELINE_REGISTRY_TTL_SECONDS".to_string(), "0".to_string()),
    ]);
    // A function's registry reads: any function's role may read the registry; curate's here.
    let s3 = lake.s3_as("curate");
    let first = lakeline_aws::load_registry(&location, &s3, &Default::default())
        .await
        .unwrap();
    let live = Live::new(first, &env, s3, "test").await.unwrap();
    let columns = |r: &Registry| r.dataset("orders").unwrap().1.columns.len();
    let keep = |_: &Registry, r: Registry| r;

    assert_eq!(columns(&*live.current(keep).await), 1);
    lake.put("config/datasets.yaml", V2.into()).await;
    assert_eq!(
        columns(&*live.current(keep).await),
        2,
        "new version picked up"
    );
    lake.put("config/datasets.yaml", BROKEN.into()).await;
    assert_eq!(
        columns(&*live.current(keep).await),
        2,
        "a broken version is refused; the last good one serves"
    );
    lake.put("config/datasets.yaml", V1.into()).await;
    assert_eq!(
        columns(&*live.current(keep).await),
        1,
        "a fixed version is taken"
    );
}
