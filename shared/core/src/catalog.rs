//! The Glue Data Catalog tables of the curated layer, as plain data: one table per dataset,
//! Parquet, columns and types from the registry, and partition projection on the date
//! partition so a new partition is queryable at once, with no crawler and no
//! `MSCK REPAIR TABLE`.
//!
//! `lakeline catalog sync` applies these specs (create, or update when they differ).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::registry::Dataset;
use crate::types::ColumnType;

/// The Glue/Hive type of a curated column (what Athena and Spark read the Parquet as).
pub fn glue_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::String => "string",
        ColumnType::Int => "bigint",
        ColumnType::Float => "double",
        ColumnType::Bool => "boolean",
        ColumnType::Date => "date",
        ColumnType::Timestamp => "timestamp",
    }
}

/// One catalog column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogColumn {
    /// Name.
    pub name: String,
    /// Glue type.
    pub ty: String,
    /// Comment (required / sensitive).
    pub comment: Option<String>,
}

/// One dataset's curated table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSpec {
    /// Table name (the dataset name, `-` as `_`: Athena's identifiers).
    pub name: String,
    /// Description.
    pub description: String,
    /// Data columns.
    pub columns: Vec<CatalogColumn>,
    /// Partition keys (`dt` for `dt={date}` datasets; none otherwise).
    pub partition_keys: Vec<CatalogColumn>,
    /// `s3://bucket/<curated prefix of the dataset>/`.
    pub location: String,
    /// Table parameters: Parquet classification and the partition projection.
    pub parameters: BTreeMap<String, String>,
}

/// The first date a projected partition may have: older partitions are not queried by
/// projection (a dataset with older data sets its own range in the registry later).
pub const PROJECTION_START: &str = "2000-01-01";

/// The table of one dataset whose curated files live under `s3://<bucket>/<prefix>` (the
/// dataset's curated prefix, with the partition folders below it).
pub fn table_spec(name: &str, ds: &Dataset, bucket: &str, prefix: &str) -> TableSpec {
    let location = format!(
        "s3://{bucket}/{}",
        prefix.trim_end_matches('/').to_string() + "/"
    );
    let mut parameters = BTreeMap::from([
        ("classification".to_string(), "parquet".to_string()),
        ("parquet.compression".to_string(), "ZSTD".to_string()),
        ("lakeline.dataset".to_string(), name.to_string()),
    ]);
    let mut partition_keys = Vec::new();
    if let Some(key) = date_partition_key(ds) {
        partition_keys.push(CatalogColumn {
            name: key.clone(),
            ty: "string".into(),
            comment: Some("partition date, YYYY-MM-DD".into()),
        });
        for (k, v) in [
            ("projection.enabled".to_string(), "true".to_string()),
            (format!("projection.{key}.type"), "date".into()),
            (format!("projection.{key}.format"), "yyyy-MM-dd".into()),
            (
                format!("projection.{key}.range"),
                format!("{PROJECTION_START},NOW"),
            ),
            (format!("projection.{key}.interval"), "1".into()),
            (format!("projection.{key}.interval.unit"), "DAYS".into()),
            (
                "storage.location.template".to_string(),
                format!("{location}{key}=${{{key}}}/"),
            ),
        ] {
            parameters.insert(k, v);
        }
    }
    TableSpec {
        name: name.replace('-', "_"),
        description: ds.description.clone(),
        columns: ds
            .columns
            .iter()
            .map(|c| CatalogColumn {
                name: c.name.clone(),
                ty: glue_type(c.ty).to_string(),
                comment: match (c.required, c.sensitive) {
                    (true, true) => Some("required; sensitive".into()),
                    (true, false) => Some("required".into()),
                    (false, true) => Some("sensitive".into()),
                    (false, false) => None,
                },
            })
            .collect(),
        partition_keys,
        location,
        parameters,
    }
}

/// The partition column of a dataset whose key pattern has a `<name>={date}` folder.
pub fn date_partition_key(ds: &Dataset) -> Option<String> {
    let p = ds.key_pattern.as_str();
    let i = p.find("={date}")?;
    let start = p[..i].rfind('/').map_or(0, |j| j + 1);
    let key = &p[start..i];
    (!key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn tables_follow_the_registry() {
        let reg = Registry::from_yaml(
            "version: 1\ndatasets:\n  web-orders:\n    key_pattern: raw/orders/dt={date}/{file}\n    format: csv\n    columns:\n      - {name: id, type: int, required: true}\n      - {name: who, type: string, sensitive: true}\n      - {name: at, type: timestamp}\n  flat:\n    key_pattern: raw/flat/{file}\n    format: csv\n    columns: [{name: x, type: float}]\n",
            "t",
        )
        .unwrap();
        let (_, ds) = reg.dataset("web-orders").unwrap();
        let t = table_spec("web-orders", ds, "lake", "curated/web-orders/");
        assert_eq!(t.name, "web_orders");
        assert_eq!(t.location, "s3://lake/curated/web-orders/");
        let cols: Vec<(&str, &str)> = t
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty.as_str()))
            .collect();
        assert_eq!(
            cols,
            [("id", "bigint"), ("who", "string"), ("at", "timestamp")]
        );
        assert_eq!(t.columns[1].comment.as_deref(), Some("sensitive"));
        assert_eq!(t.partition_keys[0].name, "dt");
        assert_eq!(t.parameters["projection.dt.type"], "date");
        assert_eq!(
            t.parameters["storage.location.template"],
            "s3://lake/curated/web-orders/dt=${dt}/"
        );
        let (_, flat) = reg.dataset("flat").unwrap();
        let f = table_spec("flat", flat, "lake", "curated/flat");
        assert!(f.partition_keys.is_empty());
        assert!(!f.parameters.contains_key("projection.enabled"));
        assert_eq!(f.location, "s3://lake/curated/flat/");
    }
}
