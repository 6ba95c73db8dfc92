"""The REST API over HTTP with a token: one keep-alive session, JSON in and out, errors as ApiError."""

from __future__ import annotations

from typing import Any

import requests

from flows.client.errors import ApiError, ClientError, Unreachable

USER_AGENT = "elasticcode-client/0.1"
# Seconds to wait for an ordinary answer. Long polls (results) pass their own timeout.
DEFAULT_TIMEOUT = 30.0


def _message(response: requests.Response) -> tuple[str, str, dict[str, list[str]]]:
    """The server's {"error": {"code", "message", "fields"}}, or something readable when the body is not ours."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return str(error.get("message") or response.reason), str(error.get("code") or ""), error.get("fields") or {}
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"]), "", {}
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason
    return f"HTTP {response.status_code} from {response.url}: {text}", "", {}


class Api:
    """`Api(url, token).get("/api/flows/")`. Thread-safe enough for the SDK's use: one session per Api."""

    def __init__(self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Token {token}", "Accept": "application/json", "User-Agent": USER_AGENT}
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        ok: tuple[int, ...] = (),
    ) -> Any:
        """The decoded JSON answer (None for 204). A status ≥ 400 not listed in `ok` raises ApiError."""
        url = path if path.startswith("http") else f"{self.url}{path}"
        try:
            response = self.session.request(
                method, url, json=json, params=params, timeout=timeout if timeout is not None else self.timeout
            )
        except requests.Timeout:
            raise Unreachable(f"{self.url} did not answer {method} {path} in time") from None
        except requests.RequestException as error:
            reason = error.__class__.__name__
            raise Unreachable(f"cannot reach {self.url} ({reason}); is the server running?") from None
        if response.status_code >= 400 and response.status_code not in ok:
            message, code, fields = _message(response)
            raise ApiError(response.status_code, message, code=code, fields=fields)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(f"{url} answered something that is not JSON; is {self.url} an ElasticCode server?")

    def status_and_body(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None, timeout: float
    ) -> tuple[int, Any]:
        """For endpoints whose status carries meaning (200 done, 202 still running, 504 out of time)."""
        url = f"{self.url}{path}"
        try:
            response = self.session.request(method, url, json=json, params=params, timeout=timeout)
        except requests.Timeout:
            raise Unreachable(f"{self.url} did not answer {method} {path} in time") from None
        except requests.RequestException as error:
            raise Unreachable(f"cannot reach {self.url} ({error.__class__.__name__}); is the server running?") from None
        if response.status_code >= 400 and response.status_code != 504:
            message, code, fields = _message(response)
            raise ApiError(response.status_code, message, code=code, fields=fields)
        try:
            return response.status_code, response.json()
        except ValueError:
            raise ClientError(f"{url} answered something that is not JSON; is {self.url} an ElasticCode server?")

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None} or None)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params={k: v for k, v in params.items() if v is not None} or None)

    def all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paginated list ({"count", "next", "results"}), following `next`."""
        page = self.get(path, **params)
        if isinstance(page, list):
            return page
        items = list(page.get("results", []))
        while page.get("next"):
            page = self.request("GET", page["next"])
            items.extend(page.get("results", []))
        return items

    def close(self) -> None:
        self.session.close()


def login(url: str, username: str, password: str) -> str:
    """Exchange a username and password for the user's API token (POST /api/auth/token/)."""
    api = Api(url, "")
    api.session.headers.pop("Authorization")
    try:
        body = api.post("/api/auth/token/", {"username": username, "password": password})
    finally:
        api.close()
    return str(body["token"])
