"""Suites from files of every supported format and from plugins; every bad input is one line naming file:line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from f2g_core.errors import ConfigError

from f2g_eval.suites import load_suite, prompt_id


def test_text_file_one_prompt_per_line_ids_from_prompts(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("a red circle\n\n# a comment\na blue square\na red circle\n")
    suite = load_suite(str(path))
    assert [i.prompt for i in suite.items] == ["a red circle", "a blue square", "a red circle"]
    assert suite.items[0].id == prompt_id("a red circle") and suite.items[2].id == prompt_id("a red circle") + "-2"
    path.write_text("a new first line\na red circle\na blue square\na red circle\n")
    again = {i.prompt: i.id for i in load_suite(str(path)).items}
    assert again["a blue square"] == suite.items[1].id  # ids survive edits of the file


def test_jsonl_and_csv_with_optional_columns(tmp_path: Path) -> None:
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text(
        json.dumps({"prompt": "p1", "id": "a", "category": "c1", "dimension": "color"})
        + "\n"
        + json.dumps({"prompt": "p2", "dimension": ["x", "y"], "seed": 7})
        + "\n"
    )
    first, second = load_suite(str(jsonl)).items
    assert (first.id, first.category, first.dimensions) == ("a", "c1", ("color",))
    assert second.dimensions == ("x", "y") and second.seed == 7
    table = tmp_path / "s.csv"
    table.write_text("id,prompt,category\nk1,a cat,animals\nk2,a dog,animals\n")
    assert [(i.id, i.category) for i in load_suite(str(table)).items] == [("k1", "animals"), ("k2", "animals")]


def test_vbench_full_info_with_dimension_filter(tmp_path: Path) -> None:
    path = tmp_path / "VBench_full_info.json"
    entries = [
        {"prompt_en": "a cat and a dog", "dimension": ["multiple_objects"]},
        {"prompt_en": "a cup on the left of a book", "dimension": ["spatial_relation"], "auxiliary_info": {}},
        {"prompt_en": "a red bicycle", "dimension": ["color", "object_class"]},
    ]
    path.write_text(json.dumps(entries))
    assert len(load_suite(str(path)).items) == 3
    chosen = load_suite(str(path), ["multiple_objects", "color"]).items
    assert [i.prompt for i in chosen] == ["a cat and a dog", "a red bicycle"]
    assert chosen[1].dimension == "color,object_class"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": "broken"\n', "bad.jsonl:2: not valid JSON"),
        ("bad2.jsonl", '{"prompt": "ok"}\n{"category": "x"}\n', "bad2.jsonl:2: no prompt"),
        ("bad.csv", "text,category\nhello,x\n", "bad.csv:1: the header must have a `prompt` column"),
        ("dup.jsonl", '{"prompt": "a", "id": "k"}\n{"prompt": "b", "id": "k"}\n', "item id 'k' is used twice"),
        ("seed.jsonl", '{"prompt": "a", "seed": "x"}\n', "seed.jsonl:1: `seed` must be an integer"),
        ("true.jsonl", '{"prompt": "a", "id": "t", "seed": true}\n', "true.jsonl:1 (item 't'): `seed` must be"),
        ("half.jsonl", '{"prompt": "a", "id": "h", "seed": 1.5}\n', "half.jsonl:1 (item 'h'): `seed` must be"),
        ("neg.jsonl", '{"prompt": "a", "id": "n", "seed": -5}\n', "neg.jsonl:1 (item 'n'): `seed` must be"),
        ("huge.jsonl", '{"prompt": "a", "id": "e", "seed": 1e400}\n', "huge.jsonl:1 (item 'e'): `seed` must be"),
        ("big.jsonl", '{"prompt": "a", "seed": 9223372036854775808}\n', "from 0 to 9223372036854775807"),
        ("neg.csv", "prompt,id,seed\na,m,-5\n", "neg.csv:2 (item 'm'): `seed` must be an integer"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_suite(str(path))


def test_missing_file_and_empty_selection(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file, and no installed plugin provides a suite"):
        load_suite(str(tmp_path / "nope.txt"))
    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "a", "dimension": "color"}\n{"prompt": "b", "dimension": "spatial_relationship"}\n')
    with pytest.raises(
        ConfigError,
        match=r"--dimension 'spatial_relation': no item of .*s\.jsonl has that dimension; did you mean "
        r"'spatial_relationship'\? valid: color, spatial_relationship",
    ):
        load_suite(str(path), ["spatial_relation"])


def test_named_shapes_suite_is_a_stable_prefix(shapes: None) -> None:
    small = load_suite("shapes-benchmark:pairs=10").items
    large = load_suite("shapes-benchmark:pairs=40").items
    assert len(small) == 10 and len(large) == 40
    assert {i.category for i in small} == {"single", "multiple", "relation"}
    large_by_id = {i.id: i for i in large}
    assert all(large_by_id[i.id] == i for i in small)  # a bigger suite extends a smaller one
    with pytest.raises(ConfigError, match="suite 'shapes-benchmark'"):
        load_suite("shapes-benchmark:pairs=0")


def test_shapes_suite_keeps_categories_and_has_a_disjoint_dev_split(shapes: None) -> None:
    full = {i.id: i for i in load_suite("shapes-benchmark:pairs=400").items}
    two = load_suite("shapes-benchmark:pairs=400,categories=multiple+relation").items
    assert len(two) == 400 and {i.category for i in two} == {"multiple", "relation"}
    assert sum(i.category == "multiple" for i in two) == 200  # the pairs are shared among the kept categories
    assert all(full[i.id] == i for i in two if i.id in full)  # the same items, just more of them
    dev = load_suite("shapes-benchmark:pairs=400,categories=multiple+relation,split=dev").items
    assert len(dev) == 400 and all(i.id.split("-")[1] == "dev" for i in dev)
    assert not {(i.prompt, i.seed) for i in dev} & {(i.prompt, i.seed) for i in two}
    with pytest.raises(ConfigError, match=r"categories='pairs'.*single\+multiple\+relation"):
        load_suite("shapes-benchmark:categories=pairs")
