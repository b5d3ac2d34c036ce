"""Built-in plugin: datasets (being written)."""

import resreg


@resreg.hookimpl
def resreg_register(registry):
    pass
