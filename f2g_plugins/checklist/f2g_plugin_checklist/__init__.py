"""f2g-plugin-checklist: yes/no checklist rewards read from a VLM's answer probabilities (VisionReward-style)."""

__version__ = "0.2.0"
