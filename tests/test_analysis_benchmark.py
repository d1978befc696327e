"""Benchmarking mail on SQLite and PostgreSQL: queued once per contact, every group at least 5,
nothing of another organisation in any mail; and what submitting shares."""

from __future__ import annotations

import re
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.analysis.benchmark import TooEarly, queue_benchmarks, render_shared, shared_data
from bot.analysis.national import national_report
from bot.analysis.synthetic import generate, store
from bot.db.database import Database
from bot.db.tables import Contact, Cycle, Organisation, OutboxMessage, Response
from bot.settings import Settings
from conversations.questionnaire import Model
from tests.analysisdata import add_cycle, add_org, example, store_response


def settings(tmp_path: Path) -> Settings:
    return Settings(secret_key="test", var_dir=str(tmp_path), reply_domain="svar.example.se")


def content(msg: EmailMessage) -> str:
    """Every header and every decoded text part of a message."""
    parts = [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())  # type: ignore[attr-defined]
    return "\n".join(parts)


async def test_benchmark_mail_holds_nothing_of_another_organisation(
    db: Database, model: Model, tmp_path: Path
) -> None:
    data = generate(model, 50, 1, seed=4)
    async with db.transaction() as s:
        await store(s, data)
    st = settings(tmp_path)
    dry = await queue_benchmarks(db, st, [model], None, dry_run=True)
    assert dry.organisations == data.submitted(0) and dry.queued == dry.recipients > 0
    async with db.transaction(readonly=True) as s:
        assert (await s.exec(select(OutboxMessage))).first() is None  # a dry run queues nothing
    done = await queue_benchmarks(db, st, [model], None)
    assert done.queued == dry.queued and done.already == 0
    again = await queue_benchmarks(db, st, [model], None)
    assert again.queued == 0 and again.already == done.queued  # idempotent
    async with db.transaction(readonly=True) as s:
        rows = (await s.exec(select(OutboxMessage).where(OutboxMessage.kind == "benchmark"))).all()
        orgs = {o.id: o for o in (await s.exec(select(Organisation))).all()}
        responses = {r.id: r for r in (await s.exec(select(Response))).all()}
        contacts = (await s.exec(select(Contact))).all()
    assert len(rows) == done.queued
    emails: dict[int, list[str]] = {}
    for c in contacts:
        emails.setdefault(c.organisation_id, []).append(c.email)
    for row in rows:
        assert row.response_id is not None
        own = orgs[responses[row.response_id].organisation_id]
        assert row.recipient in emails[own.id or 0]
        msg = message_from_bytes(row.message, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        text = content(msg)
        assert own.name in str(msg["Subject"]) and own.name in text
        assert [p.get_content_type() for p in msg.walk() if not p.is_multipart()] == [
            "text/plain", "text/html", "image/png"
        ]  # fmt: skip
        sizes = [int(n) for n in re.findall(r"\((\d+) organisation(?:er|s), ", text)]
        assert sizes and min(sizes) >= 5
        for other in orgs.values():
            if other.id == own.id:
                continue
            if other.name not in own.name:
                assert other.name not in text, (own.name, other.name)
            assert (
                other.orgnr and other.orgnr not in text and f"{other.orgnr[:6]}-{other.orgnr[6:]}" not in text
            )
            assert other.mail_domains not in text
            for address in emails.get(other.id or 0, []):
                assert address not in text


async def test_too_few_submitted_compares_nothing(db: Database, model: Model, tmp_path: Path) -> None:
    async with db.transaction() as s:
        cycle = await add_cycle(s, model, "2027", 2027)
        for n in range(4):
            org = await add_org(s, f"Kommun {n}", "kommun", orgnr=None)
            s.add(Contact(organisation_id=org, email=f"samordnare@k{n}.example", coordinator=True))
            await store_response(s, model, org, cycle, example(n % 3))
    outcome = await queue_benchmarks(db, settings(tmp_path), [model], "2027")
    assert outcome.queued == 4
    async with db.transaction(readonly=True) as s:
        rows = (await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    for row in rows:
        msg = message_from_bytes(row.message, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        text = content(msg)
        assert "För få organisationer skickade in" in text
        assert "organisationer, er inräknad" not in text
        assert [p.get_content_type() for p in msg.walk() if not p.is_multipart()] == [
            "text/plain",
            "text/html",
        ]


async def test_benchmarks_wait_for_the_deadline(db: Database, model: Model, tmp_path: Path) -> None:
    async with db.transaction() as s:
        cycle = Cycle(name="2027", launch=date(2027, 3, 1), deadline=date(2027, 10, 31), model_id=model.id,
                      model_version=model.version, status="launched")  # fmt: skip
        s.add(cycle)
        await s.flush()
        assert cycle.id is not None
        org = await add_org(s, "Kommun", "kommun")
        s.add(Contact(organisation_id=org, email="samordnare@k.example", coordinator=True))
        await store_response(s, model, org, cycle.id, example(1))
    with pytest.raises(TooEarly, match="öppen till och med 2027-10-31"):
        await queue_benchmarks(db, settings(tmp_path), [model], "2027", today=date(2027, 10, 31))
    after = await queue_benchmarks(db, settings(tmp_path), [model], "2027", today=date(2027, 11, 1))
    assert after.queued == 1
    forced = await queue_benchmarks(
        db, settings(tmp_path), [model], "2027", today=date(2027, 5, 1), force=True
    )
    assert forced.queued == 0 and forced.already == 1
    report = await national_report(db, "2027", [model])
    assert report["cycle_status"] == "launched" and report["deadline"] == "2027-10-31"


async def test_english_contacts_get_english_mail(db: Database, model: Model, tmp_path: Path) -> None:
    async with db.transaction() as s:
        cycle = await add_cycle(s, model, "2027", 2027)
        for n in range(6):
            org = await add_org(s, f"Agency {n}", "myndighet")
            s.add(Contact(organisation_id=org, email=f"ledning@a{n}.example", manager=True, language="en"))
            await store_response(s, model, org, cycle, example(n % 5))
    await queue_benchmarks(db, settings(tmp_path), [model], "2027")
    async with db.transaction(readonly=True) as s:
        row = (await s.exec(select(OutboxMessage))).first()
    assert row is not None
    msg = message_from_bytes(row.message, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Content-Language"] == "en"
    assert "comparison with similar organisations" in str(msg["Subject"]).lower()


async def test_shared_data_is_what_submitting_shares(db: Database, model: Model) -> None:
    async with db.transaction() as s:
        cycle = await add_cycle(s, model, "2027", 2027)
        org = await add_org(
            s, "Exempelby kommun", "kommun", "15 000–49 999 invånare", "Skåne län", "2120000142"
        )
        doc = {**example(2), "validation": {"V1": "40", "V6": "b"}}
        rid = await store_response(s, model, org, cycle, doc, status="completed", submitted=False,
                                   comment="Hemlig kommentar om IT-chefen")  # fmt: skip
    async with db.transaction(readonly=True) as s:
        response = await s.get(Response, rid)
        assert response is not None
        data = await shared_data(s, model, response)
    assert data["level"] == 2 and data["cycle"] == "2027"
    assert data["organisation"] == {"name": "Exempelby kommun", "orgnr": "2120000142", "type": "kommun",
                                    "county": "Skåne län", "size_class": "15 000–49 999 invånare"}  # fmt: skip
    assert set(data["answers"]) == set(doc["answers"])
    first = next(iter(doc["answers"]))
    assert data["answers"][first]["options"] == doc["answers"][first]["options"]
    assert data["answers"][first]["certain"] == doc["answers"][first]["certain"]
    assert data["validation"] == {"V1": "40", "V6": "b"}
    assert "Hemlig" not in repr(data) and "a@x.se" not in repr(data)
    text, html = render_shared(data, model, "sv", authority="MCF")
    assert "Exempelby kommun" in text and "Hemlig" not in text and "Samlad nivå: 2" in text
    assert "<table" in html and "Hemlig" not in html
    text_en, _ = render_shared(data, model, "en", authority="MCF")
    assert "Overall level: 2" in text_en
