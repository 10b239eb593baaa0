"""App loading: each failure is one clear line on stderr and exit status 1.

These run ``python -m pyre_http`` for real; every case fails before the
native core is needed, so they pass whether or not it has been built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_front_support import run_cli, write_module  # first: it puts python/ on sys.path

# isort: split

from pyre_http.errors import AppLoadError
from pyre_http.importer import load_app


@pytest.fixture()
def app_dir(tmp_path: Path) -> Path:
    write_module(
        tmp_path,
        "loader_apps",
        """
        async def app(scope, receive, send):
            pass

        class Holder:
            class inner:
                app = app

        not_callable = 42

        def make_app():
            return app

        def make_nothing():
            return None

        def needs_argument(x):
            return app

        class Asgi2:
            def __init__(self, scope):
                self.scope = scope

            async def __call__(self, receive, send):
                pass

        def one_argument(scope):
            pass
        """,
    )
    write_module(tmp_path, "broken_import", "import a_dependency_that_is_not_installed_xyz\n")
    write_module(tmp_path, "raises_on_import", "x = 1\nraise RuntimeError('DATABASE_URL is not set')\n")
    write_module(tmp_path, "bad_syntax", "def f(:\n    pass\n")
    return tmp_path


def expect_one_line_error(result: Any, *fragments: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("pyre-http: error: ")
    for fragment in fragments:
        assert fragment in line
    assert "Traceback" not in result.stderr
    return line


@pytest.mark.parametrize(
    "app, extra, fragments",
    [
        ("loader_apps", [], ['Import string "loader_apps" must be in format "<module>:<attribute>".']),
        ("loader_apps:", [], ["must be in format"]),
        ("no_such_module:app", [], ['Error loading ASGI app. Could not import module "no_such_module".']),
        ("no_such_pkg.sub:app", [], ['Could not import module "no_such_pkg.sub".']),
        (
            "broken_import:app",
            [],
            [
                'Importing module "broken_import" failed',
                "ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed_xyz'",
                "broken_import.py, line 1",
            ],
        ),
        (
            "raises_on_import:app",
            [],
            ["RuntimeError: DATABASE_URL is not set", "raises_on_import.py, line 2"],
        ),
        ("bad_syntax:app", [], ["SyntaxError", "bad_syntax.py, line 1"]),
        ("loader_apps:missing", [], ['Attribute "missing" not found in module "loader_apps".']),
        ("loader_apps:Holder.inner.missing", [], ['Attribute "Holder.inner.missing" not found in module "loader_apps".']),
        ("loader_apps:not_callable", [], ['"loader_apps:not_callable" is not callable (got int)']),
        ("loader_apps:not_callable", ["--factory"], ['Error loading ASGI app factory: "loader_apps:not_callable" is not callable']),
        (
            "loader_apps:needs_argument",
            ["--factory"],
            ["TypeError", "needs_argument() missing 1 required positional argument"],
        ),
        ("loader_apps:make_nothing", ["--factory"], ['"loader_apps:make_nothing" is not callable (got NoneType)']),
        ("loader_apps:Asgi2", [], ["looks like an ASGI 2 application", "ASGI 3 only"]),
        ("loader_apps:one_argument", [], ["looks like an ASGI 2 application", "app(scope, receive, send)"]),
    ],
)
def test_load_errors_are_one_line_with_status_1(
    app_dir: Path, app: str, extra: list[str], fragments: list[str]
) -> None:
    result = run_cli([app, "--app-dir", str(app_dir), *extra], cwd=app_dir.parent)
    expect_one_line_error(result, *fragments)


def test_debug_level_adds_the_traceback(app_dir: Path) -> None:
    result = run_cli(["raises_on_import:app", "--app-dir", str(app_dir), "--log-level", "debug"], cwd=app_dir)
    assert result.returncode == 1
    assert result.stderr.startswith("pyre-http: error: ")
    assert "Traceback" in result.stderr


def test_app_dir_defaults_to_the_current_directory(app_dir: Path) -> None:
    # Gets past app loading (into the attribute lookup) only if "." is on sys.path.
    result = run_cli(["loader_apps:missing"], cwd=app_dir)
    expect_one_line_error(result, 'Attribute "missing" not found in module "loader_apps".')


def test_load_app_successes(app_dir: Path) -> None:
    import sys

    sys.path.insert(0, str(app_dir))
    try:
        plain = load_app("loader_apps:app")
        assert load_app("loader_apps:Holder.inner.app") is plain
        assert load_app("loader_apps:make_app", factory=True) is plain
        assert load_app(plain) is plain  # an already-loaded callable passes through
    finally:
        sys.path.remove(str(app_dir))
        sys.modules.pop("loader_apps", None)


def test_load_app_rejects_callables_of_the_wrong_shape() -> None:
    def two_arguments(scope: Any, receive: Any) -> None:
        pass

    with pytest.raises(AppLoadError, match="not an ASGI 3 application"):
        load_app(two_arguments)

    class Asgi3Instance:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            pass

    instance = Asgi3Instance()
    assert load_app(instance) is instance
