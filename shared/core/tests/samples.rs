//! The demo's sample files (`samples/<dataset>/good.*` and `bad.*`) get the verdict their name
//! promises under the shipped registry, through the same steps a Lambda takes.

use std::path::Path;

use lakeline_core::registry::{Format, KeyRoute, Registry};
use lakeline_core::validate::{
    check_parquet_metadata, parquet_footer, precheck, validate_stream, Problem, PARQUET_TAIL_LEN,
};

/// Routes `raw/<dataset>/dt=2026-11-25/<file>` and validates `bytes`; returns the problems.
fn problems(reg: &Registry, dataset: &str, file: &str, bytes: &[u8]) -> Vec<Problem> {
    let key = format!("raw/{dataset}/dt=2026-11-25/{file}");
    let KeyRoute::Matched {
        name,
        dataset: ds,
        m,
    } = reg.route(&key)
    else {
        panic!("{key} does not route to a dataset");
    };
    let size = bytes.len() as u64;
    let pre = precheck(ds, &m.file, size);
    if !pre.is_empty() {
        return pre;
    }
    let max = reg.lake.max_problems;
    if ds.format == Format::Parquet {
        let tail = &bytes[bytes.len().saturating_sub(PARQUET_TAIL_LEN as usize)..];
        return match parquet_footer(tail, size) {
            Err(p) => vec![p],
            Ok(f) => {
                let start = f.metadata_start as usize;
                check_parquet_metadata(&bytes[start..start + f.metadata_len as usize], ds, max).1
            }
        };
    }
    validate_stream(name.as_str(), ds, &key, max, bytes)
        .expect("reading a slice")
        .problems
}

#[test]
fn samples_match_their_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("config/datasets.yaml")).unwrap();
    let reg = lakeline_core::placeholders::load(&text, "config/datasets.yaml", &Default::default())
        .unwrap();
    let mut seen = 0;
    let mut wrong = Vec::new();
    for dataset in reg.datasets.keys() {
        let dir = root.join("samples").join(dataset.as_str());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(
            files.iter().any(|f| f
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("good.")),
            "no good sample for {dataset}"
        );
        for path in files {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let good = file.starts_with("good.");
            assert!(
                good || file.starts_with("bad."),
                "{}: name samples good.* or bad.*",
                path.display()
            );
            let found = problems(
                &reg,
                dataset.as_str(),
                &file,
                &std::fs::read(&path).unwrap(),
            );
            seen += 1;
            let list: Vec<String> = found.iter().map(|p| format!("[{}] {p}", p.code)).collect();
            println!(
                "{dataset}/{file}: {}",
                if list.is_empty() {
                    "valid".into()
                } else {
                    list.join("; ")
                }
            );
            if good != found.is_empty() {
                wrong.push(format!("{dataset}/{file}: {list:?}"));
            }
        }
    }
    assert!(seen >= 7, "only {seen} samples found");
    assert!(
        wrong.is_empty(),
        "samples with the wrong verdict:\n{}",
        wrong.join("\n")
    );
}

/// Every good sample curates to Parquet with validation's row count; every bad one is refused.
#[test]
fn good_samples_curate_with_validations_row_count() {
    use lakeline_core::curate::{curate_batches, curate_stream, Provenance};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("config/datasets.yaml")).unwrap();
    let reg = lakeline_core::placeholders::load(&text, "config/datasets.yaml", &Default::default())
        .unwrap();
    let mut curated = 0;
    for (name, ds) in &reg.datasets {
        let dir = root.join("samples").join(name.as_str());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let key = format!("raw/{name}/dt=2026-11-25/{file}");
            let prov = Provenance {
                source: key.clone(),
                source_version: String::new(),
                dataset: name.to_string(),
                registry_sha256: reg.content_hash(),
            };
            let good = file.starts_with("good");
            let res = if ds.format == Format::Parquet {
                if !good {
                    continue; // refused by its footer before any row is read
                }
                let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    bytes::Bytes::from(bytes.clone()),
                )
                .unwrap();
                let rows = b.metadata().file_metadata().num_rows() as u64;
                let out = curate_batches(
                    name.as_str(),
                    ds,
                    &key,
                    b.build().unwrap(),
                    Vec::new(),
                    &prov,
                );
                out.map(|(c, _)| (c.rows, rows))
            } else {
                let rows = validate_stream(name.as_str(), ds, &key, 20, bytes.as_slice())
                    .unwrap()
                    .rows;
                curate_stream(
                    name.as_str(),
                    ds,
                    &key,
                    20,
                    bytes.as_slice(),
                    Vec::new(),
                    &prov,
                )
                .map(|(c, _)| (c.rows, rows))
            };
            match (good, res) {
                (true, Ok((got, want))) => {
                    assert_eq!(got, want, "{file}");
                    curated += 1;
                }
                (false, Err(lakeline_core::Error::Invalid(_))) => {}
                (g, r) => panic!("{name}/{file}: good={g}, curation {r:?}"),
            }
        }
    }
    assert_eq!(curated, 4, "one good sample per dataset");
}
