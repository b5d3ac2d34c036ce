"""Upload a run (or a model file) to the Hugging Face Hub: model.safetensors, resreg.yaml and a model card.

resreg push runs/resnet20-cifar10 me/resnet20-cifar10 [--revision BRANCH] [--private] [-m MESSAGE]

Prints the commit sha (pull exactly this version with `resreg pull me/resnet20-cifar10@SHA`). The token
comes from huggingface_hub: HF_TOKEN or `hf auth login`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="a run dir (with model.safetensors) or a .safetensors file")
    parser.add_argument("repo_id", help="the Hub repo, owner/name (created when missing)")
    parser.add_argument("--revision", help="the branch to commit to (created when missing; default main)")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("-m", "--message", help="the commit message")


def run(args: argparse.Namespace) -> int:
    from resreg.hub.push import push

    pushed = push(args.source, args.repo_id, revision=args.revision, private=args.private, message=args.message)
    print(pushed.commit)
    return 0
