"""The `/api/products/similar` latency hook against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from soko_bench.http_similar import measure_similar_http


class SimilarHandler(BaseHTTPRequestHandler):
    """The API's route shape: known ids get a JSON array, unknown ones a 404."""

    seen: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        self.seen.append(self.path)
        prefix = "/api/products/similar/"
        pid = self.path.split("?")[0].removeprefix(prefix)
        status, body = (200, [{"product_id": 1, "score": 0.9}]) if pid != "404" else (404, {})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimilarHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_measures_each_concurrency_level(base_url: str) -> None:
    SimilarHandler.seen.clear()
    run = measure_similar_http(base_url, [1, 2, 3], clients=(1, 4), duration_s=0.3, warmup=3)
    assert [r.clients for r in run.results] == [1, 4]
    for result in run.results:
        assert result.requests > 0
        assert result.errors == 0
        assert 0 < result.latency.p50_ms <= result.latency.p99_ms
    assert "/api/products/similar/2?limit=10" in SimilarHandler.seen


def test_error_answers_are_counted(base_url: str) -> None:
    run = measure_similar_http(base_url, [404, 1], clients=(2,), duration_s=0.3, warmup=0)
    assert run.results[0].errors > 0
    assert run.results[0].errors < run.results[0].requests


def test_needs_product_ids(base_url: str) -> None:
    with pytest.raises(ValueError, match="product id"):
        measure_similar_http(base_url, [])
