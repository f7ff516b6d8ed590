"""Structured, quiet-by-default logging: `key=value` text or JSON lines on stderr."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_NOISY = ("httpx", "httpcore", "urllib3", "PIL", "grpc", "multipart")
#: Libraries whose failures Soko catches, translates and logs itself: their own error logs
#: (tracebacks included) would only repeat ours, so they speak at DEBUG only.
#: grpc._server is Milvus Lite's in-process server: it logs a traceback whenever pymilvus
#: probes a method Lite lacks (AllocTimestamp, on every create_collection).
_TRANSLATED = ("pymilvus", "milvus_lite", "grpc._server")
_configured_level = "WARNING"


#: `scheme://user:password@`: everything between `//` and the authority's last `@`.
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `***`.

    Seller image URLs may carry `user:password@`; no error message, stored error or log
    line repeats them.
    """
    return _URL_CREDENTIALS.sub(r"\1***@", text)


class Redacting(logging.Formatter):
    """Wraps a formatter: every formatted line (tracebacks included) goes through `redact`."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def configure_logging(level: str = "WARNING", fmt: str = "text") -> None:
    """Set up the root logger once per process (CLI entry point or app factory)."""
    handler = logging.StreamHandler(sys.stderr)
    inner = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(Redacting(inner))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party libraries speak only when something is wrong.
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    global _configured_level
    _configured_level = level
    quiet_translated_loggers()


def quiet_translated_loggers() -> None:
    """Silence the translated libraries' loggers, children included (DEBUG shows them).

    pymilvus configures its own loggers when first imported (`dictConfig`: levels, handlers,
    `propagate=False`, `pymilvus.milvus_client` at INFO), which undoes `configure_logging`
    when the import comes later; soko.vectorstore calls this right after importing it.
    Without it a Milvus outage during `soko ingest` printed thousands of lines of
    pymilvus tracebacks before Soko's one-line error.
    """
    level = logging.DEBUG if _configured_level == "DEBUG" else logging.CRITICAL
    existing = [
        name
        for name in logging.root.manager.loggerDict
        if any(name == prefix or name.startswith(prefix + ".") for prefix in _TRANSLATED)
    ]
    for name in {*_TRANSLATED, *existing}:
        logging.getLogger(name).setLevel(level)
