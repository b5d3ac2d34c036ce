"""Loading: every way a model gets its weights, composed in one place.

`names` parses source names (`hf-hub:owner/name@rev`, `local-dir:/path`, paths), `sources` opens a
source into tensors plus what it says about the model, `components` checks that the plugins a
recorded spec needs are installed, and `models` builds models with their weights: a preset or spec
with its `pretrained:`, a model rebuilt from a source alone, an ensemble's members. The public entry
points (`resreg.create_model`, `resreg.load_model`) hand it the registry and the plugin report.
"""
