"""Invariants of template.yaml, checked on its offline expansion to plain CloudFormation."""

import json
import re

import pytest

from expand import ACCOUNT, ROOT, STACK

FUNCTIONS = {
    # logical id: crate folder
    "ValidateUploadFunction": "functions/validate-upload",
    "CurateFunction": "functions/curate",
    "StartJobFunction": "functions/start-job",
    "CheckCompactionFunction": "functions/check-compaction",
    "CompactFunction": "functions/compact",
    "NotifyFailureFunction": "functions/notify-failure",
}
# state machine: its definition file
STATE_MACHINES = {
    "Pipeline": "statemachine/pipeline.asl.json",
    "MaintenanceStateMachine": "statemachine/maintenance.asl.json",
}

# Exactly what each function (and the state machine) may do: the calls in its source, nothing
# more. A change here is a deliberate change of a role.
EXPECTED_ACTIONS = {
    "ValidateUploadFunctionRole": {
        "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObject",
        "s3:DeleteObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket",
        "states:StartExecution", "sns:Publish", "kms:GenerateDataKey", "kms:Decrypt",
        "sqs:SendMessage",
    },
    "CurateFunctionRole": {
        "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:PutObject",
        "s3:AbortMultipartUpload", "s3tables:GetTable", "s3tables:UpdateTableMetadataLocation",
        "s3tables:GetTableData", "s3tables:PutTableData",
        # TablesCatalog glue instead of the s3tables actions (test_glue_tables_*)
        "glue:GetDatabase", "glue:GetTable", "glue:UpdateTable", "s3:DeleteObject",
        # uploads under a producer's own key, with ProducerKmsKeyArns (DecryptProducerUploads)
        "kms:Decrypt",
    },
    "StartJobFunctionRole": {
        "s3tables:GetTable", "s3tables:GetTableData", "glue:GetDatabase", "glue:GetTable",
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns",
        "emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "emr-serverless:TagResource",
        "iam:PassRole",
    },
    "CheckCompactionFunctionRole": {
        # delivery alerts (registry expect:): raw/ listed, markers under _lakeline/sla/
        "s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject",
        "sns:Publish", "kms:GenerateDataKey", "kms:Decrypt",
        "s3tables:GetTable", "s3tables:GetTableData",  # a table sweep reads manifests
        "glue:GetDatabase", "glue:GetTable",  # the same with TablesCatalog glue
    },
    "CompactFunctionRole": {
        # a table partition's compaction commits (TablesCatalog s3tables, or glue: its files
        # under tables/, which maintainTable lists and deletes from); a Spark rewrite's plan
        # (put) and output (read, listed) under _lakeline/staging/rewrite/
        "s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3tables:GetTable", "s3tables:UpdateTableMetadataLocation", "s3tables:GetTableData",
        "s3tables:PutTableData", "glue:GetDatabase", "glue:GetTable", "glue:UpdateTable",
    },
    "NotifyFailureFunctionRole": {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"},
    "PipelineRole": {
        "lambda:InvokeFunction", "logs:CreateLogDelivery", "logs:GetLogDelivery",
        "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
        "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    },
    "MaintenanceStateMachineRole": {
        "lambda:InvokeFunction", "logs:CreateLogDelivery", "logs:GetLogDelivery",
        "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
        "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    },
    # The schedule's EventBridge rule starts the maintenance state machine, nothing else.
    "MaintenanceStateMachineSweepRole": {"states:StartExecution"},
    # The Glue jobs (jobs/curate.py, jobs/compact.py): S3 as the scripts use it (boto3 and
    # Spark), their log groups, Glue's job metrics.
    "GlueCurateJobRole": {
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
        "s3:ListBucket", "s3:GetBucketLocation",
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "cloudwatch:PutMetricData",
        # uploads under a producer's own key, with ProducerKmsKeyArns (DecryptProducerUploads)
        "kms:Decrypt",
    },
    "GlueCompactJobRole": {
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
        "s3:ListBucket", "s3:GetBucketLocation",
        "s3tables:GetTableData",  # the table's data files the plan names (S3 Tables)
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "cloudwatch:PutMetricData",
    },
    # Glue's table optimizers (GlueTableMaintenance glue-optimizers): the tables' files, their
    # Glue entries, the optimizers' log groups (test_glue_optimizers.py pins the resources).
    "GlueTableOptimizerRole": {
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket",
        "glue:GetTable", "glue:UpdateTable",
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
    },
}
# Who may assume each role (everything else: lambda.amazonaws.com).
ROLE_SERVICE = {
    "PipelineRole": "states.amazonaws.com",
    "MaintenanceStateMachineRole": "states.amazonaws.com",
    "MaintenanceStateMachineSweepRole": "events.amazonaws.com",
    "GlueCurateJobRole": "glue.amazonaws.com",
    "GlueCompactJobRole": "glue.amazonaws.com",
    "GlueTableOptimizerRole": "glue.amazonaws.com",
}
# AWS managed policies the translator attaches: basic logging, and X-Ray for Tracing.
ALLOWED_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# Statements that may use Resource "*" because the actions support nothing else.
STAR_RESOURCE_OK = {"DeliverExecutionLogs", "PublishJobMetrics"}


def resources(expanded, type_):
    return {k: v for k, v in expanded["Resources"].items() if v["Type"] == type_}


def as_list(x):
    return x if isinstance(x, list) else [x]


def statements(doc):
    """Statements of a policy document, both branches of any Fn::If."""
    out = []
    for st in as_list(doc.get("Statement", [])):
        if isinstance(st, dict) and "Fn::If" in st:
            out += [b for b in st["Fn::If"][1:] if isinstance(b, dict) and "Effect" in b]
        else:
            out.append(st)
    return out


def role_statements(role):
    props = role["Properties"]
    return [st for p in props.get("Policies", []) for st in statements(p["PolicyDocument"])]


def role_actions(role):
    return {a for st in role_statements(role) if st["Effect"] == "Allow" for a in as_list(st["Action"])}


def all_policy_statements(expanded):
    """(where, statement) for every policy in the stack: roles, managed policies, resource
    policies (bucket, key, topic, queue)."""
    out = []
    for name, res in expanded["Resources"].items():
        props = res.get("Properties", {})
        docs = [p["PolicyDocument"] for p in props.get("Policies", []) if "PolicyDocument" in p]
        for key in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"):
            if isinstance(props.get(key), dict):
                docs.append(props[key])
        out += [(name, st) for d in docs for st in statements(d)]
    return out


def ref_of(x):
    return x.get("Ref") if isinstance(x, dict) else None


def bucket_name(stack):
    """The lake bucket a resolved stack uses (created or existing)."""
    return stack.outputs["LakeBucketName"]["Value"]


# ------------------------------------------------------------------ the state machines


def asl_of(template, sm):
    """The definition text of a state machine of the template (the pipeline's: conftest
    asl_text, which honours LAKELINE_ASL)."""
    return (ROOT / template["Resources"][sm]["Properties"]["DefinitionUri"]).read_text()


def test_state_machines_and_their_files(template):
    sms = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"}
    assert sms == set(STATE_MACHINES)
    for sm, path in STATE_MACHINES.items():
        assert template["Resources"][sm]["Properties"]["DefinitionUri"] == path
        assert template["Resources"][sm]["Properties"]["Type"] == "STANDARD"


def placeholders(text):
    return set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))


def test_asl_placeholders_match_substitutions(template, asl_text):
    used = placeholders(asl_text)
    subs = set(template["Resources"]["Pipeline"]["Properties"]["DefinitionSubstitutions"])
    assert used - subs == set(), "placeholders in the ASL without a substitution"
    assert subs - used == set(), "substitutions the ASL never uses"


def test_maintenance_placeholders_match_substitutions(template):
    """maintenance.asl.json's `${...}` placeholders are exactly the substitutions, each the Arn
    of the function it names (start-job: the Spark rewrites' start and status)."""
    used = placeholders(asl_of(template, "MaintenanceStateMachine"))
    subs = template["Resources"]["MaintenanceStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert used == set(subs)
    assert subs == {
        "CheckCompactionFunctionArn": {"Fn::GetAtt": ["CheckCompactionFunction", "Arn"]},
        "CompactFunctionArn": {"Fn::GetAtt": ["CompactFunction", "Arn"]},
        "StartJobFunctionArn": {"Fn::GetAtt": ["StartJobFunction", "Arn"]},
        "NotifyFailureFunctionArn": {"Fn::GetAtt": ["NotifyFailureFunction", "Arn"]},
    }


@pytest.mark.parametrize("sm", sorted(STATE_MACHINES))
def test_asl_is_json_and_invokes_only_lambda(template, asl_text, sm):
    text = asl_text if sm == "Pipeline" else asl_of(template, sm)
    definition = json.loads(text)
    resources_ = set(re.findall(r'"Resource"\s*:\s*"([^"]+)"', json.dumps(definition)))
    # The state machine roles grant lambda:InvokeFunction only: any other integration needs a policy.
    assert resources_ <= {"arn:aws:states:::lambda:invoke"}, resources_


def test_substitutions_are_the_two_steps(template):
    """curate and start-job: the pipeline no longer compacts (maintenance does) and no longer
    calls notify-failure (PipelineFailedRule does, so that it has no Catch and can be redriven)."""
    subs = template["Resources"]["Pipeline"]["Properties"]["DefinitionSubstitutions"]
    assert subs == {
        "CurateFunctionArn": {"Fn::GetAtt": ["CurateFunction", "Arn"]},
        "StartJobFunctionArn": {"Fn::GetAtt": ["StartJobFunction", "Arn"]},
    }


def test_pipeline_has_no_catch_so_it_can_be_redriven(asl_text):
    """RedriveExecution resumes at the failed state: a Catch into notify-and-Fail would make it
    fail again at the Fail state."""
    assert '"Catch"' not in asl_text


def test_failed_pipeline_runs_reach_notify_failure_through_eventbridge(template):
    """FAILED, TIMED_OUT and ABORTED runs of this stack's pipeline (and no other state
    machine's) are delivered to notify-failure, which EventBridge may invoke, with retries."""
    res = template["Resources"]
    rule = res["PipelineFailedRule"]["Properties"]
    assert res["PipelineFailedRule"]["Type"] == "AWS::Events::Rule"
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "Pipeline"}]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["NotifyFailureFunction", "Arn"]}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600
    perm = res["PipelineFailedRulePermission"]["Properties"]
    assert perm["Principal"] == "events.amazonaws.com"
    assert perm["FunctionName"] == {"Ref": "NotifyFailureFunction"}
    assert perm["SourceArn"] == {"Fn::GetAtt": ["PipelineFailedRule", "Arn"]}


def test_an_undeliverable_failure_event_is_kept_and_alarmed(template):
    """An event EventBridge cannot deliver to notify-failure (after its retry policy) lands in a
    dead-letter queue that only this rule may send to, and an alarm tells the owner: a failure
    whose alert was never sent is not silent."""
    res = template["Resources"]
    (target,) = res["PipelineFailedRule"]["Properties"]["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["AlertDeliveryDLQ", "Arn"]}}
    q = res["AlertDeliveryDLQ"]["Properties"]
    assert q["MessageRetentionPeriod"] == 1209600
    # Encrypted with the stack key, which EventBridge may use (only from this account).
    assert q["KmsMasterKeyId"] == {"Ref": "LakelineKey"}
    key = res["LakelineKey"]["Properties"]["KeyPolicy"]["Statement"]
    (kms,) = [k for k in key if k.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (stmt,) = res["AlertDeliveryDLQPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
    assert stmt["Action"] == "sqs:SendMessage"
    assert stmt["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["PipelineFailedRule", "Arn"]}}}
    alarm = res["AlertDeliveryDLQAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["AlertDeliveryDLQ", "QueueName"]}}]
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
    assert "AlertDeliveryDLQUrl" in template["Outputs"]


def test_sse_c_uploads_are_refused(template):
    """lakeline cannot read SSE-C objects (S3 keeps no key): the bucket policy refuses them at
    upload, where the producer sees the error, instead of letting them sit unvalidated."""
    stmts = template["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in stmts if isinstance(s, dict) and s.get("Sid") == "DenySseCUploads"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Action"] == "s3:PutObject"
    assert deny["Condition"] == {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}}


def invokable_functions(expanded, role="PipelineRole"):
    """Logical ids of the functions a state machine role may invoke (SAM's LambdaInvokePolicy:
    the function ARN and its versions/aliases, both built from a Ref to the function)."""
    out = set()
    for st in role_statements(expanded["Resources"][role]):
        if st["Effect"] != "Allow" or "lambda:InvokeFunction" not in as_list(st["Action"]):
            continue
        for r in as_list(st["Resource"]):
            sub, values = r["Fn::Sub"]
            assert sub.startswith("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}"), r
            out.add(ref_of(values["functionName"]))
    return out


@pytest.mark.parametrize("sm", sorted(STATE_MACHINES))
def test_every_task_function_may_be_invoked(template, expanded, asl_text, sm):
    """Each `${...FunctionArn}` a Task names is a function of this stack the role may invoke,
    and the role may invoke no function its definition does not name."""
    text = asl_text if sm == "Pipeline" else asl_of(template, sm)
    subs = template["Resources"][sm]["Properties"]["DefinitionSubstitutions"]
    named = set(re.findall(r'"FunctionName"\s*:\s*"\$\{([A-Za-z0-9_]+)\}"', text))
    assert named, f"{sm}: the ASL names no function"
    if sm == "Pipeline":
        assert "CurateFunctionArn" in named, "the ASL has no Curate task"
    functions = {subs[n]["Fn::GetAtt"][0] for n in named}
    role = expanded["Resources"][sm]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    assert functions == invokable_functions(expanded, role), sm
    assert functions <= set(FUNCTIONS)


def test_pipeline_may_invoke_curate(expanded):
    assert "CurateFunction" in invokable_functions(expanded)
    # and nothing that is not a pipeline step: validate-upload starts executions, it is no Task.
    assert invokable_functions(expanded) == {"CurateFunction", "StartJobFunction"}


def test_maintenance_invokes_exactly_its_four_functions(expanded):
    """check-compaction (the sweep), compact (a partition's compaction, a table's maintenance, a
    Spark rewrite's plan and commit), start-job (a Spark rewrite's start and status) and
    notify-failure: nothing else, validate-upload and curate in particular; and no Glue, EMR or
    other grant beyond the invokes and its log delivery (start-job starts the runs)."""
    assert expanded["Resources"]["MaintenanceStateMachine"]["Properties"]["RoleArn"] == {
        "Fn::GetAtt": ["MaintenanceStateMachineRole", "Arn"]
    }
    assert invokable_functions(expanded, "MaintenanceStateMachineRole") == {
        "CheckCompactionFunction", "CompactFunction", "StartJobFunction", "NotifyFailureFunction",
    }
    actions = role_actions(expanded["Resources"]["MaintenanceStateMachineRole"])
    assert not any(a.startswith(("glue:", "emr-serverless:", "iam:", "s3:")) for a in actions), actions


@pytest.mark.parametrize("sm", sorted(STATE_MACHINES))
def test_state_machine_logs_and_traces(expanded, sm):
    props = expanded["Resources"][sm]["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ERROR"
    assert logging["IncludeExecutionData"] == {"Fn::If": ["LogExecutionDataOn", True, False]}
    (dest,) = logging["Destinations"]
    group = dest["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert expanded["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
    assert "RetentionInDays" in expanded["Resources"][group]["Properties"]
    # each its own log group
    others = [s for s in STATE_MACHINES if s != sm]
    for o in others:
        od = expanded["Resources"][o]["Properties"]["LoggingConfiguration"]["Destinations"][0]
        assert od["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0] != group


# ------------------------------------------------------------------ functions


# The two functions that convert Parquet: memory (hence CPU) from a parameter, 15 minutes.
SIZED = {"CurateFunction": "CurateMemoryMb", "CompactFunction": "CompactMemoryMb"}


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_function_shape(expanded, template, fn):
    props = expanded["Resources"][fn]["Properties"]
    assert props["Runtime"] == "provided.al2023"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    if fn in SIZED:
        assert props["MemorySize"] == {"Ref": SIZED[fn]}  # test_curate_sizing, test_compact_sizing
    else:
        # These stream through fixed buffers: memory does not grow with the object.
        assert 128 <= props["MemorySize"] <= 256
    assert template["Resources"][fn]["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert template["Resources"][fn]["Properties"]["CodeUri"] == FUNCTIONS[fn]


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_function_has_log_group_with_retention(expanded, fn):
    logging = expanded["Resources"][fn]["Properties"]["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    group = expanded["Resources"][ref_of(logging["LogGroup"])]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_function_has_alarm_to_topic(expanded, fn, metric):
    alarms = [
        a["Properties"] for a in resources(expanded, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric
        and {"Name": "FunctionName", "Value": {"Ref": fn}} in a["Properties"].get("Dimensions", [])
    ]
    assert alarms, f"no {metric} alarm for {fn}"
    assert all(a["AlarmActions"] == [{"Ref": "AlertTopic"}] for a in alarms)


# The stack's Spark engines by name: no code names them, the registry does, as placeholders
# (`${LAKELINE_GLUE_CURATE_JOB}`) that the loader fills from any LAKELINE_ variable
# (shared/core/src/placeholders.rs; test_glue_jobs.py checks the sample registry against them).
PENDING_ENV: set[str] = {"LAKELINE_GLUE_CURATE_JOB", "LAKELINE_GLUE_COMPACT_JOB", "LAKELINE_EMR_APPLICATION_ID"}
# The functions that load the registry get these too.
REGISTRY_ENV = {"LAKELINE_REGISTRY", "LAKELINE_REGISTRY_TTL_SECONDS", "LAKELINE_ARTIFACT_PREFIX"}
ENV_NAME = r'"((?:LAKELINE|AWS)_[A-Z0-9_]+|[A-Z_]+_ARN)"'


def shared_env_names():
    """Variable names the shared crates read (the registry loader lives there)."""
    src = "\n".join(p.read_text() for p in (ROOT / "shared").rglob("*.rs"))
    return set(re.findall(ENV_NAME, src))


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_env_variables_agree_with_the_code(expanded, fn):
    """Required variables are read with `require("NAME")` / `env("NAME")` (lakeline::aws), the
    registry through `registry_from_env` (LAKELINE_REGISTRY); optional ones by name elsewhere,
    in the function or, for a function that loads the registry, in the shared library. Every
    required one is set, and every one set is read by the code (or is PENDING_ENV)."""
    src = "\n".join(p.read_text() for p in (ROOT / FUNCTIONS[fn] / "src").glob("*.rs"))
    required = set(re.findall(r'\b(?:require|env)\("([A-Z][A-Z0-9_]+)"\)', src))
    loads_registry = "registry_from_env" in src or "LAKELINE_REGISTRY" in src
    if loads_registry:
        required.add("LAKELINE_REGISTRY")
    assert required, f"{fn}: found no required variable: has the source changed?"
    read = required | set(re.findall(ENV_NAME, src))
    if loads_registry:
        read |= shared_env_names()
    env = set(expanded["Resources"][fn]["Properties"]["Environment"]["Variables"])
    assert required <= env, f"{fn} misses {required - env}"
    assert env <= read | PENDING_ENV, f"{fn} sets variables its code never reads: {env - read}"


def loads_registry(fn):
    """Whether a function's code loads the registry (lakeline::aws::registry_from_env)."""
    src = "\n".join(p.read_text() for p in (ROOT / FUNCTIONS[fn] / "src").glob("*.rs"))
    return "registry_from_env" in src


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_registry_readers_get_the_registry_settings(deploy, fn):
    """Every function whose code loads the registry gets its location, its reload period and
    the artifact prefix (both modes); one that does not (notify-failure) gets none of them.
    registry_from_env refuses a Spark entry point outside LAKELINE_ARTIFACT_PREFIX (unless
    lake.allow_external_entry_points): the value is the ArtifactUri output, s3://<the
    lake>/<ArtifactPrefix>, ending in "/" so that a sibling prefix (artifacts-old/) is outside."""
    for params in ({}, {"ExistingBucketName": "acme-data-lake"}):
        stack = deploy(params)
        bucket = bucket_name(stack)
        env = stack.resources[fn]["Properties"]["Environment"]["Variables"]
        if not loads_registry(fn):
            assert not REGISTRY_ENV & set(env), fn
            continue
        assert REGISTRY_ENV <= set(env), fn
        assert env["LAKELINE_REGISTRY"] == f"s3://{bucket}/config/datasets.yaml"
        assert env["LAKELINE_REGISTRY_TTL_SECONDS"] == "60"
        assert env["LAKELINE_ARTIFACT_PREFIX"] == f"s3://{bucket}/artifacts/"
        assert env["LAKELINE_ARTIFACT_PREFIX"] == stack.outputs["ArtifactUri"]["Value"]
    stack = deploy(RegistryTtlSeconds="300", ArtifactPrefix="spark/jobs/")
    env = stack.resources[fn]["Properties"]["Environment"]["Variables"]
    if loads_registry(fn):
        assert env["LAKELINE_REGISTRY_TTL_SECONDS"] == "300"
        assert env["LAKELINE_ARTIFACT_PREFIX"] == f"s3://{bucket_name(stack)}/spark/jobs/"


def test_artifact_prefix_is_what_the_registry_check_reads():
    """LAKELINE_ARTIFACT_PREFIX is read by registry_from_env (and no longer pending), which
    hands it to Registry::check_entry_points, a plain prefix test on the entry point's s3://
    URI: the s3:// form of the variable is the form the check compares."""
    aws = (ROOT / "shared/aws/src/lib.rs").read_text()
    body = aws[aws.index("pub async fn registry_from_env"):]
    body = body[:body.index("\n}\n")]
    assert 'env.var("LAKELINE_ARTIFACT_PREFIX")' in body and "check_entry_points(" in body
    reg = (ROOT / "shared/core/src/registry/mod.rs").read_text()
    check = reg[reg.index("pub fn check_entry_points"):]
    assert "allow_external_entry_points" in check[:400] and "starts_with(artifact_prefix)" in check
    assert "LAKELINE_ARTIFACT_PREFIX" not in PENDING_ENV
    assert sum(loads_registry(fn) for fn in FUNCTIONS) == 5


def test_curate_sizing(template, expanded, deploy):
    """Memory from CurateMemoryMb (2048 by default), Lambda's maximum timeout, default
    ephemeral storage, and no reserved concurrency by default (CurateReservedConcurrency: 0)."""
    param = template["Parameters"]["CurateMemoryMb"]
    assert param["Type"] == "Number" and param["Default"] == 2048
    assert 128 <= param["MinValue"] <= param["Default"] <= param["MaxValue"] <= 10240
    props = expanded["Resources"]["CurateFunction"]["Properties"]
    assert props["MemorySize"] == {"Ref": "CurateMemoryMb"}
    assert props["Timeout"] == 900
    assert "EphemeralStorage" not in props
    assert "ReservedConcurrentExecutions" not in deploy().resources["CurateFunction"]["Properties"]
    # It stops itself DEADLINE_MARGIN before the timeout: the margin must leave it time to run.
    src = (ROOT / "functions/curate/src/lib.rs").read_text()
    margin = int(re.search(r"DEADLINE_MARGIN: Duration = Duration::from_secs\((\d+)\)", src).group(1))
    assert 0 < margin < props["Timeout"] // 10


def test_compact_sizing(template, expanded, deploy):
    """Memory from CompactMemoryMb (1024 by default), Lambda's maximum timeout, default
    ephemeral storage (it streams to S3, never to /tmp), no reserved concurrency: the maintenance
    Map bounds it (CompactConcurrency)."""
    param = template["Parameters"]["CompactMemoryMb"]
    assert param["Type"] == "Number" and param["Default"] == 1024
    assert 128 <= param["MinValue"] <= param["Default"] <= param["MaxValue"] <= 10240
    props = expanded["Resources"]["CompactFunction"]["Properties"]
    assert props["MemorySize"] == {"Ref": "CompactMemoryMb"}
    assert props["Timeout"] == 900
    assert "EphemeralStorage" not in props
    assert "ReservedConcurrentExecutions" not in props
    assert deploy(CompactMemoryMb="3008").resources["CompactFunction"]["Properties"]["MemorySize"] == "3008"


def test_no_function_reserves_concurrency_by_default(template, deploy):
    """Deployable in a new account (10 concurrent executions, and Lambda keeps 10 unreserved):
    with the defaults no function reserves any."""
    assert template["Parameters"]["ValidateReservedConcurrency"]["Default"] == 0
    assert template["Parameters"]["CurateReservedConcurrency"]["Default"] == 0
    for fn in FUNCTIONS:
        assert "ReservedConcurrentExecutions" not in deploy().resources[fn]["Properties"], fn


@pytest.mark.parametrize("param, fn", [
    ("ValidateReservedConcurrency", "ValidateUploadFunction"),
    ("CurateReservedConcurrency", "CurateFunction"),
])
def test_reserved_concurrency_per_family(deploy, param, fn):
    """A value above 0 reserves (and caps) that family's concurrency, and only that family's."""
    stack = deploy({param: "25"})
    for other in FUNCTIONS:
        props = stack.resources[other]["Properties"]
        if other == fn:
            assert props["ReservedConcurrentExecutions"] == "25"
        else:
            assert "ReservedConcurrentExecutions" not in props, other


@pytest.mark.parametrize("fn", sorted(SIZED))
def test_duration_alarm_near_the_timeout(expanded, fn):
    timeout_ms = expanded["Resources"][fn]["Properties"]["Timeout"] * 1000
    alarms = [
        a["Properties"] for a in resources(expanded, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "Duration"
        and {"Name": "FunctionName", "Value": {"Ref": fn}} in a["Properties"].get("Dimensions", [])
    ]
    assert len(alarms) == 1
    (a,) = alarms
    assert a["Namespace"] == "AWS/Lambda"
    assert a.get("Statistic") == "Maximum" or a.get("ExtendedStatistic") == "p99"
    assert 0.75 * timeout_ms <= a["Threshold"] <= 0.85 * timeout_ms
    assert a["ComparisonOperator"] in ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold")
    assert a["AlarmActions"] == [{"Ref": "AlertTopic"}]


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake"}, {"LakeName": "sales-lake"}],
                         ids=["created", "existing", "renamed"])
def test_registry_is_read_from_the_lake_with_permission(expanded, deploy, params):
    """Every registry reader reads s3://<the lake>/<RegistryKey> and may GetObject exactly that
    key, with the bucket the stack creates and with an existing one."""
    assert expanded["Resources"]["LakeBucket"]["Properties"]["BucketName"] == {
        "Fn::Sub": "${LakeName}-${AWS::AccountId}-${AWS::Region}"
    }
    stack = deploy(params)
    bucket = bucket_name(stack)
    readers = 0
    for fn in FUNCTIONS:
        env = stack.resources[fn]["Properties"]["Environment"]["Variables"]
        if "LAKELINE_REGISTRY" not in env:
            continue
        readers += 1
        assert env["LAKELINE_REGISTRY"] == f"s3://{bucket}/config/datasets.yaml"
        sts = role_statements(stack.resources[fn + "Role"])
        arn = f"arn:aws:s3:::{bucket}/config/datasets.yaml"
        assert any(st["Action"] == "s3:GetObject" and st["Resource"] == arn for st in sts), fn
    assert readers == 5


def test_validate_upload_async_config(expanded):
    cfg = expanded["Resources"]["ValidateUploadFunctionEventInvokeConfig"]["Properties"]
    assert cfg["MaximumRetryAttempts"] <= 2
    dest = cfg["DestinationConfig"]["OnFailure"]["Destination"]
    assert dest == {"Fn::GetAtt": ["ValidateUploadDLQ", "Arn"]}
    dlq_alarms = [
        a for a in resources(expanded, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
        and a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ValidateUploadDLQ", "QueueName"]}
    ]
    assert dlq_alarms


# ------------------------------------------------------------------ IAM


def test_no_wildcard_action_anywhere(expanded):
    for where, st in all_policy_statements(expanded):
        if st["Effect"] == "Deny":
            continue  # the bucket's deny-non-TLS statement denies s3:* on purpose
        for action in as_list(st.get("Action", [])):
            assert "*" not in action, f"{where}: wildcard action {action}"
        assert "NotAction" not in st, where


def test_only_star_resources_that_need_it(expanded):
    for role_name, role in resources(expanded, "AWS::IAM::Role").items():
        for st in role_statements(role):
            if "*" in as_list(st["Resource"]):
                assert st.get("Sid") in STAR_RESOURCE_OK, f"{role_name}: {st}"


def test_roles_get_exactly_what_the_code_calls(expanded):
    roles = resources(expanded, "AWS::IAM::Role")
    assert set(roles) == set(EXPECTED_ACTIONS)
    for name, role in roles.items():
        assert role_actions(role) == EXPECTED_ACTIONS[name], name
        assert set(role["Properties"].get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED, name


def test_pass_role_only_for_emr_execution_roles(expanded):
    for name, role in resources(expanded, "AWS::IAM::Role").items():
        for st in role_statements(role):
            if "iam:PassRole" in as_list(st["Action"]):
                assert name == "StartJobFunctionRole"
                assert as_list(st["Action"]) == ["iam:PassRole"]
                assert st["Resource"] == {"Ref": "EmrExecutionRoleArns"}
                assert st["Condition"] == {
                    "StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}
                }


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake"}], ids=["created", "existing"])
def test_s3_access_is_scoped_to_prefixes(deploy, params):
    stack = deploy(params)
    lake = f"arn:aws:s3:::{bucket_name(stack)}"
    allowed = {
        "ValidateUploadFunctionRole": {lake, lake + "/config/datasets.yaml", lake + "/raw/*", lake + "/quarantine/*",
                                       lake + "/_lakeline/unclaimed/*"},
        "CurateFunctionRole": {lake, lake + "/config/datasets.yaml", lake + "/raw/*", lake + "/curated/*.parquet",
                               lake + "/_lakeline/staging/tables/*", lake + "/_lakeline/pending/*"},
        "StartJobFunctionRole": {lake, lake + "/config/datasets.yaml", lake + "/_lakeline/batches/*",
                                 lake + "/_lakeline/registry/*"},
        "CheckCompactionFunctionRole": {lake, lake + "/config/datasets.yaml", lake + "/_lakeline/sla/*"},
        "CompactFunctionRole": {lake, lake + "/config/datasets.yaml", lake + "/_lakeline/staging/rewrite/*"},
        "GlueCurateJobRole": {PACKAGE, lake, lake + "/config/datasets.yaml", lake + "/_lakeline/registry/*", lake + "/raw/*",
                              lake + "/_lakeline/staging/*", lake + "/curated/*.parquet",
                              lake + "/_lakeline/batches/*/manifest.json"},
        "GlueCompactJobRole": {PACKAGE, lake, lake + "/_lakeline/staging/rewrite/*"},
    }
    for name, role in stack.of_type("AWS::IAM::Role").items():
        for st in role_statements(role):
            if any(a.startswith("s3:") for a in as_list(st["Action"])):
                for r in as_list(st["Resource"]):
                    assert r in allowed[name], (name, st)


# Where `sam deploy` packages the Glue scripts: its managed bucket, under the stack's s3_prefix.
PACKAGE = f"arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-*/{STACK}/*"

S3_READS = {"s3:GetObject", "s3:GetObjectVersion"}


def test_curate_reads_raw_and_writes_only_curated_parquet(template, expanded, deploy):
    """Reads: the registry key and raw/*. Writes: only Parquet keys under CuratedPrefix
    (curated/ by default), never with a wildcard resource, the data and metadata of the
    stack's own tables, and the group commits' pending deliveries under _lakeline/pending/
    (put, read, delete: the only delete). No tagging, no table creation or schema change
    (registry push), and nothing else (no KMS: the bucket is SSE-S3; no SNS, Step Functions,
    Glue, EMR)."""
    stack = deploy()
    lake = f"arn:aws:s3:::{bucket_name(stack)}"
    tables = f"arn:aws:s3tables:{stack.region}:{ACCOUNT}:bucket/{stack.value({'Fn::Sub': '${LakeName}-tables'})}"
    sts = [st for st in role_statements(stack.resources["CurateFunctionRole"]) if st["Effect"] == "Allow"]
    by_resource = {}
    for st in sts:
        for r in as_list(st["Resource"]):
            assert isinstance(r, str) and (r.startswith(lake) or r.startswith(tables + "/")), f"not a scoped ARN: {st}"
            by_resource.setdefault(r, set()).update(as_list(st["Action"]))
    assert by_resource == {
        lake + "/config/datasets.yaml": {"s3:GetObject"},
        lake + "/raw/*": S3_READS,
        lake + "/curated/*.parquet": {"s3:PutObject", "s3:AbortMultipartUpload"},
        lake + "/_lakeline/staging/tables/*": {"s3:GetObject"},  # a Spark run's staged files
        # group commits: a lost race's entry posted, the table's entries read, settled ones deleted
        lake + "/_lakeline/pending/*": {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"},
        # HEAD of a missing object answers 404, not 403; and the pending entries are listed
        lake: {"s3:ListBucket"},
        tables + "/table/*": {"s3tables:GetTable", "s3tables:UpdateTableMetadataLocation",
                              "s3tables:GetTableData", "s3tables:PutTableData"},
    }
    actions = {a for st in sts for a in as_list(st["Action"])}
    assert all(a.startswith(("s3:", "s3tables:")) for a in actions), actions
    assert not any(a.startswith(("s3tables:Create", "s3tables:Delete", "s3tables:Put")) and a != "s3tables:PutTableData"
                   for a in actions), actions
    assert not any(a.startswith(("s3:PutObjectTagging", "s3:PutObjectAcl")) for a in actions), actions
    deletes = {r for st in sts for a in as_list(st["Action"]) if a.startswith("s3:Delete") for r in as_list(st["Resource"])}
    assert deletes == {lake + "/_lakeline/pending/*"}, deletes
    assert template["Parameters"]["CuratedPrefix"]["Default"] == "curated/"
    # The resource ends in .parquet because every curated key does.
    curate_src = (ROOT / "shared/core/src/curate/mod.rs").read_text()
    assert 'format!("{target_prefix}{stem}-{hash}.parquet")' in curate_src
    # The registry's default target of the lambda engine lies under the default CuratedPrefix.
    jobs_src = (ROOT / "shared/core/src/registry/job.rs").read_text()
    assert 'TargetPrefix("curated/{dataset}/{partition}/".into())' in jobs_src


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake"}, {"TablesCatalog": "glue"}],
                         ids=["created", "existing", "glue-tables"])
def test_curate_is_told_where_deliveries_wait_for_a_group_commit(deploy, params):
    """Group commit (lakeline_table::group): curate, the function that commits deliveries to
    the tables, is told the board's folder in the lake bucket, LAKELINE_PENDING =
    s3://<lake>/_lakeline/pending/ (local/src/stack.rs sets the same), whatever the catalog; the
    other functions commit no delivery and are not told. The board's calls are what
    GroupCommitPendingDeliveries and HeadMissingObjectsAs404 grant: a PUT per posted entry, a
    listing of the table's folder, GETs of its entries, DeleteObjects of the settled ones."""
    stack = deploy(params)
    env = stack.resources["CurateFunction"]["Properties"]["Environment"]["Variables"]
    assert env["LAKELINE_PENDING"] == f"s3://{bucket_name(stack)}/_lakeline/pending/"
    for fn in set(FUNCTIONS) - {"CurateFunction"}:
        assert "LAKELINE_PENDING" not in stack.resources[fn]["Properties"].get("Environment", {}).get("Variables", {}), fn
    assert 'PENDING_VAR: &str = "LAKELINE_PENDING"' in (ROOT / "shared/table/src/catalog.rs").read_text()
    group = (ROOT / "shared/table/src/group.rs").read_text()
    assert 'PENDING_PREFIX: &str = "_lakeline/pending/"' in group
    for call in (".put_object()", ".list_objects_v2()", ".get_object()", ".delete_objects()"):
        assert call in group, call
    assert ".delete_object()" not in group and "version_id(" not in group and ".copy_object()" not in group


def test_glue_tables_replace_the_table_bucket_and_are_curates_to_commit(deploy):
    """TablesCatalog glue: no table bucket; a Glue database whose LocationUri is the lake's
    tables/; curate commits there (Glue GetTable/UpdateTable on that database's tables, the
    files under tables/, deletes of its own lost commits) with no s3tables grant left; start-job
    reads; the outputs name the database; the functions are told the database, not a bucket."""
    stack = deploy({"TablesCatalog": "glue", "TablesNamespace": "acme_tables"})
    lake = f"arn:aws:s3:::{bucket_name(stack)}"
    assert not stack.of_type("AWS::S3Tables::TableBucket")
    assert not stack.of_type("AWS::S3Tables::Namespace")
    (db,) = stack.of_type("AWS::Glue::Database").values()
    assert db["Properties"]["DatabaseInput"]["Name"] == "acme_tables"
    assert db["Properties"]["DatabaseInput"]["LocationUri"] == f"s3://{bucket_name(stack)}/tables/"
    glue = f"arn:aws:glue:{stack.region}:{ACCOUNT}"
    catalog = [f"{glue}:catalog", f"{glue}:database/acme_tables", f"{glue}:table/acme_tables/*"]
    sts = [st for st in role_statements(stack.resources["CurateFunctionRole"]) if st["Effect"] == "Allow"]
    by_resource = {}
    for st in sts:
        for r in as_list(st["Resource"]):
            by_resource.setdefault(r, set()).update(as_list(st["Action"]))
    assert {r: a for r, a in by_resource.items() if not r.startswith(lake)} == {
        r: {"glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"} for r in catalog}
    assert by_resource[lake + "/tables/*"] == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                               "s3:AbortMultipartUpload"}
    start = {a for st in role_statements(stack.resources["StartJobFunctionRole"]) for a in as_list(st["Action"])}
    assert {"glue:GetDatabase", "glue:GetTable"} <= start and not any(a.startswith("s3tables:") for a in start)
    for fn in ("CurateFunction", "StartJobFunction"):
        env = stack.resources[fn]["Properties"]["Environment"]["Variables"]
        assert env["LAKELINE_TABLE_GLUE_DATABASE"] == "acme_tables" and env["LAKELINE_TABLE_BUCKET_ARN"] == ""
    assert stack.outputs["TablesGlueDatabase"]["Value"] == "acme_tables"
    assert stack.outputs["TableBucketArn"]["Value"] == ""
    # The default keeps S3 Tables, and tells the functions no database.
    default = deploy()
    assert not default.of_type("AWS::Glue::Database")
    assert default.resources["CurateFunction"]["Properties"]["Environment"]["Variables"][
        "LAKELINE_TABLE_GLUE_DATABASE"] == ""


def test_glue_tables_files_are_written_only_by_curate_compact_the_registry_writers_and_erasers(deploy):
    """With named registry writers, the bucket policy keeps everyone else from writing or
    deleting a Glue-catalog table's files (a stray metadata file would be read as the table's)."""
    writer = f"arn:aws:iam::{ACCOUNT}:role/data-platform"
    stack = deploy({"TablesCatalog": "glue", "RegistryWriterArns": writer})
    (policy,) = stack.of_type("AWS::S3::BucketPolicy").values()
    (st,) = [st for st in policy["Properties"]["PolicyDocument"]["Statement"]
             if st.get("Sid") == "OnlyLakelineAndRegistryWritersWriteGlueTables"]
    assert st["Effect"] == "Deny" and st["Resource"] == f"arn:aws:s3:::{bucket_name(stack)}/tables/*"
    assert set(st["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == {
        stack.get_att("CurateFunctionRole", "Arn"), stack.get_att("CompactFunctionRole", "Arn"), writer}
    # The erasers commit their erasures too (EraserArns).
    eraser = f"arn:aws:iam::{ACCOUNT}:role/privacy-officer"
    stack = deploy({"TablesCatalog": "glue", "RegistryWriterArns": writer, "EraserArns": eraser})
    (policy,) = stack.of_type("AWS::S3::BucketPolicy").values()
    (st,) = [st for st in policy["Properties"]["PolicyDocument"]["Statement"]
             if st.get("Sid") == "OnlyLakelineAndRegistryWritersWriteGlueTables"]
    assert set(st["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == {
        stack.get_att("CurateFunctionRole", "Arn"), stack.get_att("CompactFunctionRole", "Arn"), writer, eraser}
    for params in ({"RegistryWriterArns": writer}, {"TablesCatalog": "glue"}):
        (policy,) = deploy(params).of_type("AWS::S3::BucketPolicy").values()
        assert not [st for st in policy["Properties"]["PolicyDocument"]["Statement"]
                    if st.get("Sid") == "OnlyLakelineAndRegistryWritersWriteGlueTables"]


def test_s3_tables_are_committed_to_only_by_lakeline_the_registry_writers_and_erasers(deploy):
    """With named registry writers, the table bucket policy denies commits (a metadata swap, a
    warehouse write, a table's deletion) to the stack's tables to everyone else; without them
    IAM decides, as for the registry; a Glue-catalog stack has no table bucket."""
    writer = f"arn:aws:iam::{ACCOUNT}:role/data-platform"
    eraser = f"arn:aws:iam::{ACCOUNT}:role/privacy-officer"
    for params, extra in (({"RegistryWriterArns": writer}, set()),
                          ({"RegistryWriterArns": writer, "EraserArns": eraser}, {eraser})):
        stack = deploy(params)
        (policy,) = stack.of_type("AWS::S3Tables::TableBucketPolicy").values()
        assert policy["Properties"]["TableBucketARN"] == stack.get_att("TableBucket", "TableBucketARN")
        (st,) = policy["Properties"]["ResourcePolicy"]["Statement"]
        assert (st["Effect"], st["Principal"]) == ("Deny", "*")
        assert set(st["Action"]) == {"s3tables:UpdateTableMetadataLocation", "s3tables:PutTableData", "s3tables:DeleteTable"}
        assert st["Resource"] == stack.get_att("TableBucket", "TableBucketARN") + "/table/*"
        assert set(st["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == {
            stack.get_att("CurateFunctionRole", "Arn"), stack.get_att("CompactFunctionRole", "Arn"), writer} | extra
    for params in ({}, {"EraserArns": eraser}, {"TablesCatalog": "glue", "RegistryWriterArns": writer}):
        assert not deploy(params).of_type("AWS::S3Tables::TableBucketPolicy"), params


def s3_grants(stack, role):
    """{resource ARN: {actions}} of a role's Allow statements, each a plain ARN of the lake;
    and the statements' conditions (none expected)."""
    lake = f"arn:aws:s3:::{bucket_name(stack)}"
    by_resource, conditions = {}, []
    for st in role_statements(stack.resources[role]):
        assert st["Effect"] == "Allow", st
        if not any(a.startswith("s3:") for a in as_list(st["Action"])):
            continue  # SNS and KMS (check-compaction's delivery alerts): other tests pin them
        conditions += [st["Condition"]] if "Condition" in st else []
        for r in as_list(st["Resource"]):
            assert isinstance(r, str) and r.startswith(lake), f"not a scoped ARN: {st}"
            by_resource.setdefault(r, set()).update(as_list(st["Action"]))
    return by_resource, conditions


BOTH_MODES = pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake"}], ids=["created", "existing"])


VALIDATE_RAW = {
    "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObject", "s3:DeleteObjectVersion",
}


@BOTH_MODES
def test_validate_upload_may_do_exactly_what_it_does(deploy, params):
    """validate-upload: reads the registry; ListBucket (HEAD of a missing object is a 404);
    reads, tags and removes the raw objects it judges; writes and verifies its quarantine copies
    (multipart: abort) and removes a replayed copy once it validated; creates and gives back its unclaimed-upload markers under
    _lakeline/unclaimed/ (put, delete: nothing else there, not even a read); starts the
    pipeline, publishes alerts with the topic's key; its failed events go to the DLQ."""
    for extra in ({}, {"QuarantinePrefix": "rejected/", "CuratedPrefix": "gold/"}):
        stack = deploy(dict(params, **extra))
        lake = f"arn:aws:s3:::{bucket_name(stack)}"
        quarantine = extra.get("QuarantinePrefix", "quarantine/")
        grants = {}
        for st in role_statements(stack.resources["ValidateUploadFunctionRole"]):
            assert st["Effect"] == "Allow" and "Condition" not in st, st
            for r in as_list(st["Resource"]):
                grants.setdefault(r, set()).update(as_list(st["Action"]))
        assert grants == {
            lake + "/config/datasets.yaml": {"s3:GetObject"},
            lake: {"s3:ListBucket"},
            lake + "/raw/*": VALIDATE_RAW,
            lake + f"/{quarantine}*": {"s3:PutObject", "s3:PutObjectTagging", "s3:GetObject",
                                        "s3:GetObjectTagging", "s3:AbortMultipartUpload",
                                        "s3:DeleteObject"},
            lake + "/_lakeline/unclaimed/*": {"s3:PutObject", "s3:DeleteObject"},
            f"{STACK}-Pipeline": {"states:StartExecution"},
            f"{STACK}-AlertTopic": {"sns:Publish"},
            "<LakelineKey.Arn>": {"kms:GenerateDataKey", "kms:Decrypt"},  # expand.Stack's stand-ins
            "<ValidateUploadDLQ.Arn>": {"sqs:SendMessage"},
        }, grants


def test_validate_upload_marker_grant_matches_the_code():
    """The grant above follows the code: markers are _lakeline/unclaimed/<16 hex>/<YYYY-MM-DDTHH>,
    created with If-None-Match: * (PutObject) and deleted (DeleteObject, no version) when the
    alert could not be published; never read."""
    alert = (ROOT / "shared/core/src/alert.rs").read_text()
    assert 'format!("_lakeline/unclaimed/{h}/{hour}")' in alert
    src = (ROOT / "functions/validate-upload/src/lib.rs").read_text()
    start = src.index("async fn unclaimed(")
    body = src[start:src.index("\n}\n", start)]
    assert "unclaimed_marker(" in body
    assert body.count(".put_object()") == 1 and '.if_none_match("*")' in body
    assert body.count(".delete_object()") == 1 and "version_id(" not in body
    assert ".get_object()" not in body and ".head_object()" not in body


GLUE_TABLES = {"TablesCatalog": "glue"}


@BOTH_MODES
def test_compact_may_do_exactly_what_it_does(deploy, params):
    """compact (functions/compact): reads the registry; ListBucket (a Glue table's location is
    listed for orphans, a Spark rewrite's output folder for what the run wrote, a file gone
    meanwhile is a 404); a Spark rewrite's plan put once and read back, and the run's output
    read, under _lakeline/staging/rewrite/ (never deleted: the lifecycle rule expires it); on a
    Glue-catalog stack, get, put, delete and abort uploads of the tables' files under tables/
    (compactTable's rewrite and commit, commitRewrite's copies, maintainTable's expiry and
    orphan deletes). Nothing of curated/ or the rest of _lakeline/: no marker, no manifest, no
    merge in place, and no version actions, no tagging, no SNS / Step Functions / Glue job /
    EMR / KMS. (S3 Tables: the table grants, test_roles_get_exactly...)"""
    for extra in ({}, {"CuratedPrefix": "gold/"}, GLUE_TABLES):
        stack = deploy(dict(params, **extra))
        lake = f"arn:aws:s3:::{bucket_name(stack)}"
        grants, conditions = s3_grants(stack, "CompactFunctionRole")
        want = {
            lake + "/config/datasets.yaml": {"s3:GetObject"},
            lake: {"s3:ListBucket"},
            lake + "/_lakeline/staging/rewrite/*": {"s3:GetObject", "s3:PutObject"},
        }
        if extra == GLUE_TABLES:
            want[lake + "/tables/*"] = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
        assert grants == want, extra
        assert conditions == []  # ListBucket unconditioned: a prefix condition would not give 404s
    role = stack.resources["CompactFunctionRole"]["Properties"]
    assert set(role["ManagedPolicyArns"]) <= ALLOWED_MANAGED


def test_compaction_writes_nothing_but_tables_and_delivery_markers():
    """What the grants above rest on: compact's own S3 object calls are a Spark rewrite's
    (spark.rs): one PUT of the plan, once (If-None-Match), and one GET of it back, under
    REWRITE_PREFIX; the run's output is listed and read through lakeline_aws::staged (a listing
    with the plan's output as prefix, GETs at the listed ETag); everything else is the table
    library's, on the table's files. Nothing is deleted or copied in place. check-compaction's
    only writes are the delivery check's markers (lakeline::sla::marker, under _lakeline/sla/);
    neither names a curated/ partition marker or a compaction manifest any more."""
    sources = {p.name: p.read_text() for p in (ROOT / "functions/compact/src").glob("*.rs")}
    compact = "\n".join(sources.values())
    for call in (".delete_object()", ".delete_objects()", ".copy_object()"):
        assert call not in compact, call
    for name, src in sources.items():
        if name != "spark.rs":
            assert ".put_object()" not in src and ".get_object()" not in src, name
    spark = sources["spark.rs"]
    assert spark.count(".put_object()") == 1 and '.if_none_match("*")' in spark
    assert spark.count(".get_object()") == 1
    assert 'REWRITE_PREFIX: &str = "_lakeline/staging/rewrite/"' in spark
    assert "list_parquet(&deps.s3, &out.bucket, &out.key)" in spark and "stream_copy(" in spark
    staged = (ROOT / "shared/aws/src/staged.rs").read_text()
    assert ".list_objects_v2()" in staged and ".prefix(prefix)" in staged
    assert ".delete_object()" not in staged and ".copy_object()" not in staged
    check = {p.name: p.read_text() for p in (ROOT / "functions/check-compaction/src").glob("*.rs")}
    for name, src in check.items():
        if name != "deliveries.rs":
            assert ".put_object()" not in src and ".delete_object()" not in src, name
    assert "let marker = sla::marker(" in check["deliveries.rs"]
    assert 'format!("_lakeline/sla/{dataset}/{}", d.period)' in (ROOT / "shared/core/src/sla.rs").read_text()
    for src in [compact, *check.values()]:
        assert "_lakeline/compaction/" not in src and "MARKER_FILE" not in src


@BOTH_MODES
def test_list_bucket_is_never_narrowed_by_a_prefix(deploy, params):
    """S3 answers a request for a missing object with 404 only to a caller that holds
    s3:ListBucket on the bucket; the request has no s3:prefix, so a grant narrowed by one does
    not count and the caller sees 403. The functions read missing objects on purpose (start-job's
    open.json and run.json, curate's superseded uploads, compact's table files gone meanwhile,
    check-compaction's delivery markers) and tell "gone" from "denied" by that status: their
    ListBucket has no condition."""
    stack = deploy(params)
    for role in ("ValidateUploadFunctionRole", "CurateFunctionRole", "StartJobFunctionRole",
                 "CheckCompactionFunctionRole", "CompactFunctionRole"):
        lists = [st for st in role_statements(stack.resources[role]) if "s3:ListBucket" in as_list(st["Action"])]
        assert lists and all("Condition" not in st for st in lists), (role, lists)
    src = (ROOT / "functions/start-job/src/batch.rs").read_text()
    assert "lakeline_aws::is_gone(&e) => Ok(None)" in src


@BOTH_MODES
def test_check_compaction_may_do_exactly_what_it_does(deploy, params):
    """check-compaction: reads the registry; lists the bucket (the delivery check's raw/
    folders; a missing delivery marker must answer 404); the delivery-alert markers under
    _lakeline/sla/ (get, put with If-None-Match / If-Match, delete); on a Glue-catalog stack,
    reads the tables' metadata and manifests under tables/*/metadata/ (S3 Tables: its table
    grants). Nothing of curated/: no partition marker, no listing of partitions; no manifest
    under _lakeline/compaction/; no data file written or deleted anywhere."""
    for extra in ({}, {"CuratedPrefix": "gold/"}, GLUE_TABLES):
        stack = deploy(dict(params, **extra))
        lake = f"arn:aws:s3:::{bucket_name(stack)}"
        grants, conditions = s3_grants(stack, "CheckCompactionFunctionRole")
        want = {
            lake + "/config/datasets.yaml": {"s3:GetObject"},
            lake: {"s3:ListBucket"},
            lake + "/_lakeline/sla/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        }
        if extra == GLUE_TABLES:
            want[lake + "/tables/*/metadata/*"] = {"s3:GetObject"}
        assert grants == want, extra
        # A missing delivery marker must be a 404.
        assert conditions == []
    src = (ROOT / "functions/check-compaction/src/deliveries.rs").read_text()
    assert 'put.if_none_match("*")' in src and "put.if_match(etag)" in src


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake"}], ids=["created", "existing"])
def test_s3_writes_never_on_a_wildcard_resource(deploy, params):
    """Any S3 action that writes, deletes or aborts names a key pattern under a prefix of the
    lake bucket, never "*" nor the whole bucket."""
    stack = deploy(params)
    lake = f"arn:aws:s3:::{bucket_name(stack)}/"
    writes = ("s3:Put", "s3:Delete", "s3:Abort", "s3:Restore", "s3:Replicate")
    for name, role in stack.of_type("AWS::IAM::Role").items():
        for st in role_statements(role):
            if st["Effect"] == "Allow" and any(a.startswith(writes) for a in as_list(st["Action"])):
                for arn in as_list(st["Resource"]):
                    assert arn.startswith(lake) and arn[len(lake):] not in ("", "*"), (name, st)


def test_every_role_assumed_by_its_service_only(expanded):
    for name, role in resources(expanded, "AWS::IAM::Role").items():
        (st,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        want = ROLE_SERVICE.get(name, "lambda.amazonaws.com")
        assert st["Principal"] == {"Service": [want]}


# ------------------------------------------------------------------ the lake bucket


def lake(expanded):
    return expanded["Resources"]["LakeBucket"]["Properties"]


def test_bucket_encrypted_private_tls_only(expanded):
    b = lake(expanded)
    assert b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(b["PublicAccessBlockConfiguration"].values()) and len(b["PublicAccessBlockConfiguration"]) == 4
    policy = statements(expanded["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"])
    assert any(
        st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for st in policy
    )


def test_lifecycle_rules(expanded):
    rules = {r["Id"]: r for r in lake(expanded)["LifecycleConfiguration"]["Rules"]}
    raw = rules["raw-to-glacier"]
    assert raw["Prefix"] == "raw/" and raw["Status"] == "Enabled"
    assert raw["Transitions"] == [
        {"StorageClass": {"Ref": "RawTransitionStorageClass"}, "TransitionInDays": {"Ref": "RawTransitionDays"}}
    ]
    q = rules["quarantine-expiry"]
    assert q["Prefix"] == {"Ref": "QuarantinePrefix"}
    assert q["ExpirationInDays"] == {"Ref": "QuarantineExpirationDays"}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert "Prefix" not in rules["abort-incomplete-multipart-uploads"]
    assert "NoncurrentVersionExpiration" in rules["noncurrent-versions-expiry"]
    # validate-upload's unclaimed-upload markers (one per prefix and hour) live a day
    assert rules["unclaimed-markers-expiry"] == {
        "Id": "unclaimed-markers-expiry", "Status": "Enabled", "Prefix": "_lakeline/unclaimed/",
        "ExpirationInDays": 1, "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    }
    # the group commits' pending deliveries: what is left is a crashed writer's entry (a live
    # one is minutes old; a commit takes in none older than lakeline_table::group::FRESH_MS)
    assert rules["pending-deliveries-expiry"] == {
        "Id": "pending-deliveries-expiry", "Status": "Enabled", "Prefix": "_lakeline/pending/",
        "ExpirationInDays": 1, "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    }
    (fresh,) = re.findall(r"\bFRESH_MS: i64 = ([0-9_ *]+);", (ROOT / "shared/table/src/group.rs").read_text())
    fresh_ms = 1
    for factor in fresh.split("*"):
        fresh_ms *= int(factor.strip().replace("_", ""))
    assert fresh_ms < 24 * 3600 * 1000  # the expiry never takes an entry a commit could still take in


def test_incomplete_curate_uploads_are_aborted(expanded):
    """curate aborts its own multipart upload on every failure path; for an invocation killed
    mid-upload, an enabled bucket-wide rule aborts what is left (it covers curated/)."""
    rules = [
        r for r in lake(expanded)["LifecycleConfiguration"]["Rules"]
        if "AbortIncompleteMultipartUpload" in r and r["Status"] == "Enabled"
    ]
    assert rules
    assert any("Prefix" not in r and "Filter" not in r for r in rules)
    assert all(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7 for r in rules)


def test_parameter_defaults_match_the_lesson(template):
    p = template["Parameters"]
    assert p["RawTransitionDays"]["Default"] == 30
    assert p["RawTransitionStorageClass"]["Default"].startswith("GLACIER")
    assert p["BillingAlarmThresholdUsd"]["Default"] == 0  # opt-in: the alarm is account-wide
    assert p["RegistryKey"]["Default"] == "config/datasets.yaml"
    assert p["QuarantinePrefix"]["Default"] == "quarantine/"


def test_notification_targets_validate_upload_on_raw(expanded):
    (cfg,) = lake(expanded)["NotificationConfiguration"]["LambdaConfigurations"]
    assert cfg["Function"] == {"Fn::GetAtt": ["ValidateUploadFunction", "Arn"]}
    assert cfg["Event"] == "s3:ObjectCreated:*"
    assert cfg["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "raw/"}]}}
    perm = expanded["Resources"]["ValidateUploadFunctionRawObjectCreatedPermission"]["Properties"]
    assert perm["Principal"] == "s3.amazonaws.com" and perm["FunctionName"] == {"Ref": "ValidateUploadFunction"}
    assert "SourceAccount" in perm
    # The permission must exist before S3 validates the notification.
    assert "ValidateUploadFunctionRawObjectCreatedPermission" in as_list(expanded["Resources"]["LakeBucket"]["DependsOn"])


def test_no_policy_or_env_refers_to_the_bucket_resource(expanded):
    """The circular-dependency trap: bucket -> notification -> function -> role -> bucket."""
    for name in list(FUNCTIONS) + [f + "Role" for f in FUNCTIONS]:
        text = json.dumps(expanded["Resources"][name])
        assert '"LakeBucket"' not in text, name


# ------------------------------------------------------------------ alerts and costs


def test_topic_encrypted_with_a_key_cloudwatch_can_use(expanded):
    topic = expanded["Resources"]["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "LakelineKey"}
    key = expanded["Resources"]["LakelineKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert any(
        st["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for st in key["KeyPolicy"]["Statement"]
    )


@pytest.mark.parametrize("sm", sorted(STATE_MACHINES))
def test_state_machine_alarms(expanded, sm):
    """Each state machine's failed and timed-out executions page the topic."""
    metrics = {
        a["Properties"].get("MetricName") for a in resources(expanded, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/States"
        and a["Properties"]["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": sm}}]
        and a["Properties"]["AlarmActions"] == [{"Ref": "AlertTopic"}]
        and a["Properties"]["Threshold"] == 0
    }
    assert metrics == {"ExecutionsFailed", "ExecutionsTimedOut"}


# ------------------------------------------------------------------ the maintenance schedule


def sweep_rule(stack):
    """The maintenance schedule's rule (the others: PipelineFailedRule, an event pattern, and
    check-compaction's delivery schedule)."""
    (name,) = [n for n in stack.of_type("AWS::Events::Rule")
               if n not in ("PipelineFailedRule", "CheckCompactionFunctionDeliveries")]
    return name, stack.resources[name]["Properties"]


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake"}], ids=["created", "existing"])
def test_delivery_schedule_runs_the_delivery_check(deploy, params):
    """Registry `expect:` (issue 15): a rule on DeliveriesSchedule invokes check-compaction with
    the `deliveries` action and the lake bucket ("now" is the handler's clock); it may publish
    to the alert topic (ALERT_TOPIC_ARN) and its markers live under _lakeline/sla/; an alarm
    watches the MissedDeliveries metric."""
    stack = deploy(params)
    rule = stack.resources["CheckCompactionFunctionDeliveries"]["Properties"]
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    (target,) = rule["Targets"]
    assert json.loads(target["Input"]) == {"action": "deliveries", "bucket": bucket_name(stack)}
    fn = stack.resources["CheckCompactionFunction"]["Properties"]
    assert fn["Environment"]["Variables"]["ALERT_TOPIC_ARN"] == f"{STACK}-AlertTopic"
    src = (ROOT / "functions/check-compaction/src/lib.rs").read_text()
    assert '"deliveries"' in src or "Deliveries" in src
    deliveries = (ROOT / "functions/check-compaction/src/deliveries.rs").read_text()
    assert "MissedDeliveries" in deliveries
    sla = (ROOT / "shared/core/src/sla.rs").read_text()
    assert "_lakeline/sla/" in sla
    alarm = stack.resources["MissedDeliveriesAlarm"]["Properties"]
    assert alarm["Metrics"][0]["Expression"] == "SELECT SUM(MissedDeliveries) FROM lakeline"
    assert alarm["AlarmActions"] == [f"{STACK}-AlertTopic"]
    stack = deploy(dict(params, DeliveriesSchedule="cron(0 7 * * ? *)"))
    assert stack.resources["CheckCompactionFunctionDeliveries"]["Properties"]["ScheduleExpression"] == "cron(0 7 * * ? *)"


def test_maintenance_parameters(template):
    p = template["Parameters"]
    assert p["MaintenanceSchedule"]["Default"] == "rate(1 hour)"
    assert p["MaintenanceEnabled"]["Default"] == "true"
    assert p["MaintenanceEnabled"]["AllowedValues"] == ["true", "false"]
    c = p["CompactConcurrency"]
    assert (c["Type"], c["Default"], c["MinValue"], c["MaxValue"]) == ("Number", 4, 1, 40)
    pattern = p["MaintenanceSchedule"]["AllowedPattern"]
    for ok in ("rate(1 hour)", "rate(30 minutes)", "cron(0 3 * * ? *)"):
        assert re.fullmatch(pattern, ok), ok
    for bad in ("", "hourly", "at(2026-01-01T00:00:00)"):
        assert not re.fullmatch(pattern, bad), bad


@BOTH_MODES
def test_maintenance_schedule_starts_the_sweep(deploy, params):
    """One EventBridge rule (SAM Schedule event) on MaintenanceSchedule starts the maintenance
    state machine, through a role that may do only that, with the input the definition and
    check-compaction expect: {"bucket": <the lake>, "maxConcurrency": CompactConcurrency}."""
    stack = deploy(params)
    name, rule = sweep_rule(stack)
    assert name == "MaintenanceStateMachineSweep"
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    assert rule["State"] == "ENABLED"
    assert "Name" not in rule  # generated per stack: dev and prod in one account
    (target,) = rule["Targets"]
    assert target["Arn"] == f"{STACK}-MaintenanceStateMachine"
    assert target["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{STACK}-MaintenanceStateMachineSweepRole"
    assert json.loads(target["Input"]) == {"bucket": bucket_name(stack), "maxConcurrency": 4}
    grants = [st for st in role_statements(stack.resources["MaintenanceStateMachineSweepRole"])]
    assert [(st["Effect"], st["Action"], st["Resource"]) for st in grants] == [
        ("Allow", "states:StartExecution", f"{STACK}-MaintenanceStateMachine")
    ]
    # parameters flow through
    stack = deploy(dict(params, MaintenanceSchedule="cron(0 3 * * ? *)", CompactConcurrency="12",
                        MaintenanceEnabled="false"))
    _, rule = sweep_rule(stack)
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert rule["State"] == "DISABLED"
    assert json.loads(rule["Targets"][0]["Input"]) == {"bucket": bucket_name(stack), "maxConcurrency": 12}
    assert "MaintenanceStateMachine" in stack.resources  # disabled: not removed


def test_sweep_input_reaches_the_map(template):
    """The schedule's input is the execution input; the Sweep task hands it to check-compaction
    as `sweep`, whose fields `bucket` and `maxConcurrency` it reads and echoes; the Map's
    concurrency is that echo."""
    asl = json.loads(asl_of(template, "MaintenanceStateMachine"))
    sweep = asl["States"][asl["StartAt"]]
    assert sweep["Parameters"]["FunctionName"] == "${CheckCompactionFunctionArn}"
    assert sweep["Parameters"]["Payload"]["sweep.$"] == "$"
    assert sweep["ResultSelector"]["maxConcurrency.$"] == "$.Payload.maxConcurrency"
    assert sweep["ResultPath"] == "$.sweep"
    maps = [s for s in asl["States"].values() if s["Type"] == "Map"]
    assert [m["MaxConcurrencyPath"] for m in maps] == ["$.sweep.maxConcurrency"]
    src = (ROOT / "functions/check-compaction/src/lib.rs").read_text()
    assert 'payload.get("sweep")' in src
    assert 'rename = "maxConcurrency"' in src and "pub bucket: String" in src


def test_maintenance_schedule_failures_alarm(expanded):
    """A rule that cannot start the sweep says so (nothing else would)."""
    props = expanded["Resources"]["MaintenanceScheduleFailedAlarm"]["Properties"]
    assert props["Namespace"] == "AWS/Events" and props["MetricName"] == "FailedInvocations"
    assert props["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": "MaintenanceStateMachineSweep"}}]
    assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["AlarmActions"] == [{"Ref": "AlertTopic"}]
    assert expanded["Resources"]["MaintenanceStateMachineSweep"]["Type"] == "AWS::Events::Rule"


def test_quarantine_spike_alarm_reads_the_emf_metric(expanded):
    props = expanded["Resources"]["QuarantineSpikeAlarm"]["Properties"]
    expr = props["Metrics"][0]["Expression"]
    assert "FilesRejected" in expr and "lakeline" in expr
    metrics_src = (ROOT / "shared/core/src/metrics.rs").read_text()
    assert 'NAMESPACE: &str = "lakeline"' in metrics_src
    assert '"FilesRejected"' in (ROOT / "functions/validate-upload/src/lib.rs").read_text()


def test_billing_alarm_only_in_us_east_1(expanded, deploy):
    alarm = expanded["Resources"]["BillingAlarm"]
    assert alarm["Condition"] == "CreateBillingAlarm"
    assert expanded["Conditions"]["IsUsEast1"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert alarm["Properties"]["Threshold"] == {"Ref": "BillingAlarmThresholdUsd"}
    assert alarm["Properties"]["MetricName"] == "EstimatedCharges"
    assert "BillingAlarm" in deploy(BillingAlarmThresholdUsd="50").resources
    assert "BillingAlarm" not in deploy({"BillingAlarmThresholdUsd": "50"}, region="eu-west-1").resources


def test_billing_alarm_is_opt_in_and_says_it_is_account_wide(template, deploy):
    """0 (the default) creates no alarm, even in us-east-1; the parameter and the alarm say
    that it watches the whole account's bill."""
    assert "BillingAlarm" not in deploy().resources
    assert "BillingAlarm" not in deploy(BillingAlarmThresholdUsd="0").resources
    alarm = deploy(BillingAlarmThresholdUsd="50").resources["BillingAlarm"]["Properties"]
    assert alarm["Threshold"] == "50"
    assert alarm["AlarmActions"] == [f"{STACK}-AlertTopic"]
    assert "whole account" in alarm["AlarmDescription"]
    desc = " ".join(template["Parameters"]["BillingAlarmThresholdUsd"]["Description"].split())
    assert "0 (default): no billing alarm" in desc and "account-wide" in desc


def test_every_alarm_notifies_the_topic(expanded):
    for name, a in resources(expanded, "AWS::CloudWatch::Alarm").items():
        assert a["Properties"]["AlarmActions"] == [{"Ref": "AlertTopic"}], name


def test_every_log_group_has_retention(expanded):
    for name, g in resources(expanded, "AWS::Logs::LogGroup").items():
        assert g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_emr_application_cannot_idle_or_grow_unbounded(expanded):
    app = expanded["Resources"]["EmrApplication"]
    assert app["Condition"] == "CreateEmr"
    p = app["Properties"]
    assert p["AutoStartConfiguration"] == {"Enabled": True}
    assert p["AutoStopConfiguration"]["Enabled"] is True
    assert p["AutoStopConfiguration"]["IdleTimeoutMinutes"] <= 30
    assert "InitialCapacity" not in p
    assert set(p["MaximumCapacity"]) >= {"Cpu", "Memory"}


def test_outputs(expanded):
    assert {"LakeBucketName", "AlertTopicArn", "StateMachineArn", "MaintenanceStateMachineArn",
            "DashboardUrl"} <= set(expanded["Outputs"])
    assert expanded["Outputs"]["MaintenanceStateMachineArn"]["Value"] == {"Ref": "MaintenanceStateMachine"}


def test_print_expanded_actions(expanded, capsys):
    """Not an assertion: the expanded actions per role, for the record (pytest -s shows them)."""
    with capsys.disabled():
        for name, role in sorted(resources(expanded, "AWS::IAM::Role").items()):
            print(f"\n{name}: {', '.join(sorted(role_actions(role)))}")


def test_dashboard_body_is_json(expanded):
    body, values = expanded["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{[A-Za-z0-9:]+\}", "x", body)
    widgets = json.loads(filled)["widgets"]
    titles = " ".join(w["properties"]["title"] for w in widgets).lower()
    for what in ("validated", "rejected", "executions", "duration", "small files", "errors",
                 "maintenance", "compacted"):
        assert what in titles
    assert set(values) == {"DlqName"}
    # every state machine and every function's errors are on it
    for sm in STATE_MACHINES:
        assert '"StateMachineArn", "${%s}"' % sm in body, sm
    (errors,) = [w for w in widgets if w["properties"]["title"].lower().startswith("errors")]
    text = re.findall(r"\$\{([A-Za-z0-9]+)\}", body[body.index('"Errors and throttles"'):])
    assert set(FUNCTIONS) <= set(text)


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_code_uri_is_the_crate(fn):
    cargo = (ROOT / FUNCTIONS[fn] / "Cargo.toml").read_text()
    assert f'name = "{FUNCTIONS[fn].split("/")[1]}"' in cargo


# Resource types CloudFormation cannot tag (no Tags property): everything else must carry
# `lakeline:stack`, the cost allocation tag (docs/engines-and-costs.md).
UNTAGGABLE = {
    "AWS::CloudWatch::Dashboard",
    "AWS::Glue::Database",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::S3::BucketPolicy",
    "AWS::S3Tables::Namespace",
    "AWS::S3Tables::TablePolicy",
    "AWS::S3Tables::TableBucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::IAM::Policy",
    "AWS::Logs::SubscriptionFilter",
}


# Schedule rules SAM generates from a function's or state machine's `Events`: the translator
# does not pass PropagateTags on to them. A scheduled rule costs nothing, so the cost split
# loses nothing.
SAM_SCHEDULE_RULES = {"CheckCompactionFunctionDeliveries", "MaintenanceStateMachineSweep"}


def test_every_taggable_resource_carries_the_stack_tag(expanded):
    untagged = []
    for name, res in expanded["Resources"].items():
        if res["Type"] in UNTAGGABLE or name in SAM_SCHEDULE_RULES:
            continue
        tags = res.get("Properties", {}).get("Tags")
        if isinstance(tags, dict):
            keys = set(tags)
        else:
            keys = {t["Key"] for t in tags or []}
        if "lakeline:stack" not in keys:
            untagged.append(f"{name} ({res['Type']})")
    assert not untagged, "no lakeline:stack tag: " + ", ".join(untagged)
