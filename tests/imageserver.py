"""A real HTTP server on 127.0.0.1 (a thread) serving images and misbehaving on purpose."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image


def image_bytes(colour: tuple[int, int, int], fmt: str = "PNG", size: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format=fmt)
    return buffer.getvalue()


RED_PNG = image_bytes((220, 30, 30))
BLUE_JPEG = image_bytes((30, 30, 220), "JPEG")


class ImageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        #: path -> (content type, body), added by tests
        self.files: dict[str, tuple[str, bytes]] = {
            "/red.png": ("image/png", RED_PNG),
            "/blue.jpg": ("image/jpeg; charset=binary", BLUE_JPEG),
            "/fake.png": ("image/png", b"<html><body>not an image</body></html>"),
            "/page.png": ("text/html", RED_PNG),
        }

    def handle_error(self, request: object, client_address: object) -> None:
        """The fetcher hangs up on purpose (size limits, deadlines): not worth a traceback."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: ImageServer

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        self.server.hits[path] += 1
        count = self.server.hits[path]
        if path in self.server.files:
            content_type, body = self.server.files[path]
            self._send(200, content_type, body)
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect(f"/chain/{left - 1}" if left > 1 else "/red.png")
        elif path == "/to":
            self._redirect(query["url"][0])
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/slow":
            with self.server._lock:
                self.server.in_flight += 1
                self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
            time.sleep(float(query.get("s", ["2"])[0]))
            with self.server._lock:
                self.server.in_flight -= 1
            self._send(200, "image/png", RED_PNG)
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(RED_PNG)))
            self.end_headers()
            for byte in RED_PNG:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.1)
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(50_000_000))
            self.end_headers()
        elif path == "/huge-stream":
            # No Content-Length: the body ends when the connection closes.
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(RED_PNG[:16])
            for _ in range(200):
                self.wfile.write(b"\x00" * 10_000)
        elif path.startswith("/flaky/"):
            failures = int(path.rsplit("/", 1)[1])
            if count <= failures:
                self._send(503, "text/plain", b"busy")
            else:
                self._send(200, "image/png", RED_PNG)
        elif path == "/error":
            self._send(int(query["status"][0]), "text/plain", b"no")
        else:
            self._send(404, "text/plain", b"not found")


@contextmanager
def serving() -> Iterator[ImageServer]:
    server = ImageServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
