"""One DuckDB query over a lakeline table, for `make demo`: rows per raw key, read by DuckDB's
iceberg extension from the table's metadata location (an engine lakeline did not write).

    scripts/table-readers run python tests/tables/query.py METADATA_LOCATION

An `s3://` location is read through the local AWS endpoint (AWS_ENDPOINT_URL) with the
httpfs extension, path-style, as the harness's own identity (its reads are set-up and
inspection, which the permissions check leaves out). The extensions come from the pinned
duckdb-ext-* wheels: nothing is downloaded.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import duckdb_ext


def connect(s3: bool):
    base = Path(list(duckdb_ext.__path__)[0])
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    for name in ("avro", "iceberg") + (("httpfs",) if s3 else ()):
        (path,) = base.glob(f"**/{name}.duckdb_extension")
        con.execute(f"LOAD '{path}'")
    if s3:
        endpoint = urlparse(os.environ["AWS_ENDPOINT_URL"])
        con.execute(
            "CREATE SECRET lake (TYPE s3, KEY_ID 'lakeline-admin', SECRET 'lakeline-admin', "
            f"REGION 'us-east-1', ENDPOINT '{endpoint.netloc}', URL_STYLE 'path', USE_SSL false)"
        )
    return con


def main(metadata: str) -> int:
    con = connect(metadata.startswith("s3://"))
    sql = (
        "SELECT _lakeline_source AS source, count(*) AS rows, "
        f"min(_lakeline_date) AS date FROM iceberg_scan('{metadata}') "
        "GROUP BY ALL ORDER BY source"
    )
    print(sql)
    for source, rows, date in con.execute(sql).fetchall():
        print(f"{source:<60} {rows:>6} rows  {date}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
