"""Built-in plugin: densenet (being written)."""

import resreg


@resreg.hookimpl
def resreg_register(registry):
    pass
