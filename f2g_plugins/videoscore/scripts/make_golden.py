"""Produce the VideoScore golden values by running the *reference* code on a tiny random Idefics2 regression model.

Run it with the reference's own packages, in a throwaway environment outside this repository (recipe in
``f2g_plugins/videoscore/README.md``), pointing it at a checkout of https://github.com/TIGER-AI-Lab/VideoScore::

    /work/refenv-videoscore/venv/bin/python f2g_plugins/videoscore/scripts/make_golden.py \
        --reference /work/refenv-videoscore/VideoScore

What runs is the reference's code, not ours: mantis-vl's ``Idefics2ForSequenceClassification`` (built, saved and
loaded with ``from_pretrained``), transformers 4.45's ``Idefics2Processor``, and the VideoScore-v1.1 example
``examples/run_videoscore.py`` itself, executed once per test video and prompt with four constants replaced: the
model folder, the video file, the prompt, and bfloat16 → float32 (CPU goldens). Its frame sampling (48 frames at
most), PyAV decoding, query prompt, ``<image>`` placeholders, processor call, forward and reading of the logits
are the reference's, verbatim. The unrounded logits are taken from the script's globals (it prints them rounded
to 3 digits).

The script writes into ``tests/golden/``:

* ``model/``: the tiny model (``tiny.py``'s sizes, seeded weights) saved by mantis-vl like
  ``TIGER-Lab/VideoScore-v1.1`` (``config.json``, ``model.safetensors``, processor and tokenizer files);
* ``golden_videoscore.json``: per video and prompt, the reference's five raw outputs, the frames it sampled, the
  token ids and pixel statistics its processor produced.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
REPO = PACKAGE.parent.parent
# f2g_torch_utils' compat, checkpoints, golden and synthetic_videos modules need only torch, numpy and av (and
# f2g_core.errors); tiny.py and testing.py need only the standard library, numpy and tokenizers (and
# synthetic_videos): they are run by path so f2g's own dependencies stay out.
sys.path[:0] = [str(REPO), str(REPO / "f2g_plugins" / "torch_utils")]
MODULE = PACKAGE / "f2g_plugin_videoscore"
SEED = 0
EXAMPLE = Path("examples") / "run_videoscore.py"


def build_model(folder: Path, tiny: dict[str, Any]) -> None:
    """The tiny VideoScore, saved by mantis-vl's class with its processor (transformers 4.45 classes)."""
    import torch
    from f2g_torch_utils.checkpoints import seeded_state
    from mantis.models.idefics2 import Idefics2ForSequenceClassification
    from transformers import Idefics2Config, Idefics2ImageProcessor, Idefics2Processor, PreTrainedTokenizerFast

    template = tiny["template_path"]().read_text()
    core = tiny["build_tokenizer"](template)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],  # as Idefics2's Llama tokenizer: no token_type_ids
    )
    processor = Idefics2Processor(
        image_processor=Idefics2ImageProcessor(**tiny["IMAGE_PROCESSOR"]),
        tokenizer=tokenizer,
        image_seq_len=tiny["PERCEIVER"]["resampler_n_latents"],
    )
    ids = {token: core.token_to_id(token) for token in (*tiny["SPECIAL_TOKENS"], *tiny["IMAGE_TOKENS"])}
    config = Idefics2Config(**tiny["config_dict"](core.get_vocab_size(), ids))
    model = Idefics2ForSequenceClassification(config).to(torch.float32)
    model.load_state_dict(seeded_state(model.state_dict(), seed=SEED), strict=True)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)


def run_example(reference: Path, model: Path, video: Path, prompt: str) -> dict[str, Any]:
    """Execute the reference's v1.1 example on one video and prompt; its globals afterwards."""
    source = (reference / EXAMPLE).read_text()
    replacements = {
        'model_name="TIGER-Lab/VideoScore-v1.1"': f"model_name={str(model)!r}",
        'video_path="video1.mp4"': f"video_path={str(video)!r}",
        "torch.bfloat16": "torch.float32",
    }
    for old, new in replacements.items():
        assert old in source, f"the example no longer contains {old!r}"
        source = source.replace(old, new)
    lines = source.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith("video_prompt=")]
    lines[at] = f"video_prompt={prompt!r}"
    path = video.with_suffix(".py")
    path.write_text("\n".join(lines) + "\n")
    return runpy.run_path(str(path), run_name="__main__")


def facts(scope: dict[str, Any]) -> dict[str, Any]:
    """What the reference computed for one video: outputs, sampled frames, token ids and pixel statistics."""
    inputs = scope["inputs"]
    ids = inputs["input_ids"][0].tolist()
    exact = inputs["pixel_values"].float().contiguous()
    pixels = exact.double()
    return {
        "raw": scope["logits"][0].double().tolist(),
        "rounded": scope["aspect_scores"],
        "indices": [int(i) for i in scope["indices"]],
        "input_ids_sha256": hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
        "num_tokens": len(ids),
        "last_tokens": ids[-4:],
        "pixel_values_sha256": hashlib.sha256(exact.numpy().tobytes()).hexdigest(),
        "pixel_values_shape": list(pixels.shape),
        "pixel_values_sum": float(pixels.sum()),
        "pixel_values_abs_sum": float(pixels.abs().sum()),
        "pixel_values_head": pixels.flatten()[:16].tolist(),
        "pixel_attention_mask_all": bool(inputs["pixel_attention_mask"].all()),
    }


def main() -> None:
    from f2g_torch_utils.golden import start_golden_run, write_lossless_video

    run = start_golden_run(__doc__.split("\n\n")[0], "TIGER-AI-Lab/VideoScore", PACKAGE, MODULE, SEED)
    import importlib.metadata as md

    import av
    import numpy as np

    tiny, testing, out = run.tiny, run.testing, run.out
    build_model(out / "model", tiny)

    videos = out / "videos"  # temporary: the test makes the same frames in memory
    videos.mkdir()
    paths = []
    for spec in testing["VIDEOS"]:
        frames = testing["make_frames"](spec)
        paths.append(videos / f"{spec.name}.avi")
        write_lossless_video(paths[-1], frames, spec.fps)
        with av.open(str(paths[-1])) as container:
            decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
            assert container.streams.video[0].frames == spec.frames, f"{spec.name}: frame count not in header"
        assert np.array_equal(decoded, frames), f"{spec.name} is not lossless"
    results = []
    for video, prompt in testing["RUNS"]:
        scope = run_example(run.reference, out / "model", paths[video], testing["PROMPTS"][prompt])
        results.append({"video": video, "prompt": prompt, **facts(scope)})
    shutil.rmtree(videos)
    golden = {
        "about": "VideoScore-v1.1 reference (mantis-vl Idefics2ForSequenceClassification, tiny seeded), made by "
        "scripts/make_golden.py",
        "versions": {name: md.version(name) for name in ("torch", "transformers", "mantis-vl", "av", "Pillow")},
        "seed": SEED,
        "results": results,
    }
    (out / "golden_videoscore.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps([r["raw"] for r in results], indent=1))


if __name__ == "__main__":
    main()
