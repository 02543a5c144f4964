"""One HTTP endpoint of Safehold: JSON in, JSON out, every failure a ClientError.

httpx's exceptions and error answers are translated here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from deployments.client.errors import ApiError, ClientError, TransportError, parse_fault

Body = dict[str, Any]
Params = Mapping[str, str | int | bool | None]
NOT_FOUND: Final = 404


def root_of(url: str) -> str:
    """scheme://host:port of a URL: what a connection failure names."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _why(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return text


def _query(params: Params | None) -> dict[str, str | int] | None:
    """Drop unset parameters; booleans as the OpenStack APIs spell them."""
    if params is None:
        return None
    return {
        k: ("true" if v else "false") if isinstance(v, bool) else v
        for k, v in params.items()
        if v is not None
    }


class Api:
    """A service endpoint (base URL + headers) over a shared httpx client."""

    def __init__(self, client: httpx.Client, base: str, headers: Mapping[str, str]) -> None:
        self.client = client
        self.base = base.rstrip("/")
        self.headers = dict(headers)

    def url(self, path: str) -> str:
        """The absolute URL of `path` (absolute URLs, e.g. next links, pass through)."""
        return path if path.startswith(("http://", "https://")) else self.base + path

    def request(
        self, method: str, path: str, *, body: Any = None, params: Params | None = None
    ) -> Body:
        """The answer's JSON object ({} for an empty answer); ApiError, TransportError."""
        url = self.url(path)
        try:
            resp = self.client.request(
                method,
                url,
                json=body,
                params=_query(params),
                headers=self.headers,
            )
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach {root_of(url)}: {_why(exc)}") from None
        except httpx.InvalidURL as exc:
            raise TransportError(f"invalid URL {url}: {exc}") from None
        if resp.status_code >= 400:
            raise parse_fault(resp.status_code, resp.text)
        return self._json(resp, url)

    @staticmethod
    def _json(resp: httpx.Response, url: str) -> Body:
        if not resp.content:
            return {}
        try:
            data = resp.json()
        except ValueError:
            raise ClientError(f"{url} answered HTTP {resp.status_code} without JSON") from None
        if not isinstance(data, dict):
            raise ClientError(f"{url} answered a JSON {type(data).__name__}, not an object")
        return data

    def get(self, path: str, params: Params | None = None) -> Body:
        """GET path."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Body:
        """POST body to path."""
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any) -> Body:
        """PUT body to path."""
        return self.request("PUT", path, body=body)

    def delete(self, path: str, params: Params | None = None) -> Body:
        """DELETE path."""
        return self.request("DELETE", path, params=params)

    def find(self, path: str, key: str) -> Body | None:
        """`GET path` → body[key], or None when the resource is gone (404)."""
        try:
            found: Body = self.get(path)[key]
        except ApiError as exc:
            if exc.status == NOT_FOUND:
                return None
            raise
        return found
