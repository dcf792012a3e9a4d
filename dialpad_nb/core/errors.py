"""One exception tree for everything dialpad_nb raises.

::

    DialpadError                      base; never raised directly
    ├── ValidationError               bad input: a value that cannot be used; names the field (ValueError too)
    │   └── InvalidType               an argument of the wrong kind (TypeError too)
    ├── SourceNotFound                a file, folder or glob to read that is not there (FileNotFoundError too)
    ├── ServerNotStarted              a local server (sandbox, endpoint) that could not start (RuntimeError too)
    ├── PatchGuardError               a second router PATCH inside Dialpad's 5-minute window, refused locally
    ├── SandboxOnly                   a sandbox-only feature (control API, clock, outbox) asked of Dialpad
    ├── ChangesNotAllowed             a change (POST/PATCH/DELETE) asked of a look-only client; nothing sent
    ├── IncompleteRead                a paged read that stopped part-way; keeps what was read (``partial``)
    ├── TokenError                    a routing-request JWT that fails verification (reason in ``reason``)
    ├── TransportError                no HTTP answer: connection refused, DNS, timeout
    │   └── DialpadTimeout
    └── APIError                      Dialpad answered with an error status; carries status, message, request
        ├── Redirected                3xx: never followed (the key would go with it); ``location`` without query
        ├── MalformedResponse         a 2xx answer that is not what the API documents; ``field`` names what
        ├── BadRequest                400 (and 413, 422)
        ├── Unauthorized              401: wrong or missing API key
        ├── Forbidden                 403
        ├── NotFound                  404
        ├── Conflict                  409
        ├── RateLimited               429; ``retry_after_s`` from Retry-After
        └── ServerError               5xx

Context is keyword-only (``APIError(message, *, status, method, url)``). The
request is kept as method + URL *without* the query string, so an API key
passed as ``?apikey=`` can never leak through an exception.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "APIError",
    "BadRequest",
    "ChangesNotAllowed",
    "Conflict",
    "DialpadError",
    "DialpadTimeout",
    "DistributedRunFailed",
    "Forbidden",
    "IncompleteRead",
    "InvalidType",
    "MalformedResponse",
    "MissingExtra",
    "NotFound",
    "PatchGuardError",
    "RateLimited",
    "Redirected",
    "ReportFailed",
    "SandboxOnly",
    "ServerError",
    "ServerNotStarted",
    "SourceChanging",
    "SourceNotFound",
    "TokenError",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "error_for_status",
]


class DialpadError(Exception):
    """Base of every error dialpad_nb raises."""


class ValidationError(DialpadError, ValueError):
    """Input rejected before anything was sent. ``field`` names what was wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class MissingExtra(DialpadError, ImportError):
    """A feature needs an optional extra that is not installed (``pip install 'dialpad_nb[<extra>]'``)."""


class DistributedRunFailed(DialpadError):
    """A run on a Dask cluster failed (a task kept failing, or its workers kept dying after the
    retries); no partial result is returned. ``cause`` is the error Dask gave (also ``__cause__``)."""

    def __init__(self, message: str, *, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(message)


class InvalidType(ValidationError, TypeError):
    """An argument of the wrong kind (a number where a callable is expected, ...)."""


class SourceNotFound(DialpadError, FileNotFoundError):
    """A file, folder or glob given to a reader that does not exist or matches nothing."""


class SourceChanging(DialpadError):
    """A file changed while it was being read (still being written): read it again once it settles."""


class ServerNotStarted(DialpadError, RuntimeError):
    """A server this package starts on this machine (the sandbox, an endpoint) did not start."""


class PatchGuardError(DialpadError):
    """A router update inside Dialpad's one-per-window limit, refused locally."""

    def __init__(
        self, message: str, *, router_id: int, next_allowed: datetime, code_hint: str | None = None
    ) -> None:
        self.router_id = router_id
        self.next_allowed = next_allowed
        self.message = message
        """What happened and when the next update is allowed (for people, e.g. in a widget)."""
        self.code_hint = code_hint
        """What to do about it in code (``override_patch_guard=True``, one combined update)."""
        super().__init__(f"{message} {code_hint}" if code_hint else message)


class SandboxOnly(DialpadError):
    """A feature only the sandbox has (its control API: placing calls, the clock, the outbox)
    was asked of a client talking to Dialpad. The message says what to do instead."""


class ChangesNotAllowed(DialpadError):
    """A request that would create, change or delete something, asked of a client that only looks
    (``connect(allow_changes=False)`` on a Dialpad account: the notebooks' ``ALLOW_CHANGES``).
    Nothing was sent. ``method``/``path`` name the request, ``action`` says what it would have done."""

    def __init__(self, message: str, *, method: str, path: str, action: str | None = None) -> None:
        self.method = method
        self.path = path
        self.action = action
        super().__init__(message)


class IncompleteRead(DialpadError):
    """A paged read (e.g. the call history) that stopped part-way because a page kept failing.

    Nothing already read is lost: ``partial`` is what was read (the same kind of result a
    complete read returns), ``pages``/``records`` say how far it got, ``cursor`` is the cursor
    of the page that failed (pass it back to resume), ``cause`` the last error (also
    ``__cause__``)."""

    def __init__(
        self, message: str, *, partial: object, pages: int, records: int, cursor: str | None, cause: Exception
    ) -> None:
        self.partial = partial
        self.pages = pages
        self.records = records
        self.cursor = cursor
        self.cause = cause
        super().__init__(message)


class ReportFailed(DialpadError):
    """A report notebook (papermill) stopped at a cell: ``cell`` (its execution count),
    ``ename`` and ``evalue`` are that cell's error; ``notebook`` the executed copy, kept to read."""

    def __init__(
        self, message: str, *, cell: int | None, ename: str, evalue: str, notebook: str | None
    ) -> None:
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
        self.notebook = notebook
        super().__init__(message)


class TokenError(DialpadError):
    """A JWT that is malformed, wrongly signed, uses another algorithm, or has expired.

    ``reason`` is one of ``malformed``, ``bad_signature``, ``bad_algorithm``,
    ``expired``, ``not_yet_valid``, ``bad_payload``."""

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class _RequestContext(DialpadError):
    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        self.method = method
        self.url = url
        self.message = message
        where = f" ({method} {url})" if method and url else ""
        super().__init__(f"{message}{where}")


class TransportError(_RequestContext):
    """No HTTP answer at all (the host is down, refused the connection, ...)."""


class DialpadTimeout(TransportError):
    """No answer within the client's timeout."""


class APIError(_RequestContext):
    """Dialpad (or the sandbox) answered with an error status."""

    status: int = 0

    def __init__(
        self, message: str, *, status: int, method: str | None = None, url: str | None = None
    ) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}", method=method, url=url)
        self.message = message


class Redirected(APIError):
    """The server answered a redirect (3xx). The client never follows one: the API key would go with it,
    and a redirected write may not have happened. ``location`` is where it pointed (no query string)."""

    def __init__(self, message: str, *, location: str | None = None, **kw) -> None:
        self.location = location
        super().__init__(message, **kw)


class MalformedResponse(APIError):
    """A success answer whose body is not what the API documents (a field of the wrong type, ...).
    ``field`` names the part that was wrong."""

    def __init__(self, message: str, *, field: str | None = None, **kw) -> None:
        self.field = field
        super().__init__(message, **kw)


class BadRequest(APIError):
    pass


class Unauthorized(APIError):
    pass


class Forbidden(APIError):
    pass


class NotFound(APIError):
    pass


class Conflict(APIError):
    pass


class RateLimited(APIError):
    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **kw)


class ServerError(APIError):
    pass


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: BadRequest,
    422: BadRequest,
    429: RateLimited,
}


def error_for_status(status: int) -> type[APIError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)
