"""The one place resreg talks to huggingface_hub: repo references and its errors as one-line `WeightsError`s.

huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE and the cache folders when it is imported, and
importing it costs time, so it is imported inside functions only. Tokens stay with it (HF_TOKEN or
the saved login): resreg never reads, prints or stores one.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from resreg.errors import WeightsError

#: how resreg names a Hub repo, in sources and messages: hf-hub:owner/name[@revision]
HUB_PREFIX = "hf-hub:"
#: seconds a Hub request may wait to connect, and then for each read or write (`resreg pull/push --timeout`)
DEFAULT_TIMEOUT_S = 30.0


def parse_repo_ref(ref: str) -> tuple[str, str | None]:
    """`owner/name[@revision]` -> (repo_id, revision or None)."""
    repo_id, _, revision = ref.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise WeightsError(f"{ref!r}: a Hub repo is owner/name[@revision], e.g. me/resnet20-cifar10@main")
    return repo_id, revision or None


@contextlib.contextmanager
def hub_call(where: str, *, upload: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Talk to the Hub inside this block: no request waits longer than `timeout_s`, and the Hub client's
    exceptions become one-line errors in resreg's words that say what to do.

    The causes told apart each have another remedy: offline mode (HF_HUB_OFFLINE=1); a Hub that cannot
    be reached (no connection, refused, a name that does not resolve) or that does not answer in time;
    a missing or insufficient token (HTTP 401, 403); what the Hub said about the repo (not found, no
    such revision or file); and any other HTTP status, with what it means (5xx: the server failed).

    Args:
        where: the repo as messages name it (`hf-hub:me/r20@dev`).
        upload: the request writes (push): offline mode and tokens call for other advice.
        timeout_s: seconds each request may wait to connect, and then for each read or write (see
            `limit_request_time`).
    """
    limit_request_time(timeout_s)
    try:
        yield
    except Exception as exc:
        message = _explain(exc, where, upload, timeout_s)
        if message is None:
            raise
        raise WeightsError(message) from None


def limit_request_time(timeout_s: float) -> None:
    """Make every request huggingface_hub sends wait at most `timeout_s` seconds to connect, and as long for
    each read or write after that (not for a whole download: a large file may take longer, as long as bytes
    keep coming).

    huggingface_hub's shared HTTP client has no timeout of its own, and `repo_info` (the first request of
    every download) passes none, so a server that accepts a connection and never answers would hold a pull
    forever. A request hook on that client caps the timeout of each request; a shorter one that
    huggingface_hub asks for is kept. HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT cannot lengthen it.
    Files stored with Xet go through hf_xet's own client, which this does not reach.
    """
    from huggingface_hub import get_session

    if not 0 < timeout_s < math.inf:
        raise WeightsError(f"--timeout {timeout_s:g}: a Hub timeout is a finite number of seconds above 0 (default 30)")
    client = get_session()
    hooks = [hook for hook in client.event_hooks["request"] if not isinstance(hook, _TimeLimit)]
    client.event_hooks = {**client.event_hooks, "request": [*hooks, _TimeLimit(timeout_s)]}


@dataclass(frozen=True)
class _TimeLimit:
    """A request hook of the HTTP client: each of the request's timeouts made at most `seconds`."""

    seconds: float

    def __call__(self, request: Any) -> None:
        asked = request.extensions.get("timeout") or dict.fromkeys(("connect", "read", "write", "pool"))
        request.extensions["timeout"] = {
            kind: self.seconds if value is None else min(value, self.seconds) for kind, value in asked.items()
        }


def _explain(exc: Exception, where: str, upload: bool, timeout_s: float) -> str | None:
    """What went wrong, in one line, or None for an exception that is not the Hub's (a bug: it keeps its traceback)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo, endpoint = where.removeprefix(HUB_PREFIX), constants.ENDPOINT
    access = "write to" if upload else "read"
    offline = constants.HF_HUB_OFFLINE or _caused_by(exc, OfflineModeIsEnabled)
    if isinstance(exc, (OfflineModeIsEnabled, LocalEntryNotFoundError)) and offline:
        if upload:
            return f"{where}: offline mode is on (HF_HUB_OFFLINE=1); unset HF_HUB_OFFLINE to upload"
        return (
            f"{where}: not in the local cache, and offline mode is on (HF_HUB_OFFLINE=1); fetch it once with "
            f"network access: HF_HUB_OFFLINE=0 resreg pull {repo}"
        )
    if isinstance(exc, GatedRepoError):
        return (
            f"{where}: a gated repository: accept its conditions on the Hub, then set HF_TOKEN or run "
            "`huggingface-cli login` (hf auth login)"
        )
    if isinstance(exc, RepositoryNotFoundError):
        return (
            f"{where}: repository not found, or not authorised to see it (if it is private, set HF_TOKEN or run "
            "`huggingface-cli login`)"
        )
    if isinstance(exc, RevisionNotFoundError):
        return f"{where}: no such revision (a branch, tag or commit sha)"
    if isinstance(exc, EntryNotFoundError) and not isinstance(exc, LocalEntryNotFoundError):
        return f"{where}: a file the model needs is not in the repository"
    if isinstance(exc, HFValidationError):
        return f"{where}: not a valid repo id or revision (owner/name[@revision])"
    # What is left is the transport's: the HTTP status the Hub answered, or why it gave none. A download
    # wraps both in a LocalEntryNotFoundError ("not in the cache either"), so the cause chain is read.
    answered = next((e for e in _chain(exc) if isinstance(e, HfHubHTTPError) and e.response is not None), None)
    if answered is not None:
        return _http_status(where, answered, access, endpoint)
    then = "then push again" if upload else f"or set HF_HUB_OFFLINE=1 to load {where} from the local cache"
    if any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in _chain(exc)):
        return (
            f"{where}: the Hub at {endpoint} timed out: no answer within {timeout_s:g} s; check the network and "
            f"HF_ENDPOINT (--timeout allows longer), {then}"
        )
    if _is_network_error(exc) or isinstance(exc, LocalEntryNotFoundError):
        reason = _no_connection(exc)
        return f"{where}: the Hub at {endpoint} is unreachable ({reason}); check the network and HF_ENDPOINT, {then}"
    return None


def _http_status(where: str, exc: Any, access: str, endpoint: str) -> str:
    """What an HTTP status the Hub answered means, and what to do about it."""
    status, said = exc.response.status_code, _server_said(exc)
    if status in (401, 403):
        return (
            f"{where}: not authorised to {access} this repository (HTTP {status}); set HF_TOKEN or run "
            f"`huggingface-cli login` (hf auth login) with a token that may {access} it"
        )
    if status == 404:
        return f"{where}: not found at {endpoint} (HTTP 404{said}); check the repo id, and that HF_ENDPOINT is a Hub"
    if status >= 500:
        return f"{where}: the Hub at {endpoint} failed with a server error (HTTP {status}{said}); try again later"
    return f"{where}: the Hub refused the request (HTTP {status}{said})"


#: exception class names of the HTTP transports huggingface_hub uses (httpx, requests) for network failures
_NETWORK_ERRORS = {"ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException",
                   "NetworkError", "TransportError", "ProxyError", "RemoteProtocolError", "ConnectionError", "Timeout",
                   "ReadError", "WriteError"}  # fmt: skip


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(e, kind) for e in _chain(exc))


def _is_network_error(exc: BaseException) -> bool:
    import socket

    return any(
        isinstance(e, (ConnectionError, socket.gaierror, TimeoutError))
        or any(cls.__name__ in _NETWORK_ERRORS for cls in type(e).__mro__)
        for e in _chain(exc)
    )


def _no_connection(exc: BaseException) -> str:
    import socket

    for e in _chain(exc):
        if isinstance(e, socket.gaierror):
            return "its name does not resolve"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
    return "no connection"


def _server_said(exc: BaseException) -> str:
    """The Hub's own short reason (its X-Error-Message), when it gave one."""
    message = str(getattr(exc, "server_message", None) or "")
    message = " ".join("".join(c for c in message if c.isprintable()).split())[:120]  # no escapes to the terminal
    return f": {message}" if message else ""
