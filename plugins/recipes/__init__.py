"""Built-in plugin: recipes (being written)."""

import resreg


@resreg.hookimpl
def resreg_register(registry):
    pass
