"""The HTTP API and the web page (FastAPI). Never imports pymilvus."""

from soko.api.app import create_app

__all__ = ["create_app"]
