"""Torch-model helpers shared by f2g's model plugins (rewards and backbones), written once.

* :mod:`~f2g_torch_utils.checkpoints` — find (local file or hub repo), read (torch pickle or safetensors, nested
  or DDP-prefixed) and strictly load model weights; seeded random weights for tests and golden values;
* :mod:`~f2g_torch_utils.devices` — ``auto`` / ``cuda:1`` / … device names and ``auto`` / ``bfloat16`` / … dtype
  names to torch objects;
* :mod:`~f2g_torch_utils.frames` — the options, NaN masking and aggregation of rewards that score each key frame;
* :mod:`~f2g_torch_utils.engines` — the one loading path (``tiny`` or a model folder / hub repo, device and dtype
  resolved, loaded once) of a reward or metric whose plugin passes its engine class in;
* :mod:`~f2g_torch_utils.video_rewards` — rewards that read their reference's own frames of the video: key frames
  that stand in, NaN candidates, usage and trace facts;
* :mod:`~f2g_torch_utils.testing`, :mod:`~f2g_torch_utils.synthetic_videos`, :mod:`~f2g_torch_utils.golden` — CLI
  checks, exact test videos and golden-value-script helpers the model plugins' tests and scripts share;
* :mod:`~f2g_torch_utils.compat` — :func:`~f2g_torch_utils.compat.ensure_torchvision`, so ``import torchvision``
  works next to a CPU-only torch.

No module imports torch at package import time except :mod:`~f2g_torch_utils.compat`: importing a plugin to list
it stays cheap.
"""

__version__ = "0.2.0"
