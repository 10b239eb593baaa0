"""Turn ``"module:attribute"`` into a validated ASGI 3 application.

Every failure becomes an :class:`AppLoadError` whose message is one line that
says what went wrong, so the CLI can print it without a traceback. The
original exception stays chained (``__cause__``) for ``--log-level debug``.

ASGI 2 ("double callable") applications are rejected, not wrapped: the core
calls ``app(scope, receive, send)`` directly on its fast path, and a silent
wrapper would hide an extra call per request. Wrap such an app yourself with
``asgiref.compatibility.guarantee_single_callable`` if you need it.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from types import ModuleType
from typing import Any

from .config import ASGIApp
from .errors import AppLoadError

PREFIX = "Error loading ASGI app."
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def load_app(app: str | ASGIApp, *, factory: bool = False, app_dir: str | None = None) -> ASGIApp:
    """Import (if a string), call the factory (if asked) and validate the app."""
    if isinstance(app, str):
        if app_dir is not None and (not sys.path or sys.path[0] != app_dir):
            # Like uvicorn's --app-dir: the app's own directory wins over
            # anything installed with the same module name.
            sys.path.insert(0, app_dir)
        loaded: Any = import_from_string(app)
        label = app
    else:
        loaded = app
        label = getattr(app, "__qualname__", None) or type(app).__name__
    if factory:
        loaded = call_factory(loaded, label)
    check_asgi3(loaded, label)
    return loaded  # type: ignore[no-any-return]  # validated just above


def import_from_string(import_str: str) -> Any:
    module_name, sep, attrs = import_str.partition(":")
    if not sep or not module_name or not attrs:
        raise AppLoadError(f'{PREFIX} Import string "{import_str}" must be in format "<module>:<attribute>".')

    module = _import_module(module_name)
    instance: Any = module
    for attr in attrs.split("."):
        try:
            instance = getattr(instance, attr)
        except AttributeError:
            raise AppLoadError(f'{PREFIX} Attribute "{attrs}" not found in module "{module_name}".') from None
    return instance


def _import_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # The module itself (or a package on its path) is missing: a typo or
        # a wrong --app-dir. An import that fails *inside* the module is the
        # app's own bug and is reported with the inner error instead.
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise AppLoadError(f'{PREFIX} Could not import module "{module_name}".') from exc
        raise AppLoadError(f'{PREFIX} Importing module "{module_name}" failed: {summarize(exc)}') from exc
    except Exception as exc:  # any error raised while executing the module
        raise AppLoadError(f'{PREFIX} Importing module "{module_name}" failed: {summarize(exc)}') from exc


def call_factory(factory: Any, label: str) -> Any:
    if not callable(factory):
        raise AppLoadError(f'Error loading ASGI app factory: "{label}" is not callable (got {type(factory).__name__}).')
    try:
        return factory()
    except Exception as exc:
        raise AppLoadError(f'Error loading ASGI app factory "{label}": {summarize(exc)}') from exc


def check_asgi3(app: Any, label: str) -> None:
    """Refuse what cannot be called as ``await app(scope, receive, send)``."""
    if not callable(app):
        raise AppLoadError(
            f'{PREFIX} "{label}" is not callable (got {type(app).__name__}); expected an ASGI 3 application.'
        )
    if inspect.isclass(app) and not hasattr(app, "__await__"):
        # Calling a class gives an instance; for ASGI 3 that instance would
        # have to be awaitable. A class without __await__ is the ASGI 2 shape
        # MyApp(scope) -> instance(receive, send).
        raise AppLoadError(
            f'{PREFIX} "{label}" looks like an ASGI 2 application (a class instantiated with the scope); '
            "pyre-http supports ASGI 3 only."
        )
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):
        return  # builtins and some C callables have no signature: trust them
    try:
        signature.bind(None, None, None)
    except TypeError:
        shape = "an ASGI 2 application" if _binds(signature, 1) else "not an ASGI 3 application"
        raise AppLoadError(
            f'{PREFIX} "{label}" looks like {shape}: it cannot be called as app(scope, receive, send). '
            "pyre-http supports ASGI 3 only."
        ) from None


def _binds(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*([None] * count))
    except TypeError:
        return False
    return True


def summarize(exc: BaseException) -> str:
    """One line naming the exception, its message and where it was raised."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, SyntaxError) and exc.filename:
        # str(SyntaxError) already includes "(file, line N)"; keep it short.
        text = f"SyntaxError: {exc.msg} ({_short_path(exc.filename)}, line {exc.lineno})"
    else:
        # Point at the user's code: frozen importlib frames and our own
        # (the frame that called a factory) say nothing useful.
        frames = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if not frame.filename.startswith("<frozen") and os.path.dirname(frame.filename) != _PACKAGE_DIR
        ]
        if frames:
            last = frames[-1]
            text += f" ({_short_path(last.filename)}, line {last.lineno})"
    return " ".join(text.split())  # a multi-line message must stay one line


def _short_path(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative
