"""f2g: train-free, gradient-free reward guidance (Free²Guide) for text-to-video diffusion models."""

__version__ = "0.1.0"
