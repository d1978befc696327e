"""``assessbot model export`` and ``assessbot model validate``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from conversations.questionnaire import Model, ModelError, load_model, read_model_file
from scoring.score import scorer_for


def model_json(model: Model, lang: str) -> dict[str, Any]:
    """The model as the JSON of interfaces.md ("Model export"), texts in ``lang``."""
    scorer = scorer_for(model)

    def option(o: Any) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": o.id,
            "points": o.points,
            "exclusive": o.exclusive,
            "flags": list(o.flags),
            "text": o.text.get(lang),
        }
        if o.projected_points is not None:
            d["projected_points"] = o.projected_points
        if o.keyword.values:
            d["keyword"] = o.keyword.get(lang)
        return d

    return {
        "id": model.id,
        "version": model.version,
        "language": lang,
        "name": model.name.get(lang),
        "points": {"min": model.points_min, "max": model.points_max},
        "levels": [
            {
                "level": lv.level,
                "name": lv.name.get(lang),
                "description": lv.description.get(lang),
                "certainty_share": float(lv.certainty_share),
                "questions": scorer.all.f[lv.level],
                "points_required": scorer.all.k[lv.level],
                "certain_required": scorer.all.c[lv.level],
            }
            for lv in model.levels
        ],
        "areas": [
            {
                "id": a.id,
                "name": a.name.get(lang),
                "description": a.description.get(lang),
                "links": [{"path": link.path, "title": link.title.get(lang)} for link in a.links],
            }
            for a in model.areas
        ],
        "questions": [
            {
                "id": q.id,
                "level": q.level,
                "areas": list(q.areas),
                "scoring": q.scoring,
                "max_points": scorer.max_points[scorer.position[q.id]],
                "text": q.text.get(lang),
                "stem": q.stem.get(lang) if q.stem.values else None,
                "help": q.help.get(lang),
                "options": [option(o) for o in q.options],
            }
            for q in model.questions
        ],
        "validation_questions": [
            {
                "id": v.id,
                "text": v.text.get(lang),
                "kind": v.kind,
                "help": v.help.get(lang) if v.help.values else None,
                "unit": v.unit.get(lang) if v.unit.values else None,
                "options": [{"id": o.id, "text": o.text.get(lang)} for o in v.options],
            }
            for v in model.validation_questions
        ],
        "msbfs": [
            {
                "id": r.id,
                "reference": r.reference,
                "requirement": r.requirement.get(lang),
                "conditions": [
                    {
                        k: v
                        for k, v in (
                            ("question", c.question),
                            ("option", c.option),
                            ("min_points", c.min_points),
                        )
                        if v is not None
                    }
                    for c in r.conditions
                ],
            }
            for r in model.msbfs
        ],
        "sections": [
            {"id": s.id, "title": s.title.get(lang), "questions": list(s.questions)} for s in model.sections
        ],
    }


def export(args: argparse.Namespace) -> int:
    try:
        model = load_model(args.model)
    except ModelError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    lang = args.lang or model.default_language
    if lang not in model.languages:
        print(f"language {lang!r} is not in the model ({', '.join(model.languages)})", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(orjson.dumps(model_json(model, lang), option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def validate(args: argparse.Namespace) -> int:
    model, problems = read_model_file(args.path)
    if problems or model is None:
        for line in problems:
            print(line)
        return 1
    counts = ", ".join(
        f"{sum(1 for q in model.questions if q.level == lv.level)} on level {lv.level}" for lv in model.levels
    )
    print(
        f"ok: {model.id} v{model.version}: {len(model.questions)} questions ({counts}), "
        f"{len(model.areas)} areas, {len(model.validation_questions)} validation questions, "
        f"{len(model.msbfs)} MSBFS requirements"
    )
    return 0
