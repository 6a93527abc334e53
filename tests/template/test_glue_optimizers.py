"""GlueTableMaintenance glue-optimizers: AWS Glue's own table optimizers (retention,
orphan_file_deletion) keep a Glue-catalog stack's tables instead of lakeline's maintenance
sweep. The template's part: the parameter, the condition and the rule, the role the optimizers
run as (only with the option), the bucket policy's exemption for it, the functions' variable
and the outputs `registry push` / `table sync` read. (The people's grants to put the
optimizers: tests/permissions.)"""

import pytest
import yaml

from expand import ACCOUNT, ROOT, STACK

OPTIMIZERS = {"TablesCatalog": "glue", "GlueTableMaintenance": "glue-optimizers"}
GLUE_TABLES = {"TablesCatalog": "glue"}
ROLE = "GlueTableOptimizerRole"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{ROLE}"
# The functions that open the stack's tables (LAKELINE_TABLE_GLUE_DATABASE): all are told.
TABLE_FUNCTIONS = {"CurateFunction", "StartJobFunction", "CheckCompactionFunction", "CompactFunction"}
VAR = "LAKELINE_GLUE_OPTIMIZER_ROLE_ARN"
BOTH_MODES = pytest.mark.parametrize("mode", [{}, {"ExistingBucketName": "acme-data-lake"}],
                                     ids=["created", "existing"])


def as_list(x):
    return x if isinstance(x, list) else [x]


def lake_of(stack):
    return stack.outputs["LakeBucketName"]["Value"]


def grants(stack):
    """{resource: {actions}} of the optimizer role's statements (all Allow, none conditioned)."""
    out = {}
    for policy in stack.resources[ROLE]["Properties"]["Policies"]:
        for st in as_list(policy["PolicyDocument"]["Statement"]):
            assert st["Effect"] == "Allow" and "Condition" not in st, st
            for r in as_list(st["Resource"]):
                out.setdefault(r, set()).update(as_list(st["Action"]))
    return out


def test_the_parameter_condition_and_rule(template):
    p = template["Parameters"]["GlueTableMaintenance"]
    assert (p["Type"], p["Default"], p["AllowedValues"]) == ("String", "lakeline", ["lakeline", "glue-optimizers"])
    desc = " ".join(p["Description"].split())
    for words in ("TablesCatalog glue only", "retention", "orphan_file_deletion", "registry push",
                  "table sync", "DPU-hours", "Proven on AWS only", "delete-table-optimizer"):
        assert words in desc, words
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (compaction,) = [g for g in groups if g["Label"]["default"] == "Compaction"]
    assert "GlueTableMaintenance" in compaction["Parameters"]
    for name in ("TableSnapshotRetentionDays", "TableSnapshotsKept", "TableOrphanRetentionDays"):
        assert "glue-optimizers" in template["Parameters"][name]["Description"], name
    assert template["Conditions"]["GlueOptimizersKeepTables"] == {"Fn::And": [
        {"Condition": "TablesInGlue"}, {"Fn::Equals": [{"Ref": "GlueTableMaintenance"}, "glue-optimizers"]}]}


@pytest.mark.parametrize("params, failing", [
    ({}, []),
    (GLUE_TABLES, []),
    (OPTIMIZERS, []),
    ({"GlueTableMaintenance": "glue-optimizers"}, ["GlueOptimizersNeedGlueTables"]),
    ({"GlueTableMaintenance": "glue-optimizers", "TablesCatalog": "s3tables"}, ["GlueOptimizersNeedGlueTables"]),
    ({"GlueTableMaintenance": "lakeline", "TablesCatalog": "s3tables"}, []),
])
def test_glue_optimizers_need_glue_tables(deploy, params, failing):
    """CloudFormation refuses glue-optimizers on an S3 Tables stack (S3 Tables maintains its own
    tables): rather than a stack that silently gets neither the role nor the optimizers."""
    assert deploy(params).rules_failing() == failing


@BOTH_MODES
@pytest.mark.parametrize("params, created", [
    ({}, False), (GLUE_TABLES, False), ({"GlueTableMaintenance": "glue-optimizers"}, False), (OPTIMIZERS, True),
], ids=["s3tables", "glue", "s3tables-refused", "glue-optimizers"])
def test_the_role_exists_only_with_the_option(deploy, mode, params, created):
    """The role, the functions' variable and the role output: with TablesCatalog glue and
    GlueTableMaintenance glue-optimizers only; every other stack gets no role and empty values
    (lakeline's sweep, or S3 Tables, keeps the tables). The retention outputs are always there:
    they are the parameters' values."""
    stack = deploy(dict(mode, **params))
    assert (ROLE in stack.resources) == created
    want = ROLE_ARN if created else ""
    for fn in TABLE_FUNCTIONS:
        assert stack.resources[fn]["Properties"]["Environment"]["Variables"][VAR] == want, fn
    assert stack.outputs["GlueTableOptimizerRoleArn"]["Value"] == want
    assert {k: stack.outputs[k]["Value"] for k in
            ("TableSnapshotRetentionDays", "TableSnapshotsKept", "TableOrphanRetentionDays")} == {
        "TableSnapshotRetentionDays": "5", "TableSnapshotsKept": "1", "TableOrphanRetentionDays": "3"}


@BOTH_MODES
def test_the_roles_exact_grants(deploy, mode):
    """What AWS's table optimization prerequisites ask for, narrowed to the stack's tables: get,
    put and delete of the tables' files under tables/ of the lake (no abort, no version
    deletes), the lake listed (orphans are found by listing; unconditioned, so that a HEAD of a
    missing file is a 404), GetTable and UpdateTable on the stack's database and its tables
    (the expiry's commit), and the optimizers' own log groups. No KMS (the lake is SSE-S3), no
    registry, no curated/, no _lakeline/, no other database, no Resource "*"."""
    stack = deploy(dict(mode, TablesNamespace="acme_tables", **OPTIMIZERS))
    lake = f"arn:aws:s3:::{lake_of(stack)}"
    glue = f"arn:aws:glue:us-east-1:{ACCOUNT}"
    logs = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws-glue"
    table_grants = {"glue:GetTable", "glue:UpdateTable"}
    log_grants = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert grants(stack) == {
        lake + "/tables/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        lake: {"s3:ListBucket"},
        f"{glue}:catalog": table_grants,
        f"{glue}:database/acme_tables": table_grants,
        f"{glue}:table/acme_tables/*": table_grants,
        f"{logs}/iceberg-retention/*": log_grants,
        f"{logs}/iceberg-orphan-file-deletion/*": log_grants,
    }
    props = stack.resources[ROLE]["Properties"]
    assert "ManagedPolicyArns" not in props and "PermissionsBoundary" not in props
    assert {"Key": "lakeline:stack", "Value": STACK} in props["Tags"]
    # in another region and partition the ARNs follow
    other = deploy(dict(mode, **OPTIMIZERS), region="eu-west-1")
    assert f"arn:aws:glue:eu-west-1:{ACCOUNT}:table/lakeline/*" in grants(other)


def test_the_role_is_assumed_by_glue_alone(deploy):
    """Glue alone assumes it, as AWS documents the optimizers' role (no condition whose key
    the optimizer service might not send)."""
    stack = deploy(OPTIMIZERS)
    (st,) = stack.resources[ROLE]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert st == {"Effect": "Allow", "Principal": {"Service": ["glue.amazonaws.com"]}, "Action": "sts:AssumeRole"}


def test_the_variable_reaches_every_function_that_opens_the_tables(expanded, deploy):
    """Every function told the Glue database is told the optimizers' role too (one environment
    for Tables::of_stack), and nothing else is; the shared table library reads it, and the
    CLI reads the outputs of the same meaning."""
    told = {fn for fn, r in expanded["Resources"].items()
            if "LAKELINE_TABLE_GLUE_DATABASE" in r.get("Properties", {}).get("Environment", {}).get("Variables", {})}
    assert told == TABLE_FUNCTIONS
    for fn, r in expanded["Resources"].items():
        variables = r.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert (VAR in variables) == (fn in TABLE_FUNCTIONS), fn
        if fn in TABLE_FUNCTIONS:
            assert variables[VAR] == {"Fn::If": ["GlueOptimizersKeepTables",
                                                 {"Fn::GetAtt": [ROLE, "Arn"]}, ""]}
    catalog = (ROOT / "shared/table/src/catalog.rs").read_text()
    assert f'GLUE_OPTIMIZER_ROLE_VAR: &str = "{VAR}"' in catalog
    cli = (ROOT / "cli/src/stack.rs").read_text()
    for output in ("GlueTableOptimizerRoleArn", "TableSnapshotRetentionDays", "TableSnapshotsKept",
                   "TableOrphanRetentionDays"):
        assert f'"{output}"' in cli, output
    # The compact function's own upkeep reads the same three values.
    env = deploy(dict(OPTIMIZERS, TableSnapshotRetentionDays="7", TableSnapshotsKept="2",
                      TableOrphanRetentionDays="4")).resources["CompactFunction"]["Properties"]["Environment"]["Variables"]
    assert (env["LAKELINE_SNAPSHOT_RETENTION_DAYS"], env["LAKELINE_SNAPSHOTS_KEPT"],
            env["LAKELINE_ORPHAN_RETENTION_DAYS"]) == ("7", "2", "4")


def test_the_outputs(deploy, template):
    """The role's ARN (empty without the option) and the three retention values, as the
    parameters set them: what `registry push --stack` and `table sync --stack` configure the
    optimizers with."""
    stack = deploy(dict(OPTIMIZERS, TableSnapshotRetentionDays="7", TableSnapshotsKept="2",
                        TableOrphanRetentionDays="4"))
    assert {k: stack.outputs[k]["Value"] for k in ("GlueTableOptimizerRoleArn", "TableSnapshotRetentionDays",
                                                   "TableSnapshotsKept", "TableOrphanRetentionDays")} == {
        "GlueTableOptimizerRoleArn": ROLE_ARN, "TableSnapshotRetentionDays": "7", "TableSnapshotsKept": "2",
        "TableOrphanRetentionDays": "4"}
    for name in ("GlueTableOptimizerRoleArn", "TableSnapshotRetentionDays", "TableSnapshotsKept",
                 "TableOrphanRetentionDays"):
        assert "Condition" not in template["Outputs"][name], name  # the CLI reads them on every stack


def glue_tables_statement(stack):
    (policy,) = stack.of_type("AWS::S3::BucketPolicy").values()
    sts = [st for st in policy["Properties"]["PolicyDocument"]["Statement"]
           if st.get("Sid") == "OnlyLakelineAndRegistryWritersWriteGlueTables"]
    return sts[0] if sts else None


@BOTH_MODES
def test_the_bucket_policy_lets_the_optimizers_write_the_tables(deploy, mode):
    """With named registry writers, the deny on tables/* exempts the optimizers' role (its own
    operator, ANDed with the list of curate, compact, the writers and erasers) when it exists,
    and only then; the role is also in the roles that never write the registry or artifacts."""
    writer = f"arn:aws:iam::{ACCOUNT}:role/data-platform"
    eraser = f"arn:aws:iam::{ACCOUNT}:role/privacy-officer"
    for extra in ({}, {"EraserArns": eraser}):
        stack = deploy(dict(mode, RegistryWriterArns=writer, **OPTIMIZERS, **extra))
        st = glue_tables_statement(stack)
        assert st["Condition"] == {
            "ArnNotLike": {"aws:PrincipalArn": [stack.get_att("CurateFunctionRole", "Arn"),
                                                stack.get_att("CompactFunctionRole", "Arn"), writer]
                           + ([eraser] if extra else [])},
            "ArnNotEquals": {"aws:PrincipalArn": ROLE_ARN},
        }
        assert st["Resource"] == f"arn:aws:s3:::{lake_of(stack)}/tables/*"
        (never,) = [s for s in stack.resources["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
                    if s["Sid"] == "LakelineRolesNeverWriteRegistryOrArtifacts"]
        assert ROLE_ARN in never["Condition"]["ArnLike"]["aws:PrincipalArn"]
    # Without the option: no exemption, and no role in the never-the-registry list.
    stack = deploy(dict(mode, RegistryWriterArns=writer, **GLUE_TABLES))
    assert set(glue_tables_statement(stack)["Condition"]) == {"ArnNotLike"}
    (never,) = [s for s in stack.resources["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
                if s["Sid"] == "LakelineRolesNeverWriteRegistryOrArtifacts"]
    assert ROLE_ARN not in never["Condition"]["ArnLike"]["aws:PrincipalArn"]
    # Without named registry writers IAM decides: no statement to exempt from.
    assert glue_tables_statement(deploy(dict(mode, **OPTIMIZERS))) is None


def test_the_docs_say_how_to_switch_back():
    """Switching GlueTableMaintenance back does not remove optimizers already put: the docs say
    how to delete them, who pays, and that it is proven on AWS only."""
    deploy_md = " ".join((ROOT / "docs/deploy.md").read_text().split())
    permissions_md = " ".join((ROOT / "docs/permissions.md").read_text().split())
    for words in ("GlueTableMaintenance", "aws glue delete-table-optimizer", "DPU", "AWS only"):
        assert words in deploy_md, words
    for words in ("GlueTableOptimizerRole", "iam:PassRole", "PassGlueTableOptimizerRole", "PutGlueTableOptimizers"):
        assert words in permissions_md, words

def test_the_people_who_put_the_optimizers(template):
    """The registry writer (`registry push`) and the table writer (`table sync`) may put,
    update and read a table's optimizers on the same catalog, database and table ARNs as their
    Glue table statements, and hand Glue (only Glue) the stack's optimizer role: both only on a
    stack with the option (When: a condition of the template)."""
    people = yaml.safe_load((ROOT / "tests/permissions/people.yaml").read_text())["people"]
    for person, tables_sid in (("registry-writer", "CreateAndEvolveGlueTables"), ("table-writer", "CommitToGlueTables")):
        sids = {s.get("Sid"): s for s in people[person]["statements"]}
        assert sids["PutGlueTableOptimizers"]["Resource"] == sids[tables_sid]["Resource"], person
        assert "GlueOptimizersKeepTables" in template["Conditions"]
        for sid in ("PutGlueTableOptimizers", "PassGlueTableOptimizerRole"):
            assert sids[sid]["When"] == "GlueOptimizersKeepTables", (person, sid)
        assert set(sids["PutGlueTableOptimizers"]["Action"]) == {
            "glue:CreateTableOptimizer", "glue:UpdateTableOptimizer", "glue:GetTableOptimizer"}
        pass_role = sids["PassGlueTableOptimizerRole"]
        assert (pass_role["Action"], pass_role["Resource"]) == ("iam:PassRole", "${GlueTableOptimizerRole.Arn}")
        assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}
