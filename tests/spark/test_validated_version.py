"""Issue 26: a Spark run curates the bytes validation judged, or nothing. start-job passes the
validated ETag (`--lakeline_etag`; a batch's members carry theirs in the manifest): an object
replaced since (a newer upload, which its own execution curates) is refused before anything is
read, and one replaced while Spark read it is refused before anything is published."""

import hashlib
from pathlib import Path

import pytest

import curate
from conftest import REAL_REGISTRY, REPO, put


def run(spark, lake, key, etag):
    args = curate.parse_args([
        "--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", REAL_REGISTRY,
        "--dataset", "clicks", "--lakeline_etag", etag,
    ])
    return curate.run(spark, args)


def files_under(lake, prefix):
    root = Path(lake) / prefix
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_the_validated_upload_is_curated(spark, lake):
    body = (REPO / "samples/clicks/good.jsonl").read_bytes()
    key = "raw/clicks/dt=2026-11-25/good.jsonl"
    put(lake, key, body)
    summary = run(spark, lake, key, hashlib.md5(body).hexdigest())
    assert summary["rows"] == len(body.splitlines())
    assert summary["outputs"]


def test_a_newer_upload_is_refused_and_nothing_is_written(spark, lake):
    body = (REPO / "samples/clicks/good.jsonl").read_bytes()
    key = "raw/clicks/dt=2026-11-25/good.jsonl"
    validated = hashlib.md5(body).hexdigest()
    put(lake, key, body.splitlines(keepends=True)[0])  # replaced by a newer, shorter upload
    with pytest.raises(curate.JobError) as e:
        run(spark, lake, key, f'"{validated}"')
    assert "is not the upload that was validated" in str(e.value), e.value
    assert validated in str(e.value)
    assert files_under(lake, "curated") == [] and files_under(lake, "_lakeline") == []


def test_an_object_replaced_during_the_read_is_refused(lake):
    storage = curate.LocalStorage(str(lake))
    key = "raw/clicks/dt=2026-11-25/good.jsonl"
    put(lake, key, b'{"a": 1}\n')
    head = storage.head(key)
    curate.still_validated(storage, key, head, "s")  # unchanged: fine
    put(lake, key, b'{"a": 2}\n')
    with pytest.raises(curate.JobError, match="was replaced while it was read"):
        curate.still_validated(storage, key, head, "s")
    (Path(lake) / key).unlink()
    with pytest.raises(curate.JobError, match="deleted after"):
        curate.still_validated(storage, key, head, "s")
