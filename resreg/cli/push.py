"""Upload a run (or a model file) to the Hugging Face Hub: model.safetensors, resreg.yaml and a model card.

resreg push runs/cifar10-resnet20 me/resnet20-cifar10 [--revision BRANCH] [--private] [-m MESSAGE]
resreg push runs/cifar10-resnet20 me/resnet20-cifar10 --dry-run   # print what would be uploaded, upload nothing

Prints the commit sha (pull exactly this version with `resreg pull me/resnet20-cifar10@SHA`). The token
comes from huggingface_hub: HF_TOKEN or `hf auth login`. Of the run's config only an allowlisted
record is published (model, recipe, data set type and name, eval options, metrics, versions); values
from the environment and local paths never are. A Hub that does not connect or answer within --timeout
seconds (default 30) ends the push in one line, as do an HTTP error status and no connection; the
repo then stays at its previous commit.
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
    parser.add_argument("--dry-run", action="store_true", help="print the files and their text; upload nothing")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the Hub to connect and to answer (default 30)"
    )


def run(args: argparse.Namespace) -> int:
    from resreg.cli.run_paths import check_run_has_weights
    from resreg.publish import push

    check_run_has_weights(args.source, "push")
    if args.dry_run:
        return _dry_run(args)
    pushed = push(
        args.source,
        args.repo_id,
        revision=args.revision,
        private=args.private,
        message=args.message,
        timeout_s=args.timeout,
    )
    print(pushed.commit)
    return 0


def _dry_run(args: argparse.Namespace) -> int:
    """Each file as it would be uploaded: text files in full, the weights file's header metadata, binary sizes."""
    from resreg.hub.push import opened_header
    from resreg.publish import upload_files

    upload = upload_files(args.source, args.repo_id, message=args.message)
    print(f"# dry run: {len(upload.files)} files to {args.repo_id}, commit message {upload.commit_message!r}")
    for name, content in upload.files:
        if isinstance(content, Path) and name.endswith(".safetensors"):
            print(f"== {name} ({content.stat().st_size} bytes: tensors, and this header metadata) ==")
            for key, value in opened_header(content).items():
                print(f"{key}: {value}")
        elif isinstance(content, Path):
            print(f"== {name} ({content.stat().st_size} bytes, binary) ==")
        else:
            print(f"== {name} ({len(content)} bytes) ==")
            print(content.decode("utf-8"), end="" if content.endswith(b"\n") else "\n")
    return 0
