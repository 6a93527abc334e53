//! Small-file compaction: per-dataset settings, the per-partition statistics a listing
//! accumulates, and the decision whether a partition is due for compaction.
//!
//! Everything here is plain maths over (object sizes, last-modified times, settings, now), so
//! check-compaction and `lakeline compaction-report` judge a partition identically and the rules
//! are tested with tables. Times are Unix epoch seconds (UTC).
//!
//! Defaults follow the anchors: a 128 MiB target file size; a file is *small* below 75 % of the
//! target (Iceberg `rewrite_data_files`, Glue catalog optimizer); at least 5 small files before
//! a rewrite is worth a job (Iceberg `min-input-files`); the rewrite produces
//! `ceil(total / target)` files.

use serde::Serialize;

pub mod plan;

use crate::size::ByteSize;

pub use crate::registry::compaction::{
    CompactionJobSettings, CompactionSettings, Compactor, Engine, Percent, TargetSize,
};

/// The folder of one partition: `<curated prefix><partition>/`.
pub fn partition_prefix(curated_prefix: &str, partition: &str) -> String {
    format!("{curated_prefix}{}/", partition.trim_end_matches('/'))
}

/// Whether an object name is a data file. Spark and Hive write `_SUCCESS`, `_temporary/…` and
/// `.crc` side files: they are not data, and counting them would make every partition look
/// like it has small files.
pub fn is_data_file(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('_') && !name.starts_with('.')
}

/// What a listing learned about one partition. Constant size: a listing adds objects one at a
/// time and keeps no list, so memory grows with partitions, never with objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PartitionStats {
    /// Data files.
    pub files: u64,
    /// Bytes in data files.
    pub bytes: u64,
    /// Data files below the small threshold.
    pub small_files: u64,
    /// Bytes in those.
    pub small_bytes: u64,
    /// The largest data file.
    pub largest: u64,
    /// Newest last-modified time of a data file.
    pub newest_write: Option<i64>,
}

impl PartitionStats {
    /// Adds one listed object. `name` is the key below the partition prefix; `small_below` is
    /// [`CompactionSettings::small_below`].
    pub fn observe(&mut self, name: &str, size: u64, modified: Option<i64>, small_below: u64) {
        // Only direct files and nested folders' data files count; side files never.
        let file = name.rsplit('/').next().unwrap_or(name);
        if !is_data_file(file)
            || name
                .split('/')
                .any(|seg| seg.starts_with('_') || seg.starts_with('.'))
        {
            return;
        }
        self.files += 1;
        self.bytes += size;
        self.largest = self.largest.max(size);
        if size < small_below {
            self.small_files += 1;
            self.small_bytes += size;
        }
        if modified.is_some() {
            self.newest_write = self.newest_write.max(modified);
        }
    }
}

/// Compact or leave alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Rewrite the partition into `recommended_files` files.
    Compact,
    /// Leave it.
    Skip,
}

/// Why: a stable code for the state machine's Choice and for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Enough small files, and fewer files after the rewrite.
    SmallFiles,
    /// Compaction is disabled for the dataset.
    Disabled,
    /// S3 Tables compacts the dataset's table (`compaction.engine: s3tables`).
    Managed,
    /// No data files.
    Empty,
    /// The partition still receives data.
    Open,
    /// Fewer small files than `min_small_files`.
    FewSmallFiles,
    /// A rewrite would not reduce the file count.
    NoGain,
    /// Due, but this run already requested its maximum of compactions; the next check will.
    Deferred,
}

impl Reason {
    /// The code as text.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SmallFiles => "small_files",
            Reason::Disabled => "disabled",
            Reason::Managed => "managed",
            Reason::Empty => "empty",
            Reason::Open => "open",
            Reason::FewSmallFiles => "few_small_files",
            Reason::NoGain => "no_gain",
            Reason::Deferred => "deferred",
        }
    }
}

impl PartitionReport {
    /// The decision as a word: `compact` or `skip`.
    pub fn decision_text(&self) -> &'static str {
        match self.decision {
            Decision::Compact => "compact",
            Decision::Skip => "skip",
        }
    }
}

/// The report of one partition: the numbers, the decision and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionReport {
    /// The partition, e.g. `dt=2026-11-25`.
    pub partition: String,
    /// Data files.
    pub files: u64,
    /// Bytes in data files.
    pub bytes: u64,
    /// Small data files.
    pub small_files: u64,
    /// Bytes in small files.
    pub small_bytes: u64,
    /// Average data file size (0 when empty).
    pub average_bytes: u64,
    /// Largest data file.
    pub largest_bytes: u64,
    /// `ceil(bytes / target)`, at least 1 for a non-empty partition.
    pub recommended_files: u64,
    /// Newest write (epoch seconds).
    pub newest_write: Option<i64>,
    /// The decision.
    pub decision: Decision,
    /// Its code.
    pub reason_code: Reason,
    /// Its explanation, for humans.
    pub reason: String,
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Howard Hinnant's algorithm: exact for every date, no table, no dependency.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a partition as days since the epoch, from its `dt=YYYY-MM-DD` segment (a
/// table's: `_lakeline_date=YYYY-MM-DD`).
pub fn partition_date(partition: &str) -> Option<i64> {
    let v = partition.split('/').find_map(|seg| {
        seg.strip_prefix("dt=")
            .or_else(|| seg.strip_prefix("_lakeline_date="))
    })?;
    if !crate::types::is_date(v.as_bytes()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| v[r].parse::<i64>().ok();
    Some(days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?))
}

/// Whether a partition no longer receives data; `Err` says why not.
fn closed(
    partition: &str,
    stats: &PartitionStats,
    s: &CompactionSettings,
    now: i64,
) -> Result<(), String> {
    if let Some(day) = partition_date(partition) {
        let today = now.div_euclid(86_400);
        if today < day + i64::from(s.grace_days) {
            return Err(format!(
                "open: its date is less than {} day(s) ago (grace_days)",
                s.grace_days
            ));
        }
    }
    if let Some(w) = stats.newest_write {
        let quiet = i64::from(s.quiet_minutes) * 60;
        if now - w < quiet {
            return Err(format!(
                "open: last write {} s ago, less than quiet_minutes = {}",
                (now - w).max(0),
                s.quiet_minutes
            ));
        }
    }
    Ok(())
}

/// Judges one partition.
pub fn decide(
    partition: &str,
    stats: &PartitionStats,
    s: &CompactionSettings,
    now: i64,
) -> PartitionReport {
    let target = s.target_file_size.bytes();
    let recommended = stats.bytes.div_ceil(target).max(u64::from(stats.files > 0));
    let skip = |code: Reason, why: String| (Decision::Skip, code, why);
    let (decision, reason_code, reason) = if !s.enabled {
        skip(
            Reason::Disabled,
            "compaction is disabled for this dataset".into(),
        )
    } else if s.engine == Compactor::S3tables {
        skip(
            Reason::Managed,
            "S3 Tables compacts this table (compaction.engine: s3tables)".into(),
        )
    } else if stats.files == 0 {
        skip(Reason::Empty, "no data files".into())
    } else if let Err(why) = closed(partition, stats, s, now) {
        skip(Reason::Open, why)
    } else if stats.small_files < s.min_small_files {
        skip(
            Reason::FewSmallFiles,
            format!(
                "{} small file(s) below {}, fewer than min_small_files = {}",
                stats.small_files,
                ByteSize(s.small_below()),
                s.min_small_files
            ),
        )
    } else if recommended >= stats.files {
        skip(
            Reason::NoGain,
            format!(
                "{} files would become {recommended}: nothing to gain",
                stats.files
            ),
        )
    } else {
        (
            Decision::Compact,
            Reason::SmallFiles,
            format!(
                "{} of {} files are below {} ({} % of {}); rewrite {} into {recommended} file(s)",
                stats.small_files,
                stats.files,
                ByteSize(s.small_below()),
                s.small_file_percent.get(),
                ByteSize(target),
                ByteSize(stats.bytes)
            ),
        )
    };
    PartitionReport {
        partition: partition.to_string(),
        files: stats.files,
        bytes: stats.bytes,
        small_files: stats.small_files,
        small_bytes: stats.small_bytes,
        average_bytes: stats.bytes.checked_div(stats.files).unwrap_or(0),
        largest_bytes: stats.largest,
        recommended_files: recommended,
        newest_write: stats.newest_write,
        decision,
        reason_code,
        reason,
    }
}

/// Sorts reports worst first: most small files, then most bytes in small files, then name.
pub fn sort_worst_first(reports: &mut [PartitionReport]) {
    reports.sort_by(|a, b| {
        b.small_files
            .cmp(&a.small_files)
            .then(b.small_bytes.cmp(&a.small_bytes))
            .then_with(|| a.partition.cmp(&b.partition))
    });
}

/// Sums over many partitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Partitions checked.
    pub partitions: u64,
    /// Data files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
    /// Small files.
    pub small_files: u64,
    /// Bytes in small files.
    pub small_bytes: u64,
    /// Partitions due for compaction.
    pub compactions: u64,
    /// Files after compacting every partition that is due (others unchanged).
    pub files_after: u64,
}

/// Totals of a set of reports.
pub fn totals(reports: &[PartitionReport]) -> Totals {
    reports.iter().fold(Totals::default(), |mut t, r| {
        t.partitions += 1;
        t.files += r.files;
        t.bytes += r.bytes;
        t.small_files += r.small_files;
        t.small_bytes += r.small_bytes;
        let due = r.decision == Decision::Compact;
        t.compactions += u64::from(due);
        t.files_after += if due { r.recommended_files } else { r.files };
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    /// 2026-11-25T12:00:00Z.
    const NOW: i64 = 1_795_608_000;

    fn stats(sizes: &[u64], modified: i64) -> PartitionStats {
        let s = CompactionSettings::default();
        let mut st = PartitionStats::default();
        for (i, &size) in sizes.iter().enumerate() {
            st.observe(
                &format!("part-{i:05}.parquet"),
                size,
                Some(modified),
                s.small_below(),
            );
        }
        st
    }

    #[test]
    fn now_constant_is_the_intended_day() {
        assert_eq!(
            NOW.div_euclid(86_400),
            partition_date("dt=2026-11-25").unwrap()
        );
        assert_eq!(partition_date("dt=1970-01-01"), Some(0));
        assert_eq!(partition_date("dt=2000-03-01"), Some(11_017));
        assert_eq!(
            partition_date("region=eu/dt=2026-11-25"),
            partition_date("dt=2026-11-25")
        );
        assert_eq!(partition_date("dt=2026-02-30"), None);
        assert_eq!(partition_date("hour=12"), None);
    }

    #[test]
    fn defaults_follow_the_anchors() {
        let s = CompactionSettings::default();
        assert_eq!(s.target_file_size.bytes(), 128 * MIB);
        assert_eq!(s.small_below(), 96 * MIB);
        assert_eq!(s.min_small_files, 5);
        assert_eq!(s.curated_prefix("orders"), "curated/orders/");
        assert_eq!(s.job.engine, Engine::Lambda);
    }

    #[test]
    fn decision_table() {
        let old = NOW - 86_400 * 3; // written three days ago: quiet
        let def = CompactionSettings::default();
        let closed_day = "dt=2026-11-20";
        let tiny_1000 = vec![10_000; 1000];
        let mut mixed = vec![200 * MIB, 130 * MIB];
        mixed.extend([MIB; 6]);
        let at_small = vec![96 * MIB; 5]; // exactly 75 %: not small
        let below_small = vec![96 * MIB - 1; 5];
        let four_small = vec![MIB; 4];
        let five_small = vec![MIB; 5];
        let disabled = CompactionSettings {
            enabled: false,
            ..def.clone()
        };
        let managed = CompactionSettings {
            engine: Compactor::S3tables,
            ..def.clone()
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, PartitionStats, &CompactionSettings, Decision, Reason, u64)> = vec![
            ("empty partition", closed_day, stats(&[], old), &def, Decision::Skip, Reason::Empty, 0),
            ("S3 Tables compacts it", closed_day, stats(&tiny_1000, old), &managed, Decision::Skip, Reason::Managed, 1),
            ("one big file", closed_day, stats(&[500 * MIB], old), &def, Decision::Skip, Reason::FewSmallFiles, 4),
            ("1,000 tiny files", closed_day, stats(&tiny_1000, old), &def, Decision::Compact, Reason::SmallFiles, 1),
            ("mixed", closed_day, stats(&mixed, old), &def, Decision::Compact, Reason::SmallFiles, 3),
            ("exactly 75 % is not small", closed_day, stats(&at_small, old), &def, Decision::Skip, Reason::FewSmallFiles, 4),
            ("one byte below 75 % is small", closed_day, stats(&below_small, old), &def, Decision::Compact, Reason::SmallFiles, 4),
            ("4 small files: below min", closed_day, stats(&four_small, old), &def, Decision::Skip, Reason::FewSmallFiles, 1),
            ("exactly min small files", closed_day, stats(&five_small, old), &def, Decision::Compact, Reason::SmallFiles, 1),
            ("open: today's date", "dt=2026-11-25", stats(&tiny_1000, old), &def, Decision::Skip, Reason::Open, 1),
            ("closed: yesterday with grace 1", "dt=2026-11-24", stats(&tiny_1000, old), &def, Decision::Compact, Reason::SmallFiles, 1),
            ("open: written a minute ago", closed_day, stats(&tiny_1000, NOW - 60), &def, Decision::Skip, Reason::Open, 1),
            ("closed: quiet exactly 60 min", closed_day, stats(&tiny_1000, NOW - 3600), &def, Decision::Compact, Reason::SmallFiles, 1),
            ("undated partition, quiet", "batch=7", stats(&tiny_1000, old), &def, Decision::Compact, Reason::SmallFiles, 1),
            ("disabled", closed_day, stats(&tiny_1000, old), &disabled, Decision::Skip, Reason::Disabled, 1),
        ];
        for (what, partition, st, s, decision, code, recommended) in cases {
            let r = decide(partition, &st, s, NOW);
            assert_eq!(
                (r.decision, r.reason_code, r.recommended_files),
                (decision, code, recommended),
                "{what}: {}",
                r.reason
            );
            assert!(!r.reason.is_empty(), "{what}");
        }
    }

    #[test]
    fn no_gain_when_rewrite_keeps_the_file_count() {
        // Five 90 MiB files are small (< 96 MiB) but 450 MiB needs 4 files: a gain of one.
        // Five 100 MiB files: not small at all.  Six files of 95 MiB + one of 1 byte = 7 files,
        // ceil(570 MiB / 128 MiB) = 5 < 7: compact.  With target 1 GiB and 5 files of 1 GiB - 1
        // the output would still be 5 files: no gain.
        let big = CompactionSettings {
            target_file_size: TargetSize::try_from(ByteSize(1 << 30)).unwrap(),
            small_file_percent: Percent::try_from(100).unwrap(),
            ..CompactionSettings::default()
        };
        let mut st = PartitionStats::default();
        for i in 0..5 {
            st.observe(&format!("f{i}"), (1 << 30) - 1, Some(0), big.small_below());
        }
        let r = decide("dt=2026-01-01", &st, &big, NOW);
        assert_eq!(
            (r.decision, r.reason_code, r.recommended_files),
            (Decision::Skip, Reason::NoGain, 5)
        );
    }

    #[test]
    fn side_files_are_not_data() {
        let s = CompactionSettings::default();
        let mut st = PartitionStats::default();
        for (name, size) in [
            ("_SUCCESS", 0),
            (".part-0.crc", 12),
            ("_temporary/0/part-1", 5),
            ("part-0.parquet", 10),
            ("sub/part-1.parquet", 20),
            ("_lakeline_compaction.json", 50),
        ] {
            st.observe(name, size, Some(100), s.small_below());
        }
        assert_eq!(
            (st.files, st.bytes, st.small_files, st.largest),
            (2, 30, 2, 20)
        );
        assert_eq!(st.newest_write, Some(100));
    }

    #[test]
    fn worst_first_and_totals() {
        let s = CompactionSettings::default();
        let old = NOW - 86_400 * 3;
        let mut reports = vec![
            decide("dt=2026-11-01", &stats(&[500 * MIB], old), &s, NOW),
            decide("dt=2026-11-02", &stats(&[MIB; 10], old), &s, NOW),
            decide("dt=2026-11-03", &stats(&[MIB; 50], old), &s, NOW),
        ];
        sort_worst_first(&mut reports);
        let order: Vec<&str> = reports.iter().map(|r| r.partition.as_str()).collect();
        assert_eq!(order, ["dt=2026-11-03", "dt=2026-11-02", "dt=2026-11-01"]);
        let t = totals(&reports);
        assert_eq!(
            (
                t.partitions,
                t.files,
                t.small_files,
                t.compactions,
                t.files_after
            ),
            (3, 61, 60, 2, 3)
        );
    }

    #[test]
    fn shipped_registry_declares_compaction() {
        let text = include_str!("../../../../config/datasets.yaml");
        let reg =
            crate::placeholders::load(text, "config/datasets.yaml", &Default::default()).unwrap();
        let settings = |name: &str| {
            reg.dataset(name)
                .unwrap()
                .1
                .compaction
                .clone()
                .unwrap_or_default()
        };
        assert_eq!(settings("orders").target_file_size.bytes(), 128 * MIB);
        assert_eq!(settings("clicks").small_below(), 192 * MIB);
        assert!(!settings("inventory").enabled);
    }

    #[test]
    fn settings_parse_strictly() {
        let s: CompactionSettings =
            serde_yaml_ng::from_str("target_file_size: 256MiB\nmin_small_files: 10\njob: {engine: glue, glue_job_name: c, above: 20GiB}\n")
                .unwrap();
        assert_eq!(s.target_file_size.bytes(), 256 * MIB);
        assert_eq!(s.small_below(), 192 * MIB);
        assert_eq!(s.job.engine, Engine::Glue);
        assert!(
            !s.job.spark_for(20 * 1024 * MIB - 1),
            "below above: the Lambda's"
        );
        assert!(s.job.spark_for(20 * 1024 * MIB));
        assert!(
            !CompactionSettings::default().job.spark_for(u64::MAX),
            "no engine: the Lambda's"
        );
        for bad in [
            "target: 1MiB",
            "small_file_percent: 0",
            "target_file_size: 1KiB",
            // The marker age of the retired `curated/` layout, an unknown engine.
            "stale_marker_hours: 24",
            "job: {engine: spark}",
            "job: {engine: glue, above: lots}",
        ] {
            assert!(
                serde_yaml_ng::from_str::<CompactionSettings>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
