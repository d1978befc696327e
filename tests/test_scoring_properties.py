"""Properties of the scoring engine over random answer sets, against an independent oracle.

The oracle (``reference`` below, with ``tests/answerbuild.py``) is a re-implementation of
shared/spec/scoring-rules.md over points and certainty per question; the engine must agree
with it on the level, area levels, next-level figures, the MSBFS indication and the
forward-looking projection. Hypothesis runs derandomised so that every run is the same.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.questionnaire import Model, load_model, parse_model
from scoring import score_document
from tests.answerbuild import (
    all_choices,
    choice_for,
    conditions,
    holds,
    level_order,
    max_points,
    points_and_certainty,
    points_of,
    reference_level,
    thresholds,
)
from tests.modelgen import model_dict
from tests.tomlwrite import dumps

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _parsed(data: dict[str, Any]) -> Model:
    m, problems = parse_model(data)
    assert m is not None and not problems, problems
    return m


def _odd_data() -> dict[str, Any]:
    """Other level sizes and shares, and an area without questions below level 3 (so its
    levels 1 and 2 are vacuous)."""
    data = model_dict(per_level=(10, 15, 6, 9), shares=("0.3", "0.56", "0.9", "1.00"))
    data["areas"].append(
        {"id": "extra", "name": {"sv": "X", "en": "X"}, "description": {"sv": "X", "en": "X"}}
    )
    next(q for q in data["questions"] if q["id"] == "3.1")["areas"] = ["extra"]
    return data


BUNDLED = load_model()
MODEL_DATA = {"synthetic": model_dict(), "odd": _odd_data()}  # written to TOML for the command
MODELS = {"bundled": BUNDLED, **{name: _parsed(data) for name, data in MODEL_DATA.items()}}

FAST = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

RandInt = Callable[[int, int], int]


# --------------------------------------------------------------------------- generating answers


def _choices_by_points(m: Model) -> dict[str, dict[int, list[tuple[str, ...]]]]:
    out: dict[str, dict[int, list[tuple[str, ...]]]] = {}
    for q in m.questions:
        table: dict[int, list[tuple[str, ...]]] = {}
        for ch in all_choices(q):
            table.setdefault(points_of(q, ch, m.points_max), []).append(ch)
        out[q.id] = table
    return out


CHOICES = {name: _choices_by_points(m) for name, m in MODELS.items()}


class Profile(NamedTuple):
    """What kind of organisation a random answer set describes."""

    floor: int  # most answers earn at least this
    drop: int  # of 40: chance of an answer below the floor
    uncertain: int  # of 40: chance of an uncertain answer
    skip: int  # of 40: chance of an unanswered question
    seed: int  # the rest (which question, which letters) comes from random.Random(seed)


def random_profile(randint: RandInt) -> Profile:
    thorough = randint(0, 3) == 0  # everything answered and documented
    return Profile(
        floor=randint(0, 5),
        drop=0 if thorough else randint(0, 8),
        uncertain=0 if thorough else randint(0, 12),
        skip=0 if thorough else randint(0, 6),
        seed=randint(0, 2**32 - 1),
    )


profiles = st.builds(
    Profile,
    floor=st.integers(0, 5),
    drop=st.sampled_from([0, 0, 0, 1, 2, 4, 8]),
    uncertain=st.sampled_from([0, 0, 0, 1, 2, 4, 8, 12]),
    skip=st.sampled_from([0, 0, 0, 0, 1, 3, 6]),
    seed=st.integers(0, 2**32 - 1),
)


def gen_doc(name: str, profile: Profile) -> dict[str, Any]:
    """A random, allowed answer document of the given profile."""
    m = MODELS[name]
    randint = random.Random(profile.seed).randint
    answers: dict[str, Any] = {}
    for q in m.questions:
        if randint(0, 39) < profile.skip:
            continue
        p = randint(0, 5) if randint(0, 39) < profile.drop else randint(profile.floor, 5)
        table = CHOICES[name][q.id]
        while p not in table:
            p -= 1
        options = list(table[p][randint(0, len(table[p]) - 1)])
        if len(options) > 1 and randint(0, 1):
            options.reverse()  # the order of the letters does not matter
        answers[q.id] = {"options": options, "certain": randint(0, 39) >= profile.uncertain}
    return {"model": m.id, "answers": answers}


model_names = st.sampled_from(sorted(MODELS))


# --------------------------------------------------------------------------- the oracle


def projected_points(m: Model, qid: str, options: list[str]) -> int:
    q = m.question(qid)
    assert q is not None
    values = []
    for o in q.options:
        if o.id in options:
            values.append(o.projected_points if o.flags else o.points)
    if not values:
        return 0
    return min(values) if q.scoring == "scale" else min(sum(values), m.points_max)


def reference(m: Model, doc: dict[str, Any]) -> dict[str, Any]:
    """Everything scoring-rules.md says about one answer document."""
    pts, cert = points_and_certainty(m, doc)
    top = len(m.levels)
    level = reference_level(m, pts, cert)
    total = sum(pts.values())
    out: dict[str, Any] = {
        "level": level,
        "points": total,
        "certain": sum(1 for v in cert.values() if v),
        "answered": len(cert),
        "areas": {a.id: reference_level(m, pts, cert, a.id) for a in m.areas},
        "questions": {q.id: (pts.get(q.id, 0), cert.get(q.id)) for q in m.questions},
    }
    if level < top:
        n = level + 1
        th = thresholds(m, n)
        qn = [q for q in level_order(m) if q.level <= n]
        below = {q.id: pts.get(q.id, 0) for q in qn if pts.get(q.id, 0) < n}
        mandatory = sum(n - p for p in below.values())
        certain_now = sum(1 for q in qn if cert.get(q.id) is True)
        out["next_level"] = {
            "level": n,
            "points_required": th.k,
            "points_now": total,
            "points_missing": max(0, th.k - total),
            "below_minimum": below,
            "mandatory_points": mandatory,
            "movable_missing": max(0, th.k - total - mandatory),
            "certain_required": th.c,
            "certain_now": certain_now,
            "certain_missing": max(0, th.c - certain_now),
            "uncertain": {q.id for q in qn if cert.get(q.id) is False},
        }
    else:
        out["next_level"] = None
    statuses = []
    answers = doc["answers"]
    for req in m.msbfs:
        failing = unknown = False
        for c in req.conditions:
            if c.question not in answers:
                unknown = True
                continue
            if c.option is not None:
                ok = c.option in [o.strip().lower() for o in answers[c.question]["options"]]
            else:
                ok = pts[c.question] >= (c.min_points or 0)
            failing = failing or not ok
        statuses.append("not_met" if failing else "unknown" if unknown else "met")
    out["msbfs"] = statuses
    if level == 0:
        flagged = []
        projected = dict(pts)
        for qid, ans in answers.items():
            q = m.question(qid)
            assert q is not None
            if any(o.flags for o in q.options if o.id in ans["options"]):
                flagged.append(qid)
                projected[qid] = projected_points(m, qid, ans["options"])
        out["forward_looking"] = (reference_level(m, projected, cert), sorted(flagged))
    else:
        out["forward_looking"] = None
    return out


def engine_view(r: Any) -> dict[str, Any]:
    """The engine's result in the oracle's shape."""
    nl = r.next_level
    return {
        "level": r.level,
        "points": r.points,
        "certain": r.certain,
        "answered": r.answered,
        "areas": dict(r.areas),
        "questions": {qid: (s.points, s.certain) for qid, s in r.questions.items()},
        "next_level": None
        if nl is None
        else {
            "level": nl.level,
            "points_required": nl.points_required,
            "points_now": nl.points_now,
            "points_missing": nl.points_missing,
            "below_minimum": {s.question: s.points for s in nl.below_minimum},
            "mandatory_points": nl.mandatory_points,
            "movable_missing": nl.movable_missing,
            "certain_required": nl.certain_required,
            "certain_now": nl.certain_now,
            "certain_missing": nl.certain_missing,
            "uncertain": set(nl.uncertain),
        },
        "msbfs": [i.status for i in r.msbfs],
        "forward_looking": None
        if r.forward_looking is None
        else (r.forward_looking.projected_level, sorted({f.question for f in r.forward_looking.items})),
    }


# --------------------------------------------------------------------------- properties


@FAST
@given(name=model_names, profile=profiles)
def test_engine_agrees_with_the_rules(name: str, profile: Profile):
    m = MODELS[name]
    doc = gen_doc(name, profile)
    r = score_document(m, doc)
    assert engine_view(r) == reference(m, doc)
    if r.next_level is not None:
        assert all(s.needed == r.next_level.level for s in r.next_level.below_minimum)


@FAST
@given(name=model_names, profile=profiles)
def test_reached_level_means_every_condition_of_every_lower_level_holds(name: str, profile: Profile):
    m = MODELS[name]
    doc = gen_doc(name, profile)
    r = score_document(m, doc)
    pts, cert = points_and_certainty(m, doc)
    for n in range(1, r.level + 1):
        assert conditions(m, n, pts, cert) == (True, True, True), n
    if r.level < len(m.levels):
        assert not all(conditions(m, r.level + 1, pts, cert))
    for a in m.areas:
        for n in range(1, r.areas[a.id] + 1):
            assert holds(m, n, pts, cert, a.id), (a.id, n)
        if r.areas[a.id] < len(m.levels):
            assert not holds(m, r.areas[a.id] + 1, pts, cert, a.id)


def improve(name: str, doc: dict[str, Any], randint: RandInt) -> dict[str, Any] | None:
    """The same answers with one of them better: more points, or certain instead of
    uncertain. None when the chosen question cannot be improved."""
    m = MODELS[name]
    q = m.questions[randint(0, len(m.questions) - 1)]
    answers = {k: dict(v) for k, v in doc["answers"].items()}
    current = answers.get(q.id)
    action = randint(0, 2)
    if action == 0 and current is not None and current["certain"] is False:
        current["certain"] = True
    elif action == 1 and current is not None and q.scoring == "count":
        chosen = set(current["options"])
        if any(o.exclusive and o.id in chosen for o in q.options):
            return None
        free = [o.id for o in q.options if not o.exclusive and o.id not in chosen]
        if not free:
            return None
        current["options"] = [*current["options"], free[randint(0, len(free) - 1)]]  # add an aspect
    else:
        now = points_of(q, current["options"], m.points_max) if current else 0
        better = [ch for p, chs in CHOICES[name][q.id].items() if p > now for ch in chs]
        if not better:
            return None
        certain = current["certain"] if current else bool(randint(0, 1))
        answers[q.id] = {"options": list(better[randint(0, len(better) - 1)]), "certain": certain}
    return {**doc, "answers": answers}


@FAST
@given(name=model_names, profile=profiles)
def test_better_answers_never_lower_a_level(name: str, profile: Profile):
    m = MODELS[name]
    randint = random.Random(profile.seed + 1).randint
    doc = gen_doc(name, profile)
    before = score_document(m, doc)
    for _ in range(randint(1, 4)):
        better = improve(name, doc, randint)
        if better is None:
            continue
        after = score_document(m, better)
        assert after.level >= before.level
        assert after.points >= before.points
        for a, lv in before.areas.items():
            assert after.areas[a] >= lv, a
        doc, before = better, after


def apply_cheapest_path(m: Model, doc: dict[str, Any], nl: Any, movable: int) -> tuple[dict[str, Any], int]:
    """Raise every shortfall to N, add ``movable`` points along the cheapest path, then
    make ``certain_missing`` more answers in Q(N) certain. Returns the new document and
    the points added."""
    n = nl.level
    answers = {k: dict(v) for k, v in doc["answers"].items()}
    pts, _ = points_and_certainty(m, doc)
    new: list[str] = []

    def set_points(qid: str, p: int) -> None:
        q = m.question(qid)
        assert q is not None
        if qid not in answers:
            answers[qid] = {"options": [], "certain": False}
            new.append(qid)
        answers[qid]["options"] = choice_for(q, p, cap=m.points_max)
        pts[qid] = p

    added = 0
    for s in nl.below_minimum:
        assert pts.get(s.question, 0) == s.points
        set_points(s.question, n)
        added += n - s.points
    remaining = movable
    for step in nl.cheapest_path:
        if remaining == 0:
            break
        q = m.question(step.question)
        assert q is not None
        add = min(remaining, max_points(q, m.points_max) - pts.get(q.id, 0))
        if add > 0:
            set_points(q.id, pts.get(q.id, 0) + add)
            remaining -= add
            added += add
    assert remaining == 0, "the cheapest path has too little headroom"
    in_qn = {q.id for q in m.questions if q.level <= n}
    need = nl.certain_missing
    for qid in [*nl.uncertain, *new]:
        if need and qid in in_qn and answers[qid]["certain"] is False:
            answers[qid]["certain"] = True
            need -= 1
    assert need == 0, "not enough answers in Q(N) to make certain"
    return {**doc, "answers": answers}, added


@FAST
@given(name=model_names, profile=profiles)
def test_cheapest_path_reaches_the_next_level(name: str, profile: Profile):
    m = MODELS[name]
    doc = gen_doc(name, profile)
    r = score_document(m, doc)
    nl = r.next_level
    if nl is None:
        return
    assert [s.question for s in nl.cheapest_path] == [s[0] for s in nl.path]
    steps = [s.step for s in nl.cheapest_path]
    assert steps == sorted(steps) and all(s > 0 for s in steps)
    pts, _ = points_and_certainty(m, doc)
    with_headroom = {q.id for q in m.questions if pts.get(q.id, 0) < max_points(q, m.points_max)}
    assert {s.question for s in nl.cheapest_path} == with_headroom
    for s in nl.cheapest_path:
        q = m.question(s.question)
        assert q is not None
        assert s.points == pts.get(q.id, 0)
        assert s.headroom == max_points(q, m.points_max) - s.points
        assert 0 < s.step <= s.headroom
    moved, added = apply_cheapest_path(m, doc, nl, nl.movable_missing)
    assert added == nl.cheapest_points == nl.mandatory_points + nl.movable_missing
    after = score_document(m, moved)
    assert after.level >= nl.level
    assert after.points == r.points + added
    if nl.movable_missing > 0:
        short, _ = apply_cheapest_path(m, doc, nl, nl.movable_missing - 1)
        assert score_document(m, short).level < nl.level


INTERFACE_KEYS = {"model", "level", "points", "certain", "answered", "areas", "questions", "msbfs"}
NEXT_LEVEL_KEYS = {
    "level",
    "points_required",
    "points_missing",
    "mandatory_points",
    "movable_missing",
    "below_minimum",
    "certain_required",
    "certain_missing",
}


def check_interface(m: Model, d: dict[str, Any]) -> None:
    assert d.keys() >= INTERFACE_KEYS
    assert d["model"] == m.id
    assert set(d["areas"]) == {a.id for a in m.areas}
    assert set(d["questions"]) == {q.id for q in m.questions}
    for v in d["questions"].values():
        assert set(v) >= {"points", "certain"}
        assert v["certain"] in (True, False, None) and 0 <= v["points"] <= 5
    assert ("next_level" in d) == (d["level"] < len(m.levels))
    if "next_level" in d:
        assert d["next_level"].keys() >= NEXT_LEVEL_KEYS
        assert d["next_level"]["level"] == d["level"] + 1
        assert isinstance(d["next_level"]["below_minimum"], list)
    assert ("forward_looking" in d) == (d["level"] == 0)
    if "forward_looking" in d:
        assert {"projected_level", "items"} <= d["forward_looking"].keys()
    assert len(d["msbfs"]) == len(m.msbfs)
    for ind in d["msbfs"]:
        assert {"requirement", "status"} <= ind.keys()
        assert ind["status"] in ("met", "not_met", "unknown")


@FAST
@given(name=model_names, profile=profiles)
def test_result_json_round_trip(name: str, profile: Profile):
    m = MODELS[name]
    doc = gen_doc(name, profile)
    d = score_document(m, doc).to_dict()
    raw = orjson.dumps(d)
    back = orjson.loads(raw)
    assert back == json.loads(json.dumps(d))
    check_interface(m, back)


def test_every_level_is_generated():
    """The generator reaches every level (so the properties above are not all level 0)."""
    rng = random.Random(7)
    for name, m in MODELS.items():
        seen = {score_document(m, gen_doc(name, random_profile(rng.randint))).level for _ in range(400)}
        assert seen == {0, 1, 2, 3, 4}, (name, seen)


# --------------------------------------------------------------------------- the command


def run_bot(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        check=False,
    )


def expected_json(m: Model, doc: dict[str, Any]) -> Any:
    return orjson.loads(orjson.dumps(score_document(m, doc).to_dict()))


def model_args(name: str, tmp_path: Path) -> list[str]:
    if name == "bundled":
        return []
    path = tmp_path / f"{name}.toml"
    path.write_text(dumps(MODEL_DATA[name]), encoding="utf-8")
    return ["--model", str(path)]


@pytest.mark.parametrize(("name", "count"), [("bundled", 1100), ("synthetic", 150), ("odd", 150)])
def test_batch_agrees_with_single_documents(tmp_path: Path, name: str, count: int):
    """The batch command (its own, vectorised code) gives, line by line, the JSON of
    ``score_document``; 1100 lines cross the command's chunks of 1024."""
    m = MODELS[name]
    rng = random.Random(2027)
    docs = [gen_doc(name, random_profile(rng.randint)) for _ in range(count)]
    docs[10]["validation"] = {"V1": "12", "V6": "b"} if name == "bundled" else {"V1": "12", "V3": "a"}
    docs[11]["validation"] = {"V2": "7", "V1": ""}
    for doc in docs[20:30]:  # "certain" left out: read alike by both
        for ans in list(doc["answers"].values())[::3]:
            del ans["certain"]
    path = tmp_path / "answers.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")
    proc = run_bot("score", "--batch", str(path), *model_args(name, tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(docs)
    levels = set()
    for number, (line, doc) in enumerate(zip(lines, docs, strict=True), start=1):
        out = json.loads(line)
        assert out == expected_json(m, doc), number
        levels.add(out["level"])
    assert len(levels) >= 4, levels


def test_batch_bad_lines_get_a_placeholder_and_exit_2(tmp_path: Path):
    rng = random.Random(11)
    docs = [gen_doc("bundled", random_profile(rng.randint)) for _ in range(1030)]
    lines_in = [orjson.dumps(d) for d in docs]
    bad = {
        7: (b'{"model": "msb-2021", "answers": {"1.4": {"options": ["z"], "certain": true}}}', ["1.4", "z"]),
        1025: (b'{"answers": {"1.1": {"options": ["a", "g"], "certain": false}}}', ["1.1", "g"]),
        1027: (b'{"model": "msb-2021", "answers": ', ["JSON"]),
    }
    for number, (raw, _) in bad.items():
        lines_in[number - 1] = raw
    path = tmp_path / "answers.jsonl"
    path.write_bytes(b"\n".join(lines_in) + b"\n")
    proc = run_bot("score", "--batch", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    out_lines = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert len(out_lines) == len(docs)
    stderr = proc.stderr.decode()
    for number, (out, doc) in enumerate(zip(out_lines, docs, strict=True), start=1):
        if number in bad:
            assert set(out) == {"line", "error"}
            assert out["line"] == number
            for token in bad[number][1]:
                assert token in out["error"], (token, out)
                assert token in stderr
        else:
            assert out == expected_json(BUNDLED, doc), number


@pytest.mark.parametrize("level", [0, 2, 4])
def test_score_file_json_and_text(tmp_path: Path, level: int):
    path = EXAMPLES / f"answers-level{level}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    proc = run_bot("score", str(path), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == expected_json(BUNDLED, doc)
    assert out["level"] == level
    check_interface(BUNDLED, out)
    text = run_bot("score", str(path), "--format", "text", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "Nivå" in text.stdout.decode()


@pytest.mark.parametrize(
    ("answers", "tokens"),
    [
        ({"1.4": {"options": ["z"], "certain": True}}, ["1.4", "z"]),
        ({"1.3": {"options": ["a", "c"], "certain": True}}, ["1.3", "a", "c"]),
        ({"1.1": {"options": ["a", "g"], "certain": True}}, ["1.1", "g"]),
    ],
)
def test_score_bad_file_exit_2(tmp_path: Path, answers: dict[str, Any], tokens: list[str]):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"model": "msb-2021", "answers": answers}), encoding="utf-8")
    for fmt in ("json", "text"):
        proc = run_bot("score", str(path), "--format", fmt, cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stdout == b""
        stderr = proc.stderr.decode()
        for token in tokens:
            assert token in stderr, (token, stderr)
