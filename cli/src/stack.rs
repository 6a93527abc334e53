//! A deployed stack, found by its name: the outputs of its CloudFormation stack (template.yaml's
//! `Outputs`) name the live registry and the datasets' table bucket and namespace, so a command
//! needs only `--stack NAME`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use lakeline_table::Target;

/// A stack's outputs.
pub struct StackOutputs {
    name: String,
    outputs: BTreeMap<String, String>,
}

impl StackOutputs {
    /// Reads stack `name`'s outputs (CloudFormation `DescribeStacks`).
    pub async fn read(conf: &aws_config::SdkConfig, name: &str) -> anyhow::Result<StackOutputs> {
        let out = aws_sdk_cloudformation::Client::new(conf)
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "reading the outputs of stack {name} (cloudformation:DescribeStacks): {}",
                    lakeline_aws::describe(&e)
                )
            })?;
        let stack = out
            .stacks()
            .first()
            .with_context(|| format!("no stack {name}"))?;
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        Ok(StackOutputs::from_outputs(name, outputs))
    }

    /// The outputs of stack `name`, as given.
    pub fn from_outputs(name: &str, outputs: BTreeMap<String, String>) -> StackOutputs {
        StackOutputs {
            name: name.to_string(),
            outputs,
        }
    }

    /// One output; an error names the stack and the output when it has none.
    pub fn get(&self, key: &str) -> anyhow::Result<&str> {
        match self.outputs.get(key) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => bail!(
                "stack {} has no output {key} (deployed from an older template.yaml? `sam deploy` it again)",
                self.name
            ),
        }
    }

    /// Where the stack's datasets' tables are: its Glue database when the stack keeps its
    /// tables in the Glue Data Catalog (output `TablesGlueDatabase` set), with Glue's table
    /// optimizers when it leaves their history to them (output `GlueTableOptimizerRoleArn`
    /// set, with the retention outputs), else its table bucket and namespace.
    pub fn tables(&self) -> anyhow::Result<Target> {
        if let Some(db) = self
            .outputs
            .get("TablesGlueDatabase")
            .filter(|d| !d.is_empty())
        {
            let var = |name: &str| {
                let output = match name {
                    lakeline_table::catalog::GLUE_OPTIMIZER_ROLE_VAR => "GlueTableOptimizerRoleArn",
                    "LAKELINE_SNAPSHOT_RETENTION_DAYS" => "TableSnapshotRetentionDays",
                    "LAKELINE_SNAPSHOTS_KEPT" => "TableSnapshotsKept",
                    "LAKELINE_ORPHAN_RETENTION_DAYS" => "TableOrphanRetentionDays",
                    _ => return None,
                };
                self.outputs.get(output).cloned()
            };
            let optimizers = lakeline_table::GlueOptimizers::from_vars(var)
                .map_err(|e| anyhow::anyhow!("stack {}: {e}", self.name))?;
            return Ok(Target::Glue {
                database: db.clone(),
                optimizers,
            });
        }
        Ok(Target::S3Tables {
            bucket_arn: self.get("TableBucketArn")?.to_string(),
            namespace: self.get("TablesNamespace")?.to_string(),
        })
    }

    /// The stack's alert topic (`AlertTopicArn`).
    pub fn alert_topic(&self) -> anyhow::Result<&str> {
        self.get("AlertTopicArn")
    }

    /// The live registry the stack's functions read (`s3://bucket/key`).
    pub fn registry_uri(&self) -> anyhow::Result<&str> {
        self.get("RegistryUri")
    }

    /// The values the stack's functions fill the registry's `${LAKELINE_…}` placeholders with
    /// (template.yaml sets each function variable from the same reference as the output), so
    /// a registry is checked against this stack, not against the shell it is pushed from.
    pub fn placeholder_vars(&self) -> lakeline_core::placeholders::Vars {
        PLACEHOLDER_OUTPUTS
            .iter()
            .filter_map(|(var, output)| {
                let v = self.outputs.get(*output).filter(|v| !v.is_empty())?;
                Some((var.to_string(), v.clone()))
            })
            .collect()
    }

    /// The stack's artifact prefix (`ArtifactUri`), where Spark entry points must live.
    pub fn artifact_prefix(&self) -> Option<&str> {
        self.outputs.get("ArtifactUri").map(String::as_str)
    }
}

/// Registry placeholder → the stack output holding the value the functions' environment has.
pub const PLACEHOLDER_OUTPUTS: &[(&str, &str)] = &[
    ("LAKELINE_GLUE_CURATE_JOB", "GlueCurateJobName"),
    ("LAKELINE_GLUE_COMPACT_JOB", "GlueCompactJobName"),
    ("LAKELINE_EMR_APPLICATION_ID", "EmrApplicationId"),
    ("LAKELINE_ARTIFACT_PREFIX", "ArtifactUri"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_name_the_tables_and_the_registry_or_say_which_is_missing() {
        let s = StackOutputs::from_outputs(
            "lake",
            BTreeMap::from([
                (
                    "TableBucketArn".into(),
                    "arn:aws:s3tables:eu-west-1:1:bucket/t".into(),
                ),
                ("TablesNamespace".into(), "lakeline".into()),
                ("RegistryUri".into(), "s3://b/config/datasets.yaml".into()),
            ]),
        );
        assert_eq!(
            s.tables().unwrap(),
            Target::S3Tables {
                bucket_arn: "arn:aws:s3tables:eu-west-1:1:bucket/t".into(),
                namespace: "lakeline".into()
            }
        );
        assert_eq!(s.registry_uri().unwrap(), "s3://b/config/datasets.yaml");
        assert!(s.placeholder_vars().is_empty());
        let jobs = StackOutputs::from_outputs(
            "lake",
            BTreeMap::from([
                ("GlueCurateJobName".into(), "lake-curate".into()),
                ("EmrApplicationId".into(), String::new()),
            ]),
        );
        assert_eq!(
            jobs.placeholder_vars(),
            lakeline_core::placeholders::Vars::from([(
                "LAKELINE_GLUE_CURATE_JOB".to_string(),
                "lake-curate".to_string()
            )])
        );
        let glue = StackOutputs::from_outputs(
            "lake",
            BTreeMap::from([
                ("TablesGlueDatabase".into(), "lake_tables".into()),
                ("TableBucketArn".into(), String::new()),
            ]),
        );
        assert_eq!(
            glue.tables().unwrap(),
            Target::Glue {
                database: "lake_tables".into(),
                optimizers: None,
            }
        );
        let optimized = StackOutputs::from_outputs(
            "lake",
            BTreeMap::from([
                ("TablesGlueDatabase".into(), "lake_tables".into()),
                (
                    "GlueTableOptimizerRoleArn".into(),
                    "arn:aws:iam::1:role/o".into(),
                ),
                ("TableSnapshotRetentionDays".into(), "7".into()),
                ("TableSnapshotsKept".into(), "2".into()),
                ("TableOrphanRetentionDays".into(), "4".into()),
            ]),
        );
        assert_eq!(
            optimized.tables().unwrap(),
            Target::Glue {
                database: "lake_tables".into(),
                optimizers: Some(lakeline_table::GlueOptimizers {
                    role_arn: "arn:aws:iam::1:role/o".into(),
                    snapshot_days: 7,
                    keep: 2,
                    orphan_days: 4,
                }),
            }
        );
        let old = StackOutputs::from_outputs("old", BTreeMap::new());
        let e = old.tables().unwrap_err().to_string();
        assert!(e.contains("stack old has no output TableBucketArn"), "{e}");
    }
}
