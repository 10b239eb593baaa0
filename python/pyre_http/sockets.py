"""Listening sockets, created here and handed to the native core.

What to listen on comes from ``--bind`` (repeatable: ``HOST:PORT``,
``[IPv6]:PORT``, ``unix:PATH``, ``fd://N``), ``--uds``, ``--fd`` and systemd
socket activation (``LISTEN_FDS``/``LISTEN_PID``); ``--host``/``--port`` is
the default when none of them is given. One driver serves them all.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import stat

from .errors import StartupError

# systemd passes activated sockets from this descriptor on (sd_listen_fds).
SD_LISTEN_FDS_START = 3


@dataclasses.dataclass(frozen=True)
class BindSpec:
    """One place to listen: ``kind`` is ``"tcp"``, ``"unix"`` or ``"fd"``."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1


@dataclasses.dataclass
class Listener:
    """A listening socket, and the Unix socket file to remove when done."""

    sock: socket.socket
    spec: BindSpec
    unlink_path: str | None = None

    def describe(self, tls: bool = False) -> str:
        """How the startup line names it: ``http://127.0.0.1:8000`` (``https://`` with
        ``tls``), ``unix:/run/app.sock``."""
        if self.sock.family == socket.AF_UNIX:
            name = self.sock.getsockname()
            return f"unix:{name}" if isinstance(name, str) and name else "unix socket"
        host, port = self.sock.getsockname()[:2]
        return f"{'https' if tls else 'http'}://{format_address(host, port)}"

    def close(self) -> None:
        self.sock.close()
        if self.unlink_path is not None:
            path, self.unlink_path = self.unlink_path, None
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
            except OSError:
                pass


def parse_bind(text: str) -> BindSpec:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``unix:PATH`` or ``fd://N``; ValueError otherwise."""
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path:
            raise ValueError(f"--bind {text!r}: unix: needs a path")
        return BindSpec("unix", path=path)
    if text.startswith("fd://"):
        number = text[len("fd://") :]
        if not number.isdigit():
            raise ValueError(f"--bind {text!r}: fd:// needs a descriptor number")
        return BindSpec("fd", fd=int(number))
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"--bind {text!r}: write an IPv6 address as [ADDRESS]:PORT")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"--bind {text!r}: expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"--bind {text!r}: the port must be a number from 0 to 65535")
    return BindSpec("tcp", host=host or "0.0.0.0", port=int(port_text))


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


def bind_unix_socket(path: str, backlog: int, permissions: int | None = None) -> socket.socket:
    """Listen on a Unix socket at ``path``.

    A socket file left by a server that is gone (nothing accepts on it) is
    replaced; one a live server listens on is an error, and so is a path
    that is not a socket. ``permissions`` (e.g. ``0o660``) is applied to the
    file before anyone can connect.
    """
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if permissions is not None:
            os.chmod(path, permissions)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise StartupError(f"could not listen on unix:{path}: {exc}") from exc
    return sock


def _remove_stale_socket(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StartupError(f"could not listen on unix:{path}: {exc}") from exc
    if not stat.S_ISSOCK(mode):
        raise StartupError(f"could not listen on unix:{path}: the path exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise StartupError(f"could not listen on unix:{path}: {exc}") from exc
    else:
        raise StartupError(f"could not listen on unix:{path}: another server is listening on it")
    finally:
        probe.close()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def socket_from_fd(fd: int) -> socket.socket:
    """A listening stream socket inherited as descriptor ``fd`` (``--fd``, systemd)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise StartupError(f"could not use descriptor {fd}: {exc}") from exc
    try:
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            raise StartupError(f"descriptor {fd} is not a TCP or Unix stream socket")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise StartupError(f"descriptor {fd} is not a listening socket")
        sock.setblocking(False)
    except StartupError:
        sock.detach()
        raise
    except OSError as exc:
        sock.detach()
        raise StartupError(f"could not use descriptor {fd}: {exc}") from exc
    return sock


def systemd_fds() -> list[int]:
    """Descriptors passed by systemd socket activation to this process.

    As sd_listen_fds(unset_environment=1): ``LISTEN_FDS`` counts them from
    descriptor 3 when ``LISTEN_PID`` is this process; the variables are then
    removed so that child processes do not take them for their own.
    """
    pid = os.environ.get("LISTEN_PID")
    count = os.environ.get("LISTEN_FDS")
    if pid is None or count is None:
        return []
    if not pid.isdigit() or int(pid) != os.getpid():
        return []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    if not count.isdigit():
        raise StartupError(f"LISTEN_FDS={count!r} is not a number")
    return list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(count)))


def open_listeners(
    specs: list[BindSpec], backlog: int, uds_permissions: int | None = None
) -> list[Listener]:
    """Bind or adopt every socket in ``specs``; on failure close those already open."""
    listeners: list[Listener] = []
    try:
        for spec in specs:
            if spec.kind == "tcp":
                listeners.append(Listener(bind_socket(spec.host, spec.port, backlog), spec))
            elif spec.kind == "unix":
                sock = bind_unix_socket(spec.path, backlog, uds_permissions)
                listeners.append(Listener(sock, spec, unlink_path=spec.path))
            else:
                listeners.append(Listener(socket_from_fd(spec.fd), spec))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bound_port(sock: socket.socket) -> int:
    """The real port, which differs from the configured one when that was 0."""
    return int(sock.getsockname()[1])
