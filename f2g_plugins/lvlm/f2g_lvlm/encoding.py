"""Images as LVLM APIs take them (base64 PNG) and as the cache keys them (a hash of the pixels)."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image


def png_base64(image: Image.Image) -> str:
    """Base64 of the image as PNG: lossless, so the model sees exactly the frames that were scored."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def data_url(image: Image.Image) -> str:
    """A ``data:image/png;base64,…`` URL (the OpenAI ``image_url`` form)."""
    return "data:image/png;base64," + png_base64(image)


def images_hash(images: Sequence[Image.Image]) -> str:
    """SHA-256 over the images' sizes and raw RGB pixels: independent of the PNG encoder, stable across runs."""
    digest = hashlib.sha256()
    for image in images:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        digest.update(f"{pixels.shape}".encode())
        digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()
