"""A thin HTTP client for Accord's API: bearer token, JSON, cursor pages, and errors as messages."""

from __future__ import annotations

from typing import Any

import httpx


class CliError(Exception):
    """Something to tell the user, then exit with ``code`` (no traceback)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    """``{"a": ["m"], "b": {"c": ["n"]}, "d": [{"e": ["o"]}]}`` as ``a: m``, ``b.c: n``, ``d.0.e: o``."""
    if isinstance(errors, dict):
        lines = []
        for key, value in errors.items():
            lines += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return lines
    if isinstance(errors, list):
        if all(isinstance(item, str | int | float) for item in errors):
            return [f"{prefix}: {item}" if prefix else str(item) for item in errors]
        lines = []
        for index, item in enumerate(errors):
            if item:
                lines += _flatten(item, f"{prefix}.{index}" if prefix else str(index))
        return lines
    return [f"{prefix}: {errors}" if prefix else str(errors)]


def describe_error(response: httpx.Response, rename=None) -> str:
    """The server's refusal as lines: its detail, then each field's messages (their paths passed
    through ``rename`` if given), then anything else it said."""
    head = f"HTTP {response.status_code} from {response.request.method} {response.request.url.path}"
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return f"{head}: {text[:500]}" if text and len(text) < 500 else head
    if not isinstance(body, dict):
        return "\n".join([head, *("  " + line for line in _flatten(body))])
    lines = [f"{head}: {body['detail']}" if body.get("detail") else head]
    if "errors" in body:
        errors = body["errors"]
        if rename is not None and isinstance(errors, dict):
            errors = {rename(key): value for key, value in errors.items()}
        lines += ["  " + line for line in _flatten(errors)]
    for key, value in body.items():
        if key not in ("detail", "errors"):
            lines += ["  " + line for line in _flatten(value, key)]
    return "\n".join(lines)


class Accord:
    def __init__(self, url: str, token: str, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None):
        if not url:
            raise CliError("Set ACCORD_URL (or --url) to the Accord server, e.g. https://accord.example.com.", 2)
        if not token:
            raise CliError("Set ACCORD_TOKEN (or --token) to an API token.", 2)
        base = url.rstrip("/")
        if not base.endswith("/api/v1"):
            base += "/api/v1"
        self.http = httpx.Client(base_url=base + "/", headers={"Authorization": f"Bearer {token}",
                                                               "Accept": "application/json"},
                                 timeout=timeout, transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, check: bool = True, **kwargs) -> httpx.Response:
        """The response; with ``check``, a 4xx/5xx is raised as a CliError that says what the server said."""
        try:
            response = self.http.request(method, path.lstrip("/"), **kwargs)
        except httpx.TimeoutException as exc:
            raise CliError(f"The server at {self.http.base_url} did not answer in time ({type(exc).__name__}).",
                           2) from None
        except httpx.HTTPError as exc:
            raise CliError(f"Could not reach the server at {self.http.base_url}: {exc}", 2) from None
        if check and response.status_code >= 400:
            raise CliError(describe_error(response), 1 if response.status_code < 500 else 2)
        return response

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, **kwargs) -> Any:
        return self.request("POST", path, **kwargs).json()

    def all(self, path: str, **params) -> list[dict]:
        """Every row of a (cursor-)paginated list."""
        page = self.get(path, **params)
        if isinstance(page, list):
            return page
        rows = list(page.get("results", []))
        while page.get("next"):
            page = self.request("GET", page["next"]).json()
            rows += page.get("results", [])
        return rows

    def contract(self, slug: str) -> dict:
        rows = self.get("contracts/", slug=slug).get("results", [])
        if not rows:
            raise CliError(f"No contract with slug {slug!r} (or you may not see it).")
        return rows[0]
