"""--proxy-protocol: HAProxy's PROXY protocol v1 and v2 before the first
request, from trusted peers only; malformed or missing closes."""

import ipaddress
import struct

import pytest

from rawhttp import request

APP = "edge_app:app"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(source, dest, sport, dport, command=1, tlvs=b""):
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(dest)
    family = 0x11 if src.version == 4 else 0x21
    body = src.packed + dst.packed + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


@pytest.fixture(scope="module")
def proxied(server_kind, loop_name, tmp_path_factory):
    from conftest import ServerFactory

    factory = ServerFactory(server_kind, loop_name, tmp_path_factory.mktemp("pp"))
    yield factory(APP, "--proxy-protocol")
    factory.stop_all()


def first_scope(server, preamble, headers=()):
    with server.client() as c:
        c.send(preamble + request("GET", "/", headers))
        response = c.read_response()
        assert response.status == 200
        return response.json()


def test_v1_tcp4_and_tcp6(proxied):
    scope = first_scope(proxied, b"PROXY TCP4 203.0.113.9 10.0.0.1 5555 443\r\n")
    assert scope["client"] == ["203.0.113.9", 5555]
    assert scope["server"] == ["127.0.0.1", proxied.port]
    scope = first_scope(proxied, b"PROXY TCP6 2001:db8::5 2001:db8::1 6000 443\r\n")
    assert scope["client"] == ["2001:db8::5", 6000]
    scope = first_scope(proxied, b"PROXY UNKNOWN\r\n")
    assert scope["client"][0] == "127.0.0.1"


def test_v2_tcp4_tcp6_with_tlvs_and_local(proxied):
    tlv = b"\x04\x00\x03abc"  # PP2_TYPE_NOOP
    scope = first_scope(proxied, v2("198.51.100.7", "10.0.0.1", 40000, 80, tlvs=tlv))
    assert scope["client"] == ["198.51.100.7", 40000]
    scope = first_scope(proxied, v2("2001:db8::9", "2001:db8::1", 4242, 80))
    assert scope["client"] == ["2001:db8::9", 4242]
    local = V2_SIGNATURE + bytes([0x20, 0x00, 0, 0])  # a health check
    scope = first_scope(proxied, local)
    assert scope["client"][0] == "127.0.0.1"


def test_header_split_across_writes_and_kept_alive(proxied):
    header = v2("198.51.100.8", "10.0.0.1", 1234, 80)
    with proxied.client() as c:
        c.send(header[:7])
        c.assert_open(wait=0.2)
        c.send(header[7:] + request("GET", "/"))
        assert c.read_response().json()["client"] == ["198.51.100.8", 1234]
        # The header comes once per connection; later requests keep its client.
        c.send(request("GET", "/"))
        assert c.read_response().json()["client"] == ["198.51.100.8", 1234]


def test_the_real_client_behind_the_header_is_not_trusted(proxied):
    scope = first_scope(
        proxied, b"PROXY TCP4 203.0.113.9 10.0.0.1 5555 443\r\n", [("X-Forwarded-For", "6.6.6.6")]
    )
    assert scope["client"] == ["203.0.113.9", 5555]


@pytest.mark.parametrize(
    "preamble",
    [
        b"",  # missing: a plain request
        b"PROXY TCP4 203.0.113.9 10.0.0.1 5555\r\n",
        b"PROXY TCP4 not-an-ip 10.0.0.1 5555 443\r\n",
        b"PROXY UDP4 203.0.113.9 10.0.0.1 5555 443\r\n",
        b"PROXY UNKNOWN " + b"x" * 200 + b"\r\n",
        V2_SIGNATURE + bytes([0x30, 0x11, 0, 12]) + bytes(12),  # version 3
        V2_SIGNATURE + bytes([0x21, 0x11, 0, 4]) + bytes(4),  # address block too short
        V2_SIGNATURE + bytes([0x21, 0x11, 0xFF, 0xFF]),  # longer than the bound
    ],
    ids=["missing", "v1-fields", "v1-address", "v1-udp", "v1-too-long", "v2-version", "v2-short", "v2-huge"],
)
def test_malformed_or_missing_closes_without_an_answer(proxied, preamble):
    with proxied.client() as c:
        c.send(preamble + request("GET", "/"))
        c.assert_closed()


def test_from_an_untrusted_peer_the_header_is_not_read(make_server):
    server = make_server(APP, "--proxy-protocol", "--forwarded-allow-ips", "10.0.0.1")
    with server.client() as c:
        c.send(request("GET", "/"))
        assert c.read_response().json()["client"][0] == "127.0.0.1"
    with server.client() as c:
        c.send(b"PROXY TCP4 203.0.113.9 10.0.0.1 5555 443\r\n" + request("GET", "/"))
        assert c.read_response().status == 400


def test_a_header_that_never_completes_times_out_silently(make_server):
    server = make_server(APP, "--proxy-protocol", "--timeout-request-header", "1")
    with server.client() as c:
        c.send(b"PROXY TCP4 203.0.113.9 ")
        c.assert_closed()  # within the 5 s client timeout, without a 408
