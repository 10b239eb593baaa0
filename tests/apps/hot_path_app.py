"""Apps for tests/test_hot_path.py: behaviour the per-request fast paths
must keep (header containers read by index or by iteration, and a `send`
or `receive` kept past its request)."""

import json

KEPT = {}


class MutatingList(list):
    """Not an exact list: read through iteration."""


def header_items(kind):
    pairs = [(b"content-type", b"text/plain"), (b"x-a", b"1"), (b"x-b", b"2")]
    if kind == "list":
        return pairs
    if kind == "list-of-lists":
        return [list(p) for p in pairs]
    if kind == "tuple":
        return tuple(pairs)
    if kind == "generator":
        return (p for p in pairs)
    if kind == "subclass":
        return MutatingList(pairs)
    if kind == "dict-items":
        return dict(pairs).items()
    raise ValueError(kind)


class Shrinking:
    """A header pair whose reading empties the list that holds it: the
    list is read again before each item, as `for` would."""

    def __init__(self, owner):
        self.owner = owner

    def __len__(self):
        self.owner.clear()
        return 2

    def __getitem__(self, i):
        return (b"x-shrink", b"1")[i]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    query = scope["query_string"].decode()
    if path == "/headers":
        headers = header_items(query)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": query.encode()})
    elif path == "/shrinking":
        headers = [(b"content-type", b"text/plain")]
        headers.append(Shrinking(headers))
        headers.append((b"x-never", b"1"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})
    elif path == "/done":
        pending = send({"type": "http.response.start", "status": 200, "headers": []})
        seen = {"first": await pending, "again": await pending, "type": type(pending).__name__}
        seen["steps"] = list(pending.__await__())
        try:
            next(iter(pending))
            seen["next"] = "yielded"
        except StopIteration as stop:
            seen["next"] = f"StopIteration({stop.value!r})"
        try:
            type(pending)()
            seen["new"] = "made"
        except TypeError:
            seen["new"] = "TypeError"
        await send({"type": "http.response.body", "body": json.dumps(seen).encode()})
    elif path == "/keep":
        KEPT["send"], KEPT["receive"] = send, receive
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"kept"})
    elif path == "/stale":
        seen = {}
        try:
            await KEPT["send"]({"type": "http.response.start", "status": 200, "headers": []})
            seen["send"] = "accepted"
        except Exception as exc:  # noqa: BLE001 - the test reads what it was
            seen["send"] = f"{type(exc).__name__}: {exc}"
        seen["receive"] = (await KEPT["receive"]())["type"]
        body = json.dumps(seen).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
