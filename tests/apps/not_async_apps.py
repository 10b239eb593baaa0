"""Applications that break the ASGI calling convention itself: the call
raises before any coroutine exists, or returns something that is not
awaitable. Lifespan scopes get the same treatment (and `auto` carries on)."""


def raises_on_call(scope, receive, send):
    raise RuntimeError("raised by the call itself")


def returns_none(scope, receive, send):
    return None
