"""f2g-contrib-sharpness: the plugin of the f2g plugin tutorial."""

__version__ = "0.1.0"
