"""The Spark job reads the registry with PyYAML. Where a Spark environment lacks it (an EMR
Serverless image, a Glue version that drops it), the job fails at once saying how to add it,
rather than with a bare ImportError deep in a run."""

import sys

import pytest

import curate
from conftest import REAL_REGISTRY


def test_a_spark_environment_without_pyyaml_is_told_how_to_add_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError
    with pytest.raises(curate.JobError, match=r"no PyYAML.*--additional-python-modules PyYAML==6\.0\.4"):
        curate.load_registry(REAL_REGISTRY)


def test_with_pyyaml_the_registry_loads():
    reg = curate.load_registry(REAL_REGISTRY)
    assert "orders" in reg["datasets"]
