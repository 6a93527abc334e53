//! The Spark engine's part in a table's compaction (`compaction.job` in the registry), for
//! partitions too large for one compact invocation. The run only merges: it reads the files a
//! [`RewritePlan`] names, in the schema the plan gives (by field id, so files of older schemas
//! map), and writes new Parquet files under the plan's `output`. lakeline checks what it wrote
//! ([`check_rewritten`]) and commits the swap ([`commit_rewritten`]) like its own compaction:
//! one `replace` snapshot, one committer per table, and nothing committed when an input was
//! replaced meanwhile.
//!
//! No Iceberg runtime runs in Spark: a table bucket refuses the listing Hadoop's committers
//! need, and one committer keeps one exactly-once rule.

use std::collections::HashMap;

use iceberg::spec::{Datum, Literal, Operation, PrimitiveType, Struct, Type};
use iceberg::table::Table;
use lakeline_core::compaction::CompactionSettings;
use lakeline_core::table::{DATE_COLUMN, SOURCE_COLUMN, VERSION_COLUMN};
use parquet::file::metadata::ParquetMetaData;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::commit::summary;
use crate::datafile::{self, FileFacts};
use crate::maintain::{commit_rewrite, plan_compaction, LiveFile};
use crate::schema::write_ids;
use crate::write::{check_ids, Written};
use crate::{Error, Tables};

/// The plan format's version: jobs/compact.py refuses another.
pub const PLAN_VERSION: u32 = 1;

/// One input of a rewrite, as the table's manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFile {
    /// The data file's location.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its rows.
    pub rows: u64,
}

/// What a Spark run rewrites: one partition's due small files, merged into `output_files`
/// files under `output`. Written as JSON beside its output (`plan.json`), read by
/// jobs/compact.py, and read back by the commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewritePlan {
    /// [`PLAN_VERSION`].
    pub version: u32,
    /// 16 hex digits over the table, its snapshot and the inputs: a retried plan on the same
    /// table is the same plan (and the same run), a plan after any commit another.
    pub id: String,
    /// `namespace.table`.
    pub table: String,
    /// The dataset.
    pub dataset: String,
    /// The partition, `_lakeline_date=YYYY-MM-DD` or `(unpartitioned)`.
    pub partition: String,
    /// The snapshot planned on.
    pub snapshot_id: i64,
    /// The files to merge, in path order.
    pub inputs: Vec<PlannedFile>,
    /// Their rows: the run must write exactly as many.
    pub rows: u64,
    /// Their bytes.
    pub bytes: u64,
    /// How many files to write.
    pub output_files: u64,
    /// The size each written file aims at.
    pub target_file_size: u64,
    /// Where the run writes its Parquet files (a folder, ending in `/`).
    pub output: String,
    /// The schema to read the inputs in and write: Spark's `StructType` JSON, each field with
    /// its Iceberg id as `parquet.field.id` metadata.
    pub spark_schema: Value,
}

impl RewritePlan {
    /// Where the plan itself is kept: `plan.json` beside the run's output folder.
    pub fn location(&self) -> String {
        let out = self.output.trim_end_matches('/');
        let dir = out.strip_suffix("/data").unwrap_or(out);
        format!("{dir}/plan.json")
    }

    /// The partition's date (days since 1970-01-01), when the table is dated.
    pub fn date(&self) -> Option<i32> {
        let v = self.partition.strip_prefix(&format!("{DATE_COLUMN}="))?;
        lakeline_core::types::parse_date(v.as_bytes())
    }
}

/// Spark's name of an Iceberg type: `timestamptz` is Spark's `timestamp`, `timestamp` (no zone)
/// its `timestamp_ntz`.
fn spark_type(t: &Type) -> Result<String, Error> {
    let Type::Primitive(p) = t else {
        return Err(Error::Unsupported(format!(
            "a {t} column: lakeline's tables are flat"
        )));
    };
    Ok(match p {
        PrimitiveType::Boolean => "boolean".into(),
        PrimitiveType::Int => "integer".into(),
        PrimitiveType::Long => "long".into(),
        PrimitiveType::Float => "float".into(),
        PrimitiveType::Double => "double".into(),
        PrimitiveType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        PrimitiveType::Date => "date".into(),
        PrimitiveType::Timestamp => "timestamp_ntz".into(),
        PrimitiveType::Timestamptz => "timestamp".into(),
        PrimitiveType::String => "string".into(),
        PrimitiveType::Binary => "binary".into(),
        other => {
            return Err(Error::Unsupported(format!(
                "a {other} column has no Spark type the compaction job writes"
            )))
        }
    })
}

/// `table`'s current schema as Spark's `StructType` JSON, with field ids.
pub fn spark_schema(table: &Table) -> Result<Value, Error> {
    let fields = table
        .metadata()
        .current_schema()
        .as_struct()
        .fields()
        .iter()
        .map(|f| {
            Ok(json!({
                "name": f.name,
                "type": spark_type(&f.field_type)?,
                "nullable": !f.required,
                "metadata": {"parquet.field.id": f.id},
            }))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(json!({"type": "struct", "fields": fields}))
}

/// Plans the Spark rewrite of `partition` of `table` (its live `files`) under `s` at `now`: the
/// union of the partition's due groups, or `None` when nothing is due. `output_root` is the
/// folder the runs of this table write under; the plan's own folder is `<root><id>/`.
pub fn plan(
    table: &Table,
    dataset: &str,
    files: &[LiveFile],
    partition: &str,
    s: &CompactionSettings,
    now: i64,
    output_root: &str,
) -> Result<Option<RewritePlan>, Error> {
    let md = table.metadata();
    let Some(snapshot_id) = md.current_snapshot_id() else {
        return Ok(None);
    };
    let members: Vec<LiveFile> = files
        .iter()
        .filter(|f| f.partition_label() == partition)
        .cloned()
        .collect();
    let Some(p) = plan_compaction(&members, md.default_partition_spec_id(), s, now)
        .into_iter()
        .find(|p| !p.groups.is_empty())
    else {
        return Ok(None);
    };
    let by_path: HashMap<&str, &LiveFile> =
        members.iter().map(|f| (f.file.file_path(), f)).collect();
    let mut paths: Vec<&String> = p.groups.iter().flatten().collect();
    paths.sort();
    let inputs: Vec<PlannedFile> = paths
        .into_iter()
        .map(|path| {
            let f = &by_path[path.as_str()].file;
            PlannedFile {
                path: path.clone(),
                size: f.file_size_in_bytes(),
                rows: f.record_count(),
            }
        })
        .collect();
    let table_name = table.identifier().to_string();
    let mut h = Sha256::new();
    h.update(format!("{table_name}\n{snapshot_id}\n").as_bytes());
    for f in &inputs {
        h.update(format!("{}\n", f.path).as_bytes());
    }
    let id: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let bytes: u64 = inputs.iter().map(|f| f.size).sum();
    let target = s.target_file_size.bytes();
    Ok(Some(RewritePlan {
        version: PLAN_VERSION,
        table: table_name,
        dataset: dataset.to_string(),
        partition: partition.to_string(),
        snapshot_id,
        rows: inputs.iter().map(|f| f.rows).sum(),
        bytes,
        output_files: bytes.div_ceil(target).max(1),
        target_file_size: target,
        output: format!("{}/{id}/data/", output_root.trim_end_matches('/')),
        spark_schema: spark_schema(table)?,
        inputs,
        id,
    }))
}

/// The snapshot of `table`'s current lineage that committed the rewrite plan `plan_id`, if one
/// did: a commit retried after it went through (a Lambda retry, a redrive) is answered from
/// it instead of finding its inputs gone.
pub fn committed_plan(table: &Table, plan_id: &str) -> Option<i64> {
    let md = table.metadata();
    let mut at = md.current_snapshot();
    while let Some(s) = at {
        if s.summary()
            .additional_properties
            .get(summary::PLAN)
            .map(String::as_str)
            == Some(plan_id)
        {
            return Some(s.snapshot_id());
        }
        at = s.parent_snapshot_id().and_then(|p| md.snapshot_by_id(p));
    }
    None
}

/// Whether a file the run wrote (`shown` in errors, footer `meta`) fits `plan`'s table: the
/// table's field ids, the lineage columns with no nulls, and every row in the plan's
/// partition, by the file's statistics.
pub fn check_rewritten(
    table: &Table,
    plan: &RewritePlan,
    shown: &str,
    meta: &ParquetMetaData,
    untagged_exact: bool,
) -> Result<(), Error> {
    let ids = check_ids(table, shown, meta)?;
    let ids_of = write_ids(table.metadata());
    let mut needed = vec![SOURCE_COLUMN, VERSION_COLUMN];
    if plan.date().is_some() {
        needed.push(DATE_COLUMN);
    }
    let df = datafile::footer_statistics(table, shown, meta, untagged_exact)?;
    for col in needed {
        let id = ids_of[col];
        if !ids.contains(&id) {
            return Err(Error::Schema(format!(
                "{shown}: the column {col:?} is missing"
            )));
        }
        if df.null_value_counts().get(&id).copied().unwrap_or(0) > 0 {
            return Err(Error::Schema(format!("{shown}: {col} has nulls")));
        }
    }
    if let (Some(day), true) = (plan.date(), df.record_count() > 0) {
        let id = ids_of[DATE_COLUMN];
        let want = Datum::date(day);
        let (lo, hi) = (df.lower_bounds().get(&id), df.upper_bounds().get(&id));
        if lo != Some(&want) || hi != Some(&want) {
            return Err(Error::Schema(format!(
                "{shown}: {DATE_COLUMN} must be {want} in every row (partition {}), the file's statistics say {} to {}",
                plan.partition,
                lo.map_or("unknown".into(), |v| v.to_string()),
                hi.map_or("unknown".into(), |v| v.to_string()),
            )));
        }
    }
    Ok(())
}

/// Commits what a Spark run wrote for `plan`, already copied into the table's location and
/// checked ([`check_rewritten`]): one `replace` snapshot swapping the plan's inputs for
/// `files`, when the files hold exactly the inputs' rows. Another commit that replaced an input
/// meanwhile makes it [`Error::Changed`] (nothing committed, `files` deleted where the target
/// allows). The snapshot id.
pub async fn commit_rewritten(
    tables: &Tables,
    table: Table,
    plan: &RewritePlan,
    files: Vec<Written>,
    engine: &str,
    execution: Option<&str>,
) -> Result<i64, Error> {
    let uris: Vec<String> = files.iter().map(|f| f.uri.clone()).collect();
    let rows: u64 = files
        .iter()
        .map(|f| {
            f.row_groups
                .iter()
                .map(|g| g.num_rows().max(0) as u64)
                .sum::<u64>()
        })
        .sum();
    if rows != plan.rows {
        tables.discard(&table, &uris).await;
        return Err(Error::Unsupported(format!(
            "the Spark rewrite {} of {} wrote {rows} rows for the plan's {}: nothing was committed",
            plan.id, plan.partition, plan.rows
        )));
    }
    let md = table.metadata();
    let partition = match plan.date() {
        Some(day) => Struct::from_iter([Some(Literal::date(day))]),
        None => Struct::empty(),
    };
    let described: Result<Vec<_>, Error> = files
        .into_iter()
        .map(|f| {
            datafile::from_footer(
                md.current_schema(),
                &f.row_groups,
                FileFacts {
                    path: f.uri,
                    size: f.size,
                    partition: partition.clone(),
                    spec_id: md.default_partition_spec_id(),
                    untagged_exact: f.untagged_exact,
                },
            )
        })
        .collect();
    let added = match described {
        Ok(d) => d,
        Err(e) => {
            tables.discard(&table, &uris).await;
            return Err(e);
        }
    };
    let mut props = HashMap::from([
        (summary::REWRITE.to_string(), "compact".to_string()),
        (summary::ENGINE.to_string(), engine.to_string()),
    ]);
    if let Some(e) = execution {
        props.insert(summary::EXECUTION.to_string(), e.to_string());
    }
    props.insert(summary::PLAN.to_string(), plan.id.clone());
    let remove = plan.inputs.iter().map(|f| f.path.clone()).collect();
    commit_rewrite(tables, table, remove, added, Operation::Replace, props).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iceberg_types_have_the_spark_names_the_job_reads() {
        for (t, want) in [
            (PrimitiveType::Boolean, "boolean"),
            (PrimitiveType::Int, "integer"),
            (PrimitiveType::Long, "long"),
            (PrimitiveType::Float, "float"),
            (PrimitiveType::Double, "double"),
            (
                PrimitiveType::Decimal {
                    precision: 12,
                    scale: 2,
                },
                "decimal(12,2)",
            ),
            (PrimitiveType::Date, "date"),
            (PrimitiveType::Timestamp, "timestamp_ntz"),
            (PrimitiveType::Timestamptz, "timestamp"),
            (PrimitiveType::String, "string"),
            (PrimitiveType::Binary, "binary"),
        ] {
            assert_eq!(
                spark_type(&Type::Primitive(t.clone())).unwrap(),
                want,
                "{t}"
            );
        }
        assert!(spark_type(&Type::Primitive(PrimitiveType::Uuid)).is_err());
    }

    #[test]
    fn a_plan_keeps_its_file_beside_its_output_and_knows_its_date() {
        let plan = RewritePlan {
            version: PLAN_VERSION,
            id: "0123456789abcdef".into(),
            table: "lakeline.orders".into(),
            dataset: "orders".into(),
            partition: "_lakeline_date=2026-11-24".into(),
            snapshot_id: 1,
            inputs: Vec::new(),
            rows: 0,
            bytes: 0,
            output_files: 1,
            target_file_size: 1 << 27,
            output: "s3://lake/_lakeline/staging/rewrite/lakeline.orders/0123456789abcdef/data/"
                .into(),
            spark_schema: json!({}),
        };
        assert_eq!(
            plan.location(),
            "s3://lake/_lakeline/staging/rewrite/lakeline.orders/0123456789abcdef/plan.json"
        );
        assert_eq!(plan.date(), lakeline_core::types::parse_date(b"2026-11-24"));
        let unpartitioned = RewritePlan {
            partition: "(unpartitioned)".into(),
            ..plan
        };
        assert_eq!(unpartitioned.date(), None);
    }
}
