"""The applications in examples/ served by the real server."""

import hashlib
import json

import httpx
import pytest

from conftest import ROOT


@pytest.fixture
def serve_example(make_server):
    def serve(app):
        return make_server(app, app_dir=ROOT)

    return serve


def test_hello(serve_example):
    srv = serve_example("examples.hello:app")
    r = httpx.get(f"{srv.url}/", timeout=5)
    assert r.status_code == 200
    assert r.text == "Hello, world!"
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-length"] == "13"
    assert httpx.get(f"{srv.url}/missing", timeout=5).status_code == 404


def test_starlette(serve_example):
    srv = serve_example("examples.starlette_app:app")
    with httpx.Client(base_url=srv.url, timeout=5) as client:
        r = client.get("/")
        assert r.status_code == 200
        assert r.text == "Hello from Starlette!"

        first = client.get("/json").json()
        second = client.get("/json").json()
        assert first["message"] == "hello"
        # Lifespan state: the same start time, and a counter shared by requests.
        assert first["started_at"] == second["started_at"] > 0
        assert second["visits"] == first["visits"] + 1

        r = client.get("/stream")
        assert r.status_code == 200
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.text == "".join(f"chunk {i}\n" for i in range(5))

        payload = b'{"any": "bytes"}' * 1000
        r = client.post("/echo", content=payload, headers={"content-type": "application/json"})
        assert r.status_code == 200
        assert r.content == payload
        assert r.headers["content-type"] == "application/json"


def test_fastapi(serve_example):
    srv = serve_example("examples.fastapi_app:app")
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        r = client.get("/items/42", params={"q": "find me", "limit": 3})
        assert r.status_code == 200
        assert r.json() == {"item_id": 42, "q": "find me", "limit": 3}
        assert client.get("/items/not-a-number").status_code == 422

        r = client.post("/items", json={"name": "widget", "price": 2.5, "quantity": 4, "tags": ["a"]})
        assert r.status_code == 201
        assert r.json() == {"name": "widget", "price": 2.5, "quantity": 4, "tags": ["a"], "total": 10.0}
        assert client.post("/items", json={"name": "", "price": -1}).status_code == 422

        content = hashlib.sha256(b"upload").digest() * 20_000  # 640 000 bytes
        r = client.post(
            "/upload",
            files={"file": ("data.bin", content, "application/octet-stream")},
            data={"description": "some bytes"},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "filename": "data.bin",
            "description": "some bytes",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }

        with client.stream("GET", "/stream", params={"count": 50}) as r:
            assert r.status_code == 200
            lines = [json.loads(line) for line in r.iter_lines() if line]
        assert lines == [{"n": i, "square": i * i} for i in range(50)]
