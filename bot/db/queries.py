"""Look-ups shared by commands and pages: an organisation or a cycle from what a person typed.

A person names an organisation by its id, its organisation number (with or without the
dash) or its exact name. A reference that matches nothing, or more than one organisation,
raises :class:`NotFound` or :class:`Ambiguous`, whose messages (in Swedish) can be shown as
they are.
"""

from __future__ import annotations

import re

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import Cycle, Organisation


class NotFound(LookupError):
    """Nothing matches the reference."""


class Ambiguous(LookupError):
    """More than one thing matches the reference."""


_ORGNR = re.compile(r"(?:16)?(\d{6})-?(\d{4})")


async def find_organisation(session: AsyncSession, ref: str) -> Organisation:
    """The organisation whose id, organisation number or exact name is ``ref``.

    Raises:
        NotFound: no organisation matches.
        Ambiguous: several do (e.g. a name used twice, or a number that is one's id and another's name).
    """
    ref = ref.strip()
    conditions = [col(Organisation.name) == ref]
    if ref.isdigit() and len(ref) < 10:
        conditions.append(col(Organisation.id) == int(ref))
    if m := _ORGNR.fullmatch(ref):
        conditions.append(col(Organisation.orgnr) == m.group(1) + m.group(2))
    found = (await session.exec(select(Organisation).where(or_(*conditions)).limit(10))).all()
    if not found:
        raise NotFound(f"ingen organisation heter eller har id/organisationsnummer {ref!r}")
    if len(found) > 1:
        listed = ", ".join(f"{o.name} (id {o.id}, {o.orgnr or 'utan orgnr'})" for o in found)
        raise Ambiguous(f"{ref!r} passar flera organisationer: {listed}; ange id eller organisationsnummer")
    return found[0]


async def find_cycle(session: AsyncSession, name: str | None = None) -> Cycle:
    """The cycle called ``name``; without a name the latest one (by launch date).

    Raises:
        NotFound: no such cycle, or no cycle at all.
    """
    query = select(Cycle)
    query = (
        query.where(Cycle.name == name)
        if name is not None
        else query.order_by(col(Cycle.launch).desc(), col(Cycle.id).desc())
    )
    cycle = (await session.exec(query.limit(1))).first()
    if cycle is None:
        raise NotFound(f"ingen omgång heter {name!r}" if name is not None else "det finns ingen omgång")
    return cycle
