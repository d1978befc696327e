"""Launch, the coordinator's appointment by mail, the deadline and reopening, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.cycle.appoint import coordinator_address
from bot.cycle.deadline import close_cycle, close_due, reopen
from bot.cycle.launch import CycleError, FirstSection, launch_cycle
from bot.db.database import Database
from bot.db.tables import AuditEntry, Contact, Cycle, InboundMessage, Organisation, Response
from bot.mail.compose import reply_address, section_mail
from bot.mail.ingest import Ingestor
from bot.reminders.mail import appoint_address
from bot.turn import handle_turn
from conversations.questionnaire import Model
from conversations.state import Actor, Turn
from tests.cycleseed import at, html_of, organisations, outbox, parsed, response_of, settings_for, text_of

LAUNCH = at(2027, 3, 1, 9)


async def test_launch_mails_coordinators_and_asks_management_once(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, db)
    orgs = await organisations(db, model, 5, manager_only=(1,), nobody=(4,))
    report = await launch_cycle(db, settings, model, "2027", now=LAUNCH)
    assert sorted(report.started) == ["Organisation 0", "Organisation 2", "Organisation 3"]
    assert report.letters == ["Organisation 1"] and report.nobody == ["Organisation 4"]
    assert report.queued == 4
    sections = await outbox(db, "section")
    assert sorted(r.recipient for r in sections) == [
        "samordnare@org0.se",
        "samordnare@org2.se",
        "samordnare@org3.se",
    ]
    [letter] = await outbox(db, "launch")
    assert letter.recipient == "chef@org1.se"
    msg = parsed(letter)
    assert appoint_address(settings, orgs[1].id) in str(msg["Reply-To"])
    assert msg.get_content_type() == "multipart/alternative"
    assert "samordnarens e-postadress" in text_of(letter) and "31" not in str(msg["Subject"])
    assert "<html" in html_of(letter).lower()
    async with db.transaction(readonly=True) as s:
        cycle = (await s.exec(select(Cycle))).one()
        responses = (await s.exec(select(Response))).all()
    assert cycle.status == "launched" and cycle.launched_at == LAUNCH
    assert {r.created_at for r in responses} == {LAUNCH}
    assert all(r.sections_sent == model.sections[0].id and r.thread_id for r in responses)

    again = await launch_cycle(db, settings, model, "2027", now=LAUNCH + timedelta(hours=1))
    assert again.queued == 0 and len(again.already) == 4 and again.nobody == ["Organisation 4"]
    assert len(await outbox(db)) == 4


async def test_launch_by_type_and_refusals(db: Database, model: Model, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, db)
    await organisations(db, model, 6)
    report = await launch_cycle(db, settings, model, "2027", now=LAUNCH, types=["region"])
    assert report.started == ["Organisation 1", "Organisation 4"]
    rest = await launch_cycle(db, settings, model, "2027", now=LAUNCH + timedelta(days=1))
    assert len(rest.started) == 4 and len(rest.already) == 2
    with pytest.raises(CycleError, match="ingen omgång"):
        await launch_cycle(db, settings, model, "2029", now=LAUNCH)
    with pytest.raises(CycleError, match="har passerat"):
        await launch_cycle(db, settings, model, "2027", now=at(2027, 10, 30, 0, 1))
    await close_cycle(db, "2027", now=at(2027, 10, 30, 0, 0))
    with pytest.raises(CycleError, match="stängd"):
        await launch_cycle(db, settings, model, "2027", now=LAUNCH)


@pytest.mark.parametrize("name", ["Exempelby kommun", "Bråvalla & <Söner> *AB* [test]_"])
@pytest.mark.parametrize("language", ["sv", "en"])
async def test_first_section_of_the_launch_is_the_section_mail(
    db: Database, model: Model, tmp_path: Path, name: str, language: str
) -> None:
    """The launch fills a once-rendered first section in per organisation: same mail as section_mail."""
    settings = settings_for(tmp_path, db)
    cycle = Cycle(id=1, name="2027", launch=date(2027, 3, 1), deadline=date(2027, 10, 29), model_id=model.id,
                  model_version=model.version)  # fmt: skip
    org = Organisation(id=5, name=name, type="kommun")
    response = Response(id=9, organisation_id=5, cycle_id=1, model_id=model.id, model_version=model.version)
    contact = Contact(id=3, organisation_id=5, email="anna@exempelby.se", language=language)
    fast = FirstSection(settings, model, cycle).message(response, org, contact)
    full = section_mail(settings, model, response=response, organisation=org, cycle=cycle, contact=contact,
                        index=0, answers={})  # fmt: skip
    for header in ("Subject", "To", "Reply-To", "From", "Content-Language", "Auto-Submitted"):
        assert fast[header] == full[header], header
    for kind in ("plain", "html"):
        a, b = fast.get_body((kind,)), full.get_body((kind,))
        assert a is not None and b is not None
        got, want = a.get_content(), b.get_content()  # type: ignore[attr-defined]
        if kind == "html" and name.startswith("Bråvalla"):
            # the same text; the sanitiser writes a few characters as other entities
            import html as html_module

            assert html_module.unescape(got) == html_module.unescape(want)
        else:
            assert got == want


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Samordnare: anna.andersson@kommun.se\n\nMvh Chef <chef@kommun.se>", "anna.andersson@kommun.se"),
        ("Hej! Det blir Bo Berg <Bo.Berg@Kommun.SE>. /chef@kommun.se", "bo.berg@kommun.se"),
        ("chef@kommun.se tar det själv", None),
        ("Skicka till svar+abc@svar.example.se", None),
        ("ingen adress här", None),
    ],
)
def test_the_coordinator_is_the_first_address_not_the_senders(text: str, expected: str | None) -> None:
    found = coordinator_address(text, sender="chef@kommun.se", ours={"infosakkollen@example.se"},
                                our_domains={"svar.example.se"})  # fmt: skip
    assert found == expected


def reply(to: str, sender: str, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, "SV: utse en samordnare"
    msg["Message-ID"] = make_msgid(domain="kommun.se")
    for k, v in headers.items():
        msg[k] = v
    msg.set_content(body)
    return bytes(msg)


async def test_management_appoints_the_coordinator_by_replying(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, db)
    orgs = await organisations(db, model, 2, manager_only=(0, 1))
    await launch_cycle(db, settings, model, "2027", now=LAUNCH)
    ingestor = Ingestor(db, settings, model)
    to = appoint_address(settings, orgs[0].id)

    stranger = await ingestor.ingest(reply(to, "someone@else.se", "anna@org0.se"), via="pipe")
    assert stranger.status == "refused"
    unclear = await ingestor.ingest(
        reply(to, "chef@org0.se", "Vi återkommer.\n\n--\nchef@org0.se"), via="pipe"
    )
    assert (unclear.status, unclear.reason) == ("processed", "no coordinator address in the reply")
    forged = await ingestor.ingest(
        reply(to, "chef@org0.se", "Samordnare: mallory@evil.example",
              **{"Authentication-Results": "mx.example.se; spf=fail; dkim=fail; dmarc=fail"}),
        via="pipe",
    )  # fmt: skip
    assert forged.status == "refused"

    raw = reply(
        to, "Cecilia Chef <chef@org0.se>", "Samordnare blir Anna <Anna@Org0.se>\n\nHälsningar\nchef@org0.se"
    )
    done = await ingestor.ingest(raw, via="pipe")
    assert (done.status, done.reason) == ("processed", "appointed anna@org0.se")
    assert (await ingestor.ingest(raw, via="pipe")).status == "duplicate"
    async with db.transaction(readonly=True) as s:
        anna = (await s.exec(select(Contact).where(Contact.email == "anna@org0.se"))).one()
        audit = (await s.exec(select(AuditEntry).where(AuditEntry.action == "contact.appointed"))).one()
    assert anna.coordinator and anna.respondent and anna.organisation_id == orgs[0].id
    assert audit.actor == "chef@org0.se"
    response = await response_of(db, orgs[0].id)
    assert response is not None and response.status == "invited"
    sections = [r for r in await outbox(db, "section") if r.recipient == "anna@org0.se"]
    assert len(sections) == 1 and reply_address(settings, response.id or 0) in str(
        parsed(sections[0])["Reply-To"]
    )
    notices = {r.recipient: text_of(r) for r in await outbox(db, "notice")}
    assert "anna@org0.se är registrerad som samordnare" in notices["chef@org0.se"]
    assert "someone@else.se" in notices and "bara ledningen" in notices["someone@else.se"]
    async with db.transaction(readonly=True) as s:
        statuses = sorted((await s.exec(select(InboundMessage.status))).all())
    assert statuses == ["processed", "processed", "refused", "refused"]

    # the other organisation's manager pauses the reminders instead
    paused = await ingestor.ingest(
        reply(appoint_address(settings, orgs[1].id), "chef@org1.se", "pausa"), via="pipe"
    )
    assert paused.reason == "reminders paused"
    async with db.transaction(readonly=True) as s:
        chef = (await s.exec(select(Contact).where(Contact.email == "chef@org1.se"))).one()
    assert chef.reminders_paused and chef.reminders_paused_at is not None


async def test_a_new_coordinator_joins_a_response_under_way(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, db)
    [org] = await organisations(db, model, 1)
    await launch_cycle(db, settings, model, "2027", now=LAUNCH)
    response = await response_of(db, org.id)
    assert response is not None and response.id is not None
    actor = Actor("samordnare@org0.se", coordinator=True, respondent=True)
    await handle_turn(db, model, response.id, Turn(actor, "mail", at(2027, 3, 5), "1.1 a säker\n1.2 a säker"))
    raw = reply(appoint_address(settings, org.id), "chef@org0.se", "Lägg till bo@org0.se också")
    assert (await Ingestor(db, settings, model).ingest(raw, via="pipe")).status == "processed"
    [joined] = [r for r in await outbox(db, "section") if r.recipient == "bo@org0.se"]
    body = text_of(joined).replace("\r\n", "\n")
    assert "\n1.1  " not in body and "\n2.1  " in body  # only the open questions
    assert "appointed" in joined.key


async def test_the_deadline_closes_all_but_submitted_and_a_late_reply_is_told_politely(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, db)
    orgs = await organisations(db, model, 3)
    await launch_cycle(db, settings, model, "2027", now=LAUNCH)
    ids = []
    for org in orgs:
        r = await response_of(db, org.id)
        assert r is not None and r.id is not None
        ids.append(r.id)
    actor = Actor("samordnare@org0.se", coordinator=True, respondent=True)
    everything = "\n".join(f"{q.id} a säker" for q in model.questions)
    await handle_turn(db, model, ids[0], Turn(actor, "mail", at(2027, 5, 3), everything + "\nklar"))
    await handle_turn(db, model, ids[0], Turn(actor, "mail", at(2027, 5, 3, 10), "skicka in"))
    actor1 = Actor("samordnare@org1.se", coordinator=True, respondent=True)
    await handle_turn(db, model, ids[1], Turn(actor1, "mail", at(2027, 5, 3), everything + "\nklar"))

    assert await close_due(db, settings, now=at(2027, 10, 29, 23, 59)) == []  # the deadline day is still open
    [closed] = await close_due(db, settings, now=at(2027, 10, 30, 0, 0))
    assert (closed.closed, closed.submitted) == (2, 1)
    assert await close_due(db, settings, now=at(2027, 10, 30, 0, 1)) == []
    async with db.transaction(readonly=True) as s:
        statuses = {r.id: r.status for r in (await s.exec(select(Response))).all()}
        audit = (await s.exec(select(AuditEntry).where(AuditEntry.action == "response.closed"))).all()
        cycle = (await s.exec(select(Cycle))).one()
    assert statuses == {ids[0]: "submitted", ids[1]: "closed", ids[2]: "closed"}
    assert sorted(a.details["from"] for a in audit if a.details) == ["completed", "invited"]
    assert cycle.status == "closed"

    msg = EmailMessage()
    msg["From"], msg["To"] = "samordnare@org2.se", reply_address(settings, ids[2])
    msg["Subject"], msg["Message-ID"] = "SV: avsnitt 1", make_msgid(domain="org2.se")
    msg.set_content("1.1 a säker")
    result = await Ingestor(db, settings, model).ingest(bytes(msg), via="pipe")
    assert result.status == "processed" and result.step is not None and not result.step.changes
    receipt = [r for r in await outbox(db, "receipt") if r.recipient == "samordnare@org2.se"][-1]
    assert "Svarstiden har gått ut och svaret är stängt. Inget registrerades." in text_of(receipt)


async def test_reopen_one_organisation_until_a_day(db: Database, model: Model, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, db)
    orgs = await organisations(db, model, 2, manager_only=(1,))
    await launch_cycle(db, settings, model, "2027", now=LAUNCH)
    await close_cycle(db, "2027", now=at(2027, 10, 30, 0))
    response = await response_of(db, orgs[0].id)
    assert response is not None and response.id is not None and response.status == "closed"

    done = await reopen(
        db, settings, model, "2027", str(orgs[0].id), now=at(2027, 11, 2), until=date(2027, 11, 12)
    )
    assert (done.until, done.started, done.notified) == (date(2027, 11, 12), False, 1)
    reopened = await response_of(db, orgs[0].id)
    assert (
        reopened is not None
        and reopened.status == "in_progress"
        and reopened.reopened_until == date(2027, 11, 12)
    )
    [notice] = [r for r in await outbox(db, "notice") if r.key.startswith("reopened:")]
    assert "till och med 12 november 2027" in text_of(notice)
    actor = Actor("samordnare@org0.se", coordinator=True, respondent=True)
    outcome = await handle_turn(db, model, response.id, Turn(actor, "mail", at(2027, 11, 3), "1.1 a säker"))
    assert outcome.step.accepted and outcome.step.changes

    with pytest.raises(CycleError, match="inte stängt"):
        await reopen(db, settings, model, "2027", str(orgs[0].id), now=at(2027, 11, 3))
    with pytest.raises(CycleError, match="ingen samordnare"):
        await reopen(db, settings, model, "2027", "Organisation 1", now=at(2027, 11, 3))

    assert await close_due(db, settings, now=at(2027, 11, 12, 23, 0)) == []
    assert (await response_of(db, orgs[0].id)).status == "in_progress"  # type: ignore[union-attr]
    await close_due(db, settings, now=at(2027, 11, 13, 0, 0))
    assert (await response_of(db, orgs[0].id)).status == "closed"  # type: ignore[union-attr]
    async with db.transaction(readonly=True) as s:
        actions = [a.action for a in (await s.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()]
    assert actions.count("response.reopened") == 1 and actions.count("response.closed") == 2
