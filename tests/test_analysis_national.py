"""The national analysis on SQLite and PostgreSQL: known answers, and every aggregate against a
direct count of the stored rows (``tests/analysisdata.recount``)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from bot.analysis.national import NoSuchCycle, national_report
from bot.analysis.synthetic import generate, store
from bot.db.database import Database
from conversations.questionnaire import Model, bundled_model_path, parse_model
from scoring.score import score_document
from tests.analysisdata import add_cycle, add_org, example, recount, store_response
from tests.answerbuild import points_and_certainty

INTERFACE_KEYS = {"cycle", "submitted", "levels", "by_type", "areas", "blocking_questions",
                  "uncertainty_by_question", "validation", "trend"}  # fmt: skip


def with_figures(doc: dict[str, Any], **figures: Any) -> dict[str, Any]:
    return {**doc, "validation": figures}


async def known(db: Database, model: Model) -> dict[str, int]:
    """Seven organisations over two cycles; four submitted in 2027 (levels 2, 0, 1, 4)."""
    async with db.transaction() as s:
        c25 = await add_cycle(s, model, "2025", 2025)
        c27 = await add_cycle(s, model, "2027", 2027)
        a = await add_org(s, "A kommun", "kommun", "liten", "Skåne län")
        b = await add_org(s, "B kommun", "kommun", "liten", "Skåne län")
        c = await add_org(s, "Region C", "region", None, "Skåne län")
        d = await add_org(s, "D-verket", "myndighet", "stor", "Stockholms län")
        e = await add_org(s, "E-verket", "myndighet", "stor", "Stockholms län")
        f = await add_org(s, "F-verket", "myndighet", "stor", "Stockholms län")
        g = await add_org(s, "G kommun", "kommun", "liten", "Skåne län")
        await store_response(s, model, a, c27, with_figures(example(2), V1="40", V6="a"))
        await store_response(s, model, b, c27, with_figures(example(0), V1="10", V6="d"))
        await store_response(s, model, c, c27, with_figures(example(1), V1="70"))
        await store_response(
            s, model, d, c27, example(3), status="completed", submitted=False
        )  # not submitted
        await store_response(
            s, model, e, c27, with_figures(example(4), V1="90"), status="closed"
        )  # submitted, closed
        await store_response(s, model, f, c27, example(4), status="completed", submitted=False)  # withdrawn
        await store_response(s, model, g, c27, None, status="in_progress", submitted=False)
        await store_response(s, model, a, c25, example(1))
        await store_response(s, model, b, c25, example(0))
        await store_response(s, model, d, c25, example(2))
    return {"a": a, "b": b, "c": c, "e": e}


async def test_known_answers(db: Database, model: Model) -> None:
    await known(db, model)
    r = await national_report(db, "2027", [model])
    assert set(r) >= INTERFACE_KEYS
    assert r["cycle"] == "2027" and r["submitted"] == 4
    assert r["levels"] == {"0": 1, "1": 1, "2": 1, "3": 0, "4": 1}
    assert r["by_type"] == {
        "kommun": {"0": 1, "1": 0, "2": 1, "3": 0, "4": 0},
        "region": {"0": 0, "1": 1, "2": 0, "3": 0, "4": 0},
        "myndighet": {"0": 0, "1": 0, "2": 0, "3": 0, "4": 1},
    }
    assert r["by_size"]["kommun"] == {"liten": {"n": 2, "levels": {"0": 1, "1": 0, "2": 1, "3": 0, "4": 0},
                                                "small": True}}  # fmt: skip
    assert r["by_size"]["region"]["unknown"]["n"] == 1
    assert r["by_county"]["Skåne län"]["n"] == 3 and r["by_county"]["Stockholms län"]["n"] == 1
    # blocking: the one organisation below level 1 has these level-1 questions at 0 points
    pts0, _ = points_and_certainty(model, example(0))
    zero = sorted(q.id for q in model.questions if q.level == 1 and pts0.get(q.id, 0) < 1)
    step0 = r["blocking_questions"][0]
    assert step0["organisations"] == 1
    assert sorted(q["question"] for q in step0["questions"]) == zero
    assert all(q["count"] == 1 and q["share"] == 1.0 for q in step0["questions"])
    # uncertainty: answered and uncertain answers among the four submitted documents
    docs = [example(n) for n in (2, 0, 1, 4)]
    for q in model.questions:
        answered = sum(1 for d in docs if q.id in d["answers"])
        uncertain = sum(1 for d in docs if q.id in d["answers"] and not d["answers"][q.id]["certain"])
        u = r["uncertainty_by_question"][q.id]
        assert (u["answered"], u["uncertain"]) == (answered, uncertain), q.id
    # key figures: V1 = 10, 40, 70, 90
    v1 = r["validation"]["V1"]
    assert (v1["answered"], v1["q1"], v1["median"], v1["q3"], v1["mean"]) == (4, 32.5, 55, 75, 52.5)
    assert v1["by_level"]["4"]["median"] == 90
    v6 = r["validation"]["V6"]
    assert v6["answered"] == 2 and v6["counts"]["a"] == 1 and v6["counts"]["d"] == 1
    # trend: A 1 → 2, B 0 → 0; D (2025) did not submit in 2027
    (paired,) = r["trend"]["paired"]
    assert paired["cycle"] == "2025" and paired["organisations"] == 2 and paired["same_model"]
    assert paired["transitions"]["1"]["2"] == 1 and paired["transitions"]["0"]["0"] == 1
    assert (paired["improved"], paired["unchanged"], paired["declined"]) == (1, 1, 0)
    assert [c["cycle"] for c in r["trend"]["cycles"]] == ["2025", "2027"]
    assert r["trend"]["cycles"][0]["levels"] == {"0": 1, "1": 1, "2": 1, "3": 0, "4": 0}
    assert r["participation"]["registered"] == {"kommun": 3, "region": 1, "myndighet": 3}


async def test_latest_cycle_by_default_and_unknown_cycle(db: Database, model: Model) -> None:
    await known(db, model)
    assert (await national_report(db, None, [model]))["cycle"] == "2027"
    with pytest.raises(NoSuchCycle):
        await national_report(db, "1999", [model])


async def test_cycle_with_nothing_submitted(db: Database, model: Model) -> None:
    async with db.transaction() as s:
        await add_cycle(s, model, "2027", 2027)
    r = await national_report(db, "2027", [model])
    assert r["submitted"] == 0 and r["levels"] == {str(n): 0 for n in range(5)}
    assert r["validation"]["V1"]["median"] is None and r["trend"]["paired"] == []


def changed_model(model: Model) -> Model:
    """The bundled model as version 2, with question 1.1's first option worth 2 points."""
    data = tomllib.loads(bundled_model_path().read_text(encoding="utf-8"))
    data["version"] = "2"
    data["questions"][0]["options"][0]["points"] = 2
    v2, problems = parse_model(data)
    assert v2 is not None and not problems and v2.question("1.1") is not None
    return v2


async def test_trend_across_model_versions(db: Database, model: Model) -> None:
    v2 = changed_model(model)
    async with db.transaction() as s:
        c25 = await add_cycle(s, model, "2025", 2025)
        c27 = await add_cycle(s, v2, "2027", 2027)
        for n in range(3):
            org = await add_org(s, f"Kommun {n}", "kommun")
            before = example(n)
            await store_response(s, model, org, c25, before, score=score_document(model, before).to_dict())
            await store_response(s, v2, org, c27, example(n + 1))
    r = await national_report(db, "2027", [v2, model])
    assert r["model"] == {"id": "msb-2021", "version": "2"}
    first, now = r["trend"]["cycles"]
    assert first["model"]["version"] == "1" and not first["same_model"] and now["same_model"]
    (paired,) = r["trend"]["paired"]
    assert not paired["same_model"] and "transitions" not in paired and "improved" not in paired
    assert "1.1" not in paired["comparable_questions"] and len(paired["comparable_questions"]) == 39
    assert "levels are not compared" in paired["note"]
    q = paired["question_points"]["1.4"]
    assert q["before"] is not None and q["after"] is not None
    # without the earlier model: its levels as stored, nothing compared
    r = await national_report(db, "2027", [v2])
    first = r["trend"]["cycles"][0]
    assert not first["scored_from_answers"] and first["levels"] == {"0": 1, "1": 1, "2": 1, "3": 0, "4": 0}
    assert "not available" in r["trend"]["paired"][0]["note"]
    with pytest.raises(ValueError, match="not available"):
        await national_report(db, "2027", [model])


async def test_every_aggregate_equals_a_direct_count(db: Database, model: Model) -> None:
    data = generate(model, 300, 2, seed=11)
    async with db.transaction() as s:
        await store(s, data)
    r = await national_report(db, "2023", [model])
    expected = await recount(db, model, "2023")
    assert r["submitted"] == expected["submitted"] == data.submitted(1)
    assert r["levels"] == expected["levels"]
    assert r["by_type"] == expected["by_type"]
    for t, sizes in expected["by_size"].items():
        for size, counts in sizes.items():
            got = r["by_size"][t][size]
            assert got["n"] == sum(counts.values())
            assert {k: v for k, v in got["levels"].items() if v} == dict(counts)
            assert got["small"] == (got["n"] < 5)
    assert sum(len(v) for v in r["by_size"].values()) == sum(len(v) for v in expected["by_size"].values())
    assert set(r["by_county"]) == set(expected["by_county"])
    for county, counts in expected["by_county"].items():
        assert {k: v for k, v in r["by_county"][county]["levels"].items() if v} == dict(counts)
    assert {aid: a["levels"] for aid, a in r["areas"].items()} == expected["areas"]
    for got, want in zip(r["blocking_questions"], expected["blocking"], strict=True):
        assert got["from_level"] == want["from_level"] and got["organisations"] == want["organisations"]
        assert {q["question"]: q["count"] for q in got["questions"]} == want["counts"]
        assert (got["below_points"], got["below_certain"]) == (want["below_points"], want["below_certain"])
    for qid, want in expected["uncertainty"].items():
        got = r["uncertainty_by_question"][qid]
        assert (got["answered"], got["uncertain"]) == (want["answered"], want["uncertain"]), qid
    for vid, want in expected["validation"].items():
        got = r["validation"][vid]
        assert got["answered"] == want["answered"], vid
        if "counts" in want:
            assert {k: v for k, v in got["counts"].items() if v} == dict(want["counts"])
        else:
            assert (got["q1"], got["median"], got["q3"]) == pytest.approx((want["q1"], want["median"], want["q3"]),
                                                                          abs=0.01), vid  # fmt: skip
    trend = expected["trend"]["2021"]
    (paired,) = r["trend"]["paired"]
    assert r["trend"]["cycles"][0]["levels"] == trend["levels"]
    assert r["trend"]["cycles"][0]["submitted"] == trend["submitted"]
    assert paired["organisations"] == trend["paired"]
    got_transitions = {
        (int(b), int(a)): n for b, row in paired["transitions"].items() for a, n in row.items() if n
    }
    assert got_transitions == dict(trend["transitions"])
    # realistic: most below level 1, and fewer below level 1 in the second cycle
    shares = [c["below_level_1"] for c in r["trend"]["cycles"]]
    assert shares[0] > 0.7 and shares[1] < shares[0]
    assert paired["improved"] > paired["declined"]
