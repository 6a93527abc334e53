"""The permissions check's modules (iam.py, check.py) and the template's expansion
(tests/template/expand.py) on the import path of its tests."""

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "template"))
