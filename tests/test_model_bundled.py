"""The bundled model msb-2021: its shape as the issue and the spec require."""

from __future__ import annotations

from collections import Counter

from conversations.questionnaire import Model, bundled_model_path, read_model_file


def test_bundled_model_has_no_problems() -> None:
    model, problems = read_model_file(bundled_model_path())
    assert problems == []
    assert model is not None and model.id == "msb-2021"


def test_forty_questions_15_11_9_5(model: Model) -> None:
    assert Counter(q.level for q in model.questions) == {1: 15, 2: 11, 3: 9, 4: 5}
    assert [q.id for q in model.questions if q.level == 1] == [f"1.{i}" for i in range(1, 16)]


def test_every_area_has_a_level_one_question(model: Model) -> None:
    assert len(model.areas) == 10
    level1_areas = {a for q in model.questions if q.level == 1 for a in q.areas}
    assert {a.id for a in model.areas} <= level1_areas


def test_certainty_shares_are_the_defaults(model: Model) -> None:
    assert [str(float(lv.certainty_share)) for lv in model.levels] == ["0.5", "0.7", "0.85", "1.0"]


def test_validation_and_msbfs_present(model: Model) -> None:
    assert len(model.validation_questions) >= 6
    assert model.msbfs
    for req in model.msbfs:
        assert req.conditions


def test_forward_looking_options_exist(model: Model) -> None:
    flagged = [o for q in model.questions for o in q.options if o.flags]
    assert len(flagged) >= 10
    assert all(o.projected_points is not None for o in flagged)


def test_default_sections_one_per_area_then_key_figures(model: Model) -> None:
    assert [s.id for s in model.sections][:10] == [a.id for a in model.areas]
    assert model.sections[-1].questions == tuple(v.id for v in model.validation_questions)
    placed = [qid for s in model.sections for qid in s.questions]
    assert sorted(placed) == sorted(
        [q.id for q in model.questions] + [v.id for v in model.validation_questions]
    )
