"""The permissions check: every AWS call a test run or the demo made (the router's call log,
`LAKELINE_CALLS_LOG`) against the template's policies for the principal that made it.

    python tests/permissions/check.py CALLS.jsonl [--summary]

For each stack the log registers (a test's lake, the demo's stack), the template is expanded by
aws-sam-translator (tests/template/expand.py) and resolved the way that stack would have it:
its bucket (as ExistingBucketName), its topic, state machines, functions, Glue jobs and EMR
application standing for AlertTopic, Pipeline, ... (a call on a bucket no stack registered is
read as a lake deployed with the defaults on that bucket). Each call's IAM authorizations are
then evaluated (iam.py) against the principal's identity policies and, for S3, the bucket
policy:

- `lakeline-role-<Role>`: the policies of that role of the template (a function's);
- `ak` (moto's state-machine interpreter): the role of every state machine whose definition
  names the invoked function (each of them could be the caller, so each must be allowed);
- `lakeline-person-<name>`: the documented least policy of that person, people.yaml;
- `lakeline-admin`: the harness's set-up and inspection, not checked;
- `unsigned` Lambda invokes: the harness delivering an event as S3 or EventBridge would (the
  functions' resource policies, proven only on AWS), not checked;
- anything else fails the check: every call must have an identity.

Exit 1 when any call is denied (naming the statement that denies it, or the grant that is
missing); the report also lists the template's Allow statements no call used. EXCEPTIONS are
named, documented denials that are reported but do not fail the run.
"""

import argparse
import collections
import json
import pathlib
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "template"))
sys.path.insert(0, str(HERE))
import expand as ex  # noqa: E402
import iam  # noqa: E402

ROLE_PREFIX = "lakeline-role-"
PERSON_PREFIX = "lakeline-person-"
ADMIN = "lakeline-admin"
STATE_MACHINE = "ak"
UNSIGNED = "unsigned"
REGION = "us-east-1"
PEOPLE = HERE / "people.yaml"


class Exception_:
    """A denial that is known, named and documented: reported, not failed."""

    def __init__(self, name, why, principal, action, resource):
        self.name, self.why, self.principal, self.action, self.resource = name, why, principal, action, resource

    def covers(self, principal, access):
        return (iam.wildcard(self.principal, principal) and iam.action_matches(self.action, access["action"])
                and iam.wildcard(self.resource, access["resource"]))


EXCEPTIONS = [
    # None: a denial the template would make is a failure. (`lakeline replay` deleting the
    # quarantined copy, which the bucket policy forbids, was one until validate-upload took that
    # delete over.)
]
# tests/tests/it/smoke_lambda.rs: `cargo lambda watch` gives all six binaries one environment, so
# one key; their calls are the handlers' calls the other tests check role by role.
UNCHECKED_KEYS = {
    ADMIN: "set-up and inspection by the test harness and the demo",
    "lakeline-smoke": "the six binaries under `cargo lambda watch` (smoke_lambda.rs): one "
                      "environment, so one identity; the same handlers are checked per role elsewhere",
}


# Why some statements are never used locally (the report says so next to them).
UNUSED_NOTES = {
    "GlueCurateJobRole/": "the Spark jobs run only on AWS; tests/template checks these as text",
    "GlueCompactJobRole/": "the Spark jobs run only on AWS; tests/template checks these as text",
    "PipelineRole/PipelineRolePolicy2:DeliverExecutionLogs": "Step Functions' log delivery, on AWS",
    "MaintenanceStateMachineRole/MaintenanceStateMachineRolePolicy4:DeliverExecutionLogs":
        "Step Functions' log delivery, on AWS",
    "ValidateUploadFunctionRole/ValidateUploadFunctionEventInvokeConfigOnFailureSQSPolicy":
        "Lambda's on-failure destination, sent by the Lambda service on AWS",
    # GlueTableMaintenance glue-optimizers: lakeline only puts the optimizers (the registry and
    # table writers' calls, checked); Glue runs them as this role.
    "GlueTableOptimizerRole/": "Glue's table optimizers run only on AWS; tests/template checks these as text",
}


# ------------------------------------------------------------------------------ a local stack

class LocalStack(ex.Stack):
    """The template resolved for one local deployment: `resources` maps logical ids to the local
    ARN or name that stands for them."""

    def __init__(self, expanded, params, resources):
        self.local = dict(resources)
        super().__init__(expanded, params)

    def physical(self, name):
        if name in self.local:
            return self.local[name]
        return super().physical(name)

    def get_att(self, name, attr):
        if name in self.local:
            value = self.local[name]
            type_ = self.t["Resources"][name]["Type"]
            if attr in ("Arn", "TableBucketARN"):
                if value.startswith("arn:"):
                    return value
                if type_ == "AWS::Lambda::Function":
                    return f"arn:aws:lambda:{self.region}:{ex.ACCOUNT}:function:{value}"
            if attr == "Name" and value.startswith("arn:"):
                return value.rsplit(":", 1)[-1]
            if attr in ("QueueName", "TopicName") and value.startswith("arn:"):
                return value.rsplit(":", 1)[-1]
        return super().get_att(name, attr)

    # -- what the check needs
    def role_arn(self, role):
        return self.get_att(role, "Arn")

    def identity_statements(self, role):
        out = []
        for pol in self.resources[role]["Properties"].get("Policies", []):
            for i, s in enumerate(_as_list(pol["PolicyDocument"]["Statement"])):
                out.append(iam.Statement.of(s, f"{role}/{pol['PolicyName']}", i))
        return out

    def bucket_policy(self, bucket):
        out = []
        for name, r in self.of_type("AWS::S3::BucketPolicy").items():
            if r["Properties"]["Bucket"] != bucket:
                continue
            for i, s in enumerate(_as_list(r["Properties"]["PolicyDocument"]["Statement"])):
                out.append(iam.Statement.of(s, name, i))
        return out

    def table_bucket_policy(self, arn):
        """The statements of the table bucket policy of the table bucket `arn` is (or is in)."""
        out = []
        for name, r in self.of_type("AWS::S3Tables::TableBucketPolicy").items():
            bucket = r["Properties"]["TableBucketARN"]
            if arn != bucket and not arn.startswith(bucket + "/"):
                continue
            for i, s in enumerate(_as_list(r["Properties"]["ResourcePolicy"]["Statement"])):
                out.append(iam.Statement.of(s, name, i))
        return out

    def state_machine_roles(self, function_arn=None):
        """The roles of the state machines whose definitions name `function_arn` (all state
        machines' when None)."""
        roles = []
        for name, r in self.of_type("AWS::StepFunctions::StateMachine").items():
            subs = r["Properties"].get("DefinitionSubstitutions", {})
            if function_arn is None or function_arn in subs.values():
                roles.append(r["Properties"]["RoleArn"])
        return roles

    def role_of_arn(self, arn):
        for name in self.of_type("AWS::IAM::Role"):
            if self.role_arn(name) == arn:
                return name
        return None


def _as_list(x):
    return x if isinstance(x, list) else [x]


class Stacks:
    """The stacks of one call log, resolved lazily, and which stack a resource belongs to."""

    def __init__(self, expanded, registrations):
        self.expanded = expanded
        self.reg = {}
        for r in registrations:  # later registrations of a stack add to it
            cur = self.reg.setdefault(r["stack"], {"bucket": r["bucket"], "test": r.get("test"),
                                                   "resources": {}, "parameters": {}})
            cur["resources"].update(r.get("resources") or {})
            cur["parameters"].update(r.get("parameters") or {})
        self.resolved = {}
        self.index = {}
        # Tables' warehouses: {warehouse bucket: table ARN}, from the stacks that made them.
        self.tables = {}
        for r in registrations:
            self.tables.update(r.get("tables") or {})
            for table in (r.get("tables") or {}).values():
                self.index[("value", table)] = r["stack"]
        for sid, r in self.reg.items():
            self.index[("bucket", r["bucket"])] = sid
            for logical, value in r["resources"].items():
                self.index[("value", value)] = sid
                if value.startswith("arn:"):
                    self.index[("value", value.rsplit(":", 1)[-1])] = sid
            app = r["parameters"].get("ExistingEmrApplicationId")
            if app:
                self.index[("value", app)] = sid

    def get(self, key):
        """A stack by registration id, or ("adhoc", bucket) for a lake nobody registered."""
        if key not in self.resolved:
            if isinstance(key, tuple):
                bucket = key[1]
                params, resources, test = ({"ExistingBucketName": bucket} if bucket else {}), {}, None
            else:
                r = self.reg[key]
                params = dict(r["parameters"], ExistingBucketName=r["bucket"])
                resources, test = r["resources"], r["test"]
            s = LocalStack(self.expanded, params, resources)
            s.test = test
            s.bucket = params.get("ExistingBucketName") or s.value(
                {"Fn::Sub": "${LakeName}-${AWS::AccountId}-${AWS::Region}"})
            self.resolved[key] = s
        return self.resolved[key]

    def key_of(self, access):
        """Which stack an authorization is about: the registration that names its bucket or
        any name in its resource ARN; else ("adhoc", bucket) for an S3 resource (a lake
        deployed with the defaults on that bucket) or ("adhoc", None)."""
        arn = access["resource"]
        if arn.startswith("arn:aws:s3:::"):
            bucket = arn[len("arn:aws:s3:::"):].split("/", 1)[0]
            return self.index.get(("bucket", bucket), ("adhoc", bucket))
        for candidate in _names_in(arn):
            if ("value", candidate) in self.index:
                return self.index[("value", candidate)]
        return ("adhoc", None)

    def of_call(self, call):
        """The stack of each authorization of a call: its own when it names one; one that
        names nothing (an execution role passed along, a KMS key) belongs to the stack the
        call's other authorizations name."""
        keys = [self.key_of(a) for a in call["accesses"]]
        named = next((k for k in keys if not isinstance(k, tuple)), None)
        return [self.get(named if (k == ("adhoc", None) and named) else k) for k in keys]


def _names_in(arn):
    """The whole ARN and the names an ARN may carry: a state machine's name in an execution
    ARN, a function or job name, an EMR application id, a table's table bucket."""
    out = [arn]
    parts = arn.split(":")
    if len(parts) >= 6:
        rest = ":".join(parts[5:])
        if parts[2] == "states" and parts[5] in ("execution", "stateMachine") and len(parts) > 6:
            out.append(parts[6])
        if parts[2] == "lambda" and parts[5] == "function" and len(parts) > 6:
            out.append(parts[6])
        if parts[2] == "glue" and rest.startswith("job/"):
            out.append(rest[4:])
        if parts[2] == "emr-serverless" and rest.startswith("/applications/"):
            out.append(rest.split("/")[2])
        if parts[2] == "glue" and rest.startswith(("database/", "table/")):
            # A Glue database's tables belong to the stack whose TablesDatabase it is.
            out.append(rest.split("/")[1])
        if parts[2] == "s3tables" and rest.startswith("bucket/"):
            # A table's ARN (or all of a bucket's tables) belongs to its table bucket's stack.
            out.append(":".join(parts[:5]) + ":" + "/".join(rest.split("/")[:2]))
        out.append(parts[-1])
    return out


# ------------------------------------------------------------------------------ people

def load_people():
    return yaml.safe_load(PEOPLE.read_text())["people"]


def person_statements(stack, people, name):
    doc = people[name]
    out = []
    def resolve(x):
        if isinstance(x, str):
            return stack.sub(x, {"Bucket": stack.bucket})
        if isinstance(x, list):
            return [resolve(v) for v in x]
        if isinstance(x, dict):
            return {k: resolve(v) for k, v in x.items()}
        return x

    for i, s in enumerate(doc["statements"]):
        # `When: <template condition>`: a statement about resources only some stacks have
        # (the table bucket, or the Glue database of tables).
        when = s.get("When")
        if when is not None and not stack.condition(when):
            continue
        s = {k: v for k, v in s.items() if k != "When"}
        out.append(iam.Statement.of(resolve(s), f"people.yaml:{name}", i))
    return out


def person_arn(name):
    return f"arn:aws:iam::{ex.ACCOUNT}:role/lakeline-{name}"


# ------------------------------------------------------------------------------ S3 Tables data

# S3 API actions on a table's warehouse, as S3 Tables authorizes them: reads (objects, parts)
# under s3tables:GetTableData, writes (objects, multipart uploads and their aborts) under
# s3tables:PutTableData, on the table's ARN ("S3 Tables: Data retrieval APIs"; the S3 API
# operations a warehouse supports). Anything else a warehouse refuses (listing, deleting).
TABLE_DATA_ACTIONS = {
    "s3:GetObject": "s3tables:GetTableData",
    "s3:GetObjectVersion": "s3tables:GetTableData",
    "s3:ListMultipartUploadParts": "s3tables:GetTableData",
    "s3:PutObject": "s3tables:PutTableData",
    "s3:AbortMultipartUpload": "s3tables:PutTableData",
}
WAREHOUSE_SUFFIX = "--table-s3"


def table_data_access(access, tables):
    """An S3 authorization on a table's warehouse bucket (`<id>--table-s3`, where moto checks
    table data as plain S3 calls) as the S3 Tables authorization AWS makes instead: on the
    table's ARN, from `tables` ({warehouse bucket: table ARN}, registered by the stack that
    created the table). Other authorizations are returned unchanged. The one place this
    mapping lives (issue 26 item 2)."""
    arn = access["resource"]
    if not arn.startswith("arn:aws:s3:::"):
        return access
    bucket = arn[len("arn:aws:s3:::"):].split("/", 1)[0]
    if not bucket.endswith(WAREHOUSE_SUFFIX):
        return access
    table = tables.get(bucket)
    action = TABLE_DATA_ACTIONS.get(access["action"])
    if table is None:
        return dict(access, action=f"unmapped:s3tables:{access['action']} on a warehouse no stack registered")
    if action is None:
        return dict(access, action=f"unmapped:s3tables:{access['action']} (a table's warehouse refuses it)",
                    resource=table)
    return {"action": action, "resource": table, "context": {}, "why": f"{access['action']} on {arn}"}


# ------------------------------------------------------------------------------ implied calls

def implied(stack, access, status):
    """Authorizations AWS checks on the caller besides the request's own, which moto does not
    show: the stack's KMS key for its encrypted topic and queue (the template encrypts both
    with LakelineKey: SNS Publish and SQS SendMessage need kms:GenerateDataKey and kms:Decrypt,
    ReceiveMessage kms:Decrypt), and s3:ListBucket for an object request answered 404 (S3
    answers 403 instead without it, and the handlers rely on the 404)."""
    out = []
    action, arn = access["action"], access["resource"]
    key = stack.get_att("LakelineKey", "Arn") if "LakelineKey" in stack.live else None
    encrypted = set()
    for logical in ("AlertTopic", "ValidateUploadDLQ"):
        if logical in stack.live and stack.resources[logical]["Properties"].get("KmsMasterKeyId"):
            encrypted.add(stack.get_att(logical, "Arn") if logical != "AlertTopic" else stack.ref(logical))
    if key and arn in encrypted:
        if action in ("sns:Publish", "sqs:SendMessage"):
            out += [{"action": "kms:GenerateDataKey", "resource": key, "context": {}},
                    {"action": "kms:Decrypt", "resource": key, "context": {}}]
        elif action == "sqs:ReceiveMessage":
            out.append({"action": "kms:Decrypt", "resource": key, "context": {}})
    if status == 404 and arn.startswith("arn:aws:s3:::") and "/" in arn[13:]:
        out.append({"action": "s3:ListBucket", "resource": "arn:aws:s3:::" + arn[13:].split("/", 1)[0],
                    "context": {}, "why": "answered 404, which S3 gives only with s3:ListBucket"})
    return out


# ------------------------------------------------------------------------------ the check

class Report:
    def __init__(self):
        self.calls = 0
        self.checked = 0
        self.unchecked = collections.Counter()
        self.denied = []          # (call, access, why)
        self.excepted = collections.Counter()
        self.used = set()         # statement names that allowed something
        self.known = {}           # statement name -> Statement (every Allow that could be used)
        self.by_principal = collections.Counter()


def principals_of(stack, people, principal, access):
    """(kind, [(principal ARN, identity statements, label)]) for a principal and access; an
    empty list means the principal has no identity this check knows."""
    if principal.startswith(ROLE_PREFIX):
        role = principal[len(ROLE_PREFIX):]
        if role not in stack.resources:
            return [(None, None, f"no role {role} in the template")]
        return [(stack.role_arn(role), stack.identity_statements(role), role)]
    if principal.startswith(PERSON_PREFIX):
        name = principal[len(PERSON_PREFIX):]
        if name not in people:
            return [(None, None, f"no person {name} in people.yaml")]
        return [(person_arn(name), person_statements(stack, people, name), f"person {name}")]
    if principal == STATE_MACHINE:
        target = access["resource"] if access["action"] == "lambda:InvokeFunction" else None
        arns = stack.state_machine_roles(target) or stack.state_machine_roles()
        out = []
        for arn in arns:
            role = stack.role_of_arn(arn)
            out.append((arn, stack.identity_statements(role), role))
        return out
    return [(None, None, f"unknown principal {principal!r}: every call needs an identity "
                         "(lakeline_local::identity)")]


def check_access(report, stack, people, call, access):
    """The failures of one authorization (empty: allowed) in `stack`."""
    principal = call["principal"]
    failures = []
    for pid in principals_of(stack, people, principal, access):
        arn, statements, label = pid
        if arn is None:
            failures.append(label)
            continue
        for st in statements:
            if st.effect == "Allow":
                report.known.setdefault(st.name, st)
        if access["resource"].startswith("arn:aws:s3:::"):
            resource = stack.bucket_policy(access["resource"][13:].split("/", 1)[0])
        elif access["resource"].startswith("arn:aws:s3tables:"):
            resource = stack.table_bucket_policy(access["resource"])
        else:
            resource = []
        context = dict(access.get("context") or {})
        context["aws:PrincipalArn"] = arn
        # The SDK talks TLS to AWS; locally it is plain HTTP only because moto is local.
        context["aws:SecureTransport"] = "true"
        d = iam.evaluate(iam.Request(arn, access["action"], access["resource"], context), statements, resource)
        for st in d.allowed_by:
            report.used.add(st.name)
        if d.allowed:
            continue
        if d.outcome == iam.EXPLICIT_DENY:
            why = "denied by " + ", ".join(s.name for s in d.denied_by)
        elif d.outcome == iam.UNDECIDED:
            why = "undecided: conditions not understood " + repr(d.not_understood)
        else:
            near = [s.name for s in statements if s.effect == "Allow" and s.covers_action(access["action"])]
            why = f"no statement of {label} allows it" + (f" (same action, other resources or conditions: {', '.join(near)})" if near else "")
            if d.not_understood:
                why += f"; conditions not understood: {d.not_understood}"
        failures.append(f"{label}: {why}")
    return failures


def run(log_path, expanded=None):
    lines = [json.loads(line) for line in pathlib.Path(log_path).read_text().splitlines() if line.strip()]
    registrations = [r for r in lines if r.get("kind") == "stack"]
    calls = [r for r in lines if r.get("kind") == "call"]
    stacks = Stacks(expanded or ex.expand(ex.load_template()), registrations)
    people = load_people()
    report = Report()
    report.stacks = len(stacks.reg)
    for call in calls:
        report.calls += 1
        principal = call["principal"]
        report.by_principal[principal] += 1
        if principal in UNCHECKED_KEYS:
            report.unchecked[principal] += 1
            continue
        if principal == UNSIGNED and all(a["action"] == "lambda:InvokeFunction" for a in call["accesses"]):
            report.unchecked["deliveries"] += 1
            continue
        report.checked += 1
        denied_here = []
        call = dict(call, accesses=[table_data_access(a, stacks.tables) for a in call["accesses"]])
        for access, stack in zip(call["accesses"], stacks.of_call(call)):
            for a in [access] + implied(stack, access, call.get("status")):
                failures = check_access(report, stack, people, call, a)
                if not failures:
                    continue
                exc = next((e for e in EXCEPTIONS if e.covers(principal, a)), None)
                if exc:
                    report.excepted[exc.name] += 1
                    continue
                denied_here.append((a, stack, failures))
        if denied_here:
            report.denied.append((call, denied_here))
    # Every Allow of every role of the template and of every person, used or not: in the first
    # stack the log registers and in every stack a call was held to (a role or statement only
    # some parameters create, e.g. GlueTableOptimizerRole, counts once a stack of the run has it).
    stacks.get(next(iter(stacks.reg), ("adhoc", None)))
    for stack in list(stacks.resolved.values()):
        for role in stack.of_type("AWS::IAM::Role"):
            for st in stack.identity_statements(role):
                if st.effect == "Allow":
                    report.known.setdefault(st.name, st)
        for name in people:
            for st in person_statements(stack, people, name):
                report.known.setdefault(st.name, st)
    return report


def render(report, summary=False, out=sys.stdout):
    w = out.write
    if not summary or report.denied:
        for call, items in report.denied[:50]:
            for a, s, failures in items:
                w(f"DENIED  {call['principal']}  {a['action']}  {a['resource']}\n")
                w(f"        request {call['request']} (HTTP {call.get('status')}), test {s.test or '-'}\n")
                if a.get("why"):
                    w(f"        needed because it {a['why']}\n")
                for f in failures:
                    w(f"        {f}\n")
        if len(report.denied) > 50:
            w(f"... and {len(report.denied) - 50} more denied calls\n")
    if not summary:
        w("\nCalls per principal:\n")
        for p, n in sorted(report.by_principal.items()):
            w(f"  {n:7,}  {p}" + (f"  (not checked: {UNCHECKED_KEYS[p]})" if p in UNCHECKED_KEYS else "") + "\n")
        unused = sorted(set(report.known) - report.used)
        w(f"\nAllow statements no call used ({len(unused)} of {len(report.known)}):\n")
        for name in unused:
            note = next((n for prefix, n in UNUSED_NOTES.items() if name.startswith(prefix)), "")
            w(f"  {name}" + (f"  ({note})" if note else "") + "\n")
    for name, n in sorted(report.excepted.items()):
        exc = next(e for e in EXCEPTIONS if e.name == name)
        w(f"permissions: exception {name}: {n} denied call(s) reported, not failed: {exc.why}\n")
    unchecked = sum(report.unchecked.values())
    w(f"permissions: {report.checked:,} AWS calls checked against the template's policies, "
      f"{len(report.denied):,} denied ({unchecked:,} not checked: harness set-up and event deliveries; "
      f"{report.stacks} stacks)\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log")
    p.add_argument("--summary", action="store_true", help="only denials and the totals")
    args = p.parse_args(argv)
    report = run(args.log)
    render(report, args.summary)
    if report.checked == 0:
        print("permissions: no call was checked: is the call log empty?", file=sys.stderr)
        return 1
    return 1 if report.denied else 0


if __name__ == "__main__":
    sys.exit(main())
