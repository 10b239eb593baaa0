"""Behaviour kept by the per-request fast paths (issue 13): response
headers from any iterable, and the stale-request checks of `send` and
`receive`."""

import pytest

from rawhttp import request


@pytest.fixture(scope="module")
def hot(server_kind, loop_name, tmp_path_factory):
    from conftest import ServerFactory  # noqa: PLC0415

    factory = ServerFactory(server_kind, loop_name, tmp_path_factory.mktemp("hot"))
    yield factory("hot_path_app:app", "--no-access-log")
    factory.stop_all()


@pytest.mark.parametrize("kind", ["list", "list-of-lists", "tuple", "generator", "subclass", "dict-items"])
def test_headers_from_any_iterable(hot, kind):
    with hot.client() as c:
        c.send(request("GET", f"/headers?{kind}"))
        r = c.read_response()
    assert r.status == 200, r
    assert r.header("content-type") == "text/plain"
    assert (r.header("x-a"), r.header("x-b")) == ("1", "2")
    assert r.body == kind.encode()


def test_header_list_changed_while_read_is_read_as_iteration_would(hot):
    with hot.client() as c:
        c.send(request("GET", "/shrinking"))
        r = c.read_response()
    assert r.status == 200, r
    assert r.header("x-shrink") == "1"
    assert r.header("x-never") is None


def test_send_and_receive_kept_past_their_request(hot):
    """A `send` kept from a finished request cannot write into the next
    one on the same connection, and its `receive` reports the disconnect."""
    with hot.client() as c:
        c.send(request("GET", "/keep"))
        assert c.read_response().body == b"kept"
        c.send(request("GET", "/stale"))
        r = c.read_response()
    assert r.status == 200, r
    assert r.json() == {
        "send": "RuntimeError: the response has already completed",
        "receive": "http.disconnect",
    }


def test_what_send_returns_is_done_at_once_and_reusable(hot):
    """send() returns the server's one `Done` object (a C-level type): awaiting
    it, any number of times, gives None without suspending."""
    with hot.client() as c:
        c.send(request("GET", "/done"))
        r = c.read_response()
    assert r.status == 200, r
    assert r.json() == {
        "first": None,
        "again": None,
        "type": "Done",
        "steps": [],
        "next": "StopIteration(None)",
        "new": "TypeError",
    }
