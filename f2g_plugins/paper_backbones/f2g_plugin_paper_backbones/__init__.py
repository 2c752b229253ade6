"""f2g backbones of the Free²Guide paper, as their authors run them: VideoCrafter2 (lvdm) and LaVie (base)."""

__version__ = "0.2.0"
