"""lakeline compact (Spark engine): merges the data files of one table partition that a rewrite
plan names into fewer, larger ones. It commits nothing.

The compact function plans the rewrite on the table as it is (``planRewrite``) and writes the
plan, ``plan.json``: the input data files, the table's schema as Spark's ``StructType`` with each
field's Iceberg id (``parquet.field.id``), how many files to write, and the output folder beside
the plan. This job reads the inputs in that schema, matching columns by field id (so files of an
older schema, before a rename or an added column, map onto the current one), and writes
``output_files`` Parquet files carrying the same field ids into the output folder. The compact
function then checks what it wrote against the table (field ids, lineage, partition, rows equal
to the plan's) and commits the swap as one ``replace`` snapshot (``commitRewrite``): one
committer per table, no Iceberg runtime in Spark (a table bucket refuses the listing Hadoop's
committers need).

Glue runs it as the stack's ``<stack>-compact`` job (``--lakeline_plan s3://…/plan.json``); EMR
Serverless as an entry point (``--plan s3://…/plan.json``); locally with a plan whose paths are
local (``lakeline table rewrite-plan``)."""

import argparse
import json
import logging
import sys

LOG = logging.getLogger("lakeline.compact")

#: The plan format this job reads (lakeline_table::spark::PLAN_VERSION).
PLAN_VERSION = 1

#: Session settings the job relies on, set at run time so they hold in Glue's and EMR's
#: pre-made sessions too; the same Parquet settings as jobs/curate.py's.
SPARK_SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # Columns matched by Iceberg field id, not name: a renamed column keeps its id.
    "spark.sql.parquet.fieldId.read.enabled": "true",
    "spark.sql.parquet.fieldId.write.enabled": "true",
    # INT64 TIMESTAMP(MICROS): Iceberg's timestamp and timestamptz; INT96 is legacy.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.caseSensitive": "true",
    "spark.sql.parquet.mergeSchema": "false",
    # Decimals on INT32/INT64 where they fit, as the Parquet spec and Iceberg lay out.
    "spark.sql.parquet.writeLegacyFormat": "false",
}


class JobError(Exception):
    """A rewrite this job refuses; the message says why."""


def load_plan(location):
    """The plan at ``location``: ``s3://bucket/key`` (read with boto3, there on Glue and EMR) or
    a local path."""
    if location.startswith("s3://"):
        import boto3

        bucket, _, key = location[len("s3://"):].partition("/")
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    else:
        with open(location, "rb") as f:
            body = f.read()
    plan = json.loads(body)
    if plan.get("version") != PLAN_VERSION:
        raise JobError(f"{location}: plan version {plan.get('version')!r}, this job reads {PLAN_VERSION}")
    for field in ("id", "inputs", "output", "output_files", "spark_schema", "rows"):
        if field not in plan:
            raise JobError(f"{location}: not a rewrite plan (no {field})")
    if not plan["inputs"]:
        raise JobError(f"{location}: the plan names no input")
    return plan


def _glob_escape(path):
    """Spark's readers expand glob characters in a path; a data file's name is literal."""
    return "".join("\\" + c if c in "*?[]{}\\" else c for c in path)


def spark_path(path, read=False):
    """Where Spark reads or writes ``path``: an ``s3://`` location as it is (Glue's and EMR's
    file systems), a local path as ``file://``; ``read``: glob characters escaped."""
    p = path if "://" in path else "file://" + path
    return _glob_escape(p) if read else p


def configure(spark):
    for k, v in SPARK_SQL_CONF.items():
        spark.conf.set(k, v)
    # No _SUCCESS marker: the committer takes the .parquet files only, a marker is clutter.
    spark.sparkContext._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    return spark


def run(spark, plan):
    """Merges the plan's inputs into ``output_files`` files under its output folder; returns a
    summary (what the commit will check again from the files themselves)."""
    from pyspark.sql import types as T

    configure(spark)
    schema = T.StructType.fromJson(plan["spark_schema"])
    inputs = [spark_path(f["path"], read=True) for f in plan["inputs"]]
    df = spark.read.schema(schema).parquet(*inputs)
    n = max(1, int(plan["output_files"]))
    # coalesce, not repartition: whole input splits go to each output, no shuffle of the rows.
    df.coalesce(n).write.mode("overwrite").parquet(spark_path(plan["output"]))
    summary = {"plan": plan["id"], "partition": plan.get("partition"), "inputs": len(inputs),
               "rows_planned": plan["rows"], "output": plan["output"], "output_files": n}
    LOG.info("rewrite written: %s", json.dumps(summary))
    return summary


def parse_args(argv):
    p = argparse.ArgumentParser(prog="compact.py", description="lakeline compact (Spark engine)", allow_abbrev=False)
    p.add_argument("--lakeline_plan", "--plan", dest="plan", required=True, help="the rewrite plan (s3:// or a path)")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        # Glue passes its own (--JOB_ID, --job-bookmark-option, …) and lakeline's run key.
        LOG.info("ignoring arguments not meant for this job: %s", " ".join(unknown))
    return args


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = load_plan(args.plan)
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("lakeline-compact").getOrCreate()
    summary = run(spark, plan)
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
