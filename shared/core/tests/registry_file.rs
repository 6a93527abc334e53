//! The registry we ship parses, and every dataset in it routes its own sample key.

use lakeline_core::registry::{Format, KeyRoute};

#[test]
fn shipped_registry_is_valid_and_routes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/datasets.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let reg = lakeline_core::placeholders::load(&text, path, &Default::default()).unwrap();
    let formats: Vec<Format> = reg.datasets.values().map(|d| d.format).collect();
    for f in [Format::Csv, Format::Jsonl, Format::Parquet, Format::Tsv] {
        assert!(
            formats.contains(&f),
            "no {f:?} dataset in the sample registry"
        );
    }
    for name in reg.datasets.keys() {
        let key = format!("raw/{name}/dt=2026-11-25/part-0001.x");
        match reg.route(&key) {
            KeyRoute::Matched { name: n, m, .. } => {
                assert_eq!(n, name);
                assert_eq!(m.partition, "dt=2026-11-25");
            }
            other => panic!("{key}: {other:?}"),
        }
    }
}
