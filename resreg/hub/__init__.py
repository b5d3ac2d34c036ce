"""The Hugging Face Hub: push and pull resreg models, load timm repos."""
