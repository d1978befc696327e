"""``assessbot model validate`` on broken model files, and ``assessbot model export``.

Broken copies are written to a temporary directory: the synthetic model serialised with
``tests/tomlwrite.py`` and edited as data, and the bundled file edited as text. Each must
give exit 1 and a line naming the problem; a good file prints "ok" and exits 0.
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conversations.questionnaire import bundled_model_path
from tests.modelgen import model_dict
from tests.tomlwrite import dumps

ROOT = Path(__file__).resolve().parents[1]


def run_bot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def question(doc: dict[str, Any], qid: str) -> dict[str, Any]:
    return next(q for q in doc["questions"] if q["id"] == qid)


def validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "model.toml"
    path.write_text(text, encoding="utf-8")
    return run_bot("model", "validate", str(path), cwd=tmp_path)


def assert_problem(proc: subprocess.CompletedProcess[str], tokens: list[str], keyword: str) -> None:
    """Exit 1, no "ok", and one line that names every token and matches ``keyword``."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    assert lines, proc.stderr
    assert not any(x.startswith("ok") for x in lines)

    def names(line: str) -> bool:
        return all(re.search(rf"(?<![\w.]){re.escape(t)}(?![\w]|\.\d)", line) for t in tokens) and bool(
            re.search(keyword, line, re.IGNORECASE)
        )

    assert any(names(x) for x in lines), (tokens, keyword, lines)


# --------------------------------------------------------------------------- the writer


def test_tomlwrite_round_trip():
    doc = model_dict()
    assert tomllib.loads(dumps(doc)) == doc


def test_synthetic_model_file_is_ok(tmp_path: Path):
    proc = validate(tmp_path, dumps(model_dict()))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.startswith("ok")


def test_bundled_model_is_ok(tmp_path: Path):
    proc = run_bot("model", "validate", str(bundled_model_path()), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.startswith("ok")
    assert len(proc.stdout.splitlines()) == 1


# --------------------------------------------------------------------------- broken synthetic models


def dangling_area(d: dict[str, Any]) -> None:
    question(d, "1.1")["areas"] = ["nowhere"]


def dangling_msbfs_question(d: dict[str, Any]) -> None:
    d["msbfs"][0]["conditions"][0]["question"] = "9.9"


def dangling_msbfs_option(d: dict[str, Any]) -> None:
    d["msbfs"][0]["conditions"][1]["option"] = "z"  # on question 1.2


def letters_swapped(d: dict[str, Any]) -> None:
    opts = question(d, "1.1")["options"]
    opts[0]["id"], opts[1]["id"] = "b", "a"


def letters_gap(d: dict[str, Any]) -> None:
    opts = question(d, "1.1")["options"]
    for i, o in enumerate(opts):
        o["id"] = string.ascii_lowercase[i + 1 if i >= 2 else i]  # a, b, d, e, …


def scale_equal(d: dict[str, Any]) -> None:
    q = question(d, "1.2")
    assert q["scoring"] == "scale"
    q["options"][1]["points"] = 5  # a = 5, b = 5


def scale_increasing(d: dict[str, Any]) -> None:
    question(d, "1.2")["options"][4]["points"] = 3  # d = 2, e = 3


def level_without_questions(d: dict[str, Any]) -> None:
    d["questions"] = [q for q in d["questions"] if q["level"] != 4]


def points_above_max(d: dict[str, Any]) -> None:
    question(d, "1.1")["options"][0]["points"] = 7


def points_below_min(d: dict[str, Any]) -> None:
    question(d, "1.2")["options"][4]["points"] = -1


def missing_english_question(d: dict[str, Any]) -> None:
    question(d, "1.1")["text"] = {"sv": "Fråga 1.1?"}


def missing_english_level(d: dict[str, Any]) -> None:
    d["levels"][1]["name"] = {"sv": "Nivå 2"}


def projected_without_flag(d: dict[str, Any]) -> None:
    question(d, "1.1")["options"][0]["projected_points"] = 2


def flag_without_projected(d: dict[str, Any]) -> None:
    del question(d, "1.1")["options"][6]["projected_points"]  # "g": in_progress


BROKEN: list[tuple[Callable[[dict[str, Any]], None], list[str], str]] = [
    (dangling_area, ["1.1", "nowhere"], r"area"),
    (dangling_msbfs_question, ["9.9"], r"question|unknown"),
    (dangling_msbfs_option, ["1.2", "z"], r"option"),
    (letters_swapped, ["1.1"], r"letter|order|expected|consecutive"),
    (letters_gap, ["1.1", "d"], r"letter|order|expected|consecutive|gap"),
    (scale_equal, ["1.2"], r"decreas|order|best"),
    (scale_increasing, ["1.2"], r"decreas|order|best"),
    (level_without_questions, ["4"], r"level 4.*question|no question"),
    (points_above_max, ["1.1", "7"], r"points|range|outside"),
    (points_below_min, ["1.2", "-1"], r"points|range|outside"),
    (missing_english_question, ["1.1", "en"], r"transl|missing|language"),
    (missing_english_level, ["2", "en"], r"transl|missing|language"),
    (projected_without_flag, ["1.1"], r"projected"),
    (flag_without_projected, ["1.1"], r"projected"),
]


@pytest.mark.parametrize(("breaks", "tokens", "keyword"), BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_broken_synthetic_model(
    tmp_path: Path, breaks: Callable[[dict[str, Any]], None], tokens: list[str], keyword: str
):
    doc = model_dict()
    breaks(doc)
    assert_problem(validate(tmp_path, dumps(doc)), tokens, keyword)


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path):
    doc = model_dict()
    dangling_area(doc)
    points_above_max(doc)
    missing_english_level(doc)
    proc = validate(tmp_path, dumps(doc))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) >= 3
    assert any("nowhere" in x for x in lines)
    assert any("7" in x and "nowhere" not in x for x in lines)


# --------------------------------------------------------------------------- broken bundled model (text edits)


def bundled_text() -> str:
    return bundled_model_path().read_text(encoding="utf-8")


def edit_once(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def question_block(text: str, qid: str) -> tuple[int, int]:
    start = text.index(f'[[questions]]\nid = "{qid}"\n')
    end = text.index("[[questions]]", start + 1)
    return start, end


def edit_in_question(text: str, qid: str, old: str, new: str) -> str:
    start, end = question_block(text, qid)
    block = text[start:end]
    assert old in block, (qid, old)
    return text[:start] + block.replace(old, new, 1) + text[end:]


def drop_line_in_question(text: str, qid: str, pattern: str) -> str:
    start, end = question_block(text, qid)
    block, n = re.subn(pattern, "", text[start:end], count=1, flags=re.MULTILINE)
    assert n == 1, (qid, pattern)
    return text[:start] + block + text[end:]


BUNDLED_EDITS: list[tuple[str, Callable[[str], str], list[str], str]] = [
    (
        "dangling-area",
        lambda t: edit_in_question(t, "1.3", 'areas = ["kunskap"]', 'areas = ["kunskapen"]'),
        ["1.3", "kunskapen"],
        r"area",
    ),
    (
        "dangling-msbfs-question",
        lambda t: edit_once(t, 'question = "1.1"\n  option = "e"', 'question = "1.99"\n  option = "e"'),
        ["1.99"],
        r"question|unknown",
    ),
    (
        "dangling-msbfs-option",
        lambda t: edit_once(t, 'question = "1.1"\n  option = "e"', 'question = "1.1"\n  option = "q"'),
        ["1.1", "q"],
        r"option",
    ),
    (
        "letters-out-of-order",
        lambda t: edit_in_question(t, "1.4", 'id = "b"', 'id = "c"'),
        ["1.4"],
        r"letter|order|expected|consecutive",
    ),
    (
        "scale-not-decreasing",
        lambda t: edit_in_question(t, "2.2", 'id = "c"\n  points = 3', 'id = "c"\n  points = 4'),
        ["2.2"],
        r"decreas|order|best",
    ),
    (
        "points-outside",
        lambda t: edit_in_question(t, "1.1", 'id = "a"\n  points = 1', 'id = "a"\n  points = 6'),
        ["1.1", "6"],
        r"points|range|outside",
    ),
    (
        "missing-english",
        lambda t: drop_line_in_question(t, "1.5", r"^text\.en = .*\n"),
        ["1.5", "en"],
        r"transl|missing|language",
    ),
    (
        "projected-without-flag",
        lambda t: edit_in_question(
            t, "1.1", 'id = "a"\n  points = 1', 'id = "a"\n  points = 1\n  projected_points = 2'
        ),
        ["1.1"],
        r"projected",
    ),
    (
        "level-without-questions",
        lambda t: re.sub(r'(id = "4\.\d+"\nlevel = )4', r"\g<1>3", t),
        ["4"],
        r"level 4.*question|no question",
    ),
]


@pytest.mark.parametrize(
    ("edit", "tokens", "keyword"), [b[1:] for b in BUNDLED_EDITS], ids=[b[0] for b in BUNDLED_EDITS]
)
def test_broken_bundled_model(tmp_path: Path, edit: Callable[[str], str], tokens: list[str], keyword: str):
    text = edit(bundled_text())
    assert text != bundled_text()
    assert_problem(validate(tmp_path, text), tokens, keyword)


# --------------------------------------------------------------------------- export


def test_model_export_json_has_the_interface_keys(tmp_path: Path):
    proc = run_bot("model", "export", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert {"id", "version", "language", "levels", "areas", "questions", "validation_questions"} <= d.keys()
    assert (d["id"], d["version"], d["language"]) == ("msb-2021", "1", "sv")
    assert [lv["level"] for lv in d["levels"]] == [1, 2, 3, 4]
    assert [lv["certainty_share"] for lv in d["levels"]] == [0.5, 0.7, 0.85, 1.0]
    assert all(isinstance(lv["name"], str) and lv["name"] for lv in d["levels"])
    assert len(d["areas"]) == 10 and all({"id", "name"} <= a.keys() for a in d["areas"])
    assert len(d["questions"]) == 40
    area_ids = {a["id"] for a in d["areas"]}
    for q in d["questions"]:
        assert {"id", "level", "areas", "scoring", "max_points", "text", "options"} <= q.keys()
        assert q["scoring"] in ("count", "scale")
        assert set(q["areas"]) <= area_ids
        assert q["max_points"] == 5
        letters = [o["id"] for o in q["options"]]
        assert letters == list(string.ascii_lowercase[: len(letters)])
        for o in q["options"]:
            assert {"id", "points", "exclusive", "flags"} <= o.keys()
            assert isinstance(o["exclusive"], bool) and isinstance(o["flags"], list)
            assert set(o["flags"]) <= {"in_progress", "recent"}
            assert ("projected_points" in o) == bool(o["flags"])
        if q["scoring"] == "scale":
            plain = [o["points"] for o in q["options"] if not o["exclusive"]]
            assert plain == sorted(plain, reverse=True)  # best first
    assert d["validation_questions"]
    for v in d["validation_questions"]:
        assert {"id", "text", "kind"} <= v.keys()
        assert v["kind"] in ("percent", "number", "choice")


def test_model_export_of_another_model_file(tmp_path: Path):
    path = tmp_path / "synthetic.toml"
    path.write_text(dumps(model_dict(shares=("0.5", "0.7", "0.85", "1"))), encoding="utf-8")
    proc = run_bot("model", "export", "--model", str(path), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["id"] == "synthetic"
    assert [lv["certainty_share"] for lv in d["levels"]] == [0.5, 0.7, 0.85, 1.0]
    assert len(d["questions"]) == 40
