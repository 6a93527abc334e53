"""Safe to deploy into a real account (issue 16), checked on the expanded template resolved for
sets of parameter values (conftest `deploy`): the data outlives the stack, an existing bucket
works, the bucket policy says who writes what (every statement, by a small evaluator of its
Deny statements), execution data stays out of the logs, the alarms fit a shared account, and
samconfig.toml's environments deploy."""

import json
import re
import shlex
import tomllib

import pytest

from expand import ACCOUNT, ROOT, STACK

EXISTING = "acme-data-lake"
CREATED = f"lakeline-{ACCOUNT}-us-east-1"


def as_list(x):
    return x if isinstance(x, list) else [x]


def role(name):
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def stack_role(logical):
    """ARN of a role of the stack, as expand.Stack names it."""
    return role(f"{STACK}-{logical}")


VALIDATE = stack_role("ValidateUploadFunctionRole")
CURATE = stack_role("CurateFunctionRole")
START_JOB = stack_role("StartJobFunctionRole")
CHECK = stack_role("CheckCompactionFunctionRole")
COMPACT = stack_role("CompactFunctionRole")
NOTIFY = stack_role("NotifyFailureFunctionRole")
FUNCTION_ROLES = [VALIDATE, CURATE, START_JOB, CHECK, COMPACT, NOTIFY]
# The stack's own Glue jobs (jobs/curate.py; jobs/compact.py, the Spark rewrites of table
# partitions).
GLUE_CURATE = stack_role("GlueCurateJobRole")
GLUE_COMPACT = stack_role("GlueCompactJobRole")
STACK_JOB_ROLES = [GLUE_CURATE, GLUE_COMPACT]
# Glue's table optimizers (GlueTableMaintenance glue-optimizers): snapshot expiry and orphan
# file deletion of a Glue-catalog stack's tables, run by Glue as this role.
OPTIMIZER = stack_role("GlueTableOptimizerRole")
# The state machines' and the schedule's roles call Lambda / Step Functions, never S3.
MAINTENANCE = stack_role("MaintenanceStateMachineRole")
SWEEP = stack_role("MaintenanceStateMachineSweepRole")
ANALYST = role("analyst")
ADMIN = role("Admin")
ROOT_USER = f"arn:aws:iam::{ACCOUNT}:root"
CI = role("lakeline-deploy")
PRODUCER = role("sales-export")
EMR = role("lakeline-emr-job")
EMR2 = role("lakeline-emr-backfill")
GLUE = role("lakeline-glue-job")
PARTNER = "arn:aws:iam::210987654321:role/partner"
ERASER = role("privacy-officer")


# ------------------------------------------------------------------ the bucket policy evaluator


def glob(pattern, value):
    """IAM wildcard match: * any run of characters, ? one character."""
    rx = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(rx, value) is not None


def applies(st, principal, action, arn, secure, extra=None):
    """Whether a Deny statement of the bucket policy matches this request (Resource: the ARN
    matches one of them; NotResource: none of them)."""
    if not any(glob(a, action) for a in as_list(st["Action"])):
        return False
    if "Resource" in st and not any(glob(r, arn) for r in as_list(st["Resource"])):
        return False
    if "NotResource" in st and any(glob(r, arn) for r in as_list(st["NotResource"])):
        return False
    assert ("Resource" in st) != ("NotResource" in st), st["Sid"]
    context = {"aws:PrincipalArn": principal, "aws:SecureTransport": "true" if secure else "false"}
    context.update(extra or {})
    for op, keys in st.get("Condition", {}).items():  # operators (and keys) are ANDed
        for key, values in keys.items():
            values = as_list(values)
            if op == "Null":  # "true": the key is absent from the request; "false": present
                ok = (key not in context) == (values == ["true"])
                if not ok:
                    return False
                continue
            got = context[key]
            if op == "Bool":
                ok = got in values
            elif op in ("ArnLike", "ArnEquals"):
                ok = any(glob(v, got) for v in values)
            elif op in ("ArnNotLike", "ArnNotEquals"):
                ok = not any(glob(v, got) for v in values)
            else:
                raise AssertionError(f"{st['Sid']}: operator {op} not understood by this test")
            if not ok:
                return False
    return True


def policy_statements(stack):
    return stack.resources["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]


def denied_by(stack, principal, action, key, secure=True, bucket=None, extra=None):
    """Sids of the bucket policy's statements that deny this request (empty: the bucket policy
    leaves it to IAM). `extra`: more request context, e.g. SSE-C headers."""
    bucket = bucket or stack.outputs["LakeBucketName"]["Value"]
    arn = f"arn:aws:s3:::{bucket}/{key}" if key is not None else f"arn:aws:s3:::{bucket}"
    return {st["Sid"] for st in policy_statements(stack) if applies(st, principal, action, arn, secure, extra)}


PUT, DELETE, DELETE_VERSION = "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"
GET, TAG = "s3:GetObject", "s3:PutObjectTagging"
REGISTRY = "config/datasets.yaml"
REGISTRY_VERSION = "config/versions/datasets-0007-3f2a9c.yaml"
ENTRY_POINT = "artifacts/orders/curate_orders.py"
RAW = "raw/sales/dt=2026-11-30/sales.csv"
CURATED = "curated/sales/dt=2026-11-30/sales-1a2b.parquet"
# Keys of the old curated/ compaction protocol (a partition's marker, a merged file, a group's
# manifest): nobody writes them any more, and check-compaction and compact may not.
MARKER = "curated/sales/dt=2026-11-30/_lakeline_compaction.json"
COMPACTED = "curated/sales/dt=2026-11-30/compacted-5c1f0e2b9a7d3c48.parquet"
MANIFEST = "_lakeline/compaction/sales/dt=2026-11-30/5c1f0e2b9a7d3c48.json"
STAGING = "_lakeline/staging/sales-1a2b/run-7/part-00000.parquet"
SLA_MARKER = "_lakeline/sla/orders/2026-11-30"  # lakeline::sla
BATCH = "_lakeline/batches/sales/dt=2026-11-30/exec-1/members/exec-2.json"  # lakeline_core::batch
SNAPSHOT = "_lakeline/registry/0123456789abcdef.json"  # lakeline_core::registry::Registry::snapshot
UNCLAIMED = "_lakeline/unclaimed/3f2a9c0b1d4e5f67/2026-11-30T14"  # lakeline::alert::unclaimed_marker
# A delivery that lost a commit race, waiting on its table's board for a group commit
# (lakeline_table::group: _lakeline/pending/<namespace>/<table>/<posted ms>-<uuid>.json).
PENDING = "_lakeline/pending/lakeline/orders/0001765000000000-3f2a.json"
# A Spark rewrite of a table partition (functions/compact/src/spark.rs REWRITE_PREFIX): compact's
# plan, and what the run writes beside it (its output, the committer's temporary files).
REWRITE_PLAN = "_lakeline/staging/rewrite/lakeline.sales/5c1f0e2b9a7d3c48/plan.json"
REWRITE_OUT = "_lakeline/staging/rewrite/lakeline.sales/5c1f0e2b9a7d3c48/data/part-00000-1a2b.snappy.parquet"
REWRITE_TEMP = "_lakeline/staging/rewrite/lakeline.sales/5c1f0e2b9a7d3c48/data/_temporary/0/_temporary/a/part-00000.parquet"
# A Glue-catalog table's data file (TablesCatalog glue: the tables live under tables/).
TABLE_FILE = "tables/sales/data/_lakeline_date=2026-11-30/0f8e7d6c.parquet"
QUARANTINED = "quarantine/raw/sales/dt=2026-11-30/sales.csv"
RECORD = "audit/erasures/2026-12-07T101500Z-3f2a9c0b1d4e.json"  # lakeline_cli::erase_raw

ONLY_WRITERS = "OnlyRegistryWritersWriteRegistryAndArtifacts"
FUNCTIONS_NEVER = "LakelineRolesNeverWriteRegistryOrArtifacts"
EMR_NEVER = "EmrJobsNeverWriteRegistryOrArtifacts"
GLUE_NEVER = "GlueJobsNeverWriteRegistryOrArtifacts"
ONLY_RAW = "OnlyRawWritersWriteRaw"
ONLY_CURATED = "OnlyLakelineWritesOrDeletesCurated"
ONLY_QUARANTINE = "OnlyValidateUploadWritesQuarantine"
ONLY_DELETE_UPLOADS = "OnlyValidateUploadAndErasersDeleteUploads"
ONLY_ERASERS_RECORD = "OnlyErasersWriteErasureRecords"
RECORD_ONCE = "ErasureRecordsAreWrittenOnce"
RECORD_KEPT = "ErasureRecordsAreNeverDeleted"
ONLY_LAKELINE_DIR = "OnlyLakelineWritesOrDeletesLakelineDir"
ONLY_UNCLAIMED = "OnlyValidateUploadWritesOrDeletesUnclaimedMarkers"
ONLY_PENDING = "OnlyCurateWritesOrDeletesPendingDeliveries"
VALIDATE_ONLY = "ValidateUploadWritesOnlyRawQuarantineAndUnclaimedMarkers"
TLS = "DenyInsecureTransport"
SSE_C = "DenySseCUploads"
START_JOB_ONLY = "StartJobWritesOnlyBatches"
CHECK_ONLY = "CheckCompactionWritesOnlyMarkers"
COMPACT_ONLY = "CompactWritesOnlyTablesAndRewritePlans"
CURATE_ONLY = "CurateWritesOnlyCuratedTablesAndPending"
GLUE_COMPACT_ONLY = "GlueCompactJobWritesOnlyRewrites"
ONLY_GLUE_TABLES = "OnlyLakelineAndRegistryWritersWriteGlueTables"

WRITERS_CI = {"RegistryWriterArns": CI}
WRITERS_ROOT = {"RegistryWriterArns": f"arn:aws:iam::{ACCOUNT}:root"}
WRITERS_PATTERN = {"RegistryWriterArns": role("lakeline-*")}
RAW_PRODUCER = {"RawWriterArns": PRODUCER}
ERASERS = {"EraserArns": ERASER}
EMR_ROLES = {"EmrExecutionRoleArns": f"{EMR},{EMR2}"}
GLUE_ROLES = {"GlueJobRoleArns": GLUE}
JOB_ROLES = dict(EMR_ROLES, **GLUE_ROLES)
GLUE_TABLES = {"TablesCatalog": "glue"}
GLUE_OPTIMIZERS = {"TablesCatalog": "glue", "GlueTableMaintenance": "glue-optimizers"}

# (parameters, principal, action, key, the statements that deny it). An empty set: the bucket
# policy does not deny, IAM decides.
CASES = [
    # --- defaults: IAM decides who writes raw/ and the registry, but never lakeline's functions
    ({}, ANALYST, PUT, RAW, set()),
    ({}, ANALYST, PUT, REGISTRY, set()),
    ({}, ANALYST, PUT, ENTRY_POINT, set()),
    *[({}, fn, action, key, {FUNCTIONS_NEVER} | ({VALIDATE_ONLY} if fn == VALIDATE else set())
       | ({START_JOB_ONLY} if fn == START_JOB else set()) | ({CHECK_ONLY} if fn == CHECK else set())
       | ({COMPACT_ONLY} if fn == COMPACT else set()) | ({CURATE_ONLY} if fn == CURATE else set()))
      for fn in FUNCTION_ROLES
      for action in (PUT, DELETE, DELETE_VERSION) for key in (REGISTRY, REGISTRY_VERSION, ENTRY_POINT)],
    *[({}, job, action, key, {FUNCTIONS_NEVER} | ({GLUE_COMPACT_ONLY} if job == GLUE_COMPACT else set()))
      for job in STACK_JOB_ROLES
      for action in (PUT, DELETE, DELETE_VERSION) for key in (REGISTRY, REGISTRY_VERSION, ENTRY_POINT)],
    ({}, CURATE, GET, REGISTRY, set()),  # functions read it
    ({}, GLUE_CURATE, GET, REGISTRY, set()),  # ... and so do the stack's jobs
    ({}, VALIDATE, TAG, RAW, set()),  # validate-upload tags ...
    ({}, VALIDATE, DELETE, RAW, set()),  # ... and removes raw objects it quarantined
    ({}, VALIDATE, DELETE_VERSION, RAW, set()),
    # curated/: the curate engines only, and nobody else deletes; not the compaction functions
    # (compaction rewrites the tables): check-compaction writes only _lakeline/sla/
    ({}, CURATE, PUT, CURATED, set()),
    ({}, CHECK, PUT, MARKER, {ONLY_CURATED, CHECK_ONLY}),
    ({}, CHECK, DELETE, MARKER, {ONLY_CURATED, CHECK_ONLY}),
    ({}, CHECK, PUT, CURATED, {ONLY_CURATED, CHECK_ONLY}),
    ({}, ANALYST, PUT, CURATED, {ONLY_CURATED}),
    ({}, ANALYST, DELETE, CURATED, {ONLY_CURATED}),
    ({}, ADMIN, DELETE_VERSION, CURATED, {ONLY_CURATED}),
    ({}, ROOT_USER, DELETE, CURATED, {ONLY_CURATED}),
    ({}, PARTNER, PUT, CURATED, {ONLY_CURATED}),
    ({}, VALIDATE, PUT, CURATED, {ONLY_CURATED, VALIDATE_ONLY}),
    ({}, START_JOB, PUT, CURATED, {ONLY_CURATED, START_JOB_ONLY}),
    ({}, EMR, PUT, CURATED, {ONLY_CURATED}),  # not named in EmrExecutionRoleArns
    ({}, ANALYST, GET, CURATED, set()),
    # the stack's Glue job: curated Parquet and its staging, with no parameter to set
    # (GlueJobRoleArns is for jobs of other stacks)
    ({}, GLUE_CURATE, PUT, CURATED, set()),
    ({}, GLUE_CURATE, DELETE, CURATED, set()),  # a re-run's stale parts
    ({}, GLUE_CURATE, PUT, STAGING, set()),
    ({}, GLUE_CURATE, DELETE, STAGING, set()),
    ({}, GLUE_CURATE, PUT, QUARANTINED, {ONLY_QUARANTINE}),
    ({}, GLUE_CURATE, PUT, UNCLAIMED, {ONLY_UNCLAIMED}),
    ({}, GLUE_CURATE, DELETE, UNCLAIMED, {ONLY_UNCLAIMED}),
    ({}, GLUE_CURATE, PUT, RAW, set()),  # raw/ is IAM's (the job role has no grant there)
    # the stack's compact Glue job (Spark rewrites of table partitions): its output beside the
    # plan, under _lakeline/staging/rewrite/, and nothing else: never curated/, the rest of
    # _lakeline/, the registry or the artifacts
    ({}, GLUE_COMPACT, PUT, REWRITE_OUT, set()),
    ({}, GLUE_COMPACT, PUT, REWRITE_TEMP, set()),  # the output committer's temporary files ...
    ({}, GLUE_COMPACT, DELETE, REWRITE_TEMP, set()),  # ... which it deletes again
    ({}, GLUE_COMPACT, GET, REWRITE_PLAN, set()),
    ({}, GLUE_COMPACT, PUT, "curated/x", {ONLY_CURATED, GLUE_COMPACT_ONLY}),
    ({}, GLUE_COMPACT, DELETE, CURATED, {ONLY_CURATED, GLUE_COMPACT_ONLY}),
    ({}, GLUE_COMPACT, PUT, COMPACTED, {ONLY_CURATED, GLUE_COMPACT_ONLY}),
    ({}, GLUE_COMPACT, PUT, STAGING, {GLUE_COMPACT_ONLY}),  # curate's staging is not its own
    ({}, GLUE_COMPACT, PUT, BATCH, {GLUE_COMPACT_ONLY}),
    ({}, GLUE_COMPACT, PUT, SNAPSHOT, {GLUE_COMPACT_ONLY}),
    ({}, GLUE_COMPACT, PUT, MANIFEST, {GLUE_COMPACT_ONLY}),
    ({}, GLUE_COMPACT, PUT, UNCLAIMED, {GLUE_COMPACT_ONLY, ONLY_UNCLAIMED}),
    ({}, GLUE_COMPACT, PUT, RAW, {GLUE_COMPACT_ONLY}),
    ({}, GLUE_COMPACT, PUT, QUARANTINED, {ONLY_QUARANTINE, GLUE_COMPACT_ONLY}),
    (GLUE_TABLES, GLUE_COMPACT, PUT, TABLE_FILE, {GLUE_COMPACT_ONLY}),  # reads the tables' files, never writes
    (GLUE_TABLES, GLUE_COMPACT, GET, TABLE_FILE, set()),
    ({}, GLUE_COMPACT, GET, CURATED, set()),
    # compact: rewrites the tables (S3 Tables, or tables/ of the lake), never curated/: no merged
    # file, no delete of an input, no manifest
    ({}, COMPACT, PUT, COMPACTED, {ONLY_CURATED, COMPACT_ONLY}),
    ({}, COMPACT, PUT, "curated/x", {ONLY_CURATED, COMPACT_ONLY}),
    ({}, COMPACT, DELETE, CURATED, {ONLY_CURATED, COMPACT_ONLY}),
    ({}, COMPACT, DELETE, COMPACTED, {ONLY_CURATED, COMPACT_ONLY}),
    ({}, COMPACT, DELETE_VERSION, CURATED, {ONLY_CURATED, COMPACT_ONLY}),
    ({}, COMPACT, PUT, QUARANTINED, {ONLY_QUARANTINE, COMPACT_ONLY}),
    ({}, COMPACT, PUT, RAW, {COMPACT_ONLY}),
    # ... on a Glue-catalog stack its files under tables/ (the rewrite's copies, the commit's
    # manifests and metadata, maintainTable's deletes); on an S3 Tables stack nothing of tables/
    # in the lake (its tables are in the table bucket)
    (GLUE_TABLES, COMPACT, PUT, TABLE_FILE, set()),
    (GLUE_TABLES, COMPACT, DELETE, TABLE_FILE, set()),
    ({}, COMPACT, PUT, TABLE_FILE, {COMPACT_ONLY}),
    (GLUE_TABLES, COMPACT, PUT, CURATED, {ONLY_CURATED, COMPACT_ONLY}),
    ({}, MAINTENANCE, PUT, COMPACTED, {ONLY_CURATED}),
    ({}, SWEEP, DELETE, CURATED, {ONLY_CURATED}),
    # _lakeline/: lakeline's own state (staging, batches, snapshots, markers); compact's part of
    # it is the Spark rewrites' plans (_lakeline/staging/rewrite/), which it writes once and
    # never deletes (IAM grants no delete; the lifecycle rule expires them)
    ({}, COMPACT, PUT, "_lakeline/staging/rewrite/t/p/plan.json", set()),
    ({}, COMPACT, PUT, REWRITE_PLAN, set()),
    ({}, COMPACT, GET, REWRITE_OUT, set()),
    ({}, COMPACT, PUT, "_lakeline/batches/x", {COMPACT_ONLY}),
    ({}, COMPACT, PUT, BATCH, {COMPACT_ONLY}),
    ({}, COMPACT, PUT, SNAPSHOT, {COMPACT_ONLY}),
    ({}, COMPACT, PUT, MANIFEST, {COMPACT_ONLY}),
    ({}, COMPACT, DELETE, MANIFEST, {COMPACT_ONLY}),
    ({}, COMPACT, PUT, STAGING, {COMPACT_ONLY}),  # curate's staging, beside the rewrites
    ({}, COMPACT, PUT, "_lakeline/staging/rewrite-x/y", {COMPACT_ONLY}),
    ({}, COMPACT, PUT, SLA_MARKER, {COMPACT_ONLY}),
    # nobody else writes a plan (it decides what a run reads) or a run's output
    ({}, ANALYST, PUT, REWRITE_PLAN, {ONLY_LAKELINE_DIR}),
    ({}, ADMIN, DELETE, REWRITE_OUT, {ONLY_LAKELINE_DIR}),
    ({}, CURATE, PUT, REWRITE_PLAN, {CURATE_ONLY}),
    ({}, CHECK, PUT, REWRITE_PLAN, {CHECK_ONLY}),
    ({}, START_JOB, PUT, REWRITE_PLAN, {START_JOB_ONLY}),
    ({}, VALIDATE, PUT, REWRITE_OUT, {VALIDATE_ONLY}),
    ({}, EMR, PUT, REWRITE_OUT, {ONLY_LAKELINE_DIR}),  # not named in EmrExecutionRoleArns
    ({}, ANALYST, PUT, MANIFEST, {ONLY_LAKELINE_DIR}),
    ({}, ANALYST, DELETE, MANIFEST, {ONLY_LAKELINE_DIR}),
    ({}, ADMIN, DELETE_VERSION, MANIFEST, {ONLY_LAKELINE_DIR}),
    ({}, ROOT_USER, PUT, STAGING, {ONLY_LAKELINE_DIR}),
    ({}, PARTNER, PUT, MANIFEST, {ONLY_LAKELINE_DIR}),
    ({}, CURATE, PUT, MANIFEST, {CURATE_ONLY}),
    ({}, CHECK, PUT, MANIFEST, {CHECK_ONLY}),  # exempt from the _lakeline/ rule for delivery markers only
    ({}, CHECK, DELETE, MANIFEST, {CHECK_ONLY}),
    ({}, CHECK, PUT, SLA_MARKER, set()),  # delivery alerts, once per missed period
    ({}, CHECK, DELETE, SLA_MARKER, set()),
    ({}, CURATE, PUT, SLA_MARKER, {CURATE_ONLY}),
    ({}, VALIDATE, DELETE, STAGING, {VALIDATE_ONLY}),  # exempt from the _lakeline/ rule for its markers only
    ({}, START_JOB, PUT, MANIFEST, {START_JOB_ONLY}),  # exempt from the _lakeline/ rule for batches and snapshots only
    ({}, START_JOB, PUT, BATCH, set()),
    ({}, START_JOB, DELETE, BATCH, set()),
    ({}, START_JOB, PUT, RAW, {START_JOB_ONLY}),
    ({}, START_JOB, PUT, SNAPSHOT, set()),  # the registry a Spark run reads
    ({}, CURATE, PUT, SNAPSHOT, {CURATE_ONLY}),
    ({}, VALIDATE, PUT, SNAPSHOT, {VALIDATE_ONLY}),
    ({}, PARTNER, PUT, SNAPSHOT, {ONLY_LAKELINE_DIR}),
    ({}, CURATE, PUT, BATCH, {CURATE_ONLY}),
    ({}, EMR, PUT, STAGING, {ONLY_LAKELINE_DIR}),  # not named in EmrExecutionRoleArns
    ({}, ANALYST, GET, MANIFEST, set()),
    # _lakeline/unclaimed/: validate-upload's once-per-prefix-per-hour alert markers, its alone
    ({}, VALIDATE, PUT, UNCLAIMED, set()),
    ({}, VALIDATE, DELETE, UNCLAIMED, set()),  # given back when the alert could not be sent
    ({}, VALIDATE, PUT, "_lakeline/unclaimed/x", set()),
    ({}, VALIDATE, PUT, "_lakeline/compaction/x", {VALIDATE_ONLY}),
    ({}, VALIDATE, PUT, MANIFEST, {VALIDATE_ONLY}),
    ({}, VALIDATE, DELETE, MANIFEST, {VALIDATE_ONLY}),
    ({}, VALIDATE, PUT, STAGING, {VALIDATE_ONLY}),
    ({}, VALIDATE, PUT, "_lakeline/x", {VALIDATE_ONLY}),
    ({}, VALIDATE, PUT, "_lakeline/unclaimed-x/y", {VALIDATE_ONLY}),
    ({}, VALIDATE, DELETE_VERSION, MARKER, {ONLY_CURATED, VALIDATE_ONLY}),
    ({}, VALIDATE, PUT, "exports/sales.csv", {VALIDATE_ONLY}),  # outside every prefix too
    ({}, COMPACT, PUT, "_lakeline/unclaimed/x", {COMPACT_ONLY, ONLY_UNCLAIMED}),
    ({}, COMPACT, DELETE, UNCLAIMED, {COMPACT_ONLY, ONLY_UNCLAIMED}),
    ({}, START_JOB, PUT, UNCLAIMED, {ONLY_UNCLAIMED, START_JOB_ONLY}),
    ({}, ANALYST, PUT, UNCLAIMED, {ONLY_LAKELINE_DIR, ONLY_UNCLAIMED}),
    ({}, ADMIN, DELETE, UNCLAIMED, {ONLY_LAKELINE_DIR, ONLY_UNCLAIMED}),
    ({}, ROOT_USER, DELETE_VERSION, UNCLAIMED, {ONLY_LAKELINE_DIR, ONLY_UNCLAIMED}),
    ({}, CURATE, PUT, UNCLAIMED, {CURATE_ONLY, ONLY_UNCLAIMED}),
    ({}, CHECK, DELETE, UNCLAIMED, {CHECK_ONLY, ONLY_UNCLAIMED}),
    ({}, ANALYST, GET, UNCLAIMED, set()),
    # _lakeline/pending/: curate's group commits. A delivery that lost a commit race posts an
    # entry there; every commit attempt lists and reads the table's entries and deletes those it
    # settled (DeleteObjects: s3:DeleteObject per key). curate's exemption from the _lakeline/
    # rule is for that part only (CurateWritesOnlyCuratedTablesAndPending).
    ({}, CURATE, PUT, PENDING, set()),
    ({}, CURATE, GET, PENDING, set()),
    ({}, CURATE, DELETE, PENDING, set()),
    ({}, CURATE, PUT, "_lakeline/pending/x", set()),
    ({"CuratedPrefix": "gold/"}, CURATE, PUT, PENDING, set()),  # _lakeline/ is fixed
    (GLUE_TABLES, CURATE, DELETE, PENDING, set()),
    ({}, CURATE, PUT, STAGING, {CURATE_ONLY}),  # it only reads the Spark runs' staged files
    ({}, CURATE, DELETE, "_lakeline/staging/tables/orders/sales-1a2b/3/part-00000.parquet", {CURATE_ONLY}),
    ({}, CURATE, PUT, REWRITE_OUT, {CURATE_ONLY}),
    ({}, CURATE, DELETE, BATCH, {CURATE_ONLY}),
    ({}, CURATE, DELETE, SLA_MARKER, {CURATE_ONLY}),
    ({}, CURATE, DELETE_VERSION, SNAPSHOT, {CURATE_ONLY}),
    ({}, CURATE, DELETE, UNCLAIMED, {CURATE_ONLY, ONLY_UNCLAIMED}),
    ({}, CURATE, PUT, "_lakeline/x", {CURATE_ONLY}),
    ({}, CURATE, PUT, "_lakeline/pending-x/y", {CURATE_ONLY}),
    ({}, CURATE, PUT, RAW, {CURATE_ONLY}),  # it reads the uploads, never writes one
    ({}, CURATE, DELETE, RAW, {ONLY_DELETE_UPLOADS, CURATE_ONLY}),
    ({}, CURATE, DELETE, QUARANTINED, {ONLY_DELETE_UPLOADS, CURATE_ONLY}),
    ({}, CURATE, PUT, "exports/sales.csv", {CURATE_ONLY}),  # outside every prefix too
    ({"CuratedPrefix": "gold/"}, CURATE, PUT, CURATED, {CURATE_ONLY}),  # CuratedPrefix, not curated/
    # ... and the tables' files under tables/ only on a Glue-catalog stack (the commit's data,
    # manifests and metadata, a lost race's own unpublished files); on an S3 Tables stack its
    # table writes go to the table bucket
    (GLUE_TABLES, CURATE, PUT, TABLE_FILE, set()),
    (GLUE_TABLES, CURATE, DELETE, TABLE_FILE, set()),
    (GLUE_TABLES, CURATE, PUT, STAGING, {CURATE_ONLY}),
    ({}, CURATE, PUT, TABLE_FILE, {CURATE_ONLY}),
    ({}, CURATE, DELETE, TABLE_FILE, {CURATE_ONLY}),
    # nobody else writes or deletes a pending entry: it decides what a commit publishes
    # (OnlyCurateWritesOrDeletesPendingDeliveries, besides whatever else keeps them out)
    ({}, ANALYST, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, ANALYST, DELETE, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, ADMIN, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, ADMIN, DELETE, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, ROOT_USER, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, ROOT_USER, DELETE, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, ROOT_USER, DELETE_VERSION, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, PARTNER, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, NOTIFY, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, NOTIFY, DELETE, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, VALIDATE, PUT, PENDING, {VALIDATE_ONLY, ONLY_PENDING}),
    ({}, VALIDATE, DELETE, PENDING, {VALIDATE_ONLY, ONLY_PENDING}),
    ({}, START_JOB, PUT, PENDING, {START_JOB_ONLY, ONLY_PENDING}),
    ({}, START_JOB, DELETE, PENDING, {START_JOB_ONLY, ONLY_PENDING}),
    ({}, CHECK, PUT, PENDING, {CHECK_ONLY, ONLY_PENDING}),
    ({}, CHECK, DELETE, PENDING, {CHECK_ONLY, ONLY_PENDING}),
    ({}, COMPACT, PUT, PENDING, {COMPACT_ONLY, ONLY_PENDING}),
    ({}, COMPACT, DELETE, PENDING, {COMPACT_ONLY, ONLY_PENDING}),
    (GLUE_TABLES, COMPACT, PUT, PENDING, {COMPACT_ONLY, ONLY_PENDING}),
    ({}, GLUE_COMPACT, PUT, PENDING, {GLUE_COMPACT_ONLY, ONLY_PENDING}),
    ({}, GLUE_COMPACT, DELETE, PENDING, {GLUE_COMPACT_ONLY, ONLY_PENDING}),
    # the Spark job roles are exempt from the _lakeline/ rule for their staging: this statement
    # alone keeps them out of the board
    ({}, GLUE_CURATE, PUT, PENDING, {ONLY_PENDING}),
    ({}, GLUE_CURATE, DELETE, PENDING, {ONLY_PENDING}),
    ({}, GLUE_CURATE, DELETE_VERSION, PENDING, {ONLY_PENDING}),
    (JOB_ROLES, GLUE_CURATE, PUT, PENDING, {ONLY_PENDING}),
    (JOB_ROLES, EMR, PUT, PENDING, {ONLY_PENDING}),
    (JOB_ROLES, EMR, DELETE, PENDING, {ONLY_PENDING}),
    (JOB_ROLES, EMR2, DELETE_VERSION, PENDING, {ONLY_PENDING}),
    (EMR_ROLES, EMR, PUT, PENDING, {ONLY_PENDING}),
    (EMR_ROLES, EMR, DELETE, PENDING, {ONLY_PENDING}),
    (JOB_ROLES, GLUE, PUT, PENDING, {ONLY_PENDING}),
    (JOB_ROLES, GLUE, DELETE, PENDING, {ONLY_PENDING}),
    (GLUE_ROLES, GLUE, PUT, PENDING, {ONLY_PENDING}),
    (GLUE_ROLES, GLUE, DELETE, PENDING, {ONLY_PENDING}),
    ({}, EMR, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),  # not named in EmrExecutionRoleArns
    ({}, GLUE, DELETE, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),  # not named in GlueJobRoleArns
    (JOB_ROLES, ANALYST, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    (JOB_ROLES, ADMIN, DELETE, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    (JOB_ROLES, ROOT_USER, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    (JOB_ROLES, GLUE_COMPACT, PUT, PENDING, {GLUE_COMPACT_ONLY, ONLY_PENDING}),
    (JOB_ROLES, CURATE, PUT, PENDING, set()),  # curate's still
    (JOB_ROLES, CURATE, DELETE, PENDING, set()),
    (JOB_ROLES, EMR, PUT, "_lakeline/pending-x/y", set()),  # pending/ only
    (JOB_ROLES, EMR, GET, PENDING, set()),  # reads are IAM's
    (WRITERS_CI, CI, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),  # a registry writer's `lakeline table` commits go alone
    (ERASERS, ERASER, DELETE, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    (GLUE_OPTIMIZERS, OPTIMIZER, PUT, PENDING, {ONLY_LAKELINE_DIR, ONLY_PENDING}),
    ({}, ANALYST, GET, PENDING, set()),
    # quarantine/: validate-upload only
    ({}, VALIDATE, PUT, QUARANTINED, set()),
    ({}, ANALYST, PUT, QUARANTINED, {ONLY_QUARANTINE}),
    ({}, ANALYST, DELETE, QUARANTINED, {ONLY_DELETE_UPLOADS}),
    ({}, ADMIN, DELETE_VERSION, QUARANTINED, {ONLY_DELETE_UPLOADS}),
    ({}, CURATE, PUT, QUARANTINED, {ONLY_QUARANTINE, CURATE_ONLY}),
    ({}, CHECK, DELETE, QUARANTINED, {ONLY_DELETE_UPLOADS, CHECK_ONLY}),
    ({}, ANALYST, GET, QUARANTINED, set()),
    ({}, VALIDATE, DELETE, QUARANTINED, set()),  # a replayed file's quarantined copy
    # uploads leave raw/ and the quarantine through validate-upload or an eraser only
    ({}, ANALYST, DELETE, RAW, {ONLY_DELETE_UPLOADS}),
    ({}, ADMIN, DELETE_VERSION, RAW, {ONLY_DELETE_UPLOADS}),
    ({}, ERASER, DELETE_VERSION, RAW, {ONLY_DELETE_UPLOADS}),  # not named in EraserArns
    (ERASERS, ERASER, DELETE, RAW, set()),
    (ERASERS, ERASER, DELETE_VERSION, RAW, set()),
    (ERASERS, ERASER, DELETE_VERSION, QUARANTINED, set()),
    (ERASERS, ERASER, PUT, QUARANTINED, {ONLY_QUARANTINE}),
    (ERASERS, ERASER, DELETE, CURATED, {ONLY_CURATED}),
    (ERASERS, ERASER, PUT, MANIFEST, {ONLY_LAKELINE_DIR}),
    (ERASERS, ANALYST, DELETE_VERSION, RAW, {ONLY_DELETE_UPLOADS}),
    (ERASERS, VALIDATE, DELETE, RAW, set()),
    # audit/erasures/: an eraser's, written once (a PUT without If-None-Match is refused), kept
    ({}, ERASER, PUT, RECORD, {ONLY_ERASERS_RECORD, RECORD_ONCE}),
    (ERASERS, ERASER, PUT, RECORD, {RECORD_ONCE}),
    (ERASERS, ANALYST, PUT, RECORD, {ONLY_ERASERS_RECORD, RECORD_ONCE}),
    (ERASERS, ERASER, DELETE, RECORD, {RECORD_KEPT}),
    ({}, ADMIN, DELETE_VERSION, RECORD, {RECORD_KEPT}),
    (ERASERS, ANALYST, GET, RECORD, set()),
    # TLS only, for everyone and everything
    ({}, ANALYST, GET, RAW, set()),
    ({}, ANALYST, GET, RAW, {TLS}, False),
    ({}, CURATE, PUT, CURATED, {TLS}, False),
    ({}, CI, "s3:ListBucket", None, {TLS}, False),
    # --- RegistryWriterArns: the deploying principal alone writes the registry and artifacts
    (WRITERS_CI, CI, PUT, REGISTRY, set()),
    (WRITERS_CI, CI, PUT, REGISTRY_VERSION, set()),
    (WRITERS_CI, CI, DELETE, ENTRY_POINT, set()),
    (WRITERS_CI, ANALYST, PUT, REGISTRY, {ONLY_WRITERS}),
    (WRITERS_CI, ANALYST, PUT, REGISTRY_VERSION, {ONLY_WRITERS}),
    (WRITERS_CI, ADMIN, PUT, ENTRY_POINT, {ONLY_WRITERS}),
    (WRITERS_CI, ROOT_USER, DELETE_VERSION, REGISTRY, {ONLY_WRITERS}),
    (WRITERS_CI, CURATE, PUT, REGISTRY, {ONLY_WRITERS, FUNCTIONS_NEVER, CURATE_ONLY}),
    (WRITERS_CI, ANALYST, GET, REGISTRY, set()),
    (WRITERS_CI, CI, PUT, CURATED, {ONLY_CURATED}),  # a registry writer is no curated writer
    (WRITERS_CI, CI, PUT, MANIFEST, {ONLY_LAKELINE_DIR}),
    (WRITERS_CI, COMPACT, PUT, REGISTRY, {ONLY_WRITERS, FUNCTIONS_NEVER, COMPACT_ONLY}),
    (WRITERS_CI, GLUE_COMPACT, PUT, ENTRY_POINT, {ONLY_WRITERS, FUNCTIONS_NEVER, GLUE_COMPACT_ONLY}),
    (WRITERS_CI, CI, PUT, RAW, set()),
    # a pattern naming lakeline's own roles still leaves the functions out
    (WRITERS_PATTERN, CI, PUT, REGISTRY, set()),
    (WRITERS_PATTERN, ANALYST, PUT, REGISTRY, {ONLY_WRITERS}),
    (WRITERS_PATTERN, CURATE, PUT, REGISTRY, {FUNCTIONS_NEVER, CURATE_ONLY}),
    # the account root means the account (IAM decides), not "the root user only"
    (WRITERS_ROOT, ANALYST, PUT, REGISTRY, set()),
    (WRITERS_ROOT, CURATE, PUT, REGISTRY, {FUNCTIONS_NEVER, CURATE_ONLY}),
    # a RegistryKey outside RegistryPrefix is still protected
    (dict(WRITERS_CI, RegistryKey="lake/registry.yaml"), ANALYST, PUT, "lake/registry.yaml", {ONLY_WRITERS}),
    (dict(WRITERS_CI, RegistryKey="lake/registry.yaml"), ANALYST, PUT, REGISTRY, {ONLY_WRITERS}),
    (dict(WRITERS_CI, RegistryKey="lake/registry.yaml"), CI, PUT, "lake/registry.yaml", set()),
    ({"ArtifactPrefix": "spark/"}, CURATE, PUT, "spark/job.py", {FUNCTIONS_NEVER, CURATE_ONLY}),
    (dict(WRITERS_CI, ArtifactPrefix="spark/"), ANALYST, PUT, "spark/job.py", {ONLY_WRITERS}),
    (dict(WRITERS_CI, ArtifactPrefix="spark/"), ANALYST, PUT, ENTRY_POINT, set()),
    # --- RawWriterArns: the producers alone write raw/
    (RAW_PRODUCER, PRODUCER, PUT, RAW, set()),
    (RAW_PRODUCER, ANALYST, PUT, RAW, {ONLY_RAW}),
    (RAW_PRODUCER, CI, PUT, RAW, {ONLY_RAW}),
    (RAW_PRODUCER, VALIDATE, TAG, RAW, set()),
    (RAW_PRODUCER, VALIDATE, DELETE, RAW, set()),
    (RAW_PRODUCER, PRODUCER, PUT, CURATED, {ONLY_CURATED}),
    ({"RawWriterArns": f"arn:aws:iam::{ACCOUNT}:root"}, ANALYST, PUT, RAW, set()),
    # --- job roles: write and delete curated/, never the registry or artifacts
    (EMR_ROLES, EMR, PUT, CURATED, set()),
    (EMR_ROLES, EMR2, DELETE, CURATED, set()),
    (EMR_ROLES, GLUE, PUT, CURATED, {ONLY_CURATED}),
    (EMR_ROLES, EMR, PUT, ENTRY_POINT, {EMR_NEVER}),
    (EMR_ROLES, EMR2, PUT, REGISTRY, {EMR_NEVER}),
    (EMR_ROLES, EMR, PUT, QUARANTINED, {ONLY_QUARANTINE}),
    (EMR_ROLES, ANALYST, PUT, CURATED, {ONLY_CURATED}),
    # ... and _lakeline/: the Spark jobs' staging
    (EMR_ROLES, EMR, PUT, STAGING, set()),
    (EMR_ROLES, EMR2, DELETE, STAGING, set()),
    (EMR_ROLES, GLUE, PUT, STAGING, {ONLY_LAKELINE_DIR}),
    (EMR_ROLES, COMPACT, PUT, STAGING, {COMPACT_ONLY}),
    (EMR_ROLES, EMR, PUT, REWRITE_OUT, set()),  # an EMR Serverless rewrite's output
    (EMR_ROLES, EMR2, GET, REWRITE_PLAN, set()),
    (EMR_ROLES, ANALYST, PUT, MANIFEST, {ONLY_LAKELINE_DIR}),
    (GLUE_ROLES, GLUE, PUT, STAGING, set()),
    (GLUE_ROLES, GLUE, DELETE_VERSION, STAGING, set()),
    (GLUE_ROLES, EMR, DELETE, MANIFEST, {ONLY_LAKELINE_DIR}),
    (GLUE_ROLES, GLUE, DELETE_VERSION, CURATED, set()),
    (GLUE_ROLES, EMR, PUT, CURATED, {ONLY_CURATED}),
    (GLUE_ROLES, GLUE, DELETE, ENTRY_POINT, {GLUE_NEVER}),
    (JOB_ROLES, EMR, PUT, CURATED, set()),
    (JOB_ROLES, GLUE, DELETE, CURATED, set()),
    (JOB_ROLES, CURATE, PUT, CURATED, set()),
    (JOB_ROLES, ANALYST, PUT, CURATED, {ONLY_CURATED}),
    (JOB_ROLES, GLUE, PUT, REGISTRY, {GLUE_NEVER}),
    (JOB_ROLES, COMPACT, PUT, COMPACTED, {ONLY_CURATED, COMPACT_ONLY}),
    (JOB_ROLES, CHECK, DELETE, CURATED, {ONLY_CURATED, CHECK_ONLY}),
    (JOB_ROLES, COMPACT, DELETE, MANIFEST, {COMPACT_ONLY}),
    (JOB_ROLES, COMPACT, PUT, REWRITE_PLAN, set()),
    (JOB_ROLES, GLUE_COMPACT, PUT, CURATED, {ONLY_CURATED, GLUE_COMPACT_ONLY}),
    (JOB_ROLES, EMR, PUT, STAGING, set()),
    (JOB_ROLES, GLUE, PUT, STAGING, set()),
    (JOB_ROLES, CURATE, PUT, MANIFEST, {CURATE_ONLY}),
    (JOB_ROLES, ANALYST, DELETE, STAGING, {ONLY_LAKELINE_DIR}),
    (JOB_ROLES, EMR, PUT, UNCLAIMED, {ONLY_UNCLAIMED}),  # the jobs' part is their staging
    (JOB_ROLES, GLUE, DELETE_VERSION, UNCLAIMED, {ONLY_UNCLAIMED}),
    (JOB_ROLES, VALIDATE, PUT, UNCLAIMED, set()),
    (JOB_ROLES, VALIDATE, PUT, STAGING, {VALIDATE_ONLY}),
    (dict(JOB_ROLES, **WRITERS_CI), EMR, PUT, REGISTRY, {ONLY_WRITERS, EMR_NEVER}),
    # --- custom prefixes follow their parameters
    ({"CuratedPrefix": "gold/"}, ANALYST, PUT, "gold/x.parquet", {ONLY_CURATED}),
    ({"CuratedPrefix": "gold/"}, ANALYST, PUT, CURATED, set()),
    ({"CuratedPrefix": "gold/"}, COMPACT, PUT, "gold/sales/dt=2026-11-30/compacted-5c1f0e2b9a7d3c48.parquet",
     {ONLY_CURATED, COMPACT_ONLY}),
    ({"CuratedPrefix": "gold/"}, COMPACT, PUT, REWRITE_PLAN, set()),  # _lakeline/ is fixed
    ({"CuratedPrefix": "gold/"}, CURATE, PUT, "gold/sales/dt=2026-11-30/sales-1a2b.parquet", set()),
    ({"CuratedPrefix": "gold/"}, ANALYST, PUT, MANIFEST, {ONLY_LAKELINE_DIR}),  # _lakeline/ is fixed
    ({"QuarantinePrefix": "rejected/"}, ANALYST, DELETE, "rejected/x.csv", {ONLY_DELETE_UPLOADS}),
    ({"QuarantinePrefix": "rejected/"}, ANALYST, PUT, "rejected/x.csv", {ONLY_QUARANTINE}),
    (dict(ERASERS, QuarantinePrefix="rejected/"), ERASER, DELETE, "rejected/x.csv", set()),
    ({"QuarantinePrefix": "rejected/"}, VALIDATE, PUT, "rejected/raw/sales/x.csv", set()),
    ({"QuarantinePrefix": "rejected/"}, VALIDATE, PUT, QUARANTINED, {VALIDATE_ONLY}),
    ({"CuratedPrefix": "gold/"}, VALIDATE, PUT, UNCLAIMED, set()),  # _lakeline/ is fixed
    # --- a Glue-catalog stack's tables/ with named registry writers: curate and compact (the
    # commits), the registry writers, the erasers and, with GlueTableMaintenance
    # glue-optimizers, Glue's optimizers' role; nobody else
    (dict(GLUE_TABLES, **WRITERS_CI), CI, PUT, TABLE_FILE, set()),
    (dict(GLUE_TABLES, **WRITERS_CI), CURATE, PUT, TABLE_FILE, set()),
    (dict(GLUE_TABLES, **WRITERS_CI), COMPACT, DELETE, TABLE_FILE, set()),
    (dict(GLUE_TABLES, **WRITERS_CI, **ERASERS), ERASER, PUT, TABLE_FILE, set()),
    (dict(GLUE_TABLES, **WRITERS_CI), ERASER, PUT, TABLE_FILE, {ONLY_GLUE_TABLES}),  # not named in EraserArns
    (dict(GLUE_TABLES, **WRITERS_CI), ANALYST, PUT, TABLE_FILE, {ONLY_GLUE_TABLES}),
    (dict(GLUE_TABLES, **WRITERS_CI), ADMIN, DELETE_VERSION, TABLE_FILE, {ONLY_GLUE_TABLES}),
    (dict(GLUE_TABLES, **WRITERS_CI), GLUE_COMPACT, PUT, TABLE_FILE, {ONLY_GLUE_TABLES, GLUE_COMPACT_ONLY}),
    (dict(GLUE_TABLES, **WRITERS_CI), ANALYST, GET, TABLE_FILE, set()),
    # a principal of the optimizers' role name on a stack without the option is nobody special
    (dict(GLUE_TABLES, **WRITERS_CI), OPTIMIZER, PUT, TABLE_FILE, {ONLY_GLUE_TABLES}),
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), OPTIMIZER, PUT, TABLE_FILE, set()),  # the expiry's new metadata
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), OPTIMIZER, DELETE, TABLE_FILE, set()),  # expired and orphan files
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), OPTIMIZER, GET, TABLE_FILE, set()),
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), COMPACT, PUT, TABLE_FILE, set()),
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), CI, DELETE, TABLE_FILE, set()),
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), ANALYST, PUT, TABLE_FILE, {ONLY_GLUE_TABLES}),
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), ANALYST, DELETE, TABLE_FILE, {ONLY_GLUE_TABLES}),
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), GLUE_COMPACT, PUT, TABLE_FILE, {ONLY_GLUE_TABLES, GLUE_COMPACT_ONLY}),
    # ... and the optimizers' role is exempt nowhere else: never the registry or artifacts,
    # curated/, _lakeline/, the uploads
    (dict(GLUE_OPTIMIZERS, **WRITERS_CI), OPTIMIZER, PUT, REGISTRY, {ONLY_WRITERS, FUNCTIONS_NEVER}),
    (GLUE_OPTIMIZERS, OPTIMIZER, PUT, ENTRY_POINT, {FUNCTIONS_NEVER}),
    (GLUE_OPTIMIZERS, OPTIMIZER, DELETE, REGISTRY_VERSION, {FUNCTIONS_NEVER}),
    (GLUE_OPTIMIZERS, OPTIMIZER, PUT, CURATED, {ONLY_CURATED}),
    (GLUE_OPTIMIZERS, OPTIMIZER, DELETE, STAGING, {ONLY_LAKELINE_DIR}),
    (GLUE_OPTIMIZERS, OPTIMIZER, PUT, UNCLAIMED, {ONLY_LAKELINE_DIR, ONLY_UNCLAIMED}),
    (GLUE_OPTIMIZERS, OPTIMIZER, DELETE, RAW, {ONLY_DELETE_UPLOADS}),
    (GLUE_OPTIMIZERS, OPTIMIZER, PUT, QUARANTINED, {ONLY_QUARANTINE}),
    # without named registry writers IAM decides (the role's IAM grants tables/*)
    (GLUE_OPTIMIZERS, OPTIMIZER, DELETE, TABLE_FILE, set()),
    (GLUE_OPTIMIZERS, ANALYST, DELETE, TABLE_FILE, set()),
]


def case_id(case):
    params, principal, action, key = case[:4]
    who = principal.rsplit("/", 1)[-1].replace(f"{STACK}-", "")
    conf = ",".join(f"{k}" for k in sorted(params)) or "defaults"
    return f"{conf}:{who}:{action.split(':')[1]}:{key}{':http' if len(case) > 5 else ''}"


@pytest.mark.parametrize("mode", ["created", "existing"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_who_writes_what(deploy, case, mode):
    params, principal, action, key, want = case[:5]
    secure = case[5] if len(case) > 5 else True
    if mode == "existing":
        params = dict(params, ExistingBucketName=EXISTING)
    stack = deploy(params)
    assert denied_by(stack, principal, action, key, secure) == want


SSE_C_HEADERS = {"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"}


@pytest.mark.parametrize("mode", [{}, {"ExistingBucketName": EXISTING}], ids=["created", "existing"])
def test_an_erasure_record_is_written_once_by_an_eraser(deploy, mode):
    """`lakeline table erase --include-raw` writes its audit record with If-None-Match: allowed
    for an eraser, for nobody else, and never as an overwrite."""
    once = {"s3:if-none-match": "*"}
    stack = deploy(dict(ERASERS, **mode))
    assert denied_by(stack, ERASER, PUT, RECORD, extra=once) == set()
    assert denied_by(stack, ANALYST, PUT, RECORD, extra=once) == {ONLY_ERASERS_RECORD}
    assert denied_by(stack, VALIDATE, PUT, RECORD, extra=once) == {ONLY_ERASERS_RECORD, VALIDATE_ONLY}
    assert denied_by(deploy(mode), ERASER, PUT, RECORD, extra=once) == {ONLY_ERASERS_RECORD}


@pytest.mark.parametrize("key", [RAW, CURATED, QUARANTINED])
def test_sse_c_uploads_are_denied_for_everyone(deploy, key):
    """An SSE-C object could be neither validated nor quarantined (S3 keeps no key): the upload
    is refused, whoever sends it; the same PUT without SSE-C headers is not refused for that."""
    stack = deploy({})
    for who in (PRODUCER, VALIDATE, CI):
        assert SSE_C in denied_by(stack, who, PUT, key, extra=SSE_C_HEADERS)
        assert SSE_C not in denied_by(stack, who, PUT, key)
    assert SSE_C not in denied_by(stack, PRODUCER, GET, key, extra=SSE_C_HEADERS)


def test_every_policy_statement_is_exercised(deploy):
    """Each statement any configuration of CASES produces denies at least one case (SSE-C: the
    test above), and the statements of a configuration are exactly those its parameters ask for."""
    seen = {SSE_C}
    for case in CASES:
        seen |= case[4]
    produced = set()
    for params in {tuple(sorted(c[0].items())) for c in CASES}:
        produced |= {st["Sid"] for st in policy_statements(deploy(dict(params)))}
    assert produced == seen == {
        TLS, ONLY_WRITERS, FUNCTIONS_NEVER, EMR_NEVER, GLUE_NEVER, ONLY_RAW, ONLY_CURATED, ONLY_QUARANTINE,
        ONLY_LAKELINE_DIR, ONLY_UNCLAIMED, ONLY_PENDING, VALIDATE_ONLY, SSE_C, START_JOB_ONLY, CHECK_ONLY,
        COMPACT_ONLY, CURATE_ONLY, GLUE_COMPACT_ONLY, ONLY_DELETE_UPLOADS, ONLY_ERASERS_RECORD, RECORD_ONCE, RECORD_KEPT,
        ONLY_GLUE_TABLES,
    }

    def sids(**params):
        return {st["Sid"] for st in policy_statements(deploy(params))}

    base = {TLS, FUNCTIONS_NEVER, ONLY_CURATED, ONLY_QUARANTINE, ONLY_LAKELINE_DIR, ONLY_UNCLAIMED, ONLY_PENDING,
            VALIDATE_ONLY, SSE_C,
            START_JOB_ONLY, CHECK_ONLY, COMPACT_ONLY, CURATE_ONLY, GLUE_COMPACT_ONLY, ONLY_DELETE_UPLOADS,
            ONLY_ERASERS_RECORD, RECORD_ONCE, RECORD_KEPT}
    assert sids() == base
    assert sids(**GLUE_TABLES) == base
    assert sids(**GLUE_OPTIMIZERS) == base
    assert sids(**GLUE_TABLES, **WRITERS_CI) == base | {ONLY_WRITERS, ONLY_GLUE_TABLES}
    assert sids(**GLUE_OPTIMIZERS, **WRITERS_CI) == base | {ONLY_WRITERS, ONLY_GLUE_TABLES}
    assert sids(**ERASERS) == base
    assert sids(**WRITERS_CI) == base | {ONLY_WRITERS}
    assert sids(**WRITERS_ROOT) == base
    assert sids(**RAW_PRODUCER) == base | {ONLY_RAW}
    assert sids(**EMR_ROLES) == base | {EMR_NEVER}
    assert sids(**JOB_ROLES) == base | {EMR_NEVER, GLUE_NEVER}


@pytest.mark.parametrize("params", [{}, dict(JOB_ROLES, **WRITERS_CI, **RAW_PRODUCER),
                                    dict(JOB_ROLES, **WRITERS_CI, **RAW_PRODUCER, **ERASERS, **GLUE_OPTIMIZERS)],
                         ids=["defaults", "all", "all-glue-optimizers"])
def test_policy_statements_are_denials_of_the_lake_only(deploy, params):
    """The bucket policy grants nothing (IAM does): every statement is a Deny for any principal,
    on the lake bucket's own ARNs, conditioned on who calls (or TLS), never on anything a caller
    can set."""
    for mode in ({}, {"ExistingBucketName": EXISTING}):
        stack = deploy(dict(params, **mode))
        bucket = stack.outputs["LakeBucketName"]["Value"]
        for st in policy_statements(stack):
            assert st["Effect"] == "Deny" and st["Principal"] == "*", st["Sid"]
            for r in as_list(st.get("Resource", st.get("NotResource"))):
                assert r == f"arn:aws:s3:::{bucket}" or r.startswith(f"arn:aws:s3:::{bucket}/"), r
            cond = st.get("Condition", {})  # none: denied to everyone (erasure records are kept)
            keys = {k for op in cond.values() for k in op}
            # SSE-C: a request header the policy looks at (DenySseCUploads); If-None-Match: the
            # other, and only its absence is denied (ErasureRecordsAreWrittenOnce), so setting
            # it can only make a write safer.
            assert keys <= {"aws:PrincipalArn", "aws:SecureTransport", "s3:x-amz-server-side-encryption-customer-algorithm",
                            "s3:if-none-match"}, st["Sid"]
            if "s3:if-none-match" in keys:
                assert cond == {"Null": {"s3:if-none-match": "true"}}, st["Sid"]
        # S3's limit on a bucket policy is 20 KB; the margin is for long role ARNs (a deployed
        # role's name has CloudFormation's random suffix, and the parameters may name many).
        assert len(json.dumps(stack.resources["LakeBucketPolicy"]["Properties"]["PolicyDocument"])) < 12 * 1024


def exempt_from(stack, sid):
    (st,) = [s for s in policy_statements(stack) if s["Sid"] == sid]
    assert set(as_list(st["Action"])) == {PUT, DELETE, DELETE_VERSION}
    return {v for op in st["Condition"].values() for v in as_list(op["aws:PrincipalArn"])}


def test_curated_writers_are_exactly_lakeline(deploy):
    """curated/: curate, the stack's curate Glue job and the job roles the parameters name,
    nobody else; not check-compaction, compact or the stack's compact Glue job, whose
    compactions rewrite the tables."""
    assert exempt_from(deploy(JOB_ROLES), ONLY_CURATED) == {CURATE, GLUE_CURATE, EMR, EMR2, GLUE}
    assert exempt_from(deploy(), ONLY_CURATED) == {CURATE, GLUE_CURATE}


def statement(stack, sid):
    (st,) = [s for s in policy_statements(stack) if s["Sid"] == sid]
    return st


@pytest.mark.parametrize("mode", [{}, {"ExistingBucketName": EXISTING}], ids=["created", "existing"])
def test_lakeline_dir_writers_are_exactly_lakeline(deploy, mode):
    """_lakeline/ (Spark staging, Spark rewrites' plans and outputs, Spark batches, registry
    snapshots, delivery and unclaimed-upload markers, group commits' pending deliveries): the
    stack's Glue jobs and the job roles the parameters name (the Spark jobs stage and write
    rewrites there), start-job (the batches, the registry snapshots), check-compaction (the
    delivery markers), compact (the rewrite plans), curate (the pending deliveries) and
    validate-upload (its markers), nobody else; on the whole of _lakeline/ of the lake bucket,
    whatever CuratedPrefix is. _lakeline/unclaimed/ is validate-upload's alone, and
    _lakeline/pending/ curate's alone (the job roles' exemption is for their staging)."""
    stack = deploy(dict(JOB_ROLES, **mode))
    lake = f"arn:aws:s3:::{stack.outputs['LakeBucketName']['Value']}"
    assert exempt_from(stack, ONLY_LAKELINE_DIR) == {VALIDATE, CURATE, START_JOB, CHECK, COMPACT, *STACK_JOB_ROLES,
                                                     EMR, EMR2, GLUE}
    assert exempt_from(deploy(mode), ONLY_LAKELINE_DIR) == {VALIDATE, CURATE, START_JOB, CHECK, COMPACT,
                                                            *STACK_JOB_ROLES}
    # start-job's exemption is for the Spark batches and the registry snapshots only
    # (StartJobWritesOnlyBatches), check-compaction's for the delivery markers only
    # (CheckCompactionWritesOnlyMarkers: no partition marker under CuratedPrefix any more),
    # compact's for the rewrite plans only (and a Glue-catalog stack's tables/), curate's for
    # the pending deliveries only (and CuratedPrefix, and a Glue-catalog stack's tables/), the
    # compact job's for the rewrites' folder only
    assert statement(stack, START_JOB_ONLY)["NotResource"] == [f"{lake}/_lakeline/batches/*", f"{lake}/_lakeline/registry/*"]
    assert statement(stack, CHECK_ONLY)["NotResource"] == [f"{lake}/_lakeline/sla/*"]
    assert statement(stack, CHECK_ONLY)["Condition"] == {"ArnLike": {"aws:PrincipalArn": CHECK}}
    for sid, principal in ((COMPACT_ONLY, COMPACT), (GLUE_COMPACT_ONLY, GLUE_COMPACT)):
        st = statement(stack, sid)
        assert set(as_list(st["Action"])) == {PUT, DELETE, DELETE_VERSION} and "Resource" not in st
        assert as_list(st["NotResource"]) == [f"{lake}/_lakeline/staging/rewrite/*"], sid
        assert st["Condition"] == {"ArnLike": {"aws:PrincipalArn": principal}}, sid
    st = statement(stack, CURATE_ONLY)
    assert set(as_list(st["Action"])) == {PUT, DELETE, DELETE_VERSION} and "Resource" not in st
    assert st["NotResource"] == [f"{lake}/curated/*", f"{lake}/_lakeline/pending/*"]
    assert st["Condition"] == {"ArnLike": {"aws:PrincipalArn": CURATE}}
    assert statement(deploy(dict(mode, CuratedPrefix="gold/")), CURATE_ONLY)["NotResource"] == [
        f"{lake}/gold/*", f"{lake}/_lakeline/pending/*"]
    glue = deploy(dict(mode, **GLUE_TABLES))
    assert statement(glue, COMPACT_ONLY)["NotResource"] == [f"{lake}/_lakeline/staging/rewrite/*", f"{lake}/tables/*"]
    assert statement(glue, CURATE_ONLY)["NotResource"] == [f"{lake}/curated/*", f"{lake}/_lakeline/pending/*",
                                                           f"{lake}/tables/*"]
    assert as_list(statement(glue, GLUE_COMPACT_ONLY)["NotResource"]) == [f"{lake}/_lakeline/staging/rewrite/*"]
    st = statement(deploy(dict(mode, CuratedPrefix="gold/")), ONLY_LAKELINE_DIR)
    assert st["Resource"] == f"{lake}/_lakeline/*"
    assert exempt_from(stack, ONLY_UNCLAIMED) == {VALIDATE}
    assert statement(stack, ONLY_UNCLAIMED)["Resource"] == f"{lake}/_lakeline/unclaimed/*"
    for params in (dict(JOB_ROLES, **mode), dict(mode, CuratedPrefix="gold/"), dict(mode, **GLUE_TABLES)):
        st = statement(deploy(params), ONLY_PENDING)
        assert exempt_from(deploy(params), ONLY_PENDING) == {CURATE}
        assert st["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": CURATE}}
        assert st["Resource"] == f"{lake}/_lakeline/pending/*"


@pytest.mark.parametrize("mode", [{}, {"ExistingBucketName": EXISTING}], ids=["created", "existing"])
def test_validate_upload_writes_only_its_own_prefixes(deploy, mode):
    """The exemption of validate-upload from the _lakeline/ rule reaches no further than its
    markers: a statement for validate-upload alone denies its writes and deletes anywhere but
    raw/, QuarantinePrefix and _lakeline/unclaimed/ (NotResource: a key pattern cannot say
    "_lakeline/ except unclaimed/")."""
    for extra, quarantine in (({}, "quarantine/"), ({"QuarantinePrefix": "rejected/"}, "rejected/")):
        stack = deploy(dict(mode, **extra))
        lake = f"arn:aws:s3:::{stack.outputs['LakeBucketName']['Value']}"
        st = statement(stack, VALIDATE_ONLY)
        assert set(as_list(st["Action"])) == {PUT, DELETE, DELETE_VERSION}
        assert "Resource" not in st
        assert st["NotResource"] == [f"{lake}/raw/*", f"{lake}/{quarantine}*", f"{lake}/_lakeline/unclaimed/*"]
        assert st["Condition"] == {"ArnLike": {"aws:PrincipalArn": VALIDATE}}


def iam_object_grants(stack, role_logical):
    """(action, resource pattern) of a role's S3 object grants (resources with a key part)."""
    return [
        (a, r)
        for p in stack.resources[role_logical]["Properties"].get("Policies", [])
        for st in as_list(p["PolicyDocument"]["Statement"]) if st.get("Effect") == "Allow"
        for a in as_list(st["Action"]) if a.startswith("s3:")
        for r in as_list(st["Resource"]) if isinstance(r, str) and r.startswith("arn:aws:s3:::") and "/" in r
    ]


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": EXISTING}, dict(JOB_ROLES, **WRITERS_CI, **RAW_PRODUCER),
                                    {"CuratedPrefix": "gold/", "QuarantinePrefix": "rejected/"},
                                    dict(WRITERS_CI, TablesCatalog="glue"), dict(WRITERS_CI, **ERASERS, **GLUE_OPTIMIZERS),
                                    dict(GLUE_OPTIMIZERS, ExistingBucketName=EXISTING)],
                         ids=["created", "existing", "all", "prefixes", "glue-tables", "glue-optimizers",
                              "glue-optimizers-existing"])
def test_bucket_policy_never_denies_what_iam_grants(deploy, params):
    """Every S3 object action a function's or a stack job's role's IAM grants, on a key its
    pattern matches (each * made a segment), passes the bucket policy: the two never disagree
    about a role of the stack (Glue's optimizers' role included, when the stack has it)."""
    stack = deploy(params)
    bucket = stack.outputs["LakeBucketName"]["Value"]
    checked = 0
    optimizer = ("GlueTableOptimizerRole",) if "GlueTableOptimizerRole" in stack.resources else ()
    assert bool(optimizer) == (params.get("GlueTableMaintenance") == "glue-optimizers")
    for logical in ("ValidateUploadFunctionRole", "CurateFunctionRole", "StartJobFunctionRole",
                    "CheckCompactionFunctionRole", "CompactFunctionRole", "NotifyFailureFunctionRole",
                    "GlueCurateJobRole", "GlueCompactJobRole", *optimizer):
        for action, pattern in iam_object_grants(stack, logical):
            key = pattern.split(":::", 1)[1].split("/", 1)[1].replace("*", "x/y")
            assert denied_by(stack, stack_role(logical), action, key, bucket=bucket) == set(), (logical, action, key)
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("params, optimizer", [({}, []), (GLUE_OPTIMIZERS, [OPTIMIZER])],
                         ids=["defaults", "glue-optimizers"])
def test_function_roles_never_write_the_registry(deploy, params, optimizer):
    """Every function role of the stack, compact's included, the stack's Glue job roles (they
    run the entry points) and, with GlueTableMaintenance glue-optimizers, the role of Glue's
    table optimizers are in the never-the-registry list: every role of the stack that may
    write the lake."""
    stack = deploy(params)
    (st,) = [s for s in policy_statements(stack) if s["Sid"] == FUNCTIONS_NEVER]
    listed = set(as_list(st["Condition"]["ArnLike"]["aws:PrincipalArn"]))

    def assumed_by(service):
        return {stack_role(k) for k in stack.of_type("AWS::IAM::Role")
                if stack.resources[k]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
                == {"Service": [service]}}

    assert assumed_by("lambda.amazonaws.com") == set(FUNCTION_ROLES)
    assert assumed_by("glue.amazonaws.com") == set(STACK_JOB_ROLES) | set(optimizer)
    assert listed == set(FUNCTION_ROLES) | set(STACK_JOB_ROLES) | set(optimizer)


# ------------------------------------------------------------------ the data outlives the stack


@pytest.mark.parametrize("name", ["LakeBucket", "LakelineKey"])
def test_lake_and_key_are_retained(expanded, name):
    """`sam delete`, and a replacement (a new LakeName), leave the bucket and the key."""
    res = expanded["Resources"][name]
    assert res["DeletionPolicy"] == "Retain"
    assert res["UpdateReplacePolicy"] == "Retain"


def test_created_bucket_mode(deploy):
    stack = deploy()
    buckets = stack.of_type("AWS::S3::Bucket")
    assert set(buckets) == {"LakeBucket"}
    assert stack.outputs["LakeBucketName"]["Value"] == CREATED
    fn_arn = stack.outputs["ValidateUploadFunctionArn"]["Value"]
    (cfg,) = buckets["LakeBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert cfg == {
        "Event": "s3:ObjectCreated:*",
        "Function": fn_arn,
        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "raw/"}]}},
    }
    perm = stack.resources["ValidateUploadFunctionRawObjectCreatedPermission"]["Properties"]
    assert perm["SourceArn"] == f"arn:aws:s3:::{CREATED}"
    assert stack.resources["LakeBucketPolicy"]["Properties"]["Bucket"] == CREATED
    assert "ExistingBucketNotificationCommand" not in stack.outputs
    # ManageExistingBucketPolicy concerns an existing bucket only.
    assert "LakeBucketPolicy" in deploy(ManageExistingBucketPolicy="false").resources


def test_existing_bucket_mode(deploy):
    """No bucket; functions, IAM, the permission and the bucket policy name the existing bucket
    and nothing else; the manual step is printed."""
    stack = deploy(ExistingBucketName=EXISTING)
    assert not stack.of_type("AWS::S3::Bucket")
    text = json.dumps([stack.resources, stack.outputs])
    assert CREATED not in text and "lakeline-123456789012" not in text
    assert stack.outputs["LakeBucketName"]["Value"] == EXISTING
    assert stack.outputs["RegistryUri"]["Value"] == f"s3://{EXISTING}/config/datasets.yaml"
    assert stack.outputs["ArtifactUri"]["Value"] == f"s3://{EXISTING}/artifacts/"
    perm = stack.resources["ValidateUploadFunctionRawObjectCreatedPermission"]["Properties"]
    assert perm == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": f"{STACK}-ValidateUploadFunction",
        "Principal": "s3.amazonaws.com",
        "SourceAccount": ACCOUNT,
        "SourceArn": f"arn:aws:s3:::{EXISTING}",
    }
    assert stack.resources["LakeBucketPolicy"]["Properties"]["Bucket"] == EXISTING
    s3_arns = {
        r for k, res in stack.of_type("AWS::IAM::Role").items()
        for p in res["Properties"].get("Policies", []) for st in as_list(p["PolicyDocument"]["Statement"])
        for r in as_list(st.get("Resource", [])) if isinstance(r, str) and r.startswith("arn:aws:s3:::")
    }
    # ... but the Glue jobs' packaged scripts, which `sam deploy` puts into its own bucket
    package = f"arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-*/{STACK}/*"
    assert package in s3_arns
    assert all(r.split(":::")[1].split("/")[0] == EXISTING for r in s3_arns - {package})


def test_existing_bucket_policy_can_be_left_alone(deploy):
    stack = deploy(ExistingBucketName=EXISTING, ManageExistingBucketPolicy="false")
    assert "LakeBucketPolicy" not in stack.resources
    assert "ValidateUploadFunctionRawObjectCreatedPermission" in stack.resources


def test_manual_notification_command(deploy):
    """The output is one aws CLI command that puts the same notification the created bucket gets
    (ObjectCreated under raw/ to validate-upload), on the existing bucket."""
    stack = deploy(ExistingBucketName=EXISTING)
    argv = shlex.split(stack.outputs["ExistingBucketNotificationCommand"]["Value"])
    assert argv[:3] == ["aws", "s3api", "put-bucket-notification-configuration"]
    opts = dict(zip(argv[3::2], argv[4::2]))
    assert set(opts) == {"--bucket", "--notification-configuration"}
    assert opts["--bucket"] == EXISTING
    config = json.loads(opts["--notification-configuration"])
    (entry,) = config["LambdaFunctionConfigurations"]
    assert set(config) == {"LambdaFunctionConfigurations"}
    assert entry["LambdaFunctionArn"] == stack.outputs["ValidateUploadFunctionArn"]["Value"]
    assert entry["Events"] == ["s3:ObjectCreated:*"]
    assert entry["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}}
    created = deploy().resources["LakeBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert [c["Filter"]["S3Key"]["Rules"] for c in created] == [entry["Filter"]["Key"]["FilterRules"]]
    assert [c["Event"] for c in created] == entry["Events"]
    desc = " ".join(stack.t["Outputs"]["ExistingBucketNotificationCommand"]["Description"].split())
    assert "REPLACES the bucket's whole notification configuration" in desc


def dependencies(expanded):
    """logical id -> the logical ids it refers to (Ref, GetAtt, Sub, DependsOn)."""
    names = set(expanded["Resources"])

    def refs(x):
        if isinstance(x, dict):
            out = set()
            for k, v in x.items():
                if k == "Ref" and v in names:
                    out.add(v)
                elif k == "Fn::GetAtt":
                    out.add(v[0] if isinstance(v, list) else v.split(".")[0])
                elif k == "Fn::Sub":
                    text = v if isinstance(v, str) else v[0]
                    out |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)} & names
                    if not isinstance(v, str):
                        out |= refs(v[1])
                else:
                    out |= refs(v)
            return out
        if isinstance(x, list):
            return set().union(*map(refs, x)) if x else set()
        return set()

    return {
        k: refs(r.get("Properties", {})) | set(as_list(r.get("DependsOn", [])))
        for k, r in expanded["Resources"].items()
    }


def test_no_circular_dependency(expanded):
    """bucket -> notification -> function -> role, bucket policy -> roles: no cycle (what cfn-lint
    also checks, kept here next to the bucket policy that could close one)."""
    deps = dependencies(expanded)
    state = {}

    def visit(n, path):
        if state.get(n) == "done":
            return
        assert state.get(n) != "active", " -> ".join(path + [n])
        state[n] = "active"
        for m in deps[n]:
            visit(m, path + [n])
        state[n] = "done"

    for n in deps:
        visit(n, [])
    assert {"LakeBucket", "CurateFunctionRole"} <= deps["LakeBucketPolicy"]
    for name in ["ValidateUploadFunction", "ValidateUploadFunctionRole", "CurateFunctionRole",
                 "ValidateUploadFunctionRawObjectCreatedPermission"]:
        assert "LakeBucket" not in deps[name] and "LakeBucketPolicy" not in deps[name], name


@pytest.mark.parametrize("params, failing", [
    ({}, []),
    ({"RegistryPrefix": "raw/"}, ["RegistryPrefixIsItsOwn"]),
    ({"RegistryPrefix": "artifacts/"}, ["RegistryPrefixIsItsOwn"]),
    ({"ArtifactPrefix": "curated/"}, ["ArtifactPrefixIsItsOwn"]),
    ({"ArtifactPrefix": "quarantine/"}, ["ArtifactPrefixIsItsOwn"]),
    ({"CuratedPrefix": "config/"}, ["RegistryPrefixIsItsOwn"]),
    ({"RegistryPrefix": "_lakeline/"}, ["RegistryPrefixIsItsOwn"]),
    ({"ArtifactPrefix": "_lakeline/"}, ["ArtifactPrefixIsItsOwn"]),
    ({"CuratedPrefix": "_lakeline/"}, ["LakelineDirIsItsOwn"]),
    ({"QuarantinePrefix": "_lakeline/"}, ["LakelineDirIsItsOwn"]),
    ({"RegistryPrefix": "lakeline/registry/", "ArtifactPrefix": "lakeline/artifacts/"}, []),
])
def test_prefixes_with_writer_rules_are_distinct(deploy, params, failing):
    """CloudFormation refuses parameters that would put the registry or the artifacts under a
    prefix with another writer rule (a registry under curated/ is writable by curate)."""
    assert deploy(params).rules_failing() == failing


# ------------------------------------------------------------------ personal data in logs


@pytest.mark.parametrize("sm", ["Pipeline", "MaintenanceStateMachine"])
def test_execution_data_is_off_by_default(template, deploy, sm):
    assert template["Parameters"]["LogExecutionData"]["Default"] == "false"
    logging = deploy().resources[sm]["Properties"]["LoggingConfiguration"]
    assert logging["IncludeExecutionData"] is False
    assert logging["Level"] == "ERROR"
    on = deploy(LogExecutionData="true").resources[sm]["Properties"]["LoggingConfiguration"]
    assert on["IncludeExecutionData"] is True


# ------------------------------------------------------------------ alarms for a shared account

CONFIGURATIONS = [
    {},
    {"BillingAlarmThresholdUsd": "100"},
    {"ExistingBucketName": EXISTING, "CreateEmrApplication": "true"},
    dict(JOB_ROLES, **WRITERS_CI, **RAW_PRODUCER, ValidateReservedConcurrency="20"),
]


@pytest.mark.parametrize("params", CONFIGURATIONS)
def test_every_alarm_has_the_owner_topic(deploy, params):
    """Whatever the parameters, every alarm the stack creates notifies the stack's alert topic
    (its owner), and only it."""
    stack = deploy(params)
    alarms = stack.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 15
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [f"{STACK}-AlertTopic"], name
        assert alarm["Properties"]["AlarmDescription"], name


def insights_alarm(stack, alarm):
    props = stack.resources[alarm]["Properties"]
    (query,) = props["Metrics"]
    assert query["ReturnData"] is True
    assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == [f"{STACK}-AlertTopic"]
    return " ".join(query["Expression"].split()), query["Period"]


def test_registry_rejected_alarm(deploy):
    """RegistryRejected (EMF, namespace lakeline, emitted with whatever dimensions) reaches the
    topic: the query sums every series of the namespace, whatever its dimensions."""
    assert insights_alarm(deploy(), "RegistryRejectedAlarm") == ("SELECT SUM(RegistryRejected) FROM lakeline", 300)


def emf_dimensions(src, metric):
    """The dimensions (name, value expression) of the Emf document that records `metric`."""
    m = re.search(r"Emf::new\(&\[(?P<dims>[^\]]*)\]\)\s*\.metric\(\s*\"%s\"" % metric, src)
    assert m, f"no Emf::new(...).metric(\"{metric}\") in the source"
    return re.findall(r'\(\s*"(\w+)"\s*,\s*([^)]*?)\s*\)', m.group("dims"))


def test_unclaimed_uploads_alarm_matches_the_metric(template, deploy):
    """validate-upload emits UnclaimedUploads with the dimensions Function=validate-upload and
    Prefix=<prefix>: one series per prefix. The alarm sums every series of exactly that
    dimension set (SCHEMA) with Function validate-upload, over the hour, so any prefix, a new
    one included, raises it; the dashboard shows the same series per prefix."""
    src = (ROOT / "functions/validate-upload/src/lib.rs").read_text()
    dims = emf_dimensions(src, "UnclaimedUploads")
    assert [name for name, _ in dims] == ["Function", "Prefix"]
    assert dims[0][1] == '"validate-upload"'
    metrics_src = (ROOT / "shared/core/src/metrics.rs").read_text()
    assert 'NAMESPACE: &str = "lakeline"' in metrics_src
    assert '"Dimensions": [dim_names]' in metrics_src  # one dimension set, no roll-ups
    expression, period = insights_alarm(deploy(), "UnclaimedUploadsAlarm")
    assert expression == (
        'SELECT SUM(UnclaimedUploads) FROM SCHEMA(lakeline, "Function", "Prefix") '
        "WHERE \"Function\" = 'validate-upload'"
    )
    assert period == 3600  # the alert is once per prefix per hour; the alarm counts the hour
    assert "GROUP BY" not in expression  # one series: an alarm needs exactly one
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    assert "SEARCH('{lakeline,Function,Prefix} MetricName=\\\"UnclaimedUploads\\\"', 'Sum', 3600)" in body


# ------------------------------------------------------------------ samconfig.toml environments


def samconfig():
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def overrides(env):
    text = samconfig()[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in shlex.split(text))


def check_value(decl, name, value):
    if "AllowedValues" in decl:
        assert value in [str(v) for v in decl["AllowedValues"]], (name, value)
    if "AllowedPattern" in decl:
        assert re.fullmatch(decl["AllowedPattern"], value), (name, value)
    if decl["Type"] == "Number":
        n = float(value)
        assert decl.get("MinValue", n) <= n <= decl.get("MaxValue", n), (name, value)


@pytest.mark.parametrize("env, stack_name", [("default", "lakeline"), ("dev", "lakeline-dev"), ("prod", "lakeline-prod")])
def test_samconfig_environment_deploys(template, deploy, env, stack_name):
    """Each environment names its stack, overrides only real parameters with allowed values,
    builds like the default (sequential, cached) and deploys a stack whose rules hold."""
    cfg = samconfig()[env]
    assert cfg["global"]["parameters"]["stack_name"] == stack_name
    assert cfg["build"]["parameters"] == samconfig()["default"]["build"]["parameters"]
    dep = cfg["deploy"]["parameters"]
    assert dep["capabilities"] == "CAPABILITY_IAM" and dep["resolve_s3"] is True
    values = overrides(env)
    for name, value in values.items():
        assert name in template["Parameters"], name
        check_value(template["Parameters"][name], name, value)
    stack = deploy(values)
    assert stack.rules_failing() == []
    assert "BillingAlarm" not in stack.resources  # account-wide: never on by default


def test_samconfig_dev_and_prod_differ_where_they_should():
    dev, prod = overrides("dev"), overrides("prod")
    # Separate buckets, artifacts and stacks from one checkout, even in one account.
    names = {overrides(e)["LakeName"] for e in ("default", "dev", "prod")}
    assert len(names) == 3
    prefixes = {samconfig()[e]["deploy"]["parameters"]["s3_prefix"] for e in ("default", "dev", "prod")}
    assert len(prefixes) == 3
    assert prod["EnableVersioning"] == "true" and dev["EnableVersioning"] == "false"
    assert prod["BillingAlarmThresholdUsd"] == "0"
    assert int(dev["LogRetentionDays"]) < int(prod["LogRetentionDays"])
    assert int(dev["QuarantineExpirationDays"]) < int(prod["QuarantineExpirationDays"])
    assert samconfig()["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert "sync" not in samconfig()["prod"]  # sam sync skips change sets
    assert "LogExecutionData" not in prod  # personal data stays out of prod's logs


PRODUCER_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RAW_READERS = {"ValidateUploadFunctionRole", "CurateFunctionRole", "GlueCurateJobRole"}


@pytest.mark.parametrize("keys", ["", PRODUCER_KEY])
def test_producer_kms_keys_decrypt_for_exactly_the_readers_of_raw(deploy, keys):
    """SSE-KMS uploads under a producer's own key: the roles that read raw/ objects (and copy
    them to quarantine) may decrypt with the keys named in ProducerKmsKeyArns, nobody else, and
    nobody at all without it."""
    stack = deploy(ProducerKmsKeyArns=keys)
    granted = set()
    for name, res in stack.resources.items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for policy in res["Properties"].get("Policies", []):
            for st in as_list(policy["PolicyDocument"]["Statement"]):
                if isinstance(st, dict) and st.get("Sid") == "DecryptProducerUploads":
                    assert st["Action"] == "kms:Decrypt"
                    assert as_list(st["Resource"]) == [PRODUCER_KEY]
                    granted.add(name)
    assert granted == (RAW_READERS if keys else set())
