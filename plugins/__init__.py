"""resreg's built-in plugins, installed as `resreg_plugins` and registered through the `resreg`
entry-point group exactly as third-party plugins are. They use only resreg's public API."""
