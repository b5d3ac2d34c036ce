"""Built-in plugin: highway (being written)."""

import resreg


@resreg.hookimpl
def resreg_register(registry):
    pass
