"""Fixtures: template.yaml as written, its expansion to plain CloudFormation, the ASL file, and
`deploy`: the expansion resolved for a set of parameter values (expand.Stack)."""

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
def deploy(template):
    """deploy(**params) or deploy(params, region=...): the stack those parameters deploy. The
    template is expanded with the same parameter values, as CloudFormation's transform is."""
    cache = {}

    def make(params=None, region="us-east-1", **kw):
        params = dict(params or {}, **kw)
        key = (tuple(sorted(params.items())), region)
        if key not in cache:
            cache[key] = ex.Stack(ex.expand(template, params), params, region=region)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def asl_text(template):
    path = ex.asl_path(template)
    if not path.exists():
        pytest.skip(f"{path} does not exist yet: placeholder agreement not checked")
    return path.read_text()
