"""What the SDK and the CLI raise. Every message is one sentence a person can act on."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base class of everything the SDK raises on purpose."""


class NotConfigured(ClientError):
    """No server URL or no token: run `ec login --url URL` or set ELASTICCODE_URL and ELASTICCODE_TOKEN."""


class ApiError(ClientError):
    """The server refused a request: `status` is the HTTP status, `code` and `fields` come from its JSON error."""

    def __init__(self, status: int, message: str, *, code: str = "", fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.fields = fields or {}

    @property
    def message(self) -> str:
        return str(self.args[0])


class Unreachable(ClientError):
    """The server could not be reached (refused, reset, DNS, TLS)."""


class CallFailed(ClientError):
    """A socket call failed on a worker, after its retries.

    `socket` names the socket whose function raised, `path` where that call sits in the composition
    (e.g. "funnel[1] > parallel[0] > pipeline[2]"), `error_type` the exception's class, `remote_traceback` the
    traceback from the worker. The same exception reaches the caller through any depth of nesting.

    A failure that came up through calls made from inside functions (`elasticcode.call`) also has `chain`, the
    calls it came through, innermost first (`[{"socket": "divide", "call": "divide(1, 0)"}, {"socket": "ratio",
    "call": "ratio(1)"}]`), and `origin`, the socket where it first failed; its message names them all.
    """

    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error
        self.socket = str(error.get("socket") or "")
        self.path = str(error.get("path") or "")
        self.error_type = str(error.get("error_type") or "")
        self.remote_traceback = str(error.get("traceback") or "")
        self.chain: list[dict[str, str]] = [link for link in error.get("chain") or [] if isinstance(link, dict)]
        self.origin = str(error.get("origin") or (self.chain[0].get("socket") if self.chain else "") or self.socket)
        where = f" at {self.path}" if self.path and not self.chain else ""
        super().__init__(f"socket {self.socket}{where} failed: {error.get('error') or self.error_type}")

    def __str__(self) -> str:
        text = super().__str__()
        if self.remote_traceback:
            return f"{text}\n\nRemote traceback (on the worker):\n{self.remote_traceback.rstrip()}"
        return text


class CallTimeout(ClientError, TimeoutError):
    """No result within the timeout; the call goes on running and `.get()` may be called again."""
