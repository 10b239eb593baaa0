"""The value under each ASGI extension an ``http`` scope advertises.

asgiref defines no settings for ``http.response.pathsend``,
``zerocopysend``, ``trailers`` and ``early_hint``: each maps to an empty
dict. Four fresh dicts per request cost about 7% of a hello-world
request's instructions (callgrind), so every scope shares one empty dict
that refuses changes instead: no request can write into what the next one
sees, and it still is a ``dict`` (``isinstance``, ``==``, copying and
pickling work).
"""

from __future__ import annotations

from typing import Any, NoReturn


class ExtensionSettings(dict):  # type: ignore[type-arg]
    """An empty dict that cannot be changed."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("the settings of an ASGI extension are read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> ExtensionSettings:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ExtensionSettings:
        return self

    def __reduce__(self) -> tuple[type[ExtensionSettings], tuple[()]]:
        return (ExtensionSettings, ())


NO_SETTINGS = ExtensionSettings()
