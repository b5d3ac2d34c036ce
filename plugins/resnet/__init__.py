"""Built-in plugin: resnet (being written)."""

import resreg


@resreg.hookimpl
def resreg_register(registry):
    pass
