"""Weights, the file format: safetensors files with their spec, strict loading, key conversion and adaptation.

save_model(model, path)                  tensors + spec + provenance in one file, written atomically
read_safetensors(path)                   the tensors and the header of a file
load_state_dict_strict(model, tensors)   every key present on both sides, shapes and values checked

Where weights come from (files, folders, Hub repos, `pretrained:`) is `resreg.loading`'s concern;
`resreg.load_model` and `resreg.create_model(..., pretrained=)` are the entry points.
"""

from resreg.weights.adapt import adapt_state_dict
from resreg.weights.convert import convert_state_dict, strip_wrapper_prefixes
from resreg.weights.provenance import components_of, provenance
from resreg.weights.safetensors_io import read_safetensors, save_model
from resreg.weights.strict import load_state_dict_strict

__all__ = [
    "adapt_state_dict",
    "components_of",
    "convert_state_dict",
    "load_state_dict_strict",
    "provenance",
    "read_safetensors",
    "save_model",
    "strip_wrapper_prefixes",
]
