"""Built-in plugin: loggers (being written)."""

import resreg


@resreg.hookimpl
def resreg_register(registry):
    pass
