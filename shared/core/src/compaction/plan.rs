//! Compaction plans, as plain data.
//!
//! - [`plan`] bin-packs one partition's small files into groups of about the target size, in
//!   the spirit of Iceberg `rewrite_data_files` and the Glue optimizer: a file is a candidate
//!   below the small-file share of the target (75 % by default); a file at or above it is never
//!   rewritten; a group needs at least `min_small_files` inputs; the same listing always gives
//!   the same groups (first-fit decreasing over (size, key), inputs kept in key order).
//!
//! A table's compaction (`lakeline_table::maintain`) plans with it from the table's
//! manifests; the commit is the table's `replace` snapshot, so a plan needs no record of its own.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::CompactionSettings;

/// Most inputs one group takes: bounds one invocation's reads and its snapshot's size.
pub const MAX_GROUP_FILES: usize = 1000;

/// One data file of a partition, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Key in the bucket.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes: inputs are read and deleted only as they were planned.
    pub etag: String,
}

/// Files that become one output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// `sha256` over the inputs' `key\tetag\n` lines, 16 hex digits: the same inputs always
    /// give the same id.
    pub id: String,
    /// The inputs, in key order (the order their rows are written).
    pub inputs: Vec<DataFile>,
    /// Their total size.
    pub bytes: u64,
}

/// The id of a group of inputs (order-independent).
pub fn group_id(inputs: &[DataFile]) -> String {
    let mut lines: Vec<String> = inputs
        .iter()
        .map(|f| format!("{}\t{}\n", f.key, f.etag))
        .collect();
    lines.sort();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bin-packs a partition's files into compaction groups.
pub fn plan(files: &[DataFile], s: &CompactionSettings) -> Vec<Group> {
    let small_below = s.small_below();
    let target = s.target_file_size.bytes();
    let mut candidates: Vec<&DataFile> = files
        .iter()
        .filter(|f| f.size < small_below && f.key.ends_with(".parquet"))
        .collect();
    // Largest first fills bins tightly; the key breaks ties, so equal listings plan equally.
    candidates.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.key.cmp(&b.key)));
    let mut bins: Vec<(u64, Vec<&DataFile>)> = Vec::new();
    for f in candidates {
        let fits = bins
            .iter_mut()
            .find(|(bytes, members)| bytes + f.size <= target && members.len() < MAX_GROUP_FILES);
        match fits {
            Some((bytes, members)) => {
                *bytes += f.size;
                members.push(f);
            }
            None => bins.push((f.size, vec![f])),
        }
    }
    let min = usize::try_from(s.min_small_files.max(2)).unwrap_or(usize::MAX);
    let mut groups: Vec<Group> = bins
        .into_iter()
        .filter(|(_, members)| members.len() >= min)
        .map(|(bytes, members)| {
            let mut inputs: Vec<DataFile> = members.into_iter().cloned().collect();
            inputs.sort_by(|a, b| a.key.cmp(&b.key));
            let id = group_id(&inputs);
            Group { id, inputs, bytes }
        })
        .collect();
    groups.sort_by(|a, b| a.inputs[0].key.cmp(&b.inputs[0].key));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size::ByteSize;

    const MIB: u64 = 1 << 20;

    fn files(sizes: &[(&str, u64)]) -> Vec<DataFile> {
        sizes
            .iter()
            .map(|(k, s)| DataFile {
                key: format!("curated/o/dt=1/{k}"),
                size: *s,
                etag: format!("e-{k}"),
            })
            .collect()
    }

    fn settings(target_mib: u64, min: u64) -> CompactionSettings {
        CompactionSettings {
            target_file_size: ByteSize(target_mib * MIB).try_into().unwrap(),
            min_small_files: min,
            ..CompactionSettings::default()
        }
    }

    /// One planner case: what, files (name, size), target MiB, min files, groups' input names.
    type PlanCase = (
        &'static str,
        Vec<(&'static str, u64)>,
        u64,
        u64,
        Vec<Vec<String>>,
    );

    /// (files, target MiB, min files) → the groups' input names.
    #[test]
    fn plans_table() {
        let s = |x: &[&str]| x.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let cases: Vec<PlanCase> = vec![
            ("nothing to do", vec![], 128, 5, vec![]),
            (
                "five small files: one group",
                vec![
                    ("a.parquet", MIB),
                    ("b.parquet", MIB),
                    ("c.parquet", MIB),
                    ("d.parquet", MIB),
                    ("e.parquet", MIB),
                ],
                128,
                5,
                vec![s(&[
                    "a.parquet",
                    "b.parquet",
                    "c.parquet",
                    "d.parquet",
                    "e.parquet",
                ])],
            ),
            (
                "too few small files",
                vec![("a.parquet", MIB), ("b.parquet", MIB)],
                128,
                5,
                vec![],
            ),
            (
                "a big file is never rewritten (75 % of 4 MiB = 3 MiB)",
                vec![
                    ("a.parquet", MIB),
                    ("big.parquet", 3 * MIB),
                    ("c.parquet", MIB),
                ],
                4,
                2,
                vec![s(&["a.parquet", "c.parquet"])],
            ),
            (
                "bins fill to the target: 6 × 1.5 MiB into 4 MiB bins",
                vec![
                    ("a.parquet", 3 * MIB / 2),
                    ("b.parquet", 3 * MIB / 2),
                    ("c.parquet", 3 * MIB / 2),
                    ("d.parquet", 3 * MIB / 2),
                    ("e.parquet", 3 * MIB / 2),
                    ("f.parquet", 3 * MIB / 2),
                ],
                4,
                2,
                vec![
                    s(&["a.parquet", "b.parquet"]),
                    s(&["c.parquet", "d.parquet"]),
                    s(&["e.parquet", "f.parquet"]),
                ],
            ),
            (
                "a lone leftover is not a group",
                vec![
                    ("a.parquet", 2 * MIB),
                    ("b.parquet", 2 * MIB),
                    ("c.parquet", 2 * MIB),
                ],
                4,
                2,
                vec![s(&["a.parquet", "b.parquet"])],
            ),
            (
                "side files and other formats are not inputs",
                vec![
                    ("_x.json", 10),
                    ("a.parquet", 10),
                    ("b.csv", 10),
                    ("c.parquet", 10),
                ],
                128,
                2,
                vec![s(&["a.parquet", "c.parquet"])],
            ),
        ];
        for (what, fs, target, min, want) in cases {
            let fs: Vec<DataFile> = files(&fs)
                .into_iter()
                .filter(|f| !f.key.contains("/_"))
                .collect();
            let groups = plan(&fs, &settings(target, min));
            let got: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    g.inputs
                        .iter()
                        .map(|f| f.key.rsplit('/').next().unwrap().to_string())
                        .collect()
                })
                .collect();
            assert_eq!(got, want, "{what}");
            for g in &groups {
                assert!(g.bytes <= target * MIB, "{what}: group over the target");
                assert_eq!(g.bytes, g.inputs.iter().map(|f| f.size).sum::<u64>());
            }
        }
    }

    #[test]
    fn plans_are_deterministic_and_ids_follow_the_inputs() {
        let mut fs = files(&[("a.parquet", 10), ("b.parquet", 20), ("c.parquet", 30)]);
        let s = settings(128, 2);
        let one = plan(&fs, &s);
        fs.reverse();
        assert_eq!(plan(&fs, &s), one, "listing order does not matter");
        fs[0].etag = "changed".into();
        let other = plan(&fs, &s);
        assert_ne!(other[0].id, one[0].id, "a changed input is another group");
        assert_eq!(one[0].id.len(), 16);
    }
}
