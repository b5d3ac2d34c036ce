"""Weights: safetensors files with their spec, strict loading, sources for `pretrained:`, key converters.

save_model(model, path)            # tensors + spec in one file, written atomically
load_model(source)                 # rebuild from a file, a folder or a Hub repo alone
load_pretrained(model, source)     # a file, a resreg or timm folder, hf-hub:owner/name[@rev], a .pth
"""

from resreg.weights.adapt import adapt_state_dict
from resreg.weights.convert import convert_state_dict, strip_wrapper_prefixes
from resreg.weights.provenance import components_of, provenance, require_components
from resreg.weights.safetensors_io import read_safetensors, save_model
from resreg.weights.sources import Source, load_model, load_pretrained, open_source
from resreg.weights.strict import load_state_dict_strict

__all__ = [
    "Source",
    "adapt_state_dict",
    "components_of",
    "convert_state_dict",
    "load_model",
    "load_pretrained",
    "load_state_dict_strict",
    "open_source",
    "provenance",
    "read_safetensors",
    "require_components",
    "save_model",
    "strip_wrapper_prefixes",
]
