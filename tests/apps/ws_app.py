"""The plain-ASGI WebSocket application of the end-to-end tests.

One handler per behaviour, chosen by the first path segment. What a test
checks from outside (the message that ended a connection, an exception
send() raised) is written as JSON into ``$PYRE_TEST_DIR/<name>``, the name
usually taken from the ``tag`` query parameter. An ``http`` request (an
upgrade the server did not treat as WebSocket) is answered with a JSON
description of its scope and recorded as ``http-<tag>``.
"""

import asyncio
import json
import os

from testapp import jsonable, query  # the same scope-to-JSON and query helpers

SIDE_DIR = os.environ.get("PYRE_TEST_DIR")
ROUTES = {}


def side_write(name, obj):
    if not SIDE_DIR:
        return
    path = os.path.join(SIDE_DIR, name)
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(obj))
    os.replace(path + ".tmp", path)


def side_exists(name):
    return bool(SIDE_DIR) and os.path.exists(os.path.join(SIDE_DIR, name))



def route(name):
    def register(handler):
        ROUTES[name] = handler
        return handler

    return register


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if scope.get("state") is not None:
                scope["state"]["started"] = True
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root + "/"):  # uvicorn prepends root_path
        path = path[len(root) :]
    name = path.strip("/").split("/")[0]
    if scope["type"] == "http":
        return await http(scope, receive, send)
    if scope["type"] != "websocket":
        raise RuntimeError(f"unsupported scope type {scope['type']!r}")
    handler = ROUTES.get(name)
    if handler is None:
        await receive()
        await send({"type": "websocket.close", "code": 1000})
        return
    return await handler(scope, receive, send)


async def http(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    info = {"type": scope["type"], "path": scope["path"], "headers": headers}
    side_write("http-" + query(scope).get("tag", "x"), info)
    body = json.dumps(info).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def until_disconnect(receive, tag, echo_to=None):
    """Receives (echoing if asked) until websocket.disconnect; records that message."""
    count = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            side_write("disconnect-" + tag, {**message, "count": count})
            return message
        if message["type"] != "websocket.receive":
            side_write("unexpected-" + tag, jsonable(message))
            continue
        count += 1
        if echo_to is not None:
            if message.get("text") is not None:
                await echo_to({"type": "websocket.send", "text": message["text"]})
            else:
                await echo_to({"type": "websocket.send", "bytes": message["bytes"]})


@route("echo")
async def echo(scope, receive, send):
    """Accepts and echoes every message, text as text and bytes as bytes.
    ?check=1 also records any message that has both or neither of bytes/text."""
    q = query(scope)
    tag = q.get("tag", "echo")
    connect = await receive()
    assert connect == {"type": "websocket.connect"}, connect
    await send({"type": "websocket.accept"})
    count = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            side_write("disconnect-" + tag, {**message, "count": count})
            return
        count += 1
        text, data = message.get("text"), message.get("bytes")
        if (text is None) == (data is None):
            side_write("bad-message-" + tag, jsonable(message))
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": data})


@route("scope")
async def scope_route(scope, receive, send):
    first = await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"scope": jsonable(scope), "first": first})})
    # A per-connection copy of the lifespan state: changing it here must not
    # show in the next connection's scope.
    if scope.get("state") is not None:
        scope["state"]["mutated"] = True
    await until_disconnect(receive, "scope")


@route("accept")
async def accept(scope, receive, send):
    """Accepts with ?subprotocol= and extra headers, then says hello."""
    q = query(scope)
    await receive()
    message = {"type": "websocket.accept", "headers": [(b"x-accepted", b"yes"), (b"set-cookie", b"ws=1")]}
    if "subprotocol" in q:
        message["subprotocol"] = q["subprotocol"]
    await send(message)
    await send({"type": "websocket.send", "text": "hello"})
    await until_disconnect(receive, q.get("tag", "accept"))


@route("reject")
async def reject(scope, receive, send):
    """Closes before accepting: the client gets 403."""
    await receive()
    await send({"type": "websocket.close", "code": 1000})


@route("deny")
async def deny(scope, receive, send):
    """The websocket.http.response extension: a custom HTTP answer instead of
    101, with the status from ?status= (418 by default)."""
    await receive()
    body = b"you shall not pass"
    await send(
        {
            "type": "websocket.http.response.start",
            "status": int(query(scope).get("status", 418)),
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
                (b"x-denied", b"yes"),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body[:4], "more_body": True})
    await send({"type": "websocket.http.response.body", "body": body[4:]})


@route("server-close")
async def server_close(scope, receive, send):
    """Accepts, sends one message, then closes with ?code= and ?reason=."""
    q = query(scope)
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "before close"})
    await send({"type": "websocket.close", "code": int(q.get("code", 1000)), "reason": q.get("reason", "")})
    message = await receive()
    side_write("after-close-" + q.get("tag", "x"), message)


@route("send-after-close")
async def send_after_close(scope, receive, send):
    """Waits for the disconnect, then sends: records what send() raised."""
    await receive()
    await send({"type": "websocket.accept"})
    await until_disconnect(receive, "sac")
    result = {"type": None, "oserror": False}
    try:
        for _ in range(3):  # an implementation may buffer the first one
            await send({"type": "websocket.send", "text": "too late"})
            await asyncio.sleep(0.05)
    except Exception as exc:  # noqa: BLE001 - reporting what the server raised
        result = {"type": type(exc).__name__, "oserror": isinstance(exc, OSError)}
    side_write("send-after-close", result)


@route("hold")
async def hold(scope, receive, send):
    """Accepts and does not call receive() until the file go-<tag> exists,
    then counts the messages until the disconnect."""
    q = query(scope)
    tag = q.get("tag", "hold")
    await receive()
    await send({"type": "websocket.accept"})
    side_write("accepted-" + tag, True)
    while not side_exists("go-" + tag):
        await asyncio.sleep(0.05)
    count, size = 0, 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            side_write("disconnect-" + tag, {**message, "count": count, "size": size})
            return
        count += 1
        size += len(message.get("bytes") or b"") + len((message.get("text") or "").encode())


@route("flood")
async def flood(scope, receive, send):
    """Sends ?count= binary messages of ?size= bytes as fast as send() allows,
    recording progress in flood-<tag> every 16 messages."""
    q = query(scope)
    tag, count, size = q.get("tag", "flood"), int(q["count"]), int(q.get("size", 65536))
    await receive()
    await send({"type": "websocket.accept"})
    for i in range(count):
        await send({"type": "websocket.send", "bytes": i.to_bytes(8, "big") * (size // 8)})
        if i % 16 == 0:
            side_write("flood-" + tag, i)
    side_write("flood-" + tag, count)
    await send({"type": "websocket.close", "code": 1000, "reason": "done"})
