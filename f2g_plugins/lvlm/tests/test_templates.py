"""Versioned templates: wording, layout text, overrides and their versions."""

import pytest
from f2g_lvlm.templates import BUILTIN_TEMPLATES, build_prompt, layout_text, resolve_template

from f2g_core.errors import ConfigError


def test_builtin_prompt_matches_the_paper_protocol():
    prompt = build_prompt(resolve_template("free2guide"), "a cat", "1-9", 4, "grid")
    assert prompt.template == "free2guide@1"
    assert "reasoning" in prompt.system and '"Answer: N"' in prompt.system and "1 to 9" in prompt.system
    assert "top-left image is the first frame" in prompt.system
    assert prompt.question == 'Prompt: "a cat"\nDoes this prompt describe the video well?'
    yes_no = build_prompt(resolve_template("free2guide"), "a cat", "yes-no", 4, "grid")
    assert '"Answer: yes"' in yes_no.system and '"Answer: no"' in yes_no.system


def test_direct_template_asks_for_the_answer_only():
    prompt = build_prompt(BUILTIN_TEMPLATES["free2guide-direct"], "a cat", "1-9", 4, "grid")
    assert "Reply with nothing but" in prompt.system and prompt.answer_prefix == "Answer:"


def test_layouts():
    assert "separate images" in layout_text(4, "frames")
    assert "3 columns" in layout_text(9, "grid")


def test_custom_wording_gets_a_content_version():
    a = resolve_template("free2guide", question='Rate "{prompt}".')
    b = resolve_template("free2guide", question='Rate "{prompt}" please.')
    assert a.version.startswith("custom-") and a.version != b.version
    assert resolve_template("free2guide", question="x", version="7").fingerprint == "free2guide+custom@7"
    assert resolve_template("free2guide", version="2").fingerprint == "free2guide@2"


def test_bad_templates_are_config_errors():
    with pytest.raises(ConfigError, match="free2guide"):
        resolve_template("nope")
    with pytest.raises(ConfigError, match="placeholder"):
        build_prompt(resolve_template("free2guide", question="{oops}"), "p", "1-9", 4, "grid")


def test_wording_that_never_shows_the_judge_the_prompt_is_refused():
    from f2g_lvlm.templates import TemplateOptions
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"neither question nor system_prompt contains \{prompt\}"):
        TemplateOptions(question="Does the video look good?")
    with pytest.raises(ValidationError, match=r"\{prompt\}"):
        TemplateOptions(template="free2guide", system_prompt="Rate it. {instruction}", question="Rate the video.")
    moved = TemplateOptions(system_prompt='The prompt is "{prompt}". {instruction}', question="Rate the video.")
    assert "{prompt}" in moved.resolved_template().system  # the prompt may live in either text
