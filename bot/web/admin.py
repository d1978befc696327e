"""The administrators' read-only overview: every organisation and how far its response has come.

A simple list for now (the full administration pages come later): per organisation of the
chosen cycle (the latest by default) its status and answered questions, with a link that
opens the response read-only in the chat.
"""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web
from sqlmodel import SQLModel, col, select

from bot.db.tables import Cycle
from bot.keys import DB, MODEL
from bot.replies_text import STATUS_NAMES
from bot.web.auth import require_user
from bot.web.security import Refused, render


async def overview(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    if not user.is_admin:
        raise Refused(403, "Översikten är till för administratörer på den samordnande myndigheten.")
    model = request.app[MODEL]
    level_ids = [q.id for q in model.questions]
    async with request.app[DB].transaction(readonly=True) as session:
        cycles = (await session.exec(select(Cycle).order_by(col(Cycle.launch).desc()))).all()
        wanted = request.query.get("omgang")
        cycle = next((c for c in cycles if c.name == wanted), cycles[0] if cycles else None)
        rows: list[dict[str, object]] = []
        if cycle is not None:
            orgs, responses, answers = (
                SQLModel.metadata.tables[name] for name in ("organisations", "responses", "answers")
            )
            answered = (
                sa.select(answers.c.response_id, sa.func.count().label("n"))
                .where(answers.c.skipped.is_(False), answers.c.question.in_(level_ids))
                .group_by(answers.c.response_id)
                .subquery()
            )
            query = (
                sa.select(
                    orgs.c.id,
                    orgs.c.name,
                    orgs.c.type,
                    responses.c.id.label("rid"),
                    responses.c.status,
                    answered.c.n,
                )
                .select_from(orgs)
                .join(
                    responses,
                    sa.and_(responses.c.organisation_id == orgs.c.id, responses.c.cycle_id == cycle.id),
                    isouter=True,
                )
                .join(answered, answered.c.response_id == responses.c.id, isouter=True)
                .order_by(orgs.c.name)
            )
            conn = await session.connection()
            for row in (await conn.execute(query)).all():
                rows.append(
                    {
                        "name": row.name,
                        "type": row.type,
                        "response_id": row.rid,
                        "status": row.status,
                        "answered": row.n or 0,
                    }
                )
    return render(
        request,
        "overview.html.j2",
        {
            "cycles": cycles,
            "cycle": cycle,
            "rows": rows,
            "total": len(level_ids),
            "status_names": STATUS_NAMES,
        },
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/oversikt", overview)
