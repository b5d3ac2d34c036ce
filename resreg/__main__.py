"""`python -m resreg ...` (and `torchrun -m resreg train ...`) is the `resreg` command."""

from resreg.cli.main import entry

if __name__ == "__main__":
    entry()
