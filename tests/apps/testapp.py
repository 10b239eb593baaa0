"""The ASGI application the end-to-end tests run: one route per behaviour.

Plain ASGI 3, no framework, so that every message the server sees is the one
written here. Side effects the tests check from outside (exceptions seen by
the app, messages received after the fact, lifespan markers) are written as
small files into the directory named by the ``PYRE_TEST_DIR`` environment
variable. Every path the app is called with is recorded; ``GET /calls``
returns that list, so tests can prove a rejected request never reached it.
"""

import asyncio
import hashlib
import json
import os
import threading
from urllib.parse import parse_qs

SIDE_DIR = os.environ.get("PYRE_TEST_DIR")
CALLS = []
ROUTES = {}


def side_write(name, text):
    """Writes a marker file atomically (tests poll for it)."""
    if not SIDE_DIR:
        return
    path = os.path.join(SIDE_DIR, name)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def jsonable(obj):
    """Scope values to JSON; bytes become {"__bytes__": latin-1 text}."""
    if isinstance(obj, bytes):
        return {"__bytes__": obj.decode("latin-1")}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return {"__repr__": repr(obj)}


def query(scope):
    return {k: v[-1] for k, v in parse_qs(scope["query_string"].decode("latin-1")).items()}


def route(path):
    def register(handler):
        ROUTES[path] = handler
        return handler

    return register


async def respond(send, status, body=b"", content_type=b"text/plain; charset=utf-8", headers=()):
    if isinstance(body, str):
        body = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def respond_json(send, obj, status=200):
    await respond(send, status, json.dumps(obj).encode(), b"application/json")


async def read_body(receive):
    """Reads the whole body; returns (bytes, [[len, more_body], ...])."""
    chunks, events = [], []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RuntimeError(f"unexpected {message['type']} while reading the body")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        chunks.append(body)
        events.append([len(body), more])
        if not more:
            return b"".join(chunks), events


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state = scope.get("state")
            if state is not None:
                state["started"] = True
                state["shared"] = {"note": "set at startup"}
            side_write("startup", "ok")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            side_write("shutdown", "ok")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope type {scope['type']!r}")
    CALLS.append(scope["path"])
    path = scope["path"]
    # Servers differ on whether `path` includes `root_path`; route either way.
    root = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        path = path[len(root) :]
    handler = ROUTES.get(path)
    if handler is None:
        return await respond(send, 404, b"no such test route\n")
    return await handler(scope, receive, send)


# ---------------------------------------------------------------- basics


@route("/hello")
async def hello(scope, receive, send):
    await respond(send, 200, b"Hello, world!")


@route("/ident")
async def ident(scope, receive, send):
    """Answers with what identifies the request: method, raw path, query."""
    text = scope["method"].encode() + b" " + scope["raw_path"]
    if scope["query_string"]:
        text += b"?" + scope["query_string"]
    await respond(send, 200, text)


@route("/echo")
async def echo(scope, receive, send):
    body, _ = await read_body(receive)
    await respond(send, 200, body, b"application/octet-stream")


@route("/body-events")
async def body_events(scope, receive, send):
    """Reports the body's size, digest and events without keeping it in memory."""
    delay = float(query(scope).get("delay", 0))
    digest, size, events = hashlib.sha256(), 0, []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RuntimeError(f"unexpected {message['type']} while reading the body")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        digest.update(body)
        size += len(body)
        events.append([len(body), more])
        if not more:
            break
        if delay:
            await asyncio.sleep(delay)
    await respond_json(send, {"size": size, "sha256": digest.hexdigest(), "events": events})


@route("/scope")
async def scope_route(scope, receive, send):
    await read_body(receive)
    await respond_json(send, jsonable(scope))
    # Mutates this request's copy of the lifespan state and the scope's
    # other mutable parts; the next request must not see any of it.
    state = scope.get("state")
    if state is not None:
        state["mutated"] = True
    scope["asgi"]["mutated"] = True
    scope["extensions"]["mutated"] = True
    for extension in scope["extensions"].values():
        # The settings are one shared read-only dict: a write is refused
        # (tests/test_extension_settings.py).
        try:
            extension["mutated"] = True
        except TypeError:
            pass
    scope["headers"].append((b"x-mutated", b"1"))


@route("/calls")
async def calls(scope, receive, send):
    await respond_json(send, CALLS)


@route("/chunked")
async def chunked(scope, receive, send):
    """No content-length: the server chooses the framing."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    for part in (b"part1,", b"part2,", b"part3"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
        await asyncio.sleep(0)
    await send({"type": "http.response.body", "body": b""})


@route("/status")
async def status(scope, receive, send):
    """Status from ?code=, empty body, no content-length (realistic for 204/304)."""
    code = int(query(scope)["code"])
    await send({"type": "http.response.start", "status": code, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@route("/close")
async def close(scope, receive, send):
    await respond(send, 200, b"closing", headers=[(b"connection", b"close")])


@route("/own-server-header")
async def own_server_header(scope, receive, send):
    await respond(send, 200, b"mine", headers=[(b"server", b"the-app")])


@route("/no-read")
async def no_read(scope, receive, send):
    """Answers after a pause without ever calling receive()."""
    await asyncio.sleep(0.3)
    await respond(send, 200, b"answered without reading")


@route("/sleep")
async def sleep(scope, receive, send):
    await asyncio.sleep(float(query(scope).get("s", 1)))
    await respond(send, 200, b"slept")


# ---------------------------------------------------------------- backpressure


def big_chunk(i, size=65536):
    """Chunk number i of /stream-big: distinct per index, so order matters."""
    return i.to_bytes(8, "big") * (size // 8)


@route("/stream-big")
async def stream_big(scope, receive, send):
    q = query(scope)
    total = int(q["total"])
    size = int(q.get("chunk", 65536))
    count = total // size
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(count * size).encode()),
            ],
        }
    )
    for i in range(count):
        await send({"type": "http.response.body", "body": big_chunk(i, size), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@route("/stream-forever")
async def stream_forever(scope, receive, send):
    """Streams 64 KiB pieces until send() fails; records how it failed."""
    tag = query(scope).get("tag", "x")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        for i in range(1 << 40):
            await send({"type": "http.response.body", "body": big_chunk(i), "more_body": True})
    except Exception as exc:
        side_write(f"stream-forever-{tag}", json.dumps({"type": type(exc).__name__, "oserror": isinstance(exc, OSError)}))
        raise


@route("/send-from-thread")
async def send_from_thread(scope, receive, send):
    """Calls send() from another thread; answers with what that call raised."""
    outcome = []

    def call():
        try:
            send({"type": "http.response.start", "status": 200, "headers": []})
            outcome.append("no error")
        except Exception as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    await respond(send, 200, outcome[0])


@route("/receive-twice")
async def receive_twice(scope, receive, send):
    """A second receive() while the first waits: answers with what it raised."""
    first = asyncio.ensure_future(receive())
    await asyncio.sleep(0.05)  # the first one is waiting for the body
    try:
        await receive()
        outcome = "no error"
    except RuntimeError as exc:
        outcome = f"RuntimeError: {exc}"
    first.cancel()
    await respond(send, 200, outcome)


# ---------------------------------------------------------------- receive()


@route("/wait-disconnect")
async def wait_disconnect(scope, receive, send):
    """Receives until http.disconnect, then records what it got."""
    tag = query(scope).get("tag", "x")
    seen = []
    while True:
        message = await receive()
        seen.append(message["type"])
        if message["type"] == "http.disconnect":
            side_write(f"disconnect-{tag}", json.dumps(seen))
            return


@route("/receive-after-response")
async def receive_after_response(scope, receive, send):
    await read_body(receive)
    await respond(send, 200, b"done")
    try:
        message = await asyncio.wait_for(receive(), 3)
        side_write("after-response", message["type"])
    except asyncio.TimeoutError:
        side_write("after-response", "timeout")


# ---------------------------------------------------------------- send() checks

BAD_SENDS = {
    "bad-type": [{"type": "http.response.bogus"}],
    "missing-status": [{"type": "http.response.start"}],
    "status-str": [{"type": "http.response.start", "status": "200"}],
    "header-str": [{"type": "http.response.start", "status": 200, "headers": [("x-a", "b")]}],
    "header-not-pair": [{"type": "http.response.start", "status": 200, "headers": [(b"x-a",)]}],
    "body-before-start": [{"type": "http.response.body", "body": b"x"}],
    "body-str": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": "text, not bytes"},
    ],
    "start-twice": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.start", "status": 200, "headers": []},
    ],
    "not-a-dict": [[("type", "http.response.start")]],
    "type-not-str": [{"type": b"http.response.start", "status": 200}],
    "status-informational": [{"type": "http.response.start", "status": 101, "headers": []}],
    "status-out-of-range": [{"type": "http.response.start", "status": 1000, "headers": []}],
    "status-600": [{"type": "http.response.start", "status": 600, "headers": []}],
    "status-999": [{"type": "http.response.start", "status": 999, "headers": []}],
    "status-below-100": [{"type": "http.response.start", "status": 99, "headers": []}],
    "trailers-not-bool": [{"type": "http.response.start", "status": 200, "trailers": "yes"}],
    "trailers-before-body-end": [
        {"type": "http.response.start", "status": 200, "headers": [], "trailers": True},
        {"type": "http.response.trailers", "headers": []},
    ],
    "trailers-not-announced": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"x"},
        {"type": "http.response.trailers", "headers": []},
    ],
    "pathsend-before-start": [{"type": "http.response.pathsend", "path": "/etc/hostname"}],
    "early-hint-not-bytes": [{"type": "http.response.early_hint", "links": ["</a.css>; rel=preload"]}],
    "header-name-space": [{"type": "http.response.start", "status": 200, "headers": [(b"x a", b"b")]}],
    "more-body-not-bool": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"x", "more_body": "yes"},
    ],
    "body-over-content-length": [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]},
        {"type": "http.response.body", "body": b"three"},
    ],
    "after-complete": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"done"},
        {"type": "http.response.body", "body": b"again"},
    ],
}


@route("/send-check")
async def send_check(scope, receive, send):
    """Sends an invalid message; records the exception the app saw."""
    kind = query(scope)["kind"]
    messages = BAD_SENDS[kind]
    started = False
    try:
        for message in messages:
            await send(message)
            started = started or message["type"] == "http.response.start"
    except Exception as exc:  # noqa: BLE001 - reporting whatever the server raised
        side_write(f"send-{kind}", f"{type(exc).__name__}: {exc}")
    else:
        side_write(f"send-{kind}", "no-exception")
    # Best effort to finish the exchange; the server may refuse.
    try:
        if not started:
            await respond(send, 500, b"invalid send was rejected")
        else:
            await send({"type": "http.response.body", "body": b""})
    except Exception:  # noqa: BLE001
        pass


class _Key(str):
    """A str subclass, as a key an application might build."""


def _runtime(text):
    """`text` as a str made at run time: equal to the literal, not the
    interned object a dict display in code would hold."""
    return "".join(list(text))


@route("/runtime-keys")
async def runtime_keys(scope, receive, send):
    """A response whose messages use keys made at run time (a str subclass
    too) and carry a key that is not a str: send() must read them as it
    reads literal keys."""
    await send(
        {
            _runtime("type"): _runtime("http.response.start"),
            _runtime("status"): 203,
            _Key("headers"): [(b"x-made", b"at run time")],
            7: "not a field",
        }
    )
    await send({_runtime("type"): "http.response.body", _runtime("body"): b"one,", _runtime("more_body"): True})
    await send({"type": "http.response.body", _Key("body"): b"two"})


@route("/crlf-header")
async def crlf_header(scope, receive, send):
    """A header value that would inject a header if written as is (not caught)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"x-ok", b"fine\r\nx-injected: yes")],
        }
    )
    await send({"type": "http.response.body", "body": b"should not be sent"})


@route("/send-after-disconnect")
async def send_after_disconnect(scope, receive, send):
    """Waits for the client to go, then sends: records and re-raises the error."""
    while (await receive())["type"] != "http.disconnect":
        pass
    try:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"too late"})
    except Exception as exc:
        side_write(
            "send-after-disconnect",
            json.dumps({"type": type(exc).__name__, "oserror": isinstance(exc, OSError)}),
        )
        raise
    side_write("send-after-disconnect", json.dumps({"type": None, "oserror": False}))


# ---------------------------------------------------------------- app errors


@route("/raise-before")
async def raise_before(scope, receive, send):
    raise RuntimeError("boom-before-start")


@route("/raise-after")
async def raise_after(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    await asyncio.sleep(0.05)
    raise RuntimeError("boom-after-start")


@route("/no-response")
async def no_response(scope, receive, send):
    return None
