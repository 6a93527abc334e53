"""scripts/publish-jobs: the EMR Serverless entry points at a versioned S3 key with checksums.
Offline: the layout, the version, the SHA256SUMS file (checked by `sha256sum -c` itself), and
the writes against a stand-in S3 client that behaves like S3 where it matters (If-None-Match,
stored checksums)."""

import base64
import hashlib
import importlib.machinery
import importlib.util
import json
import re
import shutil
import subprocess

import pytest

from expand import ROOT

ARTIFACTS = "s3://lakeline-123456789012-us-east-1/artifacts/"


def load():
    loader = importlib.machinery.SourceFileLoader("publish_jobs", str(ROOT / "scripts/publish-jobs"))
    spec = importlib.util.spec_from_loader("publish_jobs", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


pj = load()


class ClientError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeS3:
    """What publish-jobs relies on: HEAD with ChecksumMode answers the stored SHA-256 or 404;
    PUT verifies ChecksumSHA256 against the body and honours If-None-Match: *."""

    def __init__(self):
        self.objects = {}
        self.puts = []

    def head_object(self, Bucket, Key, ChecksumMode=None):
        if (Bucket, Key) not in self.objects:
            raise ClientError("404")
        body, checksum = self.objects[(Bucket, Key)]
        return {"ContentLength": len(body), **({"ChecksumSHA256": checksum} if ChecksumMode == "ENABLED" and checksum else {})}

    def get_object(self, Bucket, Key):
        import io

        return {"Body": io.BytesIO(self.objects[(Bucket, Key)][0])}

    def put_object(self, Bucket, Key, Body, ChecksumSHA256=None, IfNoneMatch=None, ContentType=None):
        self.puts.append(Key)
        if ChecksumSHA256 != base64.b64encode(hashlib.sha256(Body).digest()).decode():
            raise ClientError("BadDigest")
        if IfNoneMatch == "*" and (Bucket, Key) in self.objects:
            raise ClientError("PreconditionFailed")
        self.objects[(Bucket, Key)] = (Body, ChecksumSHA256)


def test_layout_under_the_artifact_prefix():
    p = pj.plan(ARTIFACTS, pj.job_files())
    v = p["version"]
    assert re.fullmatch(r"[0-9a-f]{16}", v)
    # jobs/*.py: curate (large files) and compact (Spark rewrites of table partitions)
    assert p["entry_points"] == {
        "curate": f"{ARTIFACTS}jobs/{v}/curate.py",
        "compact": f"{ARTIFACTS}jobs/{v}/compact.py",
    }
    assert p["sums"] == f"{ARTIFACTS}jobs/{v}/SHA256SUMS"
    # every entry point is inside the artifact prefix: what Registry::check_entry_points asks
    assert all(uri.startswith(ARTIFACTS) for uri in p["entry_points"].values())
    keys = [k for k, _ in p["objects"]]
    assert keys == [f"artifacts/jobs/{v}/compact.py", f"artifacts/jobs/{v}/curate.py", f"artifacts/jobs/{v}/SHA256SUMS"]


def test_version_is_the_content(tmp_path):
    """Same bytes, same version (anywhere); one changed byte, another version."""
    files = pj.job_files()
    assert pj.plan(ARTIFACTS, files)["version"] == pj.plan(ARTIFACTS, list(files))["version"]
    for name in ("curate.py", "compact.py"):
        changed = [(n, d + b"\n" if n == name else d) for n, d in files]
        assert pj.plan(ARTIFACTS, changed)["version"] != pj.plan(ARTIFACTS, files)["version"], name
    sums = pj.sums_text(files)
    assert pj.plan(ARTIFACTS, files)["version"] == hashlib.sha256(sums).hexdigest()[:16]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="no sha256sum on this machine")
def test_sha256sums_is_what_sha256sum_checks(tmp_path):
    p = pj.plan(ARTIFACTS, pj.job_files())
    for key, data in p["objects"]:
        (tmp_path / key.rsplit("/", 1)[1]).write_bytes(data)
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(r.stdout.split()) == sorted(["compact.py:", "OK", "curate.py:", "OK"])


def test_publish_writes_once_with_checksums_and_verifies_after():
    s3 = FakeS3()
    p = pj.plan(ARTIFACTS, pj.job_files())
    uploaded, present = pj.publish(s3, p)
    assert uploaded == [k for k, _ in p["objects"]] and present == []
    for key, data in p["objects"]:
        assert s3.objects[(p["bucket"], key)] == (data, base64.b64encode(hashlib.sha256(data).digest()).decode())
    # again: nothing written, everything verified
    s3.puts.clear()
    uploaded, present = pj.publish(s3, p)
    assert uploaded == [] and s3.puts == [] and present == [k for k, _ in p["objects"]]


def test_a_published_version_is_never_replaced():
    s3 = FakeS3()
    p = pj.plan(ARTIFACTS, pj.job_files())
    key, _ = p["objects"][0]  # the entry point itself
    tampered = b"print('not lakeline')\n"
    s3.objects[(p["bucket"], key)] = (tampered, base64.b64encode(hashlib.sha256(tampered).digest()).decode())
    with pytest.raises(pj.PublishError, match="must never change"):
        pj.publish(s3, p)
    assert s3.objects[(p["bucket"], key)][0] == tampered  # left for a human, not overwritten
    # without a stored checksum (written otherwise, or an emulator that does not report it) the
    # bytes are compared: the same bytes pass, other bytes are refused
    s3 = FakeS3()
    s3.objects[(p["bucket"], key)] = (dict(p["objects"])[key], None)
    assert key in pj.publish(s3, p)[1]
    s3.objects[(p["bucket"], key)] = (tampered, None)
    with pytest.raises(pj.PublishError, match="must never change"):
        pj.publish(s3, p)


def test_a_concurrent_publisher_of_the_same_version_is_fine():
    """Two publishers race: the second PUT gets 412; the stored checksum is ours, so it passes."""
    p = pj.plan(ARTIFACTS, pj.job_files())

    class Racing(FakeS3):
        def head_object(self, Bucket, Key, ChecksumMode=None):
            if not getattr(self, "raced", False):
                self.raced = True
                data = dict(p["objects"])[Key]
                self.objects[(Bucket, Key)] = (data, base64.b64encode(hashlib.sha256(data).digest()).decode())
                raise ClientError("404")  # what the first HEAD saw, before the other writer
            return super().head_object(Bucket, Key, ChecksumMode)

    s3 = Racing()
    uploaded, present = pj.publish(s3, p)
    assert p["objects"][0][0] in present


def test_cli_dry_run_and_usage(capsys):
    assert pj.main(["--artifact-uri", ARTIFACTS, "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dry_run"] is True and out["uploaded"] == []
    assert set(out["entry_points"]) == {"curate", "compact"}
    assert pj.main(["--artifact-uri", "s3://bucket/no-slash", "--dry-run"]) == 1
    assert pj.main(["--stack", "lakeline", "--dry-run"]) == 1  # a dry run asks no stack


def test_the_stack_says_where(deploy):
    """--stack reads the ArtifactUri output: the same value as the functions'
    LAKELINE_ARTIFACT_PREFIX, against which the registry checks entry points."""
    stack = deploy()
    uri = stack.outputs["ArtifactUri"]["Value"]
    assert uri == stack.resources["StartJobFunction"]["Properties"]["Environment"]["Variables"]["LAKELINE_ARTIFACT_PREFIX"]
    p = pj.plan(uri, pj.job_files())
    assert all(e.startswith(uri) for e in p["entry_points"].values())
    src = (ROOT / "scripts/publish-jobs").read_text()
    assert '"ArtifactUri"' in src


def test_the_registry_example_uses_the_published_layout():
    text = (ROOT / "config/datasets.yaml").read_text()
    assert "entry_point: s3://<LakeBucketName>/artifacts/jobs/<version>/curate.py" in text
    assert "make publish-jobs STACK=<stack>" in text
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"(?m)^publish-jobs:", make)
