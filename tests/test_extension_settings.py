"""The settings every advertised ASGI extension maps to: one shared empty
dict that refuses changes, so that no request can write into what the next
one sees (tests/test_scope.py checks the scopes themselves)."""

import copy
import pickle

import pytest

from pyre_http.extension_settings import NO_SETTINGS, ExtensionSettings


def test_it_is_an_empty_dict():
    assert isinstance(NO_SETTINGS, dict)
    assert NO_SETTINGS == {}
    assert not NO_SETTINGS
    assert NO_SETTINGS.get("anything") is None


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.__setitem__("k", 1),
        lambda d: d.__delitem__("k"),
        lambda d: d.clear(),
        lambda d: d.pop("k", None),
        lambda d: d.popitem(),
        lambda d: d.setdefault("k", 1),
        lambda d: d.update(k=1),
        lambda d: d.__ior__({"k": 1}),
    ],
)
def test_every_change_is_refused(change):
    with pytest.raises(TypeError, match="read-only"):
        change(NO_SETTINGS)
    assert NO_SETTINGS == {}


def test_copies_and_pickles():
    assert copy.copy(NO_SETTINGS) is NO_SETTINGS
    assert copy.deepcopy({"ext": NO_SETTINGS})["ext"] is NO_SETTINGS
    restored = pickle.loads(pickle.dumps(NO_SETTINGS))
    assert isinstance(restored, ExtensionSettings) and restored == {}
    # A plain copy is an ordinary dict the application may change.
    mine = dict(NO_SETTINGS)
    mine["k"] = 1
    assert NO_SETTINGS == {}
