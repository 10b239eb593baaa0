#!/usr/bin/env python3
"""Writes a starting corpus for one fuzz target (used by scripts/fuzz when
the target's corpus folder is empty).

    fuzz/seed.py TARGET DIR

Sources: the byte-string literals of the Rust tests (requests in
src/http1/tests/ and src/http1/body.rs), the gunicorn request corpus in
../shared/corpus/gunicorn-requests (decoded as its README says; skipped when
absent), and, for `ws`, client frames built here like the ones in
src/ws/tests/. Each stream is wrapped in the driver's input layout (see
src/fuzzing/) with a few option bytes and split patterns.
"""

import hashlib
import os
import re
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "..", "shared", "corpus", "gunicorn-requests")


def rust_byte_strings(path):
    """The b"..." literals of a Rust file, unescaped."""
    text = open(path, encoding="utf-8").read()
    out = []
    for m in re.finditer(r'b"((?:[^"\\]|\\.|\\\n)*)"', text, re.S):
        body, data, i = m.group(1), bytearray(), 0
        while i < len(body):
            c = body[i]
            if c != "\\":
                data += c.encode()
                i += 1
                continue
            e = body[i + 1]
            if e == "x":
                data.append(int(body[i + 2 : i + 4], 16))
                i += 4
            elif e == "\n":  # line continuation: skip the leading spaces
                i += 2
                while i < len(body) and body[i] in " \t":
                    i += 1
            else:
                data += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0"}.get(e, e.encode())
                i += 2
        out.append(bytes(data))
    return out


def gunicorn_requests():
    """The corpus requests as bytes on the wire (README's four steps)."""
    out = []
    for sub in ("valid", "invalid"):
        folder = os.path.join(CORPUS, sub)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".http"):
                continue
            s = open(os.path.join(folder, name), "rb").read().replace(b"\n", b"")
            s = s.replace(b"\\r\\n", b"\r\n")
            s = s.replace(b"\\0", b"\0").replace(b"\\n", b"\n").replace(b"\\t", b"\t")
            s = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), s)
            out.append(s)
    return out


def requests():
    found = []
    folder = os.path.join(ROOT, "src", "http1", "tests")
    for name in sorted(os.listdir(folder)):
        found += rust_byte_strings(os.path.join(folder, name))
    found = [s for s in found if b"HTTP/" in s]
    found += gunicorn_requests()
    with_host = []
    for s in found:
        # Many corpus requests lack Host, which stops them at 400: add one.
        if b"\r\n" in s and b"\nhost:" not in s.lower():
            eol = s.index(b"\r\n") + 2
            with_host.append(s[:eol] + b"Host: h\r\n" + s[eol:])
    return unique(found + with_host)


def chunked_bodies():
    bodies = [s for s in rust_byte_strings(os.path.join(ROOT, "src", "http1", "body.rs"))]
    for r in requests():
        head_end = r.find(b"\r\n\r\n")
        if head_end >= 0 and b"chunked" in r[:head_end].lower():
            bodies.append(r[head_end + 4 :])
    return unique([b for b in bodies if b])


MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(b0, payload, mask=MASK):
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n <= 0xFFFF:
        head = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def deflate_stream(messages):
    """Compressed payloads of successive messages sharing one window."""
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = []
    for m in messages:
        data = z.compress(m) + z.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def ws_streams():
    hello = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    big = bytes([1] + [0] * 299)
    close = lambda code, reason=b"": code.to_bytes(2, "big") + reason
    text = "héllo wörld €😀".encode()
    c1, c2 = deflate_stream([b"Hello, Hello, Hello", text * 3])
    long_msg = bytes(i * i % 251 for i in range(3000))
    (c3,) = deflate_stream([long_msg])
    return [
        frame(0x81, b"Hello"),
        frame(0x82, big),
        frame(0x81, text),
        frame(0x01, b"Hel") + frame(0x89, b"p") + frame(0x80, b"lo"),
        frame(0x01, "é".encode()[:1]) + frame(0x80, "é".encode()[1:]),
        frame(0x88, close(1000, b"bye")),
        frame(0x88, b""),
        frame(0x88, close(1005)),
        frame(0x88, b"\x03"),
        frame(0x89, b"ping") + frame(0x8A, b"pong") + frame(0x81, b"x"),
        frame(0x81, b"\xff\xfe"),
        # A 64-bit length whose payload has not all arrived (a 70 000-byte
        # seed would slow every run down).
        bytes([0x82, 0xFF]) + (70000).to_bytes(8, "big") + MASK + bytes(100),
        frame(0x82, bytes(300)),
        frame(0x80, b"x"),
        frame(0x81, b"a") + frame(0x82, b"b") + frame(0x88, close(1001)),
        bytes([0x81, 0x05]) + b"Hello",  # unmasked
        # permessage-deflate (RFC 7692 §7.2.3 and zlib-made messages)
        frame(0xC1, hello),
        frame(0xC1, hello) + frame(0xC1, bytes([0xF2, 0x00, 0x11, 0x00, 0x00])),
        frame(0x41, hello[:3]) + frame(0x80, hello[3:]),
        frame(0xC2, bytes([0x00, 0x05, 0x00, 0xFA, 0xFF]) + b"Hello" + b"\x00"),
        frame(0xC1, bytes([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00])),
        frame(0xC1, c1) + frame(0xC1, c2) + frame(0x88, close(1000)),
        frame(0x42, c3[:100]) + frame(0x89, b"") + frame(0x80, c3[100:]),
        frame(0xC9, b""),
    ]


def unique(items):
    seen, out = set(), []
    for i in items:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def section(data):
    return bytes([len(data)]) + bytes(data)


def inputs(target):
    if target == "http1":
        variants = [
            (0x00, 0x00, []),
            (0x06, 0x01, [0]),
            (0x1A, 0x02, [6]),
            (0x4E, 0x03, [2, 40]),
            (0xB1, 0x00, [9]),
        ]
        for i, r in enumerate(requests()):
            for j in (0, 1 + i % 4):
                options, reading, sizes = variants[j]
                yield bytes([options, reading]) + section(sizes) + r
    elif target == "chunked":
        for i, b in enumerate(chunked_bodies()):
            yield bytes([0]) + section([]) + b
            yield bytes([i % 2]) + section([[0], [3, 7], [1]][i % 3]) + b
    elif target == "ws":
        actions = [[], [0, 0x0B, 0, 0x1C, 0x0D], [0x86], [0x0D, 0, 0x4E, 0x3E]]
        for i, s in enumerate(ws_streams()):
            for config in (0x00, 0x01, 0x12, 0x63, 0x0C):
                yield bytes([config, 1]) + section([]) + section([]) + s
                yield (
                    bytes([config, i % 2])
                    + section([[0], [6], [1, 30]][i % 3])
                    + section(actions[(i + config) % 4])
                    + s
                )
    else:
        sys.exit(f"unknown target {target}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    target, folder = sys.argv[1:]
    os.makedirs(folder, exist_ok=True)
    n = 0
    for data in inputs(target):
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        n += 1
    print(f"seeded {folder} with {n} inputs", file=sys.stderr)


if __name__ == "__main__":
    main()
