"""Synthetic model documents for tests: the shape of the bundled model, generated."""

from __future__ import annotations

from typing import Any

AREAS = [
    "ledning",
    "kunskap",
    "inventering",
    "klassning",
    "risk",
    "incident",
    "atgarder",
    "uppfoljning",
    "upphandling",
    "kultur",
]


def t(s: str) -> dict[str, str]:
    return {"sv": s, "en": s + " (en)"}


def count_question(qid: str, level: int, area: str) -> dict[str, Any]:
    opts = [{"id": c, "points": 1, "text": t(f"aspekt {c}")} for c in "abcde"]
    opts.append(
        {
            "id": "f",
            "points": 0,
            "exclusive": True,
            "text": t("Ja, men ingen"),
            "keyword": {"sv": "ingen", "en": "none"},
        }
    )
    opts.append(
        {
            "id": "g",
            "points": 0,
            "exclusive": True,
            "text": t("Nej, men pågår"),
            "keyword": {"sv": "pågår", "en": "ongoing"},
            "flags": ["in_progress"],
            "projected_points": 1,
        }
    )
    opts.append(
        {"id": "h", "points": 0, "exclusive": True, "text": t("Nej"), "keyword": {"sv": "nej", "en": "no"}}
    )
    return {
        "id": qid,
        "level": level,
        "areas": [area],
        "scoring": "count",
        "text": t(f"Fråga {qid}?"),
        "help": t("Hjälp."),
        "options": opts,
    }


def scale_question(qid: str, level: int, area: str) -> dict[str, Any]:
    bands = ["Alla", "75–<100 %", "50–<75 %", "25–<50 %", ">0–<25 %"]
    opts = [
        {"id": c, "points": 5 - i, "text": t(b)} for i, (c, b) in enumerate(zip("abcde", bands, strict=True))
    ]
    opts.append(
        {
            "id": "f",
            "points": 0,
            "exclusive": True,
            "text": t("Kortare tid än två år"),
            "keyword": {"sv": "nyligen", "en": "recent"},
            "flags": ["recent"],
            "projected_points": 2,
        }
    )
    opts.append(
        {"id": "g", "points": 0, "exclusive": True, "text": t("Nej"), "keyword": {"sv": "nej", "en": "no"}}
    )
    return {
        "id": qid,
        "level": level,
        "areas": [area],
        "scoring": "scale",
        "text": t(f"Fråga {qid}?"),
        "help": t("Hjälp."),
        "options": opts,
    }


def model_dict(
    per_level: tuple[int, ...] = (15, 11, 9, 5), shares: tuple[str, ...] = ("0.50", "0.70", "0.85", "1.00")
) -> dict[str, Any]:
    questions = []
    k = 0
    for level, n in enumerate(per_level, start=1):
        for j in range(1, n + 1):
            area = AREAS[(j - 1) % len(AREAS)]
            make = count_question if k % 2 == 0 else scale_question
            questions.append(make(f"{level}.{j}", level, area))
            k += 1
    return {
        "format": 1,
        "id": "synthetic",
        "version": "1",
        "languages": ["sv", "en"],
        "name": t("Syntetisk modell"),
        "points": {"min": 0, "max": 5},
        "levels": [
            {
                "level": i + 1,
                "certainty_share": s,
                "name": t(f"Nivå {i + 1}"),
                "description": t("Beskrivning."),
            }
            for i, s in enumerate(shares)
        ],
        "areas": [
            {
                "id": a,
                "name": t(a.title()),
                "description": t("Område."),
                "links": [{"path": a, "title": t("Metodstöd")}],
            }
            for a in AREAS
        ],
        "questions": questions,
        "validation_questions": [
            {"id": "V1", "kind": "percent", "text": t("Andel?")},
            {"id": "V2", "kind": "number", "text": t("Antal?"), "unit": t("st")},
            {
                "id": "V3",
                "kind": "choice",
                "text": t("Hur snabbt?"),
                "options": [{"id": "a", "text": t("Inom ett dygn")}, {"id": "b", "text": t("Längre")}],
            },
        ],
        "msbfs": [
            {
                "id": "m1",
                "reference": "MSBFS 2020:6 ledning",
                "requirement": t("Ledningen styr."),
                "conditions": [{"question": "1.1", "min_points": 3}, {"question": "1.2", "option": "a"}],
            },
        ],
    }
