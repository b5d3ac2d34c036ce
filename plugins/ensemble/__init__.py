"""Built-in plugin: ensemble (being written)."""

import resreg


@resreg.hookimpl
def resreg_register(registry):
    pass
