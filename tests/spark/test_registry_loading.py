"""The Spark jobs read the registry with PyYAML. Where a Spark environment lacks it (an EMR
Serverless image, a Glue version that drops it), the job fails at once saying how to add it,
rather than with a bare ImportError deep in a run."""

import sys

import pytest

import compact
import curate
from conftest import REAL_REGISTRY


@pytest.mark.parametrize("job", [curate, compact], ids=["curate", "compact"])
def test_a_spark_environment_without_pyyaml_is_told_how_to_add_it(job, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError
    with pytest.raises(job.JobError, match=r"no PyYAML.*--additional-python-modules PyYAML==6\.0\.4"):
        job.load_registry(REAL_REGISTRY)


@pytest.mark.parametrize("job", [curate, compact], ids=["curate", "compact"])
def test_with_pyyaml_the_registry_loads(job):
    reg = job.load_registry(REAL_REGISTRY)
    assert "orders" in reg["datasets"]
