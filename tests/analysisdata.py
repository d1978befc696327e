"""Test data for the analysis: hand-built responses with known answers, and a direct recount.

:func:`store_response` stores an answer document as a response with its answer rows.
:func:`recount` recomputes what the national report says, independently of
``bot/analysis`` and ``scoring``: it reads the stored rows with plain ORM queries and applies
the rules as ``tests/answerbuild.py`` re-implements them from the spec.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.database import Database
from bot.db.tables import Answer, Cycle, Organisation, Response
from conversations.questionnaire import Model
from tests.answerbuild import points_of, reference_level, thresholds

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
AT = datetime(2027, 6, 1, 10, tzinfo=UTC)


def example(level: int) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"answers-level{level}.json").read_text())


async def add_cycle(session: AsyncSession, model: Model, name: str, year: int) -> int:
    cycle = Cycle(name=name, launch=date(year, 3, 1), deadline=date(year, 10, 31), model_id=model.id,
                  model_version=model.version, status="closed")  # fmt: skip
    session.add(cycle)
    await session.flush()
    assert cycle.id is not None
    return cycle.id


async def add_org(session: AsyncSession, name: str, type_: str, size: str | None = None,
                  county: str | None = None, orgnr: str | None = None) -> int:  # fmt: skip
    org = Organisation(name=name, type=type_, size_class=size, county=county, orgnr=orgnr)
    session.add(org)
    await session.flush()
    assert org.id is not None
    return org.id


async def store_response(
    session: AsyncSession,
    model: Model,
    org_id: int,
    cycle_id: int,
    doc: dict[str, Any] | None,
    *,
    status: str = "submitted",
    submitted: bool = True,
    comment: str | None = None,
    score: dict[str, Any] | None = None,
) -> int:
    response = Response(organisation_id=org_id, cycle_id=cycle_id, model_id=model.id, model_version=model.version,
                        status=status, submitted_at=AT if submitted else None, completed_at=AT, score=score)  # fmt: skip
    session.add(response)
    await session.flush()
    assert response.id is not None
    for qid, ans in (doc or {}).get("answers", {}).items():
        session.add(Answer(response_id=response.id, question=qid, options=" ".join(ans["options"]),
                           certain=bool(ans["certain"]), comment=comment, by="a@x.se", channel="mail", at=AT))  # fmt: skip
    for vid, value in (doc or {}).get("validation", {}).items():
        session.add(
            Answer(
                response_id=response.id, question=vid, value=str(value), by="a@x.se", channel="mail", at=AT
            )
        )
    return response.id


def is_submitted(r: Response) -> bool:
    return r.submitted_at is not None and r.status in ("submitted", "closed")


async def recount(db: Database, model: Model, cycle_name: str) -> dict[str, Any]:
    """The national report's figures, counted directly from the stored rows."""
    async with db.transaction(readonly=True) as s:
        cycles = list((await s.exec(select(Cycle).order_by(col(Cycle.launch)))).all())
        orgs = {o.id: o for o in (await s.exec(select(Organisation))).all()}
        per_cycle: dict[str, dict[int, dict[str, Any]]] = {}
        for c in cycles:
            responses = [r for r in (await s.exec(select(Response).where(Response.cycle_id == c.id))).all()
                         if is_submitted(r)]  # fmt: skip
            ids = [r.id for r in responses]
            answers = (
                (await s.exec(select(Answer).where(col(Answer.response_id).in_(ids)))).all() if ids else []
            )
            by_response: dict[int, list[Answer]] = {}
            for a in answers:
                by_response.setdefault(a.response_id, []).append(a)
            entries = {}
            for r in responses:
                pts: dict[str, int] = {}
                cert: dict[str, bool | None] = {}
                figures: dict[str, str] = {}
                for a in by_response.get(r.id or 0, []):
                    if a.skipped:
                        continue
                    q = model.question(a.question)
                    if q is not None:
                        pts[a.question] = points_of(q, a.options.split())
                        cert[a.question] = bool(a.certain)
                    elif a.value is not None:
                        figures[a.question] = a.value
                entries[r.organisation_id] = {
                    "level": reference_level(model, pts, cert),
                    "areas": {ar.id: reference_level(model, pts, cert, area=ar.id) for ar in model.areas},
                    "points": pts,
                    "certain": cert,
                    "figures": figures,
                    "org": orgs[r.organisation_id],
                }
            per_cycle[c.name] = entries
    cur = per_cycle[cycle_name]
    top = model.top_level
    levels = Counter(e["level"] for e in cur.values())
    out: dict[str, Any] = {"submitted": len(cur), "levels": {str(n): levels[n] for n in range(top + 1)}}
    out["by_type"] = {
        t: {
            str(n): sum(1 for e in cur.values() if e["org"].type == t and e["level"] == n)
            for n in range(top + 1)
        }
        for t in ("kommun", "region", "myndighet")
    }
    by_size: dict[str, dict[str, dict[str, int]]] = {}
    by_county: dict[str, dict[str, int]] = {}
    for e in cur.values():
        o = e["org"]
        size = by_size.setdefault(o.type, {}).setdefault(o.size_class or "unknown", Counter())
        size[str(e["level"])] += 1
        by_county.setdefault(o.county or "unknown", Counter())[str(e["level"])] += 1
    out["by_size"] = by_size
    out["by_county"] = by_county
    out["areas"] = {
        ar.id: {str(n): sum(1 for e in cur.values() if e["areas"][ar.id] == n) for n in range(top + 1)}
        for ar in model.areas
    }
    blocking = []
    for L in range(top):
        at = [e for e in cur.values() if e["level"] == L]
        th = thresholds(model, L + 1)
        qs = [q for q in model.questions if q.level <= L + 1]
        counts = {q.id: sum(1 for e in at if e["points"].get(q.id, 0) < L + 1) for q in qs}
        blocking.append({
            "from_level": L,
            "organisations": len(at),
            "counts": {k: v for k, v in counts.items() if v},
            "below_points": sum(1 for e in at if sum(e["points"].values()) < th.k),
            "below_certain": sum(1 for e in at if sum(1 for q in qs if e["certain"].get(q.id) is True) < th.c),
        })  # fmt: skip
    out["blocking"] = blocking
    out["uncertainty"] = {
        q.id: {"answered": sum(1 for e in cur.values() if q.id in e["certain"]),
               "uncertain": sum(1 for e in cur.values() if e["certain"].get(q.id) is False)}
        for q in model.questions
    }  # fmt: skip
    figures = {}
    for v in model.validation_questions:
        values = [e["figures"][v.id] for e in cur.values() if v.id in e["figures"]]
        if v.kind == "choice":
            figures[v.id] = {"answered": len(values), "counts": Counter(values)}
        else:
            nums = sorted(float(x) for x in values)
            q = statistics.quantiles(nums, n=4, method="inclusive") if len(nums) >= 2 else [None, None, None]
            figures[v.id] = {"answered": len(nums), "median": statistics.median(nums) if nums else None,
                             "q1": q[0] if len(nums) >= 2 else (nums[0] if nums else None),
                             "q3": q[2] if len(nums) >= 2 else (nums[0] if nums else None)}  # fmt: skip
    out["validation"] = figures
    earlier = [c.name for c in cycles if c.name != cycle_name and c.launch < next(x.launch for x in cycles
               if x.name == cycle_name)]  # fmt: skip
    out["trend"] = {}
    for name in earlier:
        before = per_cycle[name]
        both = set(before) & set(cur)
        out["trend"][name] = {
            "submitted": len(before),
            "levels": {str(n): sum(1 for e in before.values() if e["level"] == n) for n in range(top + 1)},
            "paired": len(both),
            "transitions": Counter((before[o]["level"], cur[o]["level"]) for o in both),
        }
    return out
