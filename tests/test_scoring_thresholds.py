"""The scoring rules (shared/spec/scoring-rules.md), threshold by threshold.

Table-driven: every threshold of every level, for all questions and for single work
areas, on the bundled model and on the synthetic model, with organisations built just
above and just below it. Expected values come from the rules, not from the engine.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from conversations.questionnaire import Model, parse_model
from scoring import AnswerFileError, compare, points_required, score_document, scorer_for
from tests.answerbuild import (
    choice_for,
    conditions,
    document,
    flagged_choice,
    holds,
    level_order,
    max_points,
    reference_level,
    thresholds,
)
from tests.modelgen import model_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODELS = ("bundled", "synthetic")


def get_model(request: pytest.FixtureRequest, name: str) -> Model:
    return request.getfixturevalue("model" if name == "bundled" else "synthetic")


def parsed(data: dict[str, Any]) -> Model:
    m, problems = parse_model(data)
    assert problems == [] and m is not None, problems
    return m


def level1_ids(m: Model) -> list[str]:
    return [q.id for q in level_order(m) if q.level == 1]


@pytest.mark.parametrize("name", MODELS)
def test_choice_for_gives_exactly_p_points(request: pytest.FixtureRequest, name: str):
    """The helper that builds every answer set below: a choice worth exactly p points
    (count: fewest aspects; scale: one band; 0: an exclusive option)."""
    m = get_model(request, name)
    for q in m.questions:
        for p in range(0, max_points(q, m.points_max) + 1):
            options = choice_for(q, p, cap=m.points_max)
            r = score_document(m, {"model": m.id, "answers": {q.id: {"options": options, "certain": True}}})
            assert r.questions[q.id].points == p, (q.id, p, options)
            if p == 0:
                assert len(options) == 1 and q.option(options[0]).exclusive  # type: ignore[union-attr]
            elif q.scoring == "scale":
                assert len(options) == 1
            else:
                assert len(options) == p  # aspects are worth 1 each in these models


# --------------------------------------------------------------------------- K(n), c(n)

WORKED = [  # n, F(n), K(n), certain required, share
    (1, 15, 23, 8, "0.50"),
    (2, 26, 65, 19, "0.70"),
    (3, 35, 123, 30, "0.85"),
    (4, 40, 180, 40, "1.00"),
]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("n", "f", "k", "c", "share"), WORKED)
def test_worked_thresholds(
    request: pytest.FixtureRequest, name: str, n: int, f: int, k: int, c: int, share: str
):
    m = get_model(request, name)
    s = scorer_for(m)
    assert m.levels[n - 1].certainty_share == Fraction(share)
    assert thresholds(m, n) == (f, k, c)  # the test's own reading of the rules
    assert points_required(f, n) == k
    assert (s.all.f[n], s.all.k[n], s.all.c[n]) == (f, k, c)


def test_level_one_is_15_minimum_plus_8_movable(model: Model):
    nl = score_document(model, {"model": model.id, "answers": {}}).next_level
    assert nl is not None
    assert (nl.level, nl.points_required, nl.mandatory_points, nl.movable_missing) == (1, 23, 15, 8)
    assert (nl.certain_required, nl.certain_now, nl.certain_missing) == (8, 0, 8)


@pytest.mark.parametrize(
    ("per_level", "shares", "level", "required"),
    [
        ((10, 11, 9, 5), ("0.7", "0.70", "0.85", "1.00"), 1, 7),  # not 8
        ((10, 11, 9, 5), (0.7, 0.7, 0.85, 1.0), 1, 7),  # TOML floats read as decimals
        ((25,), ("0.28",), 1, 7),  # float: 0.28 * 25 = 7.000000000000001 -> 8
        ((25,), (0.28,), 1, 7),
        ((50,), ("0.14",), 1, 7),  # float: 7.000000000000001
        ((10, 15), ("0.5", "0.56"), 2, 14),  # float: 0.56 * 25 = 14.000000000000002
        ((10,), ("0.1",), 1, 1),  # Fraction(0.1) * 10 > 1
        ((5,), ("0.2",), 1, 1),
        ((20,), ("0.45",), 1, 9),
        ((20,), ("0.55",), 1, 11),
        ((15,), ("0.5",), 1, 8),  # ceil(7.5)
        ((10,), ("0",), 1, 0),
        ((10,), ("1",), 1, 10),
    ],
)
def test_certain_required_is_exact(per_level, shares, level: int, required: int):
    m = parsed(model_dict(per_level=per_level, shares=shares))
    assert scorer_for(m).all.c[level] == required
    assert thresholds(m, level).c == required


@pytest.mark.parametrize(("certain", "expected"), [(7, 1), (6, 0)])
def test_share_07_of_10_reaches_level_with_7_certain(certain: int, expected: int):
    m = parsed(model_dict(per_level=(10, 11, 9, 5), shares=("0.7", "0.70", "0.85", "1.00")))
    ids = level1_ids(m)
    assert len(ids) == 10
    pts = dict.fromkeys(ids, 1)
    pts[ids[0]] = 5
    pts[ids[1]] = 2  # 10 minimum + 5 movable = K(1) = ceil(10 * 1.5) = 15
    doc = document(m, pts, set(ids[:certain]))
    assert score_document(m, doc).level == expected


# --------------------------------------------------------------------------- just above / below


def construct(
    m: Model,
    n: int,
    kind: str,
    below: bool,
    *,
    area: str | None = None,
    placement: str = "same",
    victim: str = "first",
    certain_outside: bool = False,
) -> tuple[dict[str, Any], dict[str, int], dict[str, bool]]:
    """An organisation exactly at the threshold of level ``n`` (``below``: one short).

    Every question of Q(n) (of the area) is at n points, the first C(n) in level order are
    certain, and movable points bring the total to K(n). ``kind`` chooses the condition
    that is moved by one: "minimum" (a question at n-1 / n), "total" (K-1 / K) or
    "certainty" (C-1 / C certain). ``placement`` "higher" takes the movable points from
    questions above level n.
    """
    cap = m.points_max
    qs = level_order(m, area)
    th = thresholds(m, n, area)
    qn = [q for q in qs if q.level <= n]
    pts = {q.id: n for q in qn}
    n_certain = th.c - 1 if kind == "certainty" and below else th.c
    cert = {q.id: i < n_certain for i, q in enumerate(qn)}
    target = th.k - 1 if kind == "total" and below else th.k
    fixed: set[str] = set()
    victim_id = None
    if kind == "minimum":
        victim_id = (qn[0] if victim == "first" else qn[-1]).id
        pts[victim_id] = n - 1
        fixed.add(victim_id)
    pool = (
        [q for q in reversed(qn) if q.id not in fixed]
        if placement == "same"
        else [q for q in qs if q.level > n]
    )
    extra = target - sum(pts.values())
    for q in pool:
        add = min(extra, max_points(q, cap) - pts.get(q.id, 0))
        if add > 0:
            pts[q.id] = pts.get(q.id, 0) + add
            cert.setdefault(q.id, certain_outside)
            extra -= add
    assert extra == 0, "construction: not enough headroom"
    if certain_outside:
        for q in qs:
            if q.level > n:
                pts.setdefault(q.id, 0)
                cert[q.id] = True
    if kind == "minimum" and not below:
        assert victim_id is not None
        pts[victim_id] = n  # the same organisation with one more point on that question
    return document(m, pts, cert), pts, cert


def overall_cases() -> list[Any]:
    out = []
    for name in MODELS:
        for n in range(1, 5):
            variants = [
                ("minimum", {"victim": "first"}),
                ("minimum", {"victim": "last"}),
                ("total", {"placement": "same"}),
                ("certainty", {}),
            ]
            if n < 4:
                variants += [("total", {"placement": "higher"}), ("certainty", {"certain_outside": True})]
            for kind, kw in variants:
                for below in (False, True):
                    tag = "-".join([name, f"L{n}", kind, *map(str, kw.values()), "below" if below else "at"])
                    out.append(pytest.param(name, n, kind, below, kw, id=tag))
    return out


@pytest.mark.parametrize(("name", "n", "kind", "below", "kw"), overall_cases())
def test_level_threshold(
    request: pytest.FixtureRequest, name: str, n: int, kind: str, below: bool, kw: dict[str, Any]
):
    m = get_model(request, name)
    doc, pts, cert = construct(m, n, kind, below, **kw)
    # the construction is what it claims (checked with the test's own rules)
    for k in range(1, n):
        assert holds(m, k, pts, cert)
    expected_conditions = [True, True, True]
    if below:
        expected_conditions[("minimum", "total", "certainty").index(kind)] = False
    assert list(conditions(m, n, pts, cert)) == expected_conditions
    if n < 4:
        assert not holds(m, n + 1, pts, cert)
    th = thresholds(m, n)
    total = sum(pts.values())
    if kind == "total":
        assert total == th.k - below
    certain_in_qn = sum(1 for q in level_order(m) if q.level <= n and cert.get(q.id) is True)
    if kind == "certainty":
        assert certain_in_qn == th.c - below

    result = score_document(m, doc)
    assert result.points == total
    assert result.level == (n - 1 if below else n)


AREA_CASES = [
    pytest.param(name, area, n, kind, below, id=f"{name}-{area}-L{n}-{kind}-{'below' if below else 'at'}")
    for name in MODELS
    for area in ("ledning", "risk")
    for n in range(1, 5)
    for kind in ("minimum", "total", "certainty")
    for below in (False, True)
]


@pytest.mark.parametrize(("name", "area", "n", "kind", "below"), AREA_CASES)
def test_area_level_threshold(
    request: pytest.FixtureRequest, name: str, area: str, n: int, kind: str, below: bool
):
    m = get_model(request, name)
    doc, pts, cert = construct(m, n, kind, below, area=area)
    for k in range(1, n):
        assert holds(m, k, pts, cert, area)
    expected_conditions = [True, True, True]
    if below:
        expected_conditions[("minimum", "total", "certainty").index(kind)] = False
    assert list(conditions(m, n, pts, cert, area)) == expected_conditions
    if n < 4:
        assert not holds(m, n + 1, pts, cert, area)
    result = score_document(m, doc)
    assert result.areas[area] == (n - 1 if below else n)
    assert result.area_points[area] == sum(pts.get(q.id, 0) for q in level_order(m, area))


def test_bundled_level_one_by_hand(model: Model):
    """The seed's example: 15 questions at their minimum 1, plus 8 movable points that
    may come from another level (here 2.2 at 5 and 2.3 at 3); 8 of 15 certain."""
    one_aspect, lowest_band = ["a"], ["e"]  # count: one aspect = 1; scale: e = 1
    answers: dict[str, Any] = {
        "1.1": {"options": one_aspect, "certain": True},
        "1.2": {"options": one_aspect, "certain": True},
        "1.3": {"options": lowest_band, "certain": True},
        "1.4": {"options": lowest_band, "certain": True},
        "1.5": {"options": lowest_band, "certain": True},
        "1.6": {"options": one_aspect, "certain": True},
        "1.7": {"options": one_aspect, "certain": True},
        "1.8": {"options": one_aspect, "certain": True},
        "1.9": {"options": one_aspect, "certain": False},
        "1.10": {"options": one_aspect, "certain": False},
        "1.11": {"options": one_aspect, "certain": False},
        "1.12": {"options": lowest_band, "certain": False},
        "1.13": {"options": lowest_band, "certain": False},
        "1.14": {"options": lowest_band, "certain": False},
        "1.15": {"options": one_aspect, "certain": False},
    }
    answers["2.2"] = {"options": ["a"], "certain": False}
    answers["2.3"] = {"options": ["c"], "certain": False}
    at = score_document(model, {"model": "msb-2021", "answers": answers})
    assert (at.level, at.points, at.certain) == (1, 23, 8)
    answers["2.3"] = {"options": ["c", "d"], "certain": False}  # a range scores 2
    below = score_document(model, {"model": "msb-2021", "answers": answers})
    assert (below.level, below.points) == (0, 22)
    answers["2.3"] = {"options": ["c"], "certain": False}
    answers["1.8"]["certain"] = False  # 7 of 8 needed
    assert score_document(model, {"model": "msb-2021", "answers": answers}).level == 0


def test_answers_for_another_model_are_refused(model: Model):
    with pytest.raises(AnswerFileError, match="synthetic"):
        score_document(model, {"model": "synthetic", "answers": {}})


# --------------------------------------------------------------------------- areas


def vacuous_model() -> Model:
    """The synthetic model with an extra area whose only question is on level 3."""
    data = model_dict()
    data["areas"].append(
        {"id": "extra", "name": {"sv": "Extra", "en": "Extra"}, "description": {"sv": "E.", "en": "E."}}
    )
    q31 = next(q for q in data["questions"] if q["id"] == "3.1")
    q31["areas"] = ["extra"]
    return parsed(data)


@pytest.mark.parametrize(
    ("points", "certain", "expected"),
    [
        (None, False, 2),  # levels 1 and 2 are vacuous (F_a = 0) and hold
        (2, True, 2),
        (3, False, 2),  # level 3: ceil(0.85 * 1) = 1 certain answer needed
        (3, True, 2),  # level 3: K_a(3) = ceil(1 * 3.5) = 4
        (4, True, 3),
        (5, True, 4),  # level 4: min 4, K_a(4) = ceil(4.5) = 5, 1 certain
    ],
)
def test_area_vacuous_levels_hold(points: int | None, certain: bool, expected: int):
    m = vacuous_model()
    assert [thresholds(m, n, "extra").f for n in range(1, 5)] == [0, 0, 1, 1]
    pts = {} if points is None else {"3.1": points}
    doc = document(m, pts, {"3.1": certain})
    result = score_document(m, doc)
    assert result.areas["extra"] == expected
    assert result.level == 0


def test_bundled_areas_never_vacuous_at_level_one(model: Model):
    for a in model.areas:
        assert thresholds(model, 1, a.id).f >= 1
    result = score_document(model, {"model": model.id, "answers": {}})
    assert set(result.areas) == {a.id for a in model.areas}
    assert all(v == 0 for v in result.areas.values())


def test_overall_level_is_not_the_area_levels_every_area_one_overall_zero(model: Model):
    """Every area reaches 1 (shared questions count in each of their areas) while the
    total of 22 points is below K(1) = 23: the overall level is 0."""
    ids = level1_ids(model)
    pts = dict.fromkeys(ids, 1)
    pts.update({"1.15": 2, "1.3": 2, "1.10": 2, "1.13": 2, "4.1": 1, "3.3": 1, "3.4": 1})
    certain = {"1.1", "1.15", "1.3", "1.5", "1.7", "1.8", "1.10", "1.11", "1.12", "1.13"}
    result = score_document(model, document(model, pts, certain))
    assert result.points == 22
    assert all(v >= 1 for v in result.areas.values()), result.areas
    assert result.level == 0
    cert = dict.fromkeys(pts, False) | dict.fromkeys(certain, True)
    assert conditions(model, 1, pts, cert) == (True, False, True)


def test_overall_level_is_not_the_area_levels_overall_one_area_zero(model: Model):
    ids = level1_ids(model)
    pts = dict.fromkeys(ids, 1) | {"1.3": 5, "1.4": 5}
    result = score_document(model, document(model, pts, set(ids[:8])))
    assert (result.level, result.points) == (1, 23)
    assert result.areas["klassning"] == 0  # 1.7 at 1 point < K_a(1) = ceil(1.5) = 2
    assert result.areas["kunskap"] >= 1


def test_question_in_two_areas_counts_in_both(model: Model):
    q = model.question("1.15")
    assert q is not None and set(q.areas) == {"kultur", "ledning"}
    ids = level1_ids(model)
    base = dict.fromkeys(ids, 1)
    low = score_document(model, document(model, base, set(ids)))
    high = score_document(model, document(model, base | {"1.15": 2}, set(ids)))
    assert high.area_points["kultur"] == low.area_points["kultur"] + 1
    assert high.area_points["ledning"] == low.area_points["ledning"] + 1
    assert (low.areas["kultur"], high.areas["kultur"]) == (0, 1)  # K_a(1) = ceil(2 * 1.5) = 3


# --------------------------------------------------------------------------- next level


def test_next_level_from_level_zero(model: Model):
    answers = {
        "1.1": {"options": ["a", "b", "c"], "certain": True},
        "1.2": {"options": ["a"], "certain": False},
        "1.3": {"options": ["g"], "certain": True},
    }
    r = score_document(model, {"model": model.id, "answers": answers})
    assert r.level == 0 and r.points == 4
    nl = r.next_level
    assert nl is not None
    assert nl.level == 1
    assert (nl.points_required, nl.points_now, nl.points_missing) == (23, 4, 19)
    assert [s.question for s in nl.below_minimum] == [f"1.{i}" for i in range(3, 16)]
    assert all(s.points == 0 and s.needed == 1 for s in nl.below_minimum)
    assert nl.mandatory_points == 13
    assert nl.movable_missing == 23 - 4 - 13
    assert (nl.certain_required, nl.certain_now, nl.certain_missing) == (8, 2, 6)
    assert nl.uncertain == ("1.2",)
    d = r.to_dict()["next_level"]
    assert d["below_minimum"] == [f"1.{i}" for i in range(3, 16)]
    assert (d["mandatory_points"], d["movable_missing"], d["certain_missing"]) == (13, 6, 6)


def test_next_level_with_surplus_points_movable_is_zero(synthetic: Model):
    m = synthetic
    ids = level1_ids(m)
    pts = dict.fromkeys(ids, 5) | {"1.1": 1, "2.1": 1, "2.2": 2}
    cert = dict.fromkeys(ids, True) | {"1.1": False, "2.1": False, "2.2": True}
    r = score_document(m, document(m, pts, cert))
    assert (r.level, r.points) == (1, 74)
    nl = r.next_level
    assert nl is not None and nl.level == 2
    assert (nl.points_required, nl.points_now, nl.points_missing) == (65, 74, 0)
    expected_below = {"1.1": 1, "2.1": 1} | {f"2.{i}": 0 for i in range(3, 12)}
    assert {s.question: s.points for s in nl.below_minimum} == expected_below
    assert all(s.needed == 2 for s in nl.below_minimum)
    assert nl.mandatory_points == 1 + 1 + 9 * 2
    assert nl.movable_missing == 0  # max(0, 65 - 74 - 20)
    assert (nl.certain_required, nl.certain_now, nl.certain_missing) == (19, 15, 4)
    assert set(nl.uncertain) == {"1.1", "2.1"}  # unanswered level-2 questions are not "uncertain"


def test_next_level_four_counts_earlier_levels_shortfalls(synthetic: Model):
    m = synthetic
    q3 = [q.id for q in level_order(m) if q.level <= 3]
    pts = dict.fromkeys(q3, 4) | {"1.1": 3}
    r = score_document(m, document(m, pts, set(q3)))
    assert r.level == 3 and r.points == 139
    nl = r.next_level
    assert nl is not None and nl.level == 4
    assert {s.question: s.missing for s in nl.below_minimum} == {"1.1": 1} | {
        f"4.{i}": 4 for i in range(1, 6)
    }
    assert (nl.points_required, nl.points_missing, nl.mandatory_points, nl.movable_missing) == (
        180,
        41,
        21,
        20,
    )
    assert (nl.certain_required, nl.certain_now, nl.certain_missing) == (40, 35, 5)
    assert nl.uncertain == ()
    assert nl.cheapest_points == 41


def test_next_level_absent_at_level_four(model: Model):
    doc = json.loads((EXAMPLES / "answers-level4.json").read_text(encoding="utf-8"))
    r = score_document(model, doc)
    assert r.level == 4
    assert r.next_level is None
    assert "next_level" not in r.to_dict()
    assert r.forward_looking is None and "forward_looking" not in r.to_dict()


# --------------------------------------------------------------------------- forward-looking


def forward_case(m: Model, flagged: dict[str, str], raise_to_5: list[str], n_certain: int) -> dict[str, Any]:
    ids = level1_ids(m)
    pts = dict.fromkeys(ids, 1) | dict.fromkeys(raise_to_5, 5)
    opts: dict[str, list[str]] = {}
    for qid, flag in flagged.items():
        del pts[qid]
        choice = flagged_choice(m.question(qid), flag)  # type: ignore[arg-type]
        assert choice is not None
        opts[qid] = choice
    return document(m, pts, set(ids[:n_certain]), options=opts)


@pytest.mark.parametrize(
    ("name", "flagged", "raise_to_5", "n_certain", "projected", "items"),
    [
        # 12 at 1 + two at 5 = 22; 1.2 "pågår" projected 1 -> 23 = K(1)
        ("bundled", {"1.2": "in_progress"}, ["1.3", "1.4"], 8, 1, ["1.2"]),
        # 21 now; projected 21 + 1 + 2 = 24
        ("bundled", {"1.2": "in_progress", "1.7": "recent"}, ["1.3", "1.4"], 8, 1, ["1.2", "1.7"]),
        # the projection applies the certainty condition too
        ("bundled", {"1.2": "in_progress"}, ["1.3", "1.4"], 7, 0, ["1.2"]),
        # 1.2 "nyligen" projects to 2, but 14 + 2 = 16 < 23
        ("bundled", {"1.2": "recent"}, [], 8, 0, ["1.2"]),
        # synthetic: a scale question's "recent" option projects to 2
        ("synthetic", {"1.2": "recent"}, ["1.1", "1.3"], 8, 1, ["1.2"]),
        ("synthetic", {"1.2": "recent", "1.1": "in_progress"}, ["1.3", "1.4"], 8, 1, ["1.1", "1.2"]),
    ],
)
def test_forward_looking_at_level_zero(
    request: pytest.FixtureRequest, name, flagged, raise_to_5, n_certain, projected, items
):
    m = get_model(request, name)
    r = score_document(m, forward_case(m, flagged, raise_to_5, n_certain))
    assert r.level == 0
    assert r.forward_looking is not None
    assert r.forward_looking.projected_level == projected
    d = r.to_dict()["forward_looking"]
    assert d["projected_level"] == projected
    assert sorted(d["items"]) == sorted(items)
    assert r.next_level is not None


def test_forward_looking_absent_above_level_zero(synthetic: Model):
    doc, _, _ = construct(synthetic, 1, "total", False)
    doc["answers"]["2.1"] = {"options": ["g"], "certain": False}  # in progress, on level 2
    r = score_document(synthetic, doc)
    assert r.level == 1
    assert r.forward_looking is None
    assert "forward_looking" not in r.to_dict()


# --------------------------------------------------------------------------- MSBFS


@pytest.mark.parametrize(
    ("answers", "status"),
    [
        ({"1.1": ["a", "b", "c"], "1.2": ["a"]}, "met"),
        ({"1.1": ["a", "b", "c", "d"], "1.2": ["a", "b"]}, "met"),  # a range that includes a
        ({"1.1": ["a", "b"], "1.2": ["a"]}, "not_met"),  # p(1.1) = 2 < 3
        ({"1.1": ["a", "b", "c"], "1.2": ["b"]}, "not_met"),  # option a not chosen
        ({"1.1": ["a", "b", "c"], "1.2": ["g"]}, "not_met"),  # answered "Nej"
        ({"1.1": ["h"], "1.2": ["a"]}, "not_met"),
        ({"1.1": ["a", "b", "c"]}, "unknown"),
        ({"1.2": ["a"]}, "unknown"),
        ({}, "unknown"),
        ({"1.1": ["a", "b"]}, "not_met"),  # fails on an answered question: wins over unknown
        ({"1.2": ["c"]}, "not_met"),
    ],
)
def test_msbfs_indication_synthetic(synthetic: Model, answers: dict[str, list[str]], status: str):
    doc = {
        "model": synthetic.id,
        "answers": {q: {"options": o, "certain": False} for q, o in answers.items()},
    }
    r = score_document(synthetic, doc)
    (ind,) = r.msbfs
    assert ind.id == "m1"
    assert ind.status == status
    assert r.to_dict()["msbfs"][0]["status"] == status


@pytest.mark.parametrize(
    ("answers", "status"),
    [
        ({"1.1": ["a", "d"], "3.1": ["a", "b", "c"]}, "met"),
        ({"1.1": ["a", "d"]}, "unknown"),
        ({"1.1": ["a"]}, "not_met"),  # d missing; 3.1 unanswered
        ({"1.1": ["a", "d"], "3.1": ["f"]}, "not_met"),
        ({"3.1": ["a", "b", "c", "d"]}, "unknown"),
    ],
)
def test_msbfs_indication_bundled_policy(model: Model, answers: dict[str, list[str]], status: str):
    doc = {"model": model.id, "answers": {q: {"options": o, "certain": True} for q, o in answers.items()}}
    r = score_document(model, doc)
    by_id = {i.id: i.status for i in r.msbfs}
    assert by_id["msbfs-policy"] == status
    assert len(r.msbfs) == len(model.msbfs)


# --------------------------------------------------------------------------- compare


def test_compare_same_model_version(model: Model):
    before_doc, _, _ = construct(model, 1, "total", False)
    now_doc, _, _ = construct(model, 2, "total", False)
    before_doc["validation"] = {"V1": "40", "V6": "b"}
    now_doc["validation"] = {"V1": "55", "V2": "3", "V6": "b"}
    before, now = score_document(model, before_doc), score_document(model, now_doc)
    c = compare(model, now, model, before)
    assert c.same_model is True
    assert c.level_change is not None and (c.level_change.before, c.level_change.after) == (1, 2)
    assert c.level_change.delta == 1
    assert c.points_change is not None and (c.points_change.before, c.points_change.after) == (23, 65)
    assert {a.key: (a.before, a.after) for a in c.areas} == {
        a.id: (before.areas[a.id], now.areas[a.id]) for a in model.areas
    }
    validation = {v.key: (v.before, v.after) for v in c.validation}
    assert validation["V1"] == ("40", "55")
    assert validation["V2"] == (None, "3")
    assert validation.get("V6", ("b", "b")) == ("b", "b")
    assert set(c.comparable_questions) == {q.id for q in model.questions}
    d = c.to_dict()
    assert d["same_model"] is True and d["level"]["delta"] == 1 and d["points"]["delta"] == 42


def test_compare_across_model_versions(synthetic: Model):
    data = model_dict()
    data["version"] = "2"
    changed = next(q for q in data["questions"] if q["id"] == "1.3")
    assert changed["scoring"] == "count"
    changed["options"][0]["points"] = 2  # aspect a now worth 2
    m2 = parsed(data)
    answers = {
        "1.1": {"options": ["a", "b"], "certain": True},
        "1.3": {"options": ["a", "b"], "certain": True},
    }
    before = score_document(synthetic, {"model": "synthetic", "answers": answers})
    answers["1.1"] = {"options": ["a", "b", "c"], "certain": True}
    now = score_document(m2, {"model": "synthetic", "answers": answers})
    assert now.questions["1.3"].points == 3 and before.questions["1.3"].points == 2
    c = compare(m2, now, synthetic, before)
    assert c.same_model is False
    assert c.level_change is None
    assert c.points_change is None
    assert "1.3" not in c.comparable_questions
    assert set(c.comparable_questions) == {q.id for q in synthetic.questions} - {"1.3"}
    assert {q.key: (q.before, q.after) for q in c.questions} == {"1.1": (2, 3)}
    d = c.to_dict()
    assert d["same_model"] is False and d["level"] is None


# --------------------------------------------------------------------------- answer files


def named(text: str, token: str) -> bool:
    """``token`` appears in ``text`` as a whole id or letter (not inside another id)."""
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w]|\.\d)", text) is not None


def one(qid: str, options: Any, certain: Any = True) -> dict[str, Any]:
    return {"model": "msb-2021", "answers": {qid: {"options": options, "certain": certain}}}


@pytest.mark.parametrize(
    ("doc", "tokens"),
    [
        pytest.param(one("9.9", ["a"]), ["9.9"], id="unknown-question"),
        pytest.param(one("1.1", ["z"]), ["1.1", "z"], id="unknown-option-count"),
        pytest.param(one("1.3", ["h"]), ["1.3", "h"], id="unknown-option-scale"),
        pytest.param(one("1.1", ["a", "z"]), ["1.1", "z"], id="unknown-option-among-known"),
        pytest.param(one("1.1", ["a", "f"]), ["1.1", "f"], id="exclusive-with-other"),
        pytest.param(one("1.1", ["g", "b"]), ["1.1", "g"], id="exclusive-first"),
        pytest.param(one("1.2", ["h", "i"]), ["1.2"], id="two-exclusive"),
        pytest.param(one("1.3", ["a", "g"]), ["1.3", "g"], id="scale-exclusive-with-other"),
        pytest.param(one("1.3", ["a", "c"]), ["1.3", "a", "c"], id="non-adjacent-range"),
        pytest.param(one("2.2", ["e", "b"]), ["2.2", "b", "e"], id="non-adjacent-range-reversed"),
        pytest.param(one("1.1", ["a", "a"]), ["1.1", "a"], id="duplicate-option"),
        pytest.param(one("1.3", ["b", "b"]), ["1.3", "b"], id="duplicate-option-scale"),
        pytest.param(one("1.1", ["a"], "yes"), ["1.1"], id="certain-string"),
        pytest.param(one("1.1", ["a"], 2), ["1.1"], id="certain-number"),
        pytest.param(one("1.1", ["a"], None), ["1.1"], id="certain-null"),
        pytest.param(
            {"model": "msb-2021", "answers": {}, "validation": {"V1": "abc"}}, ["V1"], id="val-text"
        ),
        pytest.param(
            {"model": "msb-2021", "answers": {}, "validation": {"V1": "150"}}, ["V1"], id="val-percent"
        ),
        pytest.param(
            {"model": "msb-2021", "answers": {}, "validation": {"V2": "-3"}}, ["V2"], id="val-negative"
        ),
        pytest.param(
            {"model": "msb-2021", "answers": {}, "validation": {"V6": "z"}}, ["V6", "z"], id="val-choice"
        ),
        pytest.param(
            {"model": "msb-2021", "answers": {}, "validation": {"V99": "1"}}, ["V99"], id="val-unknown"
        ),
    ],
)
def test_answer_file_errors_name_question_and_option(model: Model, doc: dict[str, Any], tokens: list[str]):
    with pytest.raises(AnswerFileError) as exc:
        score_document(model, doc)
    message = str(exc.value)
    for token in tokens:
        assert named(message, token), (token, message)


def test_certainty_as_one_or_zero_is_read_as_true_or_false(model: Model) -> None:
    """Scripts that write 1/0 for true/false are understood alike by every scoring path."""
    assert score_document(model, one("1.1", ["a"], 1)).questions["1.1"].certain is True
    assert score_document(model, one("1.1", ["a"], 0)).questions["1.1"].certain is False


@pytest.mark.parametrize(
    ("qid", "options", "points"),
    [
        ("1.3", ["a"], 5),
        ("1.3", ["a", "b"], 4),
        ("1.3", ["b", "c", "d"], 2),
        ("1.3", ["d", "c"], 2),  # order does not matter
        ("1.3", ["d", "e"], 1),
        ("1.3", ["a", "b", "c", "d", "e"], 1),
        ("1.3", ["g"], 0),
        ("1.1", ["a", "c", "e"], 3),
        ("1.1", ["e", "a"], 2),
        ("1.1", ["a", "b", "c", "d", "e"], 5),
        ("1.1", ["f"], 0),
    ],
)
def test_points_of_an_answer(model: Model, qid: str, options: list[str], points: int):
    r = score_document(model, one(qid, options))
    assert r.questions[qid].points == points
    assert r.points == points


@pytest.mark.parametrize(("options", "points"), [(["a", "b"], 4), (["a", "b", "c"], 5), (list("abcde"), 5)])
def test_count_questions_cap_at_five(options: list[str], points: int):
    data = model_dict()
    q11 = next(q for q in data["questions"] if q["id"] == "1.1")
    for o in q11["options"][:5]:
        o["points"] = 2
    m = parsed(data)
    r = score_document(m, {"model": "synthetic", "answers": {"1.1": {"options": options, "certain": True}}})
    assert r.questions["1.1"].points == points


def test_unanswered_is_neither_certain_nor_uncertain(model: Model):
    r = score_document(model, one("1.1", ["a"], False))
    assert r.questions["1.1"] == (1, False)
    assert r.questions["1.2"].certain is None
    assert (r.answered, r.certain) == (1, 0)


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("level", range(5))
def test_example_files_score_to_their_level(model: Model, level: int):
    doc = json.loads((EXAMPLES / f"answers-level{level}.json").read_text(encoding="utf-8"))
    r = score_document(model, doc)
    assert r.level == level
    pts = {qid: s.points for qid, s in r.questions.items()}
    cert = {qid: s.certain for qid, s in r.questions.items()}
    assert reference_level(model, pts, cert) == level
