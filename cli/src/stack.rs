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

    /// Where the stack's datasets' tables are: its table bucket and namespace.
    pub fn tables(&self) -> anyhow::Result<Target> {
        Ok(Target::S3Tables {
            bucket_arn: self.get("TableBucketArn")?.to_string(),
            namespace: self.get("TablesNamespace")?.to_string(),
        })
    }

    /// The live registry the stack's functions read (`s3://bucket/key`).
    pub fn registry_uri(&self) -> anyhow::Result<&str> {
        self.get("RegistryUri")
    }
}

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
        let old = StackOutputs::from_outputs("old", BTreeMap::new());
        let e = old.tables().unwrap_err().to_string();
        assert!(e.contains("stack old has no output TableBucketArn"), "{e}");
    }
}
