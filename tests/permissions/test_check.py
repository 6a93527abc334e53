"""The check (check.py) on small call logs against the real template: which principal is held to
which policy, the bucket policy on top, the implied KMS and ListBucket authorizations, the named
exception, and that an unknown or unmapped call fails."""

import io
import json

import pytest

import check
import expand as ex

BUCKET = "lake-1"
FUNCS = {"ValidateUploadFunction": "lake-1-validate-upload", "CurateFunction": "lake-1-curate",
         "StartJobFunction": "lake-1-start-job", "CheckCompactionFunction": "lake-1-check-compaction",
         "CompactFunction": "lake-1-compact", "NotifyFailureFunction": "lake-1-notify-failure"}
TOPIC = "arn:aws:sns:us-east-1:123456789012:lake-1"
PIPELINE = "arn:aws:states:us-east-1:123456789012:stateMachine:lake-1-pipeline"
MAINTENANCE = "arn:aws:states:us-east-1:123456789012:stateMachine:lake-1-maintenance"


@pytest.fixture(scope="module")
def expanded():
    return ex.expand(ex.load_template())


def registration():
    return {"kind": "stack", "stack": BUCKET, "bucket": BUCKET, "test": "t",
            "resources": dict(FUNCS, AlertTopic=TOPIC, Pipeline=PIPELINE, MaintenanceStateMachine=MAINTENANCE),
            "parameters": {}}


def call(principal, action, resource, status=200, **context):
    return {"kind": "call", "principal": principal, "request": "X /", "status": status,
            "accesses": [{"action": action, "resource": resource, "context": context}]}


def run(tmp_path, expanded, *calls):
    log = tmp_path / "calls.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [registration(), *calls]) + "\n")
    return check.run(log, expanded)


def role(name):
    return "lakeline-role-" + name


def obj(key):
    return f"arn:aws:s3:::{BUCKET}/{key}"


TABLE_BUCKET = "arn:aws:s3tables:us-east-1:123456789012:bucket/lake-tables"

ALLOWED = [
    call(role("CurateFunctionRole"), "s3:PutObject", obj("curated/orders/dt=1/x-abc.parquet")),
    call(role("CurateFunctionRole"), "s3:GetObject", obj("config/datasets.yaml")),
    call(role("ValidateUploadFunctionRole"), "s3:PutObject", obj("quarantine/raw/o/x.csv"), **{"s3:if-none-match": "*"}),
    call(role("ValidateUploadFunctionRole"), "states:StartExecution", PIPELINE),
    # Publishing to the encrypted topic implies the key: UseKeyOfTopicAndDLQ grants it.
    call(role("ValidateUploadFunctionRole"), "sns:Publish", TOPIC),
    call(role("StartJobFunctionRole"), "s3:ListBucket", f"arn:aws:s3:::{BUCKET}", **{"s3:prefix": "_lakeline/batches/o/"}),
    call(role("StartJobFunctionRole"), "glue:StartJobRun", "arn:aws:glue:us-east-1:123456789012:job/lakeline-x"),
    # The delivery check: its once-per-period marker, read back (404 when there is none yet).
    call(role("CheckCompactionFunctionRole"), "s3:GetObject", obj("_lakeline/sla/orders/2026-11-30"), status=404),
    call(role("CheckCompactionFunctionRole"), "s3:PutObject", obj("_lakeline/sla/orders/2026-11-30"),
         **{"s3:if-none-match": "*"}),
    # The interpreter invokes what its definitions name.
    call("ak", "lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCS['CurateFunction']}"),
    call("ak", "lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCS['StartJobFunction']}"),
    # A Spark rewrite of a table partition: compact puts the plan once and reads it back, lists
    # and reads what the run wrote beside it; start-job starts and polls the stack's compact job.
    call(role("CompactFunctionRole"), "s3:PutObject", obj("_lakeline/staging/rewrite/lakeline.orders/0a1b/plan.json"),
         **{"s3:if-none-match": "*"}),
    call(role("CompactFunctionRole"), "s3:GetObject", obj("_lakeline/staging/rewrite/lakeline.orders/0a1b/plan.json")),
    call(role("CompactFunctionRole"), "s3:ListBucket", f"arn:aws:s3:::{BUCKET}",
         **{"s3:prefix": "_lakeline/staging/rewrite/lakeline.orders/0a1b/data/"}),
    call(role("CompactFunctionRole"), "s3:GetObject", obj("_lakeline/staging/rewrite/lakeline.orders/0a1b/data/part-00000.parquet")),
    call(role("StartJobFunctionRole"), "glue:GetJobRuns", "arn:aws:glue:us-east-1:123456789012:job/lakeline-x"),
    call("lakeline-person-producer", "s3:PutObject", obj("raw/orders/dt=1/a.csv")),
    call("lakeline-person-operator", "s3:ListBucket", f"arn:aws:s3:::{BUCKET}", **{"s3:prefix": "curated/orders/"}),
    # replay's HEAD of a raw key nothing holds yet.
    call("lakeline-person-operator", "s3:GetObject", obj("raw/orders/dt=1/free.csv"), status=404),
    # start-job's GET of a batch that is not open yet.
    call(role("StartJobFunctionRole"), "s3:GetObject", obj("_lakeline/batches/orders/dt=1/open.json"), status=404),
    # A group commit: curate posts its entry, lists and reads the table's board, deletes what
    # it settled.
    call(role("CurateFunctionRole"), "s3:PutObject", obj("_lakeline/pending/lakeline/orders/0001-3f2a.json")),
    call(role("CurateFunctionRole"), "s3:ListBucket", f"arn:aws:s3:::{BUCKET}",
         **{"s3:prefix": "_lakeline/pending/lakeline/orders/"}),
    call(role("CurateFunctionRole"), "s3:GetObject", obj("_lakeline/pending/lakeline/orders/0001-3f2a.json")),
    call(role("CurateFunctionRole"), "s3:DeleteObject", obj("_lakeline/pending/lakeline/orders/0001-3f2a.json")),
    # A HEAD answered 404 needs ListBucket too: curate has it.
    call(role("CurateFunctionRole"), "s3:GetObject", obj("raw/orders/dt=1/gone.csv"), status=404),
    # The table writer: a table created in a table bucket, its commit swapped by version token.
    call("lakeline-person-table-writer", "s3tables:CreateTable", TABLE_BUCKET),
    call("lakeline-person-table-writer", "s3tables:UpdateTableMetadataLocation", TABLE_BUCKET + "/table/*"),
    call("lakeline-person-table-writer", "s3tables:PutTableData", TABLE_BUCKET + "/table/0b1c"),
]


@pytest.mark.parametrize("c", ALLOWED, ids=[f"{c['principal']} {c['accesses'][0]['action']}" for c in ALLOWED])
def test_allowed(tmp_path, expanded, c):
    r = run(tmp_path, expanded, c)
    assert r.checked == 1 and r.denied == [], r.denied


DENIED = [
    # Identity: curate writes only Parquet under curated/.
    (call(role("CurateFunctionRole"), "s3:PutObject", obj("curated/orders/dt=1/_lakeline_compaction.json")),
     "no statement of CurateFunctionRole allows it"),
    # The old compaction protocol is gone: no partition marker, no merge in curated/.
    (call(role("CheckCompactionFunctionRole"), "s3:PutObject", obj("curated/orders/dt=1/_lakeline_compaction.json")),
     "OnlyLakelineWritesOrDeletesCurated"),
    (call(role("CompactFunctionRole"), "s3:DeleteObject", obj("curated/orders/dt=1/x-abc.parquet")),
     "OnlyLakelineWritesOrDeletesCurated"),
    (call(role("CompactFunctionRole"), "s3:PutObject", obj("_lakeline/compaction/orders/dt=1/g.json")),
     "CompactWritesOnlyTablesAndRewritePlans"),
    # compact's part of _lakeline/ is the rewrite plans: no batch, and no delete of a plan (the
    # lifecycle rule expires them).
    (call(role("CompactFunctionRole"), "s3:PutObject", obj("_lakeline/batches/orders/dt=1/e/open.json")),
     "CompactWritesOnlyTablesAndRewritePlans"),
    (call(role("CompactFunctionRole"), "s3:DeleteObject", obj("_lakeline/staging/rewrite/lakeline.orders/0a1b/plan.json")),
     "no statement of CompactFunctionRole allows it"),
    # The pending deliveries are curate's alone: not the stack's curate Glue job (exempt from
    # the _lakeline/ rule for its staging), not compact (for its rewrite plans).
    (call(role("GlueCurateJobRole"), "s3:PutObject", obj("_lakeline/pending/lakeline/orders/0001-3f2a.json")),
     "OnlyCurateWritesOrDeletesPendingDeliveries"),
    (call(role("CompactFunctionRole"), "s3:DeleteObject", obj("_lakeline/pending/lakeline/orders/0001-3f2a.json")),
     "OnlyCurateWritesOrDeletesPendingDeliveries"),
    # Bucket policy: validate-upload may not write under curated/, even with an Allow.
    (call(role("ValidateUploadFunctionRole"), "s3:DeleteObject", obj("config/datasets.yaml")),
     "LakelineRolesNeverWriteRegistryOrArtifacts"),
    # SSE-C uploads are refused to everyone.
    (call("lakeline-person-producer", "s3:PutObject", obj("raw/o/x.csv"),
          **{"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"}), "DenySseCUploads"),
    # notify-failure publishes to the stack's topic only.
    (call(role("NotifyFailureFunctionRole"), "sns:Publish", TOPIC + "-other"), "NotifyFailureFunctionRole"),
    # The pipeline's role may not invoke compact (only the maintenance machine names it)...
    (call("ak", "lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:elsewhere"), "no statement"),
    # A 404 on a key the caller may read, without ListBucket: S3 would answer 403.
    (call(role("NotifyFailureFunctionRole"), "s3:GetObject", obj("x"), status=404), "no statement"),
    (call("testing", "s3:GetObject", obj("raw/x")), "unknown principal"),
    # The table writer creates tables, not namespaces or table buckets, and deletes nothing.
    (call("lakeline-person-table-writer", "s3tables:CreateNamespace", TABLE_BUCKET), "no statement"),
    (call("lakeline-person-table-writer", "s3tables:DeleteTable", TABLE_BUCKET + "/table/*"), "no statement"),
    (call(role("CurateFunctionRole"), "unmapped:s3:PATCH object?", obj("raw/x")), "no statement"),
]


@pytest.mark.parametrize("c,why", DENIED, ids=[d[1] + " " + d[0]["accesses"][0]["action"] for d in DENIED])
def test_denied_names_the_statement_or_the_missing_grant(tmp_path, expanded, c, why):
    r = run(tmp_path, expanded, c)
    assert len(r.denied) == 1
    _, items = r.denied[0]
    text = " ".join(f for _, _, fs in items for f in fs)
    assert why in text, text


WAREHOUSE = "0a1b2c3d--table-s3"
TABLE = "arn:aws:s3tables:us-east-1:123456789012:bucket/lake-tables/table/0a1b2c3d"


@pytest.mark.parametrize("action,key,want", [
    ("s3:GetObject", "metadata/00001.metadata.json", "s3tables:GetTableData"),
    ("s3:GetObjectVersion", "data/x.parquet", "s3tables:GetTableData"),
    ("s3:ListMultipartUploadParts", "data/x.parquet", "s3tables:GetTableData"),
    ("s3:PutObject", "data/x.parquet", "s3tables:PutTableData"),
    ("s3:AbortMultipartUpload", "data/x.parquet", "s3tables:PutTableData"),
    ("s3:DeleteObject", "data/x.parquet", "unmapped:s3tables:s3:DeleteObject (a table's warehouse refuses it)"),
])
def test_table_data_is_authorized_as_s3_tables(action, key, want):
    """moto checks a table's data files as S3 calls on its warehouse bucket; AWS authorizes
    them as s3tables:GetTableData / PutTableData on the table's ARN."""
    got = check.table_data_access({"action": action, "resource": f"arn:aws:s3:::{WAREHOUSE}/{key}", "context": {}},
                                  {WAREHOUSE: TABLE})
    assert (got["action"], got["resource"]) == (want, TABLE)
    plain = {"action": action, "resource": obj(key), "context": {}}
    assert check.table_data_access(plain, {WAREHOUSE: TABLE}) is plain
    unknown = check.table_data_access({"action": action, "resource": "arn:aws:s3:::ffff--table-s3/k", "context": {}}, {})
    assert unknown["action"].startswith("unmapped:s3tables:")


def test_a_write_to_a_warehouse_is_checked_as_put_table_data(tmp_path, expanded):
    """Wired into the check: the template grants no s3tables action yet, so curate's write of a
    table's data file is denied as s3tables:PutTableData on the table, not as an S3 PutObject."""
    reg = dict(registration(), tables={WAREHOUSE: TABLE})
    log = tmp_path / "calls.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        reg, call(role("CurateFunctionRole"), "s3:PutObject", f"arn:aws:s3:::{WAREHOUSE}/data/x.parquet")]) + "\n")
    r = check.run(log, expanded)
    (_, items), = r.denied
    (a, _, failures), = items
    assert (a["action"], a["resource"]) == ("s3tables:PutTableData", TABLE)
    assert "no statement of CurateFunctionRole allows it" in failures[0]


def test_the_operator_may_not_delete_quarantined_copies(tmp_path, expanded):
    """replay leaves that to validate-upload (the bucket policy's only deleter there)."""
    r = run(tmp_path, expanded,
            call("lakeline-person-operator", "s3:DeleteObject", obj("quarantine/raw/o/x.csv")))
    assert len(r.denied) == 1 and r.excepted == {}
    r = run(tmp_path, expanded,
            call(role("ValidateUploadFunctionRole"), "s3:DeleteObject", obj("quarantine/raw/o/x.csv")))
    assert r.denied == []


def test_a_named_exception_is_reported_not_failed(tmp_path, expanded, monkeypatch):
    monkeypatch.setattr(check, "EXCEPTIONS", [check.Exception_(
        "known", "documented", "lakeline-person-operator", "s3:DeleteObject", "arn:aws:s3:::*/quarantine/*")])
    r = run(tmp_path, expanded,
            call("lakeline-person-operator", "s3:DeleteObject", obj("quarantine/raw/o/x.csv")))
    assert r.denied == [] and r.excepted == {"known": 1}
    out = io.StringIO()
    check.render(r, summary=True, out=out)
    assert "exception known" in out.getvalue()


def test_admin_and_deliveries_are_counted_not_checked(tmp_path, expanded):
    r = run(tmp_path, expanded,
            call("lakeline-admin", "s3:CreateBucket", f"arn:aws:s3:::{BUCKET}"),
            call("unsigned", "lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:f"),
            call("unsigned", "s3:GetObject", obj("raw/x")))
    assert r.checked == 1 and len(r.denied) == 1
    assert sum(r.unchecked.values()) == 2


def test_the_summary_line(tmp_path, expanded):
    r = run(tmp_path, expanded, *ALLOWED)
    out = io.StringIO()
    check.render(r, summary=True, out=out)
    assert out.getvalue().splitlines()[-1].startswith(
        f"permissions: {len(ALLOWED)} AWS calls checked against the template's policies, 0 denied")


def test_unused_statements_are_listed(tmp_path, expanded):
    r = run(tmp_path, expanded, ALLOWED[0])
    out = io.StringIO()
    check.render(r, out=out)
    assert "CurateFunctionRole/" in out.getvalue() and "Allow statements no call used" in out.getvalue()


def test_every_unused_note_names_statements_of_the_template(tmp_path, expanded):
    """A note on statements no local call uses (UNUSED_NOTES) must name statements the template
    has: a policy renumbered (SAM numbers a state machine's policies in order) or a role gone
    would leave a stale note, and the statement it meant unexplained. The Spark jobs' roles
    (curate's and compact's) and the role of Glue's table optimizers have notes: they run only
    on AWS. (The optimizers' role exists only on a stack with GlueTableMaintenance
    glue-optimizers: the run holds a call to such a stack, whose statements then count.)"""
    r = run_log(tmp_path, expanded, [registration(), glue_registration()],
                [ALLOWED[0], optimizer_call("lakeline-person-registry-writer")])
    for prefix in check.UNUSED_NOTES:
        assert any(name.startswith(prefix) for name in r.known), prefix
    for role_ in ("GlueCurateJobRole", "GlueCompactJobRole", "GlueTableOptimizerRole"):
        assert any(name.startswith(role_ + "/") for name in r.known), role_
        assert role_ + "/" in check.UNUSED_NOTES, role_
    # Without such a stack the optimizers' statements are not listed (nothing could use them).
    r = run(tmp_path, expanded, ALLOWED[0])
    assert not any(name.startswith("GlueTableOptimizerRole/") for name in r.known)


# ------------------------------------------------------------------ Glue's table optimizers

GLUE_LAKE = "lake-2"
GLUE_DB = "lake_2"
GLUE_ARN = "arn:aws:glue:us-east-1:123456789012"
OPTIMIZER_ROLE = f"arn:aws:iam::123456789012:role/{GLUE_LAKE}-GlueTableOptimizerRole"


def glue_registration(optimizers=True, **parameters):
    """A Glue-catalog stack (as local/src/stack.rs registers one), with Glue's table optimizers
    keeping its tables (GlueTableMaintenance glue-optimizers) or not."""
    resources = {"TablesDatabase": GLUE_DB}
    params = {"TablesCatalog": "glue", "TablesNamespace": GLUE_DB}
    if optimizers:
        resources["GlueTableOptimizerRole"] = OPTIMIZER_ROLE
        params["GlueTableMaintenance"] = "glue-optimizers"
    return {"kind": "stack", "stack": GLUE_LAKE, "bucket": GLUE_LAKE, "test": "t",
            "resources": resources, "parameters": dict(params, **parameters)}


def optimizer_call(principal, action="glue:CreateTableOptimizer", role=OPTIMIZER_ROLE,
                   service="glue.amazonaws.com"):
    """One Create/UpdateTableOptimizer as the call recorder logs it (local/src/calls.rs): the
    Glue authorizations on the catalog, the database and the table, and the iam:PassRole of
    the optimizer's roleArn with iam:PassedToService."""
    accesses = [{"action": action, "resource": r, "context": {}}
                for r in (f"{GLUE_ARN}:catalog", f"{GLUE_ARN}:database/{GLUE_DB}", f"{GLUE_ARN}:table/{GLUE_DB}/orders")]
    if action != "glue:GetTableOptimizer":
        context = {"iam:PassedToService": service} if service else {}
        accesses.append({"action": "iam:PassRole", "resource": role, "context": context})
    return {"kind": "call", "principal": principal, "request": f"POST / {action}", "status": 200,
            "accesses": accesses}


def run_log(tmp_path, expanded, registrations, calls):
    log = tmp_path / "calls.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [*registrations, *calls]) + "\n")
    return check.run(log, expanded)


def failures_of(report):
    return [f for _, items in report.denied for _, _, fs in items for f in fs]


PUTTERS = ["lakeline-person-registry-writer", "lakeline-person-table-writer"]


@pytest.mark.parametrize("principal", PUTTERS)
@pytest.mark.parametrize("action", ["glue:CreateTableOptimizer", "glue:UpdateTableOptimizer",
                                    "glue:GetTableOptimizer"])
def test_registry_and_table_writers_put_glue_optimizers(tmp_path, expanded, principal, action):
    """`registry push` and `table sync` on a stack with GlueTableMaintenance glue-optimizers:
    the optimizer calls on the catalog, the stack's database and its table, and the stack's
    optimizer role handed to Glue, are allowed (When: GlueOptimizersKeepTables)."""
    r = run_log(tmp_path, expanded, [glue_registration()], [optimizer_call(principal, action)])
    assert r.checked == 1 and r.denied == [], failures_of(r)
    person = principal.removeprefix("lakeline-person-")
    assert f"people.yaml:{person}:PutGlueTableOptimizers" in r.used
    if action != "glue:GetTableOptimizer":
        assert f"people.yaml:{person}:PassGlueTableOptimizerRole" in r.used


@pytest.mark.parametrize("principal", PUTTERS)
def test_the_optimizer_role_is_passed_to_glue_only(tmp_path, expanded, principal):
    """iam:PassRole of the optimizer role is granted for Glue only (iam:PassedToService), and
    only for the stack's own optimizer role."""
    for call_ in (optimizer_call(principal, service="emr-serverless.amazonaws.com"),
                  optimizer_call(principal, service=None),
                  optimizer_call(principal, role="arn:aws:iam::123456789012:role/Admin")):
        r = run_log(tmp_path, expanded, [glue_registration()], [call_])
        (_, items), = r.denied
        assert [a["action"] for a, _, _ in items] == ["iam:PassRole"]
        assert "(same action, other resources or conditions: " in failures_of(r)[0]


@pytest.mark.parametrize("principal", PUTTERS)
def test_no_optimizer_grants_without_the_option(tmp_path, expanded, principal):
    """A Glue-catalog stack whose tables lakeline maintains (the default GlueTableMaintenance)
    grants nobody an optimizer call: the statements are When: GlueOptimizersKeepTables."""
    r = run_log(tmp_path, expanded, [glue_registration(optimizers=False)], [optimizer_call(principal)])
    (_, items), = r.denied
    assert {a["action"] for a, _, _ in items} == {"glue:CreateTableOptimizer", "iam:PassRole"}
    assert all("no statement of person" in f for f in failures_of(r))


def test_the_optimizer_role_writes_the_tables_despite_named_registry_writers(tmp_path, expanded):
    """With RegistryWriterArns named, the bucket policy keeps tables/ to lakeline, the registry
    writers and the erasers, and to Glue's optimizers' role when it exists: the role's writes
    and deletes of a table's files pass (its IAM and the bucket policy), the table writer's do
    not, and the role writes nothing outside tables/."""
    reg = glue_registration(RegistryWriterArns=check.person_arn("registry-writer"))
    table_file = f"arn:aws:s3:::{GLUE_LAKE}/tables/orders/data/_lakeline_date=2026-11-30/0f8e.parquet"
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:GetObject"):
        r = run_log(tmp_path, expanded, [reg], [call(role("GlueTableOptimizerRole"), action, table_file)])
        assert r.denied == [], failures_of(r)
    r = run_log(tmp_path, expanded, [reg], [call(role("GlueTableOptimizerRole"), "s3:ListBucket",
                                                 f"arn:aws:s3:::{GLUE_LAKE}", **{"s3:prefix": "tables/orders/"})])
    assert r.denied == [], failures_of(r)
    r = run_log(tmp_path, expanded, [reg], [call("lakeline-person-table-writer", "s3:DeleteObject", table_file)])
    assert "denied by LakeBucketPolicy" in failures_of(r)[0] and "OnlyLakelineAndRegistryWritersWriteGlueTables" in failures_of(r)[0]
    for key in ("curated/orders/dt=1/x.parquet", "_lakeline/staging/x", "config/datasets.yaml"):
        r = run_log(tmp_path, expanded, [reg], [call(role("GlueTableOptimizerRole"), "s3:PutObject",
                                                     f"arn:aws:s3:::{GLUE_LAKE}/{key}")])
        assert len(r.denied) == 1, key
    # Without the option there is no such role to hold a call to.
    r = run_log(tmp_path, expanded, [glue_registration(optimizers=False)],
                [call(role("GlueTableOptimizerRole"), "s3:PutObject", table_file)])
    assert "no role GlueTableOptimizerRole in the template" in failures_of(r)[0]


def test_a_tables_arn_names_its_table_bucket():
    """A table's ARN (or a bucket's `table/*`) is resolved against the stack that registered
    its table bucket, whose TableBucket the template's statements name."""
    for arn in (TABLE_BUCKET + "/table/*", TABLE_BUCKET + "/table/0b1c"):
        assert TABLE_BUCKET in check._names_in(arn)
    assert check._names_in(TABLE_BUCKET)[0] == TABLE_BUCKET


def test_the_table_bucket_policy_holds_commits_to_the_stacks_tables(tmp_path, expanded):
    """With named registry writers, the stack's table bucket policy denies a commit to its
    tables to every person but the registry writers and the erasers, whatever their IAM."""
    table = TABLE_BUCKET + "/table/0123-orders"
    reg = dict(registration(), resources=dict(registration()["resources"], TableBucket=TABLE_BUCKET),
               parameters={"RegistryWriterArns": check.person_arn("registry-writer"),
                           "EraserArns": check.person_arn("eraser")})

    def checked(principal):
        log = tmp_path / "calls.jsonl"
        log.write_text("\n".join(json.dumps(r) for r in [
            reg, call(principal, "s3tables:UpdateTableMetadataLocation", table)]) + "\n")
        return check.run(log, expanded)

    (_, items), = checked("lakeline-person-table-writer").denied
    (_, _, failures), = items
    assert "denied by TableBucketPolicy" in failures[0], failures
    for allowed in ("lakeline-person-eraser", "lakeline-person-registry-writer", role("CurateFunctionRole")):
        assert checked(allowed).denied == [], allowed
    # Without named registry writers IAM decides: the table writer's own policy allows it.
    reg["parameters"] = {}
    assert checked("lakeline-person-table-writer").denied == []
