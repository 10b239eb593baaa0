"""The package's types: mypy --strict on the front and the stubs, and
stubtest comparing python/pyre_http/_core.pyi with the built module.

mypy comes with the `test` extra; the run uses the interpreter's own Python
version, so scripts/test checks on each Python it tests.
"""

import subprocess
import sys
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"


def test_front_stubs_and_an_app_pass_mypy_strict(tmp_path):
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            # What is installed beside the test (uvloop, say) must not change
            # the verdict: the front was made clean without it.
            "--no-site-packages",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(ROOT / "python" / "pyre_http"),
            str(TYPING / "app_usage.py"),
        ]
    )
    assert status == 0, stdout + stderr


def test_stub_matches_the_built_module(tmp_path):
    # Run from an empty directory so that the installed package (the .so and
    # the .pyi beside it) is what is compared, not the source tree.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "--allowlist",
            str(TYPING / "stubtest-allowlist.txt"),
            "pyre_http._core",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
