"""f2g: train-free, gradient-free reward guidance (Free²Guide) for text-to-video diffusion models."""

__version__ = "0.1.0"

from f2g_core.config import RunConfig, load_config
from f2g_core.pipeline import Pipeline, RunResult, generate

__all__ = ["Pipeline", "RunConfig", "RunResult", "__version__", "generate", "load_config"]
