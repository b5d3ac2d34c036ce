"""Weights: safetensors files with their spec, strict loading, sources for `pretrained:`, key converters."""
