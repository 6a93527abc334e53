"""Fixtures: template.yaml as written, its expansion to plain CloudFormation, the ASL file."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import expand as ex  # noqa: E402


@pytest.fixture(scope="session")
def template():
    return ex.load_template()


@pytest.fixture(scope="session")
def expanded(template):
    return ex.expand(template)


@pytest.fixture(scope="session")
def asl_text(template):
    path = ex.asl_path(template)
    if not path.exists():
        pytest.skip(f"{path} does not exist yet: placeholder agreement not checked")
    return path.read_text()
