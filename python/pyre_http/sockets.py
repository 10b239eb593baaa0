"""Listening sockets, created here and handed to the native core."""

from __future__ import annotations

import socket

from .errors import StartupError


def bind_socket(host: str, port: int, backlog: int, *, reuse_port: bool = False) -> socket.socket:
    """Bind and listen on host:port; raise StartupError with the OS reason on failure.

    A host containing ":" is IPv6 (``::`` listens on every address, and on
    Linux also takes IPv4 unless the system says otherwise). ``reuse_port``
    sets SO_REUSEPORT, so that several sockets can listen on one port and
    the kernel spreads new connections over them.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Restarting the server must not wait for old connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            if not hasattr(socket, "SO_REUSEPORT"):
                raise OSError("SO_REUSEPORT is not available on this system")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise StartupError(f"could not listen on {format_address(host, port)}: {exc}") from exc
    return sock


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bound_port(sock: socket.socket) -> int:
    """The real port, which differs from the configured one when that was 0."""
    return int(sock.getsockname()[1])
