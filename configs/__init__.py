"""Runnable configs shipped with resreg (installed as `resreg_configs` so they can be found by name)."""
