//! The sweep of a stack whose curated data is Iceberg tables: each dataset's table is planned
//! from its manifests ([`lakeline_table::maintain::plan_compaction`]: the rule of
//! [`lakeline_core::compaction::decide`]), and each due partition becomes one item that the compact function
//! rewrites and commits as one `replace` snapshot. No listing of the lake, no markers: two
//! sweeps that plan the same partition both hand it on, and the second compaction finds its
//! inputs replaced and commits nothing (`SUPERSEDED`).

use lakeline_core::compaction::{
    self, CompactionSettings, Decision, Engine, PartitionReport, Reason,
};
use lakeline_table::maintain::{live_files, plan_compaction};
use lakeline_table::Tables;
use tracing::info;

use crate::{DatasetReport, Deps, HandlerError, Input, Item};

/// The engine name of a table item: the compact function's `compactTable` action.
pub const TABLE_ENGINE: &str = "table";

/// A table-layer failure as the function's: reading manifests can fail transiently; a table
/// that is not lakeline's is configuration.
fn table_error(what: &str, e: lakeline_table::Error) -> HandlerError {
    match e {
        lakeline_table::Error::Schema(_) => HandlerError::Config(format!("{what}: {e}")),
        _ => HandlerError::Transient(format!("{what}: {e}")),
    }
}

/// Whether a planned partition (`_lakeline_date=YYYY-MM-DD`) is within the input's filters:
/// one partition (given as `dt=…` by the pipeline, or as the table's label), or a `from`/`to`
/// date range.
fn wanted(label: &str, input: &Input, partition: Option<&str>) -> bool {
    let day = compaction::partition_date(label);
    if let Some(p) = partition {
        return p == label || (day.is_some() && compaction::partition_date(p) == day);
    }
    let bound = |d: &Option<String>| {
        d.as_deref()
            .and_then(|d| compaction::partition_date(&format!("dt={d}")))
    };
    match day {
        Some(day) => {
            bound(&input.from).is_none_or(|f| day >= f) && bound(&input.to).is_none_or(|t| day <= t)
        }
        None => input.from.is_none() && input.to.is_none(),
    }
}

/// Plans every dataset of `datasets` from its table: its partitions' reports, and an item for
/// each due partition unless the input is a dry run, at most the configured number per
/// invocation (the rest are reported `deferred` and planned again by the next sweep).
pub async fn sweep(
    deps: &Deps,
    tables: &Tables,
    input: &Input,
    datasets: &[String],
    partition: Option<&str>,
    now: i64,
) -> Result<(Vec<DatasetReport>, Vec<Item>), HandlerError> {
    let mut all = Vec::new();
    let mut items = Vec::new();
    for d in datasets {
        let Some((name, _)) = deps.registry.dataset(d) else {
            continue;
        };
        let settings = crate::settings_of(deps, d);
        let ident = tables.ident(name);
        let Some(table) = tables
            .load(&ident)
            .await
            .map_err(|e| table_error(&format!("loading table {ident}"), e))?
        else {
            info!(dataset = %d, table = %ident, "no table yet: nothing to compact");
            continue;
        };
        let files = live_files(&table)
            .await
            .map_err(|e| table_error(&format!("reading the manifests of {ident}"), e))?;
        let spec = table.metadata().default_partition_spec_id();
        for plan in plan_compaction(&files, spec, &settings, now) {
            let mut report = plan.report;
            if !wanted(&report.partition, input, partition) {
                continue;
            }
            let engine = engine_of(&settings, &report);
            if report.decision == Decision::Compact && !input.dry_run {
                if items.len() >= deps.config.max_compactions {
                    report.decision = Decision::Skip;
                    report.reason_code = Reason::Deferred;
                    report.reason = format!(
                        "due, but this sweep already requested {} compactions (LAKELINE_MAX_COMPACTIONS); the next sweep will",
                        deps.config.max_compactions
                    );
                } else {
                    items.push(Item {
                        bucket: input.bucket.clone(),
                        dataset: d.clone(),
                        partition: report.partition.clone(),
                        engine: engine.clone().unwrap_or_else(|| TABLE_ENGINE.into()),
                        execution: input.execution.clone(),
                        now,
                    });
                }
            }
            all.push(DatasetReport {
                dataset: d.clone(),
                engine: engine.filter(|_| report.decision == Decision::Compact),
                report,
            });
        }
    }
    Ok((all, items))
}

/// Which engine rewrites a due partition: the dataset's Spark engine (`compaction.job`) for a
/// partition whose small files reach its `above`, else the compact function (`table`). The
/// report's reason says so.
fn engine_of(s: &CompactionSettings, report: &PartitionReport) -> Option<String> {
    if report.decision != Decision::Compact {
        return None;
    }
    Some(if s.job.spark_for(report.small_bytes) {
        match s.job.engine {
            Engine::Glue => "glue".into(),
            _ => "emr-serverless".into(),
        }
    } else {
        TABLE_ENGINE.into()
    })
}

/// The engine name of a table-maintenance item: the compact function's `maintainTable`.
pub const MAINTAIN_ENGINE: &str = "maintain";

/// One `maintainTable` item (snapshot expiry and orphan removal) per dataset of the input whose
/// table exists, when lakeline maintains the stack's tables itself: a Glue catalog. S3 Tables
/// expires snapshots and removes unreferenced files on its own, and so do Glue's optimizers on
/// a stack that chose them (`GlueTableMaintenance=glue-optimizers`): such a stack gets none.
/// Every dataset counts, whether or not it compacts: a table's history grows with every
/// delivery.
pub async fn maintenance_items(
    deps: &Deps,
    tables: &Tables,
    input: &Input,
    now: i64,
) -> Result<Vec<Item>, HandlerError> {
    if tables.history_kept_elsewhere() {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    for (name, _) in deps
        .registry
        .datasets
        .iter()
        .filter(|(n, _)| input.dataset.as_deref().is_none_or(|d| n.as_str() == d))
    {
        let ident = tables.ident(name);
        let exists = tables
            .load(&ident)
            .await
            .map_err(|e| table_error(&format!("loading table {ident}"), e))?
            .is_some();
        if exists {
            items.push(Item {
                bucket: input.bucket.clone(),
                dataset: name.to_string(),
                partition: String::new(),
                engine: MAINTAIN_ENGINE.into(),
                execution: input.execution.clone(),
                now,
            });
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(from: Option<&str>, to: Option<&str>) -> Input {
        serde_json::from_value(serde_json::json!({"bucket": "b", "from": from, "to": to})).unwrap()
    }

    #[test]
    fn a_due_partition_goes_to_spark_from_the_datasets_above() {
        use lakeline_core::compaction::{decide, PartitionStats};
        let gib = 1u64 << 30;
        // A due partition's report, its small files holding `small_bytes`.
        let due = |small_bytes: u64| {
            let mut st = PartitionStats::default();
            for i in 0..10 {
                st.observe(&format!("f{i}.parquet"), 1 << 20, Some(0), u64::MAX);
            }
            let mut r = decide(
                "_lakeline_date=2020-01-01",
                &st,
                &CompactionSettings::default(),
                2_000_000_000,
            );
            r.small_bytes = small_bytes;
            r
        };
        let with = |engine, above: Option<u64>| {
            let mut s = CompactionSettings::default();
            s.job.engine = engine;
            s.job.above = above.map(lakeline_core::size::ByteSize);
            s
        };
        let glue = with(Engine::Glue, Some(20 * gib));
        let emr = with(Engine::EmrServerless, None);
        for (what, s, bytes, want) in [
            (
                "the default: the compact function",
                CompactionSettings::default(),
                100 * gib,
                Some("table"),
            ),
            (
                "below above: the compact function",
                glue.clone(),
                20 * gib - 10,
                Some("table"),
            ),
            ("at above: Glue", glue.clone(), 20 * gib, Some("glue")),
            (
                "no above: every partition to EMR",
                emr,
                gib,
                Some("emr-serverless"),
            ),
        ] {
            let report = due(bytes);
            assert_eq!(
                report.decision,
                Decision::Compact,
                "{what}: {}",
                report.reason
            );
            assert_eq!(engine_of(&s, &report).as_deref(), want, "{what}");
        }
        let mut skipped = due(gib);
        skipped.decision = Decision::Skip;
        assert_eq!(
            engine_of(&glue, &skipped),
            None,
            "a partition not due has no engine"
        );
    }

    #[test]
    fn partitions_are_chosen_by_date_whatever_the_label() {
        let label = "_lakeline_date=2026-11-20";
        for (what, input, partition, want) in [
            ("no filter", input(None, None), None, true),
            (
                "the pipeline's label",
                input(None, None),
                Some("dt=2026-11-20"),
                true,
            ),
            ("the table's label", input(None, None), Some(label), true),
            (
                "another day",
                input(None, None),
                Some("dt=2026-11-21"),
                false,
            ),
            (
                "inside a range",
                input(Some("2026-11-01"), Some("2026-11-20")),
                None,
                true,
            ),
            (
                "after a range",
                input(Some("2026-11-01"), Some("2026-11-19")),
                None,
                false,
            ),
            (
                "before a range",
                input(Some("2026-11-21"), None),
                None,
                false,
            ),
        ] {
            assert_eq!(wanted(label, &input, partition), want, "{what}");
        }
        assert!(wanted("(unpartitioned)", &input(None, None), None));
        assert!(!wanted(
            "(unpartitioned)",
            &input(Some("2026-11-01"), None),
            None
        ));
    }
}
