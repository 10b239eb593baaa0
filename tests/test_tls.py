"""TLS in the core (rustls): handshakes with TLS 1.2 and 1.3 from Python's
ssl module, httpx, curl and openssl s_client; client certificates required,
optional and from the wrong CA; the scope's `tls` extension; keep-alive,
pipelining and WebSockets over TLS; the bounds and timeouts under TLS
(a stalled handshake, garbage, a client that does not read); plain HTTP on
the TLS port; keys in every format and startup errors as one line."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from websockets.sync.client import connect as ws_connect

from conftest import APPS, ROOT, ServerFactory
from memory import MiB, RssSampler

APP = "edge_app:app"
PASSWORD = b"correct horse"
TIMEOUT = 10.0


class Certs:
    """A server certificate (EC, SEC1 key) from one CA, an RSA one from
    another, client certificates from a client CA and from a stranger,
    and keys re-encoded in every format the server reads."""

    def __init__(self, directory):
        self.dir = directory
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("localhost", "127.0.0.1")
        self.ca_file = self.write("ca.pem", self.ca.cert_pem.bytes())
        self.cert_file = self.write("cert.pem", b"".join(b.bytes() for b in self.server.cert_chain_pems))
        self.key_file = self.write("key.pem", self.server.private_key_pem.bytes())
        self.server_pem = self.server.cert_chain_pems[0].bytes().decode()

        rsa_ca = trustme.CA(key_type=trustme.KeyType.RSA)
        rsa = rsa_ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)
        self.rsa_ca_file = self.write("rsa-ca.pem", rsa_ca.cert_pem.bytes())
        self.rsa_cert_file = self.write("rsa-cert.pem", b"".join(b.bytes() for b in rsa.cert_chain_pems))
        rsa_key = serialization.load_pem_private_key(rsa.private_key_pem.bytes(), None)
        ec_key = serialization.load_pem_private_key(self.server.private_key_pem.bytes(), None)
        traditional = serialization.PrivateFormat.TraditionalOpenSSL
        pkcs8 = serialization.PrivateFormat.PKCS8
        plain = serialization.NoEncryption()
        locked = serialization.BestAvailableEncryption(PASSWORD)
        pem = serialization.Encoding.PEM
        # (certificate, key file, password) for each key encoding.
        self.keys = {
            "pkcs8": (self.cert_file, self.write("k8.pem", ec_key.private_bytes(pem, pkcs8, plain)), None),
            "pkcs8-encrypted": (self.cert_file, self.write("k8e.pem", ec_key.private_bytes(pem, pkcs8, locked)), PASSWORD),
            "sec1": (self.cert_file, self.key_file, None),
            "sec1-encrypted": (self.cert_file, self.write("k1e.pem", ec_key.private_bytes(pem, traditional, locked)), PASSWORD),
            "pkcs1": (self.rsa_cert_file, self.write("r1.pem", rsa_key.private_bytes(pem, traditional, plain)), None),
            "pkcs1-encrypted": (self.rsa_cert_file, self.write("r1e.pem", rsa_key.private_bytes(pem, traditional, locked)), PASSWORD),
            "rsa-pkcs8-encrypted": (self.rsa_cert_file, self.write("r8e.pem", rsa_key.private_bytes(pem, pkcs8, locked)), PASSWORD),
        }  # fmt: skip

        self.client_ca = trustme.CA()
        self.client_ca_file = self.write("client-ca.pem", self.client_ca.cert_pem.bytes())
        self.client = self.client_ca.issue_cert("client@example.com", common_name="Test Client", organization_name="Pyre Tests")
        self.stranger = trustme.CA().issue_cert("stranger@example.com", common_name="Stranger")

    def write(self, name, data):
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def context(self, *, client=None, minimum=None, maximum=None, ciphers=None):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if client is not None:
            client.configure_cert(ctx)
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        return ctx


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


def tls_args(certs, *extra):
    return ["--ssl-certfile", certs.cert_file, "--ssl-keyfile", certs.key_file, *extra]


@pytest.fixture(scope="module")
def factory(server_kind, loop_name, tmp_path_factory):
    servers = ServerFactory(server_kind, loop_name, tmp_path_factory.mktemp("tls"))
    yield servers
    servers.stop_all()


@pytest.fixture(scope="module")
def tls_server(factory, certs):
    return factory(APP, *tls_args(certs))


@pytest.fixture(scope="module")
def mtls_server(factory, certs):
    """Client certificates required."""
    return factory(APP, *tls_args(certs, "--ssl-ca-certs", certs.client_ca_file, "--ssl-cert-reqs", "2"))


@pytest.fixture(scope="module")
def optional_mtls_server(factory, certs):
    return factory(APP, *tls_args(certs, "--ssl-ca-certs", certs.client_ca_file, "--ssl-cert-reqs", "1"))


def tls_connect(srv, ctx, *, alpn=None):
    raw = socket.create_connection((srv.host, srv.port), timeout=TIMEOUT)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_responses(sock, count):
    """`count` responses with content-length bodies, as (head, body)."""
    data = b""
    responses = []
    while len(responses) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode("latin-1")
            length = next(
                int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.lower().startswith("content-length:")
            )
            if len(data) >= head_end + 4 + length:
                responses.append((head, data[head_end + 4 : head_end + 4 + length]))
                data = data[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(responses)} responses")
        data += chunk
    return responses


def get(srv, ctx, path="/"):
    """One GET over a new TLS connection: (status line, JSON body, TLS socket facts)."""
    with tls_connect(srv, ctx, alpn=["h2", "http/1.1"]) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        [(head, body)] = read_responses(s, 1)
        facts = {"version": s.version(), "cipher": s.cipher()[0], "alpn": s.selected_alpn_protocol()}
    return head.split("\r\n")[0], json.loads(body), facts


def refused(srv, ctx):
    """True when the handshake (or, in TLS 1.3, the first read after it) fails."""
    try:
        with tls_connect(srv, ctx) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            return not s.recv(65536).startswith(b"HTTP/1.1 200")
    except (ssl.SSLError, OSError):
        return True


# --- handshakes and the scope ---------------------------------------------


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_each_tls_version_and_the_scope_extension(tls_server, certs, version):
    tls_version = getattr(ssl.TLSVersion, version.replace(".", "_"))
    status, scope, facts = get(tls_server, certs.context(minimum=tls_version, maximum=tls_version))
    assert status == "HTTP/1.1 200 OK"
    assert facts["version"] == version
    assert facts["alpn"] == "http/1.1"
    assert scope["scheme"] == "https"
    tls = scope["tls"]
    assert tls["tls_version"] == {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}[version]
    assert tls["server_cert"] == certs.server_pem
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    if version == "TLSv1.3":
        assert tls["cipher_suite"] in (0x1301, 0x1302, 0x1303)


def test_cipher_suite_number_is_the_negotiated_one(tls_server, certs):
    ctx = certs.context(maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-CHACHA20-POLY1305")
    _, scope, facts = get(tls_server, ctx)
    assert facts["cipher"] == "ECDHE-ECDSA-CHACHA20-POLY1305"
    assert scope["tls"]["cipher_suite"] == 0xCCA9


def test_httpx_keeps_the_connection_alive(tls_server, certs):
    with httpx.Client(verify=certs.context(), timeout=TIMEOUT) as client:
        first = client.get(f"https://localhost:{tls_server.port}/one")
        second = client.get(f"https://localhost:{tls_server.port}/two")
        assert first.status_code == second.status_code == 200
        assert first.json()["scheme"] == "https"
        # One connection served both: the same client port.
        assert first.json()["client"] == second.json()["client"]


def test_pipelined_requests_over_tls(tls_server, certs):
    with tls_connect(tls_server, certs.context()) as s:
        s.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i for i in range(5)))
        responses = read_responses(s, 5)
    assert [head.split("\r\n")[0] for head, _ in responses] == ["HTTP/1.1 200 OK"] * 5


def test_websocket_over_tls(tls_server, certs):
    with ws_connect(f"wss://localhost:{tls_server.port}/ws", ssl=certs.context(), open_timeout=TIMEOUT) as ws:
        scope = json.loads(ws.recv(timeout=TIMEOUT))
        assert scope["scheme"] == "wss"
        assert scope["tls"]["tls_version"] in (0x0303, 0x0304)
        ws.send("over tls")
        assert ws.recv(timeout=TIMEOUT) == "over tls"
        ws.send(b"\x00" * 200_000)
        assert ws.recv(timeout=TIMEOUT) == b"\x00" * 200_000


@pytest.mark.parametrize("flags", [["--tlsv1.2", "--tls-max", "1.2"], ["--tlsv1.3"]])
def test_curl(tls_server, certs, flags):
    curl = shutil.which("curl")
    assert curl, "curl is required (.ci/run installs it)"
    out = subprocess.run(
        [curl, "-sS", "--http1.1", "--cacert", certs.ca_file, *flags, f"https://localhost:{tls_server.port}/"],
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tls"]["tls_version"] == (0x0303 if "1.2" in flags else 0x0304)


@pytest.mark.parametrize("flag, version", [("-tls1_2", 0x0303), ("-tls1_3", 0x0304)])
def test_openssl_s_client(tls_server, certs, flag, version):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is required (.ci/run installs it)"
    out = subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{tls_server.port}", "-servername", "localhost",
         "-CAfile", certs.ca_file, flag, "-alpn", "http/1.1", "-quiet", "-verify_return_error"],
        input=b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        capture_output=True,
        timeout=TIMEOUT,
    )  # fmt: skip
    assert out.stdout.startswith(b"HTTP/1.1 200 OK"), (out.stdout, out.stderr)
    assert json.loads(out.stdout.partition(b"\r\n\r\n")[2])["tls"]["tls_version"] == version


# --- client certificates ----------------------------------------------------


def test_required_client_certificate_is_in_the_scope(mtls_server, certs):
    _, scope, _ = get(mtls_server, certs.context(client=certs.client))
    tls = scope["tls"]
    sent = [blob.bytes().decode() for blob in certs.client.cert_chain_pems]
    assert tls["client_cert_chain"] == sent
    subject = x509.load_pem_x509_certificate(sent[0].encode()).subject.rfc4514_string()
    assert tls["client_cert_name"] == subject
    assert "CN=Test Client" in subject
    assert tls["client_cert_error"] is None


def test_required_client_certificate_missing_or_from_another_ca(mtls_server, certs):
    assert refused(mtls_server, certs.context())
    assert refused(mtls_server, certs.context(client=certs.stranger))
    # The server is unharmed.
    assert get(mtls_server, certs.context(client=certs.client))[0] == "HTTP/1.1 200 OK"


def test_optional_client_certificate(optional_mtls_server, certs):
    _, without, _ = get(optional_mtls_server, certs.context())
    assert without["tls"]["client_cert_chain"] == []
    assert without["tls"]["client_cert_name"] is None
    _, with_cert, _ = get(optional_mtls_server, certs.context(client=certs.client))
    assert len(with_cert["tls"]["client_cert_chain"]) >= 1
    # A certificate that is sent must verify.
    assert refused(optional_mtls_server, certs.context(client=certs.stranger))


def test_curl_with_a_client_certificate(mtls_server, certs, tmp_path):
    cert = tmp_path / "client.pem"
    certs.client.private_key_and_cert_chain_pem.write_to_path(str(cert))
    out = subprocess.run(
        ["curl", "-sS", "--cacert", certs.ca_file, "--cert", str(cert), f"https://localhost:{mtls_server.port}/"],
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    assert "CN=Test Client" in json.loads(out.stdout)["tls"]["client_cert_name"]


# --- what a broken, hostile or slow client gets -----------------------------


def test_plain_http_on_the_tls_port_gets_a_plain_400(tls_server):
    with socket.create_connection((tls_server.host, tls_server.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in data
    assert data.endswith(b"The plain HTTP request was sent to an HTTPS port\n")


def test_garbage_instead_of_a_client_hello_is_closed(tls_server, certs):
    with socket.create_connection((tls_server.host, tls_server.port), timeout=TIMEOUT) as s:
        s.sendall(b"\x16\x03\x01\x00\x05garbage that is no handshake" + bytes(range(256)))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    # At most a TLS alert record (content type 21), never HTTP.
    assert data == b"" or data[0] == 0x15, data
    assert get(tls_server, certs.context())[0] == "HTTP/1.1 200 OK"


def test_a_stalled_handshake_times_out(make_server, certs):
    srv = make_server(APP, *tls_args(certs, "--timeout-request-header", "1"))
    # A first handshake first, so that what it opens once does not count.
    assert get(srv, certs.context())[0] == "HTTP/1.1 200 OK"
    time.sleep(0.2)
    baseline = srv.fds()
    with socket.create_connection((srv.host, srv.port), timeout=TIMEOUT) as s:
        # The start of a ClientHello record, then nothing.
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        started = time.monotonic()
        # Others are served meanwhile.
        assert get(srv, certs.context())[0] == "HTTP/1.1 200 OK"
        assert s.recv(65536) == b""
        waited = time.monotonic() - started
    # The timeout is 1 s and timers are checked once a second.
    assert 0.9 <= waited < 4.0, waited
    deadline = time.monotonic() + 10
    while srv.fds() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.fds() <= baseline, open_descriptors(srv)


def open_descriptors(srv):
    """What the server has open, for a failure message."""
    where = f"/proc/{srv.pid}/fd"
    found = []
    for fd in os.listdir(where):
        try:
            found.append(f"{fd} -> {os.readlink(os.path.join(where, fd))}")
        except OSError:
            pass
    return found


def test_a_client_that_does_not_read_holds_bounded_memory(make_server, certs):
    srv = make_server(APP, *tls_args(certs, "--timeout-send", "2"))
    ctx = certs.context()
    assert get(srv, ctx)[0] == "HTTP/1.1 200 OK"  # warm
    sampler = RssSampler(srv)
    before = srv.rss()
    sampler.start()
    with tls_connect(srv, ctx) as s:
        # 64 responses of 1 MiB asked for at once, none read.
        s.sendall(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n" * 64)
        time.sleep(1.0)
        # Another client is served while this one stalls.
        assert get(srv, ctx)[0] == "HTTP/1.1 200 OK"
        # --timeout-send (2 s, checked once a second) closes the stalled
        # connection: reading afterwards ends long before 64 MiB arrive.
        time.sleep(2.5)
        received = 0
        s.settimeout(TIMEOUT)
        try:
            while chunk := s.recv(1 << 20):
                received += len(chunk)
        except (ssl.SSLError, OSError):
            pass
    peak = sampler.stop()
    assert peak - before < 16 * MiB, (peak - before) / MiB
    assert received < 16 * MiB, received / MiB


# --- settings ---------------------------------------------------------------


def test_ssl_ciphers_limits_tls12_suites(make_server, certs):
    srv = make_server(APP, *tls_args(certs, "--ssl-ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"))
    tls12 = {"maximum": ssl.TLSVersion.TLSv1_2}
    _, scope, _ = get(srv, certs.context(**tls12))
    assert scope["tls"]["cipher_suite"] == 0xC02C
    assert refused(srv, certs.context(**tls12, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))
    # As with OpenSSL, the cipher string leaves TLS 1.3 alone.
    assert get(srv, certs.context(minimum=ssl.TLSVersion.TLSv1_3))[2]["version"] == "TLSv1.3"


@pytest.mark.parametrize(
    "kind", ["pkcs8", "pkcs8-encrypted", "sec1", "sec1-encrypted", "pkcs1", "pkcs1-encrypted", "rsa-pkcs8-encrypted"]
)
def test_every_key_encoding_loads(certs, kind):
    # In a fresh interpreter: the front's tests import pyre_http from the
    # source tree, where the native module is not built.
    certfile, keyfile, password = certs.keys[kind]
    settings = dict(
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        ssl_keyfile_password=password and password.decode(),
        ssl_ca_certs=None,
        ssl_cert_reqs=0,
        ssl_ciphers="TLSv1",
    )
    code = f"from pyre_http import _core; print(type(_core.load_tls(**{settings!r})).__name__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert out.stdout.strip() == "TlsSettings", out.stderr


def test_an_encrypted_rsa_key_serves(make_server, certs):
    certfile, keyfile, password = certs.keys["pkcs1-encrypted"]
    srv = make_server(
        APP, "--ssl-certfile", certfile, "--ssl-keyfile", keyfile, "--ssl-keyfile-password", password.decode()
    )
    ctx = ssl.create_default_context(cafile=certs.rsa_ca_file)
    _, scope, facts = get(srv, ctx)
    assert scope["scheme"] == "https"
    assert "RSA" in facts["cipher"] or facts["version"] == "TLSv1.3"


def test_key_in_the_certificate_file(make_server, certs, tmp_path):
    both = tmp_path / "both.pem"
    certs.server.private_key_and_cert_chain_pem.write_to_path(str(both))
    srv = make_server(APP, "--ssl-certfile", str(both))
    assert get(srv, certs.context())[0] == "HTTP/1.1 200 OK"
    assert "running on https://" in srv.stderr_text()


def startup_error(run_cli, *args):
    out = run_cli(APP, "--app-dir", str(APPS), "--port", "0", *args)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1, out.stderr
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_startup_errors_are_one_line(run_cli, certs, tmp_path):
    cert8, key8, _ = certs.keys["pkcs8-encrypted"]
    cert1, key1, _ = certs.keys["pkcs1-encrypted"]
    wrong = ("--ssl-keyfile-password", "wrong")
    assert "wrong password" in startup_error(run_cli, "--ssl-certfile", cert8, "--ssl-keyfile", key8, *wrong)
    assert "wrong password" in startup_error(run_cli, "--ssl-certfile", cert1, "--ssl-keyfile", key1, *wrong)
    assert "give its password" in startup_error(run_cli, "--ssl-certfile", cert8, "--ssl-keyfile", key8)
    assert "does not match the certificate" in startup_error(
        run_cli, "--ssl-certfile", certs.cert_file, "--ssl-keyfile", certs.keys["pkcs1"][1]
    )
    assert 'unknown cipher "NOPE-AES"' in startup_error(run_cli, *tls_args(certs, "--ssl-ciphers", "ECDHE:NOPE-AES"))
    assert "needs ssl_ca_certs" in startup_error(run_cli, *tls_args(certs, "--ssl-cert-reqs", "2"))
    missing = str(tmp_path / "missing.pem")
    assert "cannot read" in startup_error(run_cli, "--ssl-certfile", missing)
    assert "no PEM private key" in startup_error(run_cli, "--ssl-certfile", certs.cert_file)


def test_keyfile_without_certfile_is_a_usage_error(run_cli, certs):
    out = run_cli(APP, "--ssl-keyfile", certs.key_file)
    assert out.returncode == 2
    assert "ssl_keyfile needs ssl_certfile" in out.stderr


# --- processes ----------------------------------------------------------------


def https_status(port, ctx, path="/"):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        return data.split(b"\r\n", 1)[0].decode()
    except OSError:
        return None


def wait_for_https(port, ctx, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        status = https_status(port, ctx)
        if status:
            return status
        time.sleep(0.1)
    pytest.fail("no HTTPS answer")


def test_workers_serve_tls(make_server, certs):
    srv = make_server(APP, *tls_args(certs, "--workers", "2"), wait=False)
    assert wait_for_https(srv.port, certs.context(), srv.proc) == "HTTP/1.1 200 OK"
    assert get(srv, certs.context())[1]["scheme"] == "https"


def test_gunicorn_worker_class_serves_tls(tmp_path, certs):
    from test_workers_gunicorn import Gunicorn

    server = Gunicorn(tmp_path, "-w", "1", "--certfile", certs.cert_file, "--keyfile", certs.key_file)
    try:
        assert wait_for_https(server.port, certs.context(), server.proc) == "HTTP/1.1 200 OK"
    finally:
        server.stop()


# --- files over TLS (read, encrypted and written instead of sendfile) -----------


def test_pathsend_and_zerocopysend_over_tls(make_server, certs, tmp_path):
    from urllib.parse import quote

    data = bytes(range(256)) * (3 * 4096 + 17)  # about 3 MiB, not a multiple of 64 KiB
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    srv = make_server("file_apps:app", *tls_args(certs))
    base = f"https://localhost:{srv.port}"
    with httpx.Client(verify=certs.context(), timeout=TIMEOUT) as client:
        for cl in ("1", "0"):  # with content-length, and chunked
            r = client.get(f"{base}/pathsend?cl={cl}&path={quote(str(path))}")
            assert r.status_code == 200
            assert r.content == data
        r = client.get(f"{base}/zerocopy?path={quote(str(path))}&offset=1000&count=200000")
        # The app follows the file with a body message of its own.
        assert r.content == data[1000:201000] + b"<tail>"
