"""The tables the pipeline committed to S3 Tables (on the local emulator), read by engines lakeline
did not write: pyiceberg 0.12 (`StaticTable.from_metadata` over S3) and DuckDB 1.4.4's iceberg
extension (`iceberg_scan` through httpfs). Both must agree with the uploaded files row for row,
value for value.

Run from `tests/tests/it/readers.rs`, which deploys the local stack, runs every sample through the
pipeline while the emulator is up, and names the tables in $LAKELINE_PIPELINE_TABLES (a JSON
list of {dataset, metadata_location, columns, sources: [{path, key}], and an optional test id});
skipped elsewhere.
"""

import json
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

from test_readers import DELIVERIES, canon, duckdb_connection, expected

CASES = os.environ.get("LAKELINE_PIPELINE_TABLES")
pytestmark = pytest.mark.skipif(not CASES, reason="run by tests/tests/it/readers.rs, with the emulator up")
# The harness's identity: reading results back is set-up and inspection, not a checked call.
KEY = "lakeline-admin"
HOW = {d: how for d, _, _, how in DELIVERIES}


def cases():
    return json.loads(Path(CASES).read_text()) if CASES else []


def want(case):
    rows = []
    for s in case["sources"]:
        for r in expected(case["dataset"], s["path"], HOW[case["dataset"]], case["columns"]):
            rows.append({**r, "_lakeline_source": s["key"]})
    return rows


def names(case):
    return [c["name"] for c in case["columns"] if c["name"] not in ("_lakeline_version", "_lakeline_date")]


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.get("id", c["dataset"]))
def test_pyiceberg_reads_the_pipelines_table(case):
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(case["metadata_location"], properties={
        "s3.endpoint": os.environ["AWS_ENDPOINT_URL"], "s3.region": "us-east-1",
        "s3.access-key-id": KEY, "s3.secret-access-key": KEY,
    })
    got = table.scan().to_arrow().to_pylist()
    w = want(case)
    assert len(got) == len(w) > 0
    assert canon(got, names(case)) == canon(w, names(case))


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.get("id", c["dataset"]))
def test_duckdb_reads_the_pipelines_table(case):
    con = duckdb_connection()
    base = Path(list(__import__("duckdb_ext").__path__)[0])
    (httpfs,) = base.glob("**/httpfs.duckdb_extension")
    con.execute(f"LOAD '{httpfs}'")
    endpoint = urlparse(os.environ["AWS_ENDPOINT_URL"])
    con.execute(f"CREATE SECRET lake (TYPE s3, KEY_ID '{KEY}', SECRET '{KEY}', REGION 'us-east-1', "
                f"ENDPOINT '{endpoint.netloc}', URL_STYLE 'path', USE_SSL false)")
    cur = con.execute(f"SELECT * FROM iceberg_scan('{case['metadata_location']}')")
    cols = [d[0] for d in cur.description]
    got = [dict(zip(cols, r)) for r in cur.fetchall()]
    w = want(case)
    assert len(got) == len(w) > 0
    assert canon(got, names(case)) == canon(w, names(case))
