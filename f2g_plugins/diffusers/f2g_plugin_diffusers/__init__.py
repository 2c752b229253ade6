"""f2g backbones for diffusers text-to-video models.

Importing this package is cheap: torch and diffusers load when a backbone is used, not when plugins are listed.
"""

__version__ = "0.2.0"
