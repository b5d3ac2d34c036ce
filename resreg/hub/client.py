"""The one place resreg talks to huggingface_hub: repo references and its errors as one-line `WeightsError`s.

huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE and the cache folders when it is imported, and
importing it costs time, so it is imported inside functions only. Tokens stay with it (HF_TOKEN or
the saved login): resreg never reads, prints or stores one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from resreg.errors import WeightsError

#: how resreg names a Hub repo, in sources and messages: hf-hub:owner/name[@revision]
HUB_PREFIX = "hf-hub:"


def parse_repo_ref(ref: str) -> tuple[str, str | None]:
    """`owner/name[@revision]` -> (repo_id, revision or None)."""
    repo_id, _, revision = ref.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise WeightsError(f"{ref!r}: a Hub repo is owner/name[@revision], e.g. me/resnet20-cifar10@main")
    return repo_id, revision or None


@contextlib.contextmanager
def hub_errors(where: str, *, upload: bool = False) -> Iterator[None]:
    """Turn the Hub client's exceptions into one-line errors in resreg's words that say what to do.

    Four causes are told apart, because each has another remedy: offline mode (HF_HUB_OFFLINE=1),
    a Hub that cannot be reached (no network, a wrong HF_ENDPOINT), a missing or insufficient token,
    and what the Hub said about the repo itself (not found, no such revision or file).

    Args:
        where: the repo as messages name it (`hf-hub:me/r20@dev`).
        upload: the request writes (push): offline mode and tokens call for other advice.
    """
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

    repo = where.removeprefix(HUB_PREFIX)
    try:
        yield
    except (OfflineModeIsEnabled, LocalEntryNotFoundError) as exc:
        offline = constants.HF_HUB_OFFLINE or _caused_by(exc, OfflineModeIsEnabled)
        if offline and upload:
            message = f"{where}: offline mode is on (HF_HUB_OFFLINE=1); unset HF_HUB_OFFLINE to upload"
            raise WeightsError(message) from None
        if offline:
            raise WeightsError(
                f"{where}: not in the local cache, and offline mode is on (HF_HUB_OFFLINE=1); fetch it once with "
                f"network access: HF_HUB_OFFLINE=0 resreg pull {repo}"
            ) from None
        raise _unreachable(where, exc, upload, constants.ENDPOINT) from None
    except GatedRepoError:
        raise WeightsError(
            f"{where}: a gated repository: accept its conditions on the Hub, then set HF_TOKEN or run "
            "`huggingface-cli login` (hf auth login)"
        ) from None
    except RepositoryNotFoundError:
        raise WeightsError(
            f"{where}: repository not found, or not authorised to see it (if it is private, set HF_TOKEN or run "
            "`huggingface-cli login`)"
        ) from None
    except RevisionNotFoundError:
        raise WeightsError(f"{where}: no such revision (a branch, tag or commit sha)") from None
    except EntryNotFoundError:
        raise WeightsError(f"{where}: a file the model needs is not in the repository") from None
    except HFValidationError:
        raise WeightsError(f"{where}: not a valid repo id or revision (owner/name[@revision])") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            access = "write to" if upload else "read"
            raise WeightsError(
                f"{where}: not authorised to {access} this repository (HTTP {status}); set HF_TOKEN or run "
                f"`huggingface-cli login` (hf auth login) with a token that may {access} it"
            ) from None
        said = _server_said(exc)
        raise WeightsError(f"{where}: the Hub refused the request (HTTP {status}{said})") from None
    except Exception as exc:  # the transport's own errors (connection refused, name not resolved, timeouts)
        if _is_network_error(exc):
            raise _unreachable(where, exc, upload, constants.ENDPOINT) from None
        raise


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


def _unreachable(where: str, exc: BaseException, upload: bool, endpoint: str) -> WeightsError:
    import socket

    reason = "no connection"
    for e in _chain(exc):
        if isinstance(e, socket.gaierror):
            reason = "its name does not resolve"
        elif isinstance(e, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(e, TimeoutError) or "Timeout" in type(e).__name__:
            reason = "no answer in time"
    then = "then push again" if upload else f"or set HF_HUB_OFFLINE=1 to load {where} from the local cache"
    return WeightsError(f"{where}: the Hub at {endpoint} is unreachable ({reason}); check the network and "
                        f"HF_ENDPOINT, {then}")  # fmt: skip


def _server_said(exc: BaseException) -> str:
    """The Hub's own short reason (its X-Error-Message), when it gave one."""
    message = getattr(exc, "server_message", None) or ""
    message = " ".join(str(message).split())[:120]
    return f": {message}" if message else ""
