"""The training loop: devices, AMP, channels_last, compile, DDP, checkpoints and resume."""
