"""Applications whose call returns an awaitable that is not a coroutine.

ASGI only asks that ``app(scope, receive, send)`` return something to
await. Each app here answers http requests with ``kind=<name>`` and echoes
WebSocket text messages with the same prefix; lifespan is left to
``--lifespan off``.

- ``AwaitableClass``: the class is the app; its instance keeps the three
  arguments (as attributes called ``scope``, ``receive`` and ``send``, the
  names that tripped a server stepping the object as if it were a
  coroutine) and ``__await__`` delegates to an ``async def`` method.
- ``awaitable_instance``: an instance whose ``__call__`` returns itself.
- ``generator_awaitable``: ``__await__`` is a plain generator function
  (``yield from`` the coroutine's iterator), as written before ``async def``.
- ``types_coroutine_app``: a ``types.coroutine`` generator, awaitable
  without ``__await__``.
- ``iterator_without_throw``: ``__await__`` returns a bare iterator (only
  ``__next__``) that waits forever on a future; cancelling the task must
  raise ``CancelledError`` at the await, as Python does, since the iterator
  cannot take it through a ``throw`` method.
- ``not_awaitable``: returns an object with no ``__await__`` at all.
"""

import asyncio
import types


async def handle(kind, scope, receive, send):
    if scope["type"] == "websocket":
        await websocket_echo(kind, receive, send)
        return
    body = f"kind={kind}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def websocket_echo(kind, receive, send):
    message = await receive()
    assert message["type"] == "websocket.connect", message
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": f"{kind}:{message.get('text')}"})


class AwaitableClass:
    def __init__(self, scope, receive, send):
        self.scope = scope
        self.receive = receive
        self.send = send

    def __await__(self):
        return self.run().__await__()

    async def run(self):
        await handle("class", self.scope, self.receive, self.send)


class AwaitableInstance:
    """`__call__` keeps the arguments and returns the instance itself (one
    request at a time, which is all the tests send)."""

    def __call__(self, scope, receive, send):
        self.scope, self.receive, self.send = scope, receive, send
        return self

    def __await__(self):
        return self.run().__await__()

    async def run(self):
        await handle("instance", self.scope, self.receive, self.send)


awaitable_instance = AwaitableInstance()


class GeneratorAwaitable:
    def __init__(self, scope, receive, send):
        self.scope, self.receive, self.send = scope, receive, send

    def __await__(self):
        result = yield from handle("generator", self.scope, self.receive, self.send).__await__()
        return result


def generator_awaitable(scope, receive, send):
    return GeneratorAwaitable(scope, receive, send)


@types.coroutine
def types_coroutine_app(scope, receive, send):
    result = yield from handle("types.coroutine", scope, receive, send).__await__()
    return result


class _WaitForever:
    """An iterator yielding a future that never completes, the way
    ``Future.__await__`` does (flagged as a blocking wait for the task)."""

    def __init__(self):
        self.future = asyncio.get_running_loop().create_future()

    def __iter__(self):
        return self

    def __next__(self):
        if self.future.done():
            raise StopIteration(self.future.result())
        self.future._asyncio_future_blocking = True
        return self.future


class _AwaitsForever:
    def __await__(self):
        return _WaitForever()


def iterator_without_throw(scope, receive, send):
    return _AwaitsForever()


class NotAwaitable:
    pass


def not_awaitable(scope, receive, send):
    return NotAwaitable()
