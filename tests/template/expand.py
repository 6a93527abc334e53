"""Expands template.yaml to plain CloudFormation offline with aws-sam-translator (the library
`sam deploy` relies on, minus the AWS calls). Run as a script, prints the expansion as JSON
(scripts/sam-tools runs checkov on it)."""

import copy
import json
import os
import pathlib
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# The state machine stands in for the ASL file while it does not exist: the definition changes
# neither the generated IAM nor the resources.
STAND_IN = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


def load_template():
    return yaml_parse(TEMPLATE.read_text())


def asl_path(template):
    """The definition file the template points at (LAKELINE_ASL overrides it, to try the
    suite on a definition kept elsewhere)."""
    override = os.environ.get("LAKELINE_ASL")
    if override:
        return pathlib.Path(override)
    return ROOT / template["Resources"]["Pipeline"]["Properties"]["DefinitionUri"]


class OfflinePolicyLoader:
    """The translator asks IAM for managed policies only when a template names one by its bare
    name; ours uses none, and nothing here may call AWS."""

    def load(self):
        return {}


def expand(template):
    """Local CodeUri becomes an s3:// placeholder (what `sam package` does) and DefinitionUri is
    inlined as Definition."""
    t = copy.deepcopy(template)
    path = asl_path(template)
    definition = json.loads(path.read_text()) if path.exists() else STAND_IN
    for res in t["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://lakeline-offline-artifacts/code.zip"
        if res["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            del props["DefinitionUri"]
            props["Definition"] = definition
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(t, {}, OfflinePolicyLoader())


if __name__ == "__main__":
    json.dump(expand(load_template()), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
