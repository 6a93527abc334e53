"""The S3 side of curate.py's storage (boto3), against moto's in-process S3: the calls the job
makes on the lake bucket (list, head, get, put, copy, conditional delete, resumable reads). What
moto cannot show: Spark reading and writing s3:// paths, which only Glue/EMR do."""

import boto3
import pytest
from moto import mock_aws

import curate

BUCKET = "lake"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_basic_calls(s3):
    st, key = curate.locate("s3://lake/raw/orders/dt=2026-11-25/a.csv")
    assert (st.bucket, key) == ("lake", "raw/orders/dt=2026-11-25/a.csv")
    st.put(key, b"hello")
    st.put("raw/orders/dt=2026-11-25/sub/b.csv", b"x")
    h = st.head(key)
    assert h.size == 5 and h.etag == "5d41402abc4b2a76b9719d911017c592"  # md5, no quotes
    assert st.get(key) == b"hello" and st.get("nope") is None and st.head("nope") is None
    assert [o.key for o in st.list("raw/orders/")] == ["raw/orders/dt=2026-11-25/a.csv", "raw/orders/dt=2026-11-25/sub/b.csv"]
    assert [o.key for o in st.list("raw/orders/dt=2026-11-25/", recursive=False)] == ["raw/orders/dt=2026-11-25/a.csv"]
    st.copy(key, "curated/c.csv")
    assert st.get("curated/c.csv") == b"hello"
    st.delete_prefix("raw/")
    assert st.list("raw/") == [] and st.spark_path("a[1].csv", read=True) == "s3://lake/a\\[1\\].csv"


def test_conditional_delete_keeps_a_replaced_object(s3):
    st = curate.S3Storage(BUCKET)
    st.put("k", b"v1")
    old = st.head("k").etag
    st.put("k", b"v2")
    assert st.delete("k", if_match=old) is False and st.get("k") == b"v2"
    assert st.delete("k", if_match=st.head("k").etag) is True and st.head("k") is None
    assert st.delete("k", if_match=old) is True  # already gone


def test_reads_resume_after_a_broken_connection(s3, monkeypatch):
    st = curate.S3Storage(BUCKET)
    data = bytes(range(256)) * 20_000
    st.put("big", data)
    etag = st.head("big").etag
    real = st.client.get_object
    calls = []

    def flaky(**kw):
        calls.append(kw.get("Range"))
        out = real(**kw)
        if len(calls) == 1:
            body = out["Body"]
            first = body.read(1_000_000)

            class Broken:
                sent = False

                def read(self, n=-1):
                    if not self.sent:
                        self.sent = True
                        return first
                    raise ConnectionResetError("connection reset by peer")

            out["Body"] = Broken()
        return out

    monkeypatch.setattr(st.client, "get_object", flaky)
    monkeypatch.setattr(curate.time, "sleep", lambda s: None)
    with st.open("big", etag) as f:
        assert f.read() == data
    assert calls == [None, "bytes=1000000-"]

    st.put("big", b"replaced")
    with pytest.raises(curate.JobError, match="changed or vanished"):
        with st.open("big", etag) as f:
            f.read()


def test_registry_from_s3(s3):
    st = curate.S3Storage(BUCKET)
    st.put("config/datasets.yaml", b"version: 1\ndatasets:\n  d:\n    key_pattern: raw/d/{file}\n    format: csv\n    columns: [{name: a, type: int}]\n")
    reg = curate.load_registry("s3://lake/config/datasets.yaml")
    ds = curate.dataset_for_key(reg, "raw/d/x.csv")
    assert ds.name == "d" and ds.columns[0].type == "int" and ds.null_values == ("",)
    with pytest.raises(curate.JobError, match="does not exist"):
        curate.load_registry("s3://lake/config/none.yaml")
