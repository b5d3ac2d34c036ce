"""The one place resreg talks to huggingface_hub: repo references and its errors as one-line `WeightsError`s.

huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE and the cache folders when it is imported, and
importing it costs time, so it is imported inside functions only. Tokens stay with it (HF_TOKEN or
the saved login): resreg never reads, prints or stores one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from resreg.errors import WeightsError


def parse_repo_ref(ref: str) -> tuple[str, str | None]:
    """`owner/name[@revision]` -> (repo_id, revision or None)."""
    repo_id, _, revision = ref.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise WeightsError(f"{ref!r}: a Hub repo is owner/name[@revision], e.g. me/resnet20-cifar10@main")
    return repo_id, revision or None


@contextlib.contextmanager
def hub_errors(where: str) -> Iterator[None]:
    """Turn the Hub client's exceptions into one-line errors that say what to do."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HFValidationError,
        HTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except RepositoryNotFoundError:
        raise WeightsError(
            f"{where}: repository not found (if it is private, log in with `hf auth login` or set HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise WeightsError(f"{where}: no such revision (a branch, tag or commit sha)") from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise WeightsError(
            f"{where}: not in the local cache and the Hub cannot be reached (offline: HF_HUB_OFFLINE=1, or no "
            f"connection): {_first_line(exc)}"
        ) from None
    except EntryNotFoundError as exc:
        raise WeightsError(f"{where}: file not in the repository ({_first_line(exc)})") from None
    except HFValidationError as exc:
        raise WeightsError(f"{where}: {_first_line(exc)}") from None
    except HTTPError as exc:  # HfHubHTTPError and connection failures alike
        raise WeightsError(f"{where}: the Hub request failed: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
