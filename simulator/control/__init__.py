"""The HTTP control API: inspect and drive a running simulator (see openapi.yaml in this package)."""

from .api import DEFAULT_PORT, ControlApi
from .http import HttpError, HttpServer, Request, Response, Router

__all__ = ["DEFAULT_PORT", "ControlApi", "HttpError", "HttpServer", "Request", "Response", "Router"]
