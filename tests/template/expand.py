"""Expands template.yaml to plain CloudFormation offline with aws-sam-translator (the library
`sam deploy` relies on, minus the AWS calls). Run as a script, prints the expansion as JSON
(scripts/sam-tools runs checkov on it).

`resolve` then plays CloudFormation's part for one set of parameter values: it evaluates the
conditions, drops the resources and outputs whose condition is false, and resolves Ref, Sub,
If, Join, Split, Select and GetAtt to strings, as a stack with those parameters would see them
(physical names and ARNs of the stack's own resources are stand-ins). A Ref or GetAtt to a
resource the parameters removed fails, as it would at deploy time."""

import copy
import json
import os
import pathlib
import re
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# Stands in for a state machine's ASL file while it does not exist: the definition changes
# neither the generated IAM nor the resources.
STAND_IN = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


def load_template():
    return yaml_parse(TEMPLATE.read_text())


def asl_path(template, state_machine="Pipeline"):
    """The definition file a state machine of the template points at (for the pipeline,
    LAKELINE_ASL overrides it, to try the suite on a definition kept elsewhere)."""
    override = os.environ.get("LAKELINE_ASL")
    if override and state_machine == "Pipeline":
        return pathlib.Path(override)
    return ROOT / template["Resources"][state_machine]["Properties"]["DefinitionUri"]


class OfflinePolicyLoader:
    """The translator asks IAM for managed policies only when a template names one by its bare
    name; ours uses none, and nothing here may call AWS."""

    def load(self):
        return {}


def expand(template, params=None):
    """Local CodeUri becomes an s3:// placeholder (what `sam package` does) and DefinitionUri is
    inlined as Definition. `params`, if given, are the parameter values the transform sees (as
    in a deploy); the result still holds every condition."""
    t = copy.deepcopy(template)
    for name, res in t["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://lakeline-offline-artifacts/code.zip"
        if res["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            path = asl_path(template, name)  # each state machine its own definition
            del props["DefinitionUri"]
            props["Definition"] = json.loads(path.read_text()) if path.exists() else STAND_IN
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(t, dict(params or {}), OfflinePolicyLoader())


# ------------------------------------------------------------------ resolve (CloudFormation's part)

ACCOUNT = "123456789012"
STACK = "lakeline-test"
NO_VALUE = object()
PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": STACK}


class Unresolvable(Exception):
    pass


class Stack:
    """One deployment of an expanded template: `params` override the defaults."""

    def __init__(self, expanded, params=None, region="us-east-1", stack_name=STACK):
        self.t = expanded
        self.region = region
        self.pseudo = dict(PSEUDO, **{"AWS::AccountId": ACCOUNT, "AWS::Region": region, "AWS::StackName": stack_name,
                                      "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{stack_name}/x"})
        decl = expanded["Parameters"]
        unknown = set(params or {}) - set(decl)
        if unknown:
            raise Unresolvable(f"no such parameters: {unknown}")
        self.params = {}
        for name, d in decl.items():
            value = (params or {}).get(name, d.get("Default"))
            if value is None:
                raise Unresolvable(f"parameter {name} has no value")
            value = str(value)
            self.params[name] = value.split(",") if d["Type"] == "CommaDelimitedList" else value
        self._conditions = {}
        self.resources = {}
        live = {k for k, r in expanded["Resources"].items() if self.condition_of(r)}
        self.live = live
        for k in sorted(live):
            r = expanded["Resources"][k]
            self.resources[k] = {key: (self.value(v) if key in ("Properties", "Metadata") else v)
                                 for key, v in r.items()}
        self.outputs = {k: self.value(o) for k, o in expanded.get("Outputs", {}).items()
                        if self.condition_of(o)}

    # -- conditions
    def condition_of(self, thing):
        name = thing.get("Condition")
        return True if name is None else self.condition(name)

    def condition(self, name):
        if name not in self._conditions:
            self._conditions[name] = self.boolean(self.t["Conditions"][name])
        return self._conditions[name]

    def boolean(self, expr):
        (fn, arg), = expr.items()
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.boolean(arg[0])
        if fn == "Fn::And":
            return all(self.boolean(x) for x in arg)
        if fn == "Fn::Or":
            return any(self.boolean(x) for x in arg)
        if fn == "Condition":
            return self.condition(arg)
        raise Unresolvable(f"not a condition: {expr}")

    def rules_failing(self):
        """Names of the template's Rules whose assertions fail for these parameters."""
        failing = []
        for name, rule in self.t.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.rule_bool(rule["RuleCondition"]):
                continue
            if not all(self.rule_bool(a["Assert"]) for a in rule["Assertions"]):
                failing.append(name)
        return failing

    def rule_bool(self, expr):
        (fn, arg), = expr.items()
        if fn == "Fn::Contains":
            haystack, needle = self.value(arg[0]), self.value(arg[1])
            return needle in haystack
        if fn == "Fn::Not":
            return not self.rule_bool(arg[0])
        if fn == "Fn::And":
            return all(self.rule_bool(x) for x in arg)
        if fn == "Fn::Or":
            return any(self.rule_bool(x) for x in arg)
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in arg)
            return str(a) == str(b)
        raise Unresolvable(f"rule function {fn} not supported here")

    # -- values
    def physical(self, name):
        if name not in self.t["Resources"]:
            raise Unresolvable(f"Ref to unknown {name}")
        if name not in self.live:
            raise Unresolvable(f"Ref to {name}, which these parameters do not create")
        r = self.t["Resources"][name]
        if r["Type"] == "AWS::S3::Bucket":
            return self.value(r["Properties"]["BucketName"])
        if r["Type"] == "AWS::Glue::Database":
            return self.value(r["Properties"]["DatabaseInput"]["Name"])
        if r["Type"] == "AWS::S3Tables::TableBucket":
            # Ref of a table bucket is its ARN.
            return self.get_att(name, "TableBucketARN")
        return f"{STACK}-{name}"

    def get_att(self, name, attr):
        type_ = self.t["Resources"].get(name, {}).get("Type")
        if type_ == "AWS::S3Tables::TableBucket" and attr == "TableBucketARN" and name in self.live:
            table_bucket = self.value(self.t["Resources"][name]["Properties"]["TableBucketName"])
            return f"arn:aws:s3tables:{self.region}:{ACCOUNT}:bucket/{table_bucket}"
        phys = self.physical(name)
        if attr == "Arn":
            if type_ == "AWS::IAM::Role":
                return f"arn:aws:iam::{ACCOUNT}:role/{phys}"
            if type_ == "AWS::Lambda::Function":
                return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{phys}"
            if type_ == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{phys}"
        return f"<{name}.{attr}>"

    def ref(self, name):
        if name in self.params:
            return self.params[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        return self.physical(name)

    def sub(self, text, variables):
        def one(m):
            var = m.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            if var in variables:
                v = variables[var]
            elif "." in var and var.split(".")[0] in self.t["Resources"]:
                v = self.get_att(*var.split(".", 1))
            else:
                v = self.ref(var)
            if not isinstance(v, str):
                raise Unresolvable(f"Fn::Sub variable {var} is not a string: {v!r}")
            return v
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def value(self, x):
        if isinstance(x, list):
            out = [self.value(v) for v in x]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(x, dict):
            return x
        if len(x) == 1:
            (fn, arg), = x.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attr)
            if fn == "Fn::If":
                cond, yes, no = arg
                return self.value(yes if self.condition(cond) else no)
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self.sub(text, {k: self.value(v) for k, v in variables.items()})
            if fn == "Fn::Join":
                sep, items = arg
                items = self.value(items)
                if not all(isinstance(i, str) for i in items):
                    raise Unresolvable(f"Fn::Join of non-strings: {items!r}")
                return sep.join(items)
            if fn == "Fn::Split":
                sep, text = arg
                return self.value(text).split(sep)
            if fn == "Fn::Select":
                i, items = arg
                return self.value(items)[int(self.value(i))]
            if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
                return self.boolean(x)
            if fn.startswith("Fn::"):
                raise Unresolvable(f"{fn} not supported here")
        out = {k: self.value(v) for k, v in x.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def of_type(self, type_):
        return {k: v for k, v in self.resources.items() if v["Type"] == type_}


if __name__ == "__main__":
    json.dump(expand(load_template()), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
