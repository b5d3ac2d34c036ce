"""Download a model from the Hugging Face Hub (resreg or timm layout) through the local cache.

resreg pull me/resnet20-cifar10[@REVISION] [--to DIR]

Prints the commit sha it resolved to. HF_HUB_OFFLINE=1 serves it from the cache. A component the
model needs but no installed plugin provides is named, with the `pip install` that provides it. A Hub
that does not connect or answer within --timeout seconds (default 30) ends the pull in one line, as do
an HTTP error status (401/403: the token, 404: not found, 5xx: the server failed) and no connection.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo", help="owner/name, optionally @branch, @tag or @commit-sha")
    parser.add_argument("--to", type=Path, help="also copy the files into this folder")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the Hub to connect and to answer (default 30)"
    )


def run(args: argparse.Namespace) -> int:
    from resreg.publish import pull

    _, commit = pull(args.repo, to=args.to, timeout_s=args.timeout)
    print(commit)
    return 0
