"""The Hugging Face Hub as transport: downloads through the cache, one-commit uploads, the model card and
what of a run may be published. It knows nothing of models or weights loading: `resreg.publish` composes
it with `resreg.weights` into `push` and `pull`; `resreg.loading` reads `hf-hub:` sources through it."""
