"""The stack's Spark engine on Glue (issue 14): the curate and compact Glue jobs of template.yaml,
checked on the template, its offline expansion, and `sam package`'s own exporter.

What must hold: the scripts are the files in jobs/ and `sam deploy` packages them; Glue 5.0
(Spark 3.5, what tests/spark runs); workers, timeout and concurrency come from parameters with
pinned defaults; bookmarks are off; logs go to the stack's log groups, with retention; each job
role may do what its script does and nothing more; and what start-job sends (Rust) is what the
scripts read (Python). The compact job is the Spark rewrite of a table partition too large for
one compact invocation (compaction.job): it reads the plan the compact function wrote and the
table's files it names, and writes its output beside the plan under _lakeline/staging/rewrite/;
the compact function commits."""

import ast
import hashlib
import re
import tomllib

import pytest

from expand import ROOT, STACK

JOBS = {
    # logical id: (script, role, the name it has in a stack)
    "CurateGlueJob": ("jobs/curate.py", "GlueCurateJobRole", "curate"),
    "CompactGlueJob": ("jobs/compact.py", "GlueCompactJobRole", "compact"),
}
PACKAGE = f"arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-*/{STACK}/*"


def as_list(x):
    return x if isinstance(x, list) else [x]


def allows(role):
    """(Sid, actions, resources, condition) of a resolved role's Allow statements."""
    out = []
    for p in role["Properties"]["Policies"]:
        for st in as_list(p["PolicyDocument"]["Statement"]):
            assert st["Effect"] == "Allow"
            out.append((st["Sid"], set(as_list(st["Action"])), set(as_list(st["Resource"])), st.get("Condition")))
    return out


def grants(role):
    """{resource: actions} of a resolved role."""
    by = {}
    for _, actions, res, _ in allows(role):
        for r in res:
            by.setdefault(r, set()).update(actions)
    return by


# ------------------------------------------------------------------ the jobs


@pytest.mark.parametrize("job", sorted(JOBS))
def test_job_runs_the_script_from_jobs_on_glue_5(template, job):
    script, role, _ = JOBS[job]
    p = template["Resources"][job]["Properties"]
    assert (ROOT / script).is_file()
    assert p["Command"] == {"Name": "glueetl", "PythonVersion": "3", "ScriptLocation": script}
    assert p["GlueVersion"] == "5.0"  # Spark 3.5.4, Python 3.11, Java 17
    assert p["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert p["ExecutionClass"] == "STANDARD"
    assert p["MaxRetries"] == 0  # the state machine retries, knowing the run key
    assert p["JobRunQueuingEnabled"] is True  # account quotas: WAITING, not FAILED


def test_tests_run_the_spark_glue_runs():
    """tests/spark pins PySpark 3.5, the Spark of Glue 5.0 (and of EMR 7.x)."""
    pins = (ROOT / "tools/requirements-spark.txt").read_text()
    assert re.search(r"(?im)^pyspark==3\.5\.\d+", pins), pins


@pytest.mark.parametrize("job", sorted(JOBS))
def test_workers_and_timeout_are_parameters_with_pinned_defaults(template, deploy, job):
    p = template["Resources"][job]["Properties"]
    assert p["WorkerType"] == {"Ref": "GlueWorkerType"}
    assert p["NumberOfWorkers"] == {"Ref": "GlueNumberOfWorkers"}
    assert p["Timeout"] == {"Ref": "GlueTimeoutMinutes"}
    params = template["Parameters"]
    assert params["GlueWorkerType"]["Default"] == "G.1X"  # 1 DPU a worker: the README's prices
    assert params["GlueNumberOfWorkers"]["Default"] == 2  # driver + one executor, Glue's minimum
    assert params["GlueNumberOfWorkers"]["MinValue"] == 2
    assert 0 < params["GlueTimeoutMinutes"]["Default"] <= 180  # not Glue's 48 hours
    stack = deploy(GlueWorkerType="G.2X", GlueNumberOfWorkers="10", GlueTimeoutMinutes="30")
    r = stack.resources[job]["Properties"]
    assert (r["WorkerType"], r["NumberOfWorkers"], r["Timeout"]) == ("G.2X", "10", "30")


def test_concurrency_is_sized_for_bursts(template, deploy):
    """Glue's default MaxConcurrentRuns (1) fails the second large file of a burst: curate's is
    a parameter (20 by default); compact's follows the maintenance Map's concurrency, which is
    the most rewrites a sweep runs at once."""
    assert template["Resources"]["CurateGlueJob"]["Properties"]["ExecutionProperty"] == {
        "MaxConcurrentRuns": {"Ref": "GlueCurateMaxConcurrentRuns"}}
    assert template["Resources"]["CompactGlueJob"]["Properties"]["ExecutionProperty"] == {
        "MaxConcurrentRuns": {"Ref": "CompactConcurrency"}}
    desc = " ".join(template["Parameters"]["CompactConcurrency"]["Description"].split())
    assert "compact invocations or Spark rewrite runs at once" in desc and "<stack>-compact" in desc
    p = template["Parameters"]["GlueCurateMaxConcurrentRuns"]
    assert p["Default"] >= 10 and p["MinValue"] == 1
    desc = " ".join(p["Description"].split())
    assert "Lakeline.JobRetryable" in desc and "$17.60 an hour" in desc
    # the cost bound the description states, from the defaults
    workers = template["Parameters"]["GlueNumberOfWorkers"]["Default"]
    assert f"${p['Default'] * workers * 0.44:.2f} an hour" in desc
    stack = deploy(GlueCurateMaxConcurrentRuns="50", CompactConcurrency="8")
    assert stack.resources["CurateGlueJob"]["Properties"]["ExecutionProperty"] == {"MaxConcurrentRuns": "50"}
    assert stack.resources["CompactGlueJob"]["Properties"]["ExecutionProperty"] == {"MaxConcurrentRuns": "8"}


def test_start_job_retries_concurrency_refusals():
    """What makes a burst queue instead of fail: ConcurrentRunsExceededException is
    Lakeline.JobRetryable (Rust), and the pipeline retries that with backoff; so does the
    maintenance machine's start of a Spark rewrite (an overlapping sweep meets the compact job's
    MaxConcurrentRuns)."""
    import json

    jobs_rs = (ROOT / "shared/core/src/jobs.rs").read_text()
    assert re.search(r'"ConcurrentRunsExceededException"[^=]*=> return JobErrorClass::Retryable', jobs_rs, re.S)
    asl = json.loads((ROOT / "statemachine/pipeline.asl.json").read_text())
    (retry,) = [r for r in asl["States"]["StartJob"]["Retry"] if "Lakeline.JobRetryable" in r["ErrorEquals"]]
    assert retry["MaxAttempts"] >= 5 and retry["BackoffRate"] >= 2
    maintenance = json.loads((ROOT / "statemachine/maintenance.asl.json").read_text())
    (compact,) = [s for s in maintenance["States"].values() if s["Type"] == "Map"]
    start = compact["ItemProcessor"]["States"]["StartSparkRewrite"]
    assert start["Parameters"]["FunctionName"] == "${StartJobFunctionArn}"
    assert start["Parameters"]["Payload"]["action"] == "compact"
    (retry,) = [r for r in start["Retry"] if "Lakeline.JobRetryable" in r["ErrorEquals"]]
    assert retry["MaxAttempts"] >= 5 and retry["BackoffRate"] >= 2


@pytest.mark.parametrize("job", sorted(JOBS))
def test_bookmarks_off_metrics_and_logs(deploy, job):
    stack = deploy()
    args = stack.resources[job]["Properties"]["DefaultArguments"]
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert args["--enable-metrics"] == "true"
    assert args["--enable-continuous-cloudwatch-log"] == "true"
    prefix = args["--custom-logGroup-prefix"]
    assert prefix == f"/aws-glue/lakeline/{STACK}"
    groups = {g["Properties"]["LogGroupName"]: g["Properties"] for g in stack.of_type("AWS::Logs::LogGroup").values()}
    for suffix in ("error", "output"):  # where Glue 5.0 writes with a custom prefix
        g = groups[f"{prefix}/{suffix}"]
        assert g["RetentionInDays"] == "30"  # LogRetentionDays
        assert g["KmsKeyId"] == "<LakelineKey.Arn>"
    assert deploy(LogRetentionDays="7").resources["GlueJobsErrorLogGroup"]["Properties"]["RetentionInDays"] == "7"


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake", "RegistryKey": "config/lake.yaml"}],
                         ids=["created", "existing"])
def test_curate_job_reads_the_registry_the_functions_read(deploy, params):
    stack = deploy(params)
    args = stack.resources["CurateGlueJob"]["Properties"]["DefaultArguments"]
    assert args["--lakeline_registry"] == stack.outputs["RegistryUri"]["Value"]
    env = stack.resources["StartJobFunction"]["Properties"]["Environment"]["Variables"]
    assert args["--lakeline_registry"] == env["LAKELINE_REGISTRY"]


def test_compact_job_reads_no_registry(deploy):
    """A rewrite run is told everything by its plan (the files, the schema with field ids, the
    output folder, the target size): no registry argument, and no grant on the registry."""
    stack = deploy()
    assert "--lakeline_registry" not in stack.resources["CompactGlueJob"]["Properties"]["DefaultArguments"]
    lake = f"arn:aws:s3:::{stack.outputs['LakeBucketName']['Value']}"
    assert not [r for r in grants(stack.resources["GlueCompactJobRole"])
                if r in (lake + "/config/datasets.yaml", lake + "/_lakeline/registry/*")]


def test_job_names_derive_from_the_stack_and_start_job_may_run_them(deploy):
    stack = deploy()
    for job, (_, _, suffix) in JOBS.items():
        name = stack.resources[job]["Properties"]["Name"]
        assert name == f"{STACK}-{suffix}"
    outputs = stack.outputs
    assert outputs["GlueCurateJobName"]["Value"] == f"{STACK}-CurateGlueJob"  # Ref of the job
    assert outputs["GlueCompactJobName"]["Value"] == f"{STACK}-CompactGlueJob"
    (run,) = [st for st in stack.resources["StartJobFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
              if st.get("Sid") == "RunGlueJobs"]
    # whatever GlueJobNamePattern is: the stack's own two jobs, and the pattern's; start (after
    # listing the job's runs for one with the same run key) and status
    assert set(run["Action"]) == {"glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns"}
    assert set(run["Resource"]) == {
        f"arn:aws:glue:us-east-1:123456789012:job/{STACK}-CurateGlueJob",
        f"arn:aws:glue:us-east-1:123456789012:job/{STACK}-CompactGlueJob",
        "arn:aws:glue:us-east-1:123456789012:job/lakeline-*",
    }
    run = deploy(GlueJobNamePattern="acme-spark-*").resources["StartJobFunctionRole"]["Properties"]["Policies"][0]
    (run,) = [st for st in run["PolicyDocument"]["Statement"] if st.get("Sid") == "RunGlueJobs"]
    assert "arn:aws:glue:us-east-1:123456789012:job/acme-spark-*" in run["Resource"]
    assert f"arn:aws:glue:us-east-1:123456789012:job/{STACK}-CompactGlueJob" in run["Resource"]


def test_the_stack_has_exactly_the_two_glue_jobs(template):
    """One Glue job per engine step (curate, a table partition's Spark rewrite), each with a role
    of its own; the functions' roles are SAM's. The one other role the template writes out is
    that of Glue's table optimizers (GlueTableMaintenance glue-optimizers, test_glue_optimizers.py),
    which runs no job."""
    jobs = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Glue::Job"}
    assert jobs == set(JOBS)
    roles = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles == {role for _, role, _ in JOBS.values()} | {"GlueTableOptimizerRole"}


def test_start_job_starts_rewrites_with_the_plan():
    """start-job's `compact` action (functions/start-job/src/compact.rs) starts the dataset's
    compaction.job over the plan compact wrote: on Glue with --lakeline_plan, --lakeline_dataset,
    --lakeline_execution and the run key (after looking for a run with that key among the job's
    runs: glue:GetJobRuns); on EMR Serverless with --plan. The compact job's script reads the
    plan by either name and lets the rest pass (they name the run: its key, its dataset)."""
    src = (ROOT / "functions/start-job/src/compact.rs").read_text()
    assert 'GLUE_PLAN_ARG: &str = "--lakeline_plan"' in src
    assert "find_glue_run(&deps.glue, &job, &key)" in src and ".start_job_run()" in src
    assert "glue_job_name" in src
    glue = {"--lakeline_plan", "--lakeline_dataset", "--lakeline_execution", "--lakeline_run_key"}
    sent = set(re.findall(r'\("(--[a-z_]+)"\.to_string\(\)', src)) | {"--lakeline_plan", "--lakeline_run_key"}
    assert sent == glue
    assert 'vec!["--plan".into(), req.plan.clone()]' in src
    assert re.search(r'GLUE_RUN_KEY_ARG: &str = "--lakeline_run_key"', (ROOT / "shared/core/src/jobs.rs").read_text())
    options = script_options("jobs/compact.py")
    assert {"--lakeline_plan", "--plan"} <= options, options
    # what it does not read, it ignores (Glue adds its own arguments too), never refuses
    assert "parse_known_args(" in (ROOT / "jobs/compact.py").read_text()


# ------------------------------------------------------------------ `sam deploy` packages the scripts


def test_sam_package_uploads_the_scripts(tmp_path):
    """`sam deploy` packages template.yaml with SAM CLI's exporter: run it, offline, on the Glue
    jobs with an uploader that records instead of uploading. Each ScriptLocation becomes the
    s3:// URI of its file, uploaded as is (not zipped), under the deploy's s3_prefix."""
    from samcli.lib.package.artifact_exporter import Template
    from samcli.lib.package.code_signer import CodeSigner
    from samcli.lib.package.packageable_resources import GlueJobCommandScriptLocationResource
    from samcli.lib.package.uploaders import Uploaders

    class Recorder:
        bucket_name, prefix = "pkg-bucket", STACK
        uploaded = {}

        def upload_with_dedup(self, file_name, extension=None, precomputed_md5=None):
            data = open(file_name, "rb").read()
            key = f"{self.prefix}/{hashlib.md5(data).hexdigest()}"
            self.uploaded[key] = (file_name, data)
            return f"s3://{self.bucket_name}/{key}"

    rec = Recorder()
    exported = Template(
        str(ROOT / "template.yaml"), str(ROOT), Uploaders(rec, None), CodeSigner(None, None),
        resources_to_export=frozenset([GlueJobCommandScriptLocationResource]),
    ).export()
    for job, (script, _, _) in JOBS.items():
        uri = exported["Resources"][job]["Properties"]["Command"]["ScriptLocation"]
        m = re.fullmatch(rf"s3://pkg-bucket/({STACK}/[0-9a-f]{{32}})", uri)
        assert m, uri
        file_name, data = rec.uploaded[m.group(1)]
        assert file_name == str(ROOT / script) and data == (ROOT / script).read_bytes()
    # what the job roles may read of the package bucket covers those keys
    assert PACKAGE.endswith(f"/{STACK}/*")


def test_sam_build_keeps_the_script_paths(template):
    """`sam build` writes .aws-sam/build/template.yaml and rewrites the local paths it knows
    (Command.ScriptLocation of AWS::Glue::Job among them) relative to it, so the `sam deploy`
    that follows still finds jobs/*.py."""
    import copy
    import os

    from samcli.commands._utils.template import _update_relative_paths

    built = _update_relative_paths(copy.deepcopy(template), str(ROOT), str(ROOT / ".aws-sam" / "build"))
    for job, (script, _, _) in JOBS.items():
        loc = built["Resources"][job]["Properties"]["Command"]["ScriptLocation"]
        assert os.path.normpath(ROOT / ".aws-sam" / "build" / loc) == str(ROOT / script), loc


def test_samconfig_packages_under_the_stack_name():
    """The job roles may read <package bucket>/<stack name>/*: every environment's s3_prefix is
    its stack name, and resolve_s3 makes the bucket PackageBucketPattern's default matches."""
    conf = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env, sections in conf.items():
        if not isinstance(sections, dict) or "deploy" not in sections:
            continue
        deploy_ = sections["deploy"]["parameters"]
        assert deploy_["s3_prefix"] == sections["global"]["parameters"]["stack_name"], env
        assert deploy_.get("resolve_s3") is True, env


# ------------------------------------------------------------------ least privilege


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake", "CuratedPrefix": "gold/"}],
                         ids=["created", "existing"])
def test_curate_job_role(deploy, params):
    """curate: reads its script, the registry and raw/; stages under _lakeline/staging/; writes
    (and replaces its own stale parts of) curated Parquet; logs to the stack's groups; Glue's
    metrics. Never the manifests, the markers, quarantine/, the registry's writes."""
    stack = deploy(params)
    lake = f"arn:aws:s3:::{stack.outputs['LakeBucketName']['Value']}"
    curated = params.get("CuratedPrefix", "curated/")
    rw = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
    assert grants(stack.resources["GlueCurateJobRole"]) == {
        PACKAGE: {"s3:GetObject"},
        lake + "/config/datasets.yaml": {"s3:GetObject"},
        lake + "/_lakeline/registry/*": {"s3:GetObject"},
        lake: {"s3:ListBucket", "s3:GetBucketLocation"},
        lake + "/raw/*": {"s3:GetObject"},
        lake + "/_lakeline/batches/*/manifest.json": {"s3:GetObject"},
        lake + "/_lakeline/staging/*": rw,
        lake + f"/{curated}*.parquet": rw,
        f"arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/lakeline/{STACK}/*":
            {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
        "*": {"cloudwatch:PutMetricData"},
    }


@pytest.mark.parametrize("params", [{}, {"ExistingBucketName": "acme-data-lake", "CuratedPrefix": "gold/"},
                                    {"TablesCatalog": "glue"}],
                         ids=["created", "existing", "glue-tables"])
def test_compact_job_role(deploy, params):
    """compact (a table partition's Spark rewrite): reads its script; lists the lake (a missing
    object must be a 404: no prefix condition); reads its plan and writes its output (and the
    committer's temporary files, deleted again) under _lakeline/staging/rewrite/; reads the
    table's data files the plan names, S3 Tables' GetTableData or, on a Glue-catalog stack, the
    lake's tables/ (never writes them: compact commits); logs to the stack's groups; Glue's
    metrics. Nothing of curated/, raw/, the registry, the batches or the rest of staging; no
    KMS (the lake and the table bucket are SSE-S3)."""
    stack = deploy(params)
    lake = f"arn:aws:s3:::{stack.outputs['LakeBucketName']['Value']}"
    want = {
        PACKAGE: {"s3:GetObject"},
        lake: {"s3:ListBucket", "s3:GetBucketLocation"},
        lake + "/_lakeline/staging/rewrite/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                                "s3:AbortMultipartUpload"},
        f"arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/lakeline/{STACK}/*":
            {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
        "*": {"cloudwatch:PutMetricData"},
    }
    if params.get("TablesCatalog") == "glue":
        want[lake + "/tables/*"] = {"s3:GetObject"}
    else:
        table_bucket = stack.get_att("TableBucket", "TableBucketARN")
        want[table_bucket + "/table/*"] = {"s3tables:GetTableData"}
    assert grants(stack.resources["GlueCompactJobRole"]) == want
    for sid, _, _, condition in allows(stack.resources["GlueCompactJobRole"]):
        assert condition is None or sid == "PublishJobMetrics", sid  # ListBucket unconditioned: 404s
    assert not any(a.startswith("kms:") for _, actions, _, _ in allows(stack.resources["GlueCompactJobRole"])
                   for a in actions)


def test_the_compact_job_grants_match_the_keys_the_code_uses():
    """The rewrites' folder the role and the bucket policy are scoped to is where compact puts
    the plans (functions/compact/src/spark.rs) and, beside each plan, the folder the run writes
    (RewritePlan::location: <dir>/plan.json beside <dir>/data/)."""
    spark = (ROOT / "functions/compact/src/spark.rs").read_text()
    assert 'REWRITE_PREFIX: &str = "_lakeline/staging/rewrite/"' in spark
    assert 'format!("s3://{}/{REWRITE_PREFIX}{ident}/", req.bucket)' in spark
    plan = (ROOT / "shared/table/src/spark.rs").read_text()
    assert 'format!("{dir}/plan.json")' in plan and 'strip_suffix("/data")' in plan


@pytest.mark.parametrize("role", ["GlueCurateJobRole", "GlueCompactJobRole"])
def test_metrics_grant_is_glues_namespace_only(deploy, role):
    (st,) = [a for a in allows(deploy().resources[role]) if a[0] == "PublishJobMetrics"]
    assert st[1] == {"cloudwatch:PutMetricData"} and st[2] == {"*"}
    assert st[3] == {"StringEquals": {"cloudwatch:namespace": "Glue"}}
    assert "ManagedPolicyArns" not in deploy().resources[role]["Properties"]  # no AWSGlueServiceRole


def test_the_grants_match_the_keys_the_script_uses():
    """The prefixes the role is scoped to are the script's own constants."""
    src = (ROOT / "jobs/curate.py").read_text()
    assert 'LAKELINE_DIR = "_lakeline/"' in src
    assert 'STAGING_PREFIX = LAKELINE_DIR + "staging/"' in src


def test_spark_staging_expires(expanded):
    rules = {r["Id"]: r for r in expanded["Resources"]["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    r = rules["spark-staging-expiry"]
    assert r["Prefix"] == "_lakeline/staging/" and r["Status"] == "Enabled"
    assert r["ExpirationInDays"] * 24 * 60 > 2880  # longer than Glue's longest run


# ------------------------------------------------------------------ arguments: Rust sends, Python reads


def rust_glue_arguments():
    """The --names start-job (functions/start-job) sends to Glue, read from its source."""
    start = (ROOT / "functions/start-job/src/lib.rs").read_text()
    names = set(re.findall(r'args\.insert\(\s*"(--[a-z_]+)"', start))
    if "GLUE_RUN_KEY_ARG" in start:
        names.add(re.search(r'GLUE_RUN_KEY_ARG: &str = "([^"]+)"', (ROOT / "shared/core/src/jobs.rs").read_text()).group(1))
    # a batch's run names its manifest instead of one source (lakeline_core::batch)
    names |= set(re.findall(r'GLUE_MANIFEST_ARG: &str = "([^"]+)"', start))
    return names


def rust_emr_arguments():
    start = (ROOT / "functions/start-job/src/lib.rs").read_text()
    body = start[start.index("async fn start_emr"):]
    return set(re.findall(r'"(--[a-z-]+)"\.to_string\(\)', body[:body.index("let spark")]))


def rust_delivery_arguments():
    """The per-delivery --names start-job adds to a curate run (Glue and EMR Serverless alike):
    the validated ETag, and in table mode the field ids and the version."""
    start = (ROOT / "functions/start-job/src/lib.rs").read_text()
    body = start[start.index("async fn delivery_arguments"):]
    return set(re.findall(r'"(--[a-z_]+)"\.to_string\(\)', body[:body.index("\n}\n")]))


def script_options(script):
    """Every option string a script's parse_args accepts (the whole script's add_argument calls
    when it has no one parse_args)."""
    tree = ast.parse((ROOT / script).read_text())
    fns = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "parse_args"]
    fn = fns[0] if len(fns) == 1 else tree
    opts = set()
    for call in ast.walk(fn):
        if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "add_argument":
            opts |= {a.value for a in call.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")}
    return opts


def test_rust_sends_what_the_script_reads():
    glue = rust_glue_arguments()
    emr = rust_emr_arguments()
    assert glue == {"--lakeline_source", "--lakeline_manifest", "--lakeline_target", "--lakeline_dataset",
                    "--lakeline_partition", "--lakeline_execution", "--lakeline_run_key"}
    assert emr == {"--source", "--manifest", "--partition", "--target"}
    curate = script_options("jobs/curate.py")
    # a dataset's curate run (Glue or EMR Serverless), of one file or of a batch's manifest
    assert glue <= curate
    assert emr <= curate
    # the delivery's own: the validated ETag (the run refuses another upload), table mode's
    assert rust_delivery_arguments() == {"--lakeline_etag", "--lakeline_table_fields", "--lakeline_version"}
    assert rust_delivery_arguments() <= curate
    # the registry location the template adds
    assert "--lakeline_registry" in curate


# ------------------------------------------------------------------ the sample registry and the stack


def samconfig_stacks():
    conf = tomllib.loads((ROOT / "samconfig.toml").read_text())
    return {env: c["global"]["parameters"]["stack_name"] for env, c in conf.items()
            if isinstance(c, dict) and "global" in c}


PLACEHOLDER = re.compile(r"\$\{(LAKELINE_[A-Z0-9_]+)(?::-([^}]*))?\}")


def expand_placeholders(text, env):
    """The registry as a function loads it (lakeline::placeholders::expand): `${NAME}` from the
    function's environment, else the `:-default`."""

    def value(m):
        got = env.get(m.group(1))
        if got is None:
            assert m.group(2) is not None, f"{m.group(0)} has no value and no default"
            return m.group(2)
        return got

    return PLACEHOLDER.sub(value, text)


def registry_spark_jobs(env=None):
    """(dataset, engine, the job's settings) of every Spark job config/datasets.yaml names (a
    dataset's `job:`, and a `compaction.job:`, its settings marked compaction=True), its
    placeholders filled from `env` (default: none, so the defaults)."""
    import yaml

    reg = yaml.safe_load(expand_placeholders((ROOT / "config/datasets.yaml").read_text(), env or {}))
    out = []
    for name, ds in reg["datasets"].items():
        job = ds.get("job") or {}
        if job.get("engine", "lambda") != "lambda":
            out.append((name, job["engine"], job))
        # a compaction.job (Spark rewrites of partitions above its `above`)
        cjob = (ds.get("compaction") or {}).get("job") or {}
        if cjob.get("engine", "lambda") != "lambda":
            out.append((name, cjob["engine"], dict(cjob, compaction=True)))
    return out


def test_sample_registry_names_the_jobs_a_fresh_deploy_creates(expanded):
    """`sam deploy` with samconfig.toml's [default] creates the stack `lakeline`: every Glue job
    the sample registry names is one of that stack's two (curate for a dataset's job, compact
    for a compaction.job), and no EMR Serverless job names anything a fresh deploy lacks (an
    application id, a role, an entry point outside the stack's artifact prefix, all of which
    the registry check at load would refuse or the run would not find)."""
    from expand import Stack

    stack_name = samconfig_stacks()["default"]
    assert stack_name == "lakeline"
    stack = Stack(expanded, {}, stack_name=stack_name)
    names = {logical: stack.resources[logical]["Properties"]["Name"] for logical in JOBS}
    assert names == {"CurateGlueJob": "lakeline-curate", "CompactGlueJob": "lakeline-compact"}
    jobs = registry_spark_jobs()
    assert jobs, "the sample registry shows the Spark path"
    for dataset, engine, job in jobs:
        assert engine == "glue", f"{dataset}: {engine} needs per-account values a fresh deploy does not have"
        if job.get("compaction"):
            assert job["glue_job_name"] == names["CompactGlueJob"], dataset
        else:
            assert job["job_name"] == names["CurateGlueJob"], dataset


def test_one_sample_registry_serves_every_stack(deploy):
    """Filled from a function's environment (the template's LAKELINE_GLUE_CURATE_JOB and
    LAKELINE_GLUE_COMPACT_JOB, Refs of the stack's own jobs), the sample registry's Glue jobs are
    that stack's: no stack runs another's jobs, and no copy per stack is needed."""
    stack = deploy({})
    for fn, res in stack.of_type("AWS::Lambda::Function").items():
        env = res["Properties"].get("Environment", {}).get("Variables", {})
        if "LAKELINE_REGISTRY" not in env:
            continue
        for dataset, engine, job in registry_spark_jobs(env):
            if job.get("compaction"):
                assert job["glue_job_name"] == env["LAKELINE_GLUE_COMPACT_JOB"], (fn, dataset)
            else:
                assert job["job_name"] == env["LAKELINE_GLUE_CURATE_JOB"], (fn, dataset)
    used = set(PLACEHOLDER.findall((ROOT / "config/datasets.yaml").read_text()))
    assert {name for name, _ in used} <= {"LAKELINE_GLUE_CURATE_JOB", "LAKELINE_GLUE_COMPACT_JOB",
                                          "LAKELINE_EMR_APPLICATION_ID", "LAKELINE_ARTIFACT_PREFIX"}


def test_every_samconfig_stack_has_its_own_job_names(expanded):
    """Two environments in one account never share a Glue job (names are per account and
    region): the names derive from the stack name, and the stacks' names differ."""
    from expand import Stack

    names = set()
    for env, stack_name in samconfig_stacks().items():
        stack = Stack(expanded, {}, stack_name=stack_name)
        names |= {stack.resources[j]["Properties"]["Name"] for j in JOBS}
    assert len(names) == len(JOBS) * len(samconfig_stacks())


def test_registry_placeholders_have_their_variables(deploy):
    """The variables a registry will name the stack's engines by are set on every function that
    loads the registry, with the stack's values (see PENDING_ENV in test_template.py)."""
    for params in ({}, {"CreateEmrApplication": "true"}, {"ExistingEmrApplicationId": "00abc"}):
        stack = deploy(params)
        for fn, res in stack.of_type("AWS::Lambda::Function").items():
            env = res["Properties"].get("Environment", {}).get("Variables", {})
            if "LAKELINE_REGISTRY" not in env:
                continue
            assert env["LAKELINE_GLUE_CURATE_JOB"] == f"{STACK}-CurateGlueJob", fn  # Ref of the job
            assert env["LAKELINE_GLUE_COMPACT_JOB"] == f"{STACK}-CompactGlueJob", fn
            want = {"CreateEmrApplication": f"{STACK}-EmrApplication"}.get(
                next(iter(params), None), params.get("ExistingEmrApplicationId", ""))
            assert env["LAKELINE_EMR_APPLICATION_ID"] == want, fn
