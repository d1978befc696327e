"""The reminder plan: which reminder is due, for whom and when. Pure: no I/O, no clock.

The shell (``bot.reminders.run``) describes each organisation of a launched cycle as an
:class:`OrgState` and asks :func:`decide` what is due at a given moment; every decision is
then stored under its unique key (cycle, organisation, contact, step), so that a step
reaches a contact once, whoever runs the plan and however often.

**Steps.** The base steps are counted back from the deadline (``ASSESSBOT_REMINDER_DAYS``,
default 56, 28, 14, 7 and 2 days). A step falls due on its day at
``ASSESSBOT_REMINDER_TIME`` (09:00) in ``ASSESSBOT_TIMEZONE``.

**Pacing by what remains.** ``share`` is the part of the model's level questions that is
still open, neither answered nor skipped (1 before anything is answered, and for an
organisation that has no coordinator yet). Then:

- the first step comes ``round(D0 × (0.5 + share))`` days before the deadline instead of
  D0 (84 days for an organisation that has not begun, 56 half-way, 34 with a tenth
  left); a first step that would come within 7 days of the next step is dropped;
- when more than half remains (``share > 0.5``), a step is added midway in every gap of 21
  days or more between two steps.

So with the defaults an organisation with nine tenths left (nine sections of ten) hears
78, 53, 28, 14, 7 and 2 days before the deadline; one with a tenth left at 28, 14, 7 and 2.
Steps are named by their role (``first``, ``mid28`` for the one before ``d28``, ``d28``,
``d14``, …), not by their day, so pacing that moves a step never sends it twice. A step
that would fall less than 7 days after the organisation was invited (first section or
launch letter), or after the deadline, is left out.

**Inactivity.** A response that has been silent for ``ASSESSBOT_INACTIVITY_WEEKS`` (3)
since its last activity (or since its first section went out) gets one nudge to its
coordinators: step ``idle:<start of the silence>``, so once per silence. It waits until 7
days after the last reminder that contact got, and gives way to a deadline step due at
the same time.

**Who.** Only organisations whose response is not completed, submitted or closed. The
reminders go to the organisation's active coordinators (kind ``deadline``). An
organisation without a coordinator who can be reached (none appointed, or every address
bouncing) gets its reminders addressed to its management instead, asking them to appoint
one (kind ``appoint``); one whose coordinator was registered after the letter by other means
than the reply hears nothing until ``cycle launch`` runs again and starts its response.
**Escalation**: at the steps ``ASSESSBOT_ESCALATION_DAYS`` (14) or
fewer days before the deadline, management also hears (kind ``escalation``), but only when
the coordinators have stayed silent since the previous reminder sent to them: no answer
recorded and no mail received from them since it was sent.

**Never, and later.** Nothing goes to an address that bounces (``failing_since``) or to a
contact who replied ``pausa`` in this cycle: those steps are recorded as skipped with the
reason. A contact who is away (an out-of-office reply with a return date) gets the step
after the return instead: postponed, not skipped. No reminder is due in quiet hours
(``ASSESSBOT_QUIET_HOURS``, 18–08), at weekends or on holidays (``ASSESSBOT_HOLIDAYS``:
Sweden's public holidays and midsommarafton, julafton and nyårsafton, from the ``holidays``
package): a step due then falls due at the next allowed moment, so a run at night finds nothing and the morning run sends it. When several
steps are due for one contact at once (after an absence, or when the service was down), only
the latest is sent and the others are recorded as superseded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import holidays

Kind = Literal["launch", "deadline", "inactivity", "escalation", "appoint"]
DONE_STATUSES = frozenset({"completed", "submitted", "closed"})
MIN_GAP = timedelta(days=7)  # between an invitation or a reminder and the next reminder
MID_GAP_DAYS = 21  # a gap at least this long gets a step midway when more than half remains


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings of the plan, parsed."""

    days: tuple[int, ...] = (56, 28, 14, 7, 2)  # descending
    send_time: time = time(9, 0)
    inactivity: timedelta | None = timedelta(weeks=3)
    escalation_days: int = 14
    quiet: tuple[time, time] | None = (time(18, 0), time(8, 0))
    weekends: bool = True
    holidays: str = "SE"  # a country code for the ``holidays`` package; "" for none
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Stockholm"))

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """From a :class:`bot.settings.Settings`.

        Raises:
            ValueError: a setting that cannot be read, naming it and its value.
        """
        return cls(
            days=parse_days(settings.reminder_days),
            send_time=_parse_time(settings.reminder_time, "ASSESSBOT_REMINDER_TIME"),
            inactivity=timedelta(weeks=settings.inactivity_weeks) if settings.inactivity_weeks > 0 else None,
            escalation_days=settings.escalation_days,
            quiet=parse_quiet_hours(settings.quiet_hours),
            weekends=settings.quiet_weekends,
            holidays=parse_holidays(settings.holidays),
            zone=ZoneInfo(settings.timezone),
        )


def parse_days(text: str) -> tuple[int, ...]:
    try:
        days = sorted({int(part) for part in text.replace(";", ",").split(",") if part.strip()}, reverse=True)
    except ValueError:
        raise ValueError(f"ASSESSBOT_REMINDER_DAYS has value {text!r}: not a list of whole days") from None
    if not days or days[-1] <= 0:
        raise ValueError(f"ASSESSBOT_REMINDER_DAYS has value {text!r}: give positive days, e.g. 56,28,14,7,2")
    return tuple(days)


def _parse_time(text: str, key: str) -> time:
    text = text.strip()
    try:
        if ":" in text:
            hours, minutes = text.split(":", 1)
            return time(int(hours), int(minutes))
        return time(int(text))
    except ValueError:
        raise ValueError(f"{key} has value {text!r}: not a time of day (HH or HH:MM)") from None


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """``"18-08"`` → (18:00, 08:00); empty → None."""
    if not text.strip():
        return None
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"ASSESSBOT_QUIET_HOURS has value {text!r}: write FROM-TO, e.g. 18-08")
    quiet = (_parse_time(start, "ASSESSBOT_QUIET_HOURS"), _parse_time(end, "ASSESSBOT_QUIET_HOURS"))
    return None if quiet[0] == quiet[1] else quiet


def parse_holidays(text: str) -> str:
    """``"se"`` → ``"SE"``; empty → no holidays. A country the ``holidays`` package lacks is refused."""
    code = text.strip().upper()
    if code and code not in holidays.list_supported_countries():
        raise ValueError(f"ASSESSBOT_HOLIDAYS has value {text!r}: not a supported country code, e.g. SE")
    return code


@lru_cache(maxsize=4096)
def is_holiday(day: date, country: str) -> bool:
    """Whether ``day`` is a public holiday, or a day off in practice, in ``country``."""
    if not country:
        return False
    return day in _calendar(country, day.year)


@lru_cache(maxsize=64)
def _calendar(country: str, year: int) -> frozenset[date]:
    return frozenset(
        holidays.country_holidays(country, years=year, categories=_CATEGORIES.get(country, ("public",)))
    )


# Days that are not public holidays but on which offices are closed in practice.
_CATEGORIES = {"SE": ("public", "de_facto")}


# --- when ----------------------------------------------------------------------------------------


def _quiet_end(local: datetime, quiet: tuple[time, time]) -> datetime | None:
    """The end of the quiet period ``local`` is in, or None when it is in none."""
    start, end = quiet
    t = local.time()
    if start < end:  # e.g. 12-13
        inside = start <= t < end
        day = local.date()
    else:  # wraps midnight, e.g. 18-08
        inside = t >= start or t < end
        day = local.date() + timedelta(days=1) if t >= start else local.date()
    return datetime.combine(day, end, local.tzinfo) if inside else None


def is_allowed(at: datetime, policy: Policy) -> bool:
    """Whether a reminder may go out at ``at`` (not in quiet hours, at a weekend or on a holiday)."""
    return next_allowed(at, policy) == at.astimezone(UTC)


def next_allowed(at: datetime, policy: Policy) -> datetime:
    """The first moment at or after ``at`` outside quiet hours, weekends and holidays (UTC)."""
    local = at.astimezone(policy.zone)
    for _ in range(32):
        if policy.weekends and local.weekday() >= 5:
            monday = local.date() + timedelta(days=7 - local.weekday())
            local = datetime.combine(monday, time(0), policy.zone)
            continue
        if is_holiday(local.date(), policy.holidays):
            local = datetime.combine(local.date() + timedelta(days=1), time(0), policy.zone)
            continue
        end = _quiet_end(local, policy.quiet) if policy.quiet else None
        if end is not None:
            local = end
            continue
        break
    return local.astimezone(UTC)


@lru_cache(maxsize=4096)
def step_moment(deadline: date, days_before: int, policy: Policy) -> datetime:
    """When the step ``days_before`` the deadline falls due (UTC), quiet time excluded."""
    at = datetime.combine(deadline - timedelta(days=days_before), policy.send_time, policy.zone)
    return next_allowed(at, policy)


def deadline_steps(days: Sequence[int], share: float) -> list[tuple[str, int]]:
    """The steps (name, days before the deadline) for an organisation with ``share`` left."""
    return list(_deadline_steps(tuple(days), share))


@lru_cache(maxsize=1024)
def _deadline_steps(given: tuple[int, ...], share: float) -> tuple[tuple[str, int], ...]:
    days = sorted(set(given), reverse=True)
    rest = [(f"d{d}", d) for d in days[1:]]
    first_days = max(1, round(days[0] * (0.5 + share)))
    steps = rest
    if not rest or first_days >= rest[0][1] + MIN_GAP.days:
        steps = [("first", first_days), *rest]
    if share > 0.5:
        paced: list[tuple[str, int]] = []
        for i, (name, d) in enumerate(steps):
            if i > 0:
                before = steps[i - 1][1]
                if before - d >= MID_GAP_DAYS:
                    paced.append((f"mid{d}", (before + d) // 2))
            paced.append((name, d))
        steps = paced
    return tuple(steps)


# --- who and what --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """A contact as the plan sees it."""

    id: int
    email: str
    language: str = "sv"
    coordinator: bool = False
    manager: bool = False
    active: bool = True
    failing: bool = False
    paused: bool = False
    away_until: datetime | None = None
    last_mail_at: datetime | None = None  # the last mail received from them in this cycle


@dataclass(frozen=True, slots=True)
class Past:
    """A reminder already recorded for the organisation: sent (``sent_at``) or skipped."""

    contact_id: int
    step: str
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrgState:
    """One organisation in one cycle."""

    id: int
    invited_at: datetime | None  # first section or launch letter sent; None: not launched
    response_id: int | None = None
    status: str | None = None  # the response's status
    last_activity_at: datetime | None = None
    left: int = 0  # level questions not answered (nor skipped on purpose)
    total: int = 1  # level questions of the model
    people: tuple[Person, ...] = ()
    past: tuple[Past, ...] = ()

    @property
    def share(self) -> float:
        if self.response_id is None or self.total <= 0:
            return 1.0
        return self.left / self.total


@dataclass(frozen=True, slots=True)
class CycleTimes:
    id: int
    deadline: date
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class Candidate:
    """A reminder that the plan wants to send at ``due_at`` (``moment`` before any postponement)."""

    organisation_id: int
    contact_id: int
    email: str
    response_id: int | None
    step: str
    kind: Kind
    moment: datetime
    due_at: datetime
    days_before: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to record for a due candidate: ``planned`` (to send) or ``skipped`` with a reason."""

    candidate: Candidate
    status: Literal["planned", "skipped"]
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


def _postponed(moment: datetime, person: Person, policy: Policy) -> datetime:
    if person.away_until is not None and person.away_until > moment:
        return next_allowed(person.away_until, policy)
    return moment


@lru_cache(maxsize=8192)
def candidates(cycle: CycleTimes, org: OrgState, policy: Policy) -> tuple[Candidate, ...]:
    """Every reminder the plan holds for ``org`` that is not recorded yet, due or not.

    Memoised: between two passes of the scheduler most organisations have not changed, and
    their states (frozen values) are equal.
    """
    if org.invited_at is None or (org.status is not None and org.status in DONE_STATUSES):
        return ()
    recorded = {(p.contact_id, p.step) for p in org.past}
    active = [p for p in org.people if p.active]
    coordinators = [p for p in active if p.coordinator]
    reachable = [p for p in coordinators if not p.failing]
    managers = [p for p in active if p.manager and not p.coordinator]
    earliest = org.invited_at + MIN_GAP
    out: list[Candidate] = []

    def add(person: Person, step: str, kind: Kind, moment: datetime, days: int | None = None) -> None:
        if (person.id, step) in recorded:
            return
        due = _postponed(moment, person, policy)
        if due >= cycle.closes_at:
            return
        out.append(Candidate(org.id, person.id, person.email, org.response_id, step, kind, moment, due, days))

    to_coordinators = org.response_id is not None and bool(reachable)
    for step, days in deadline_steps(policy.days, org.share):
        moment = step_moment(cycle.deadline, days, policy)
        if moment < earliest or moment >= cycle.closes_at:
            continue
        if to_coordinators:
            for person in coordinators:
                add(person, step, "deadline", moment, days)
            if days <= policy.escalation_days:
                for person in managers:
                    add(person, step, "escalation", moment, days)
        elif (
            not reachable
        ):  # (a coordinator registered since launch gets the first section from `cycle launch`)
            for person in active:
                if person.manager:
                    add(person, step, "appoint", moment, days)
    if to_coordinators and policy.inactivity is not None:
        silence = org.last_activity_at or org.invited_at
        step = "idle:" + silence.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        for person in coordinators:
            last = max((p.sent_at for p in org.past if p.contact_id == person.id and p.sent_at), default=None)
            moment = silence + policy.inactivity
            if last is not None and last + MIN_GAP > moment:
                moment = last + MIN_GAP
            add(person, step, "inactivity", next_allowed(moment, policy))
    return tuple(out)


def _silence(org: OrgState, before: datetime) -> tuple[bool, str, datetime | None]:
    """Whether the coordinators have been silent since the last reminder sent to them before ``before``."""
    coordinator_ids = {p.id for p in org.people if p.coordinator}
    previous = max(
        (
            p.sent_at
            for p in org.past
            if p.contact_id in coordinator_ids and p.sent_at is not None and p.sent_at < before
        ),
        default=None,
    )
    if previous is None:
        return False, "no earlier reminder to the coordinator", None
    if org.last_activity_at is not None and org.last_activity_at >= previous:
        return False, "the coordinator answered after the previous reminder", previous
    for p in org.people:
        if p.coordinator and p.last_mail_at is not None and p.last_mail_at >= previous:
            return False, "the coordinator wrote after the previous reminder", previous
    return True, "", previous


def decide(cycle: CycleTimes, org: OrgState, policy: Policy, now: datetime) -> list[Decision]:
    """What to record for ``org`` at ``now``: every candidate due by then, planned or skipped."""
    due = [c for c in candidates(cycle, org, policy) if c.due_at <= now]
    if not due:
        return []
    people = {p.id: p for p in org.people}
    decisions: list[Decision] = []
    sendable: dict[int, list[Candidate]] = {}
    for c in due:
        person = people[c.contact_id]
        if person.failing:
            decisions.append(Decision(c, "skipped", "the address bounces"))
        elif person.paused:
            decisions.append(Decision(c, "skipped", "paused by the contact"))
        elif c.kind == "escalation":
            silent, why, since = _silence(org, c.moment)
            if silent:
                assert since is not None
                sendable.setdefault(c.contact_id, []).append(c)
            else:
                decisions.append(Decision(c, "skipped", why))
        else:
            sendable.setdefault(c.contact_id, []).append(c)
    for group in sendable.values():
        # the latest step wins; a deadline step wins over a nudge due at the same time
        group.sort(key=lambda c: (c.kind != "inactivity", c.moment, -(c.days_before or 0)))
        chosen = group[-1]
        details: dict[str, Any] = {}
        if chosen.kind == "escalation":
            _, _, since = _silence(org, chosen.moment)
            details["silent_since"] = since.isoformat() if since else None
        decisions.append(Decision(chosen, "planned", "", details))
        for c in group[:-1]:
            decisions.append(Decision(c, "skipped", f"superseded by {chosen.step}"))
    decisions.sort(key=lambda d: (d.candidate.organisation_id, d.candidate.contact_id, d.candidate.step))
    return decisions


def next_due(cycle: CycleTimes, orgs: Iterable[OrgState], policy: Policy, after: datetime) -> datetime | None:
    """The earliest moment after ``after`` at which something of the plan falls due."""
    moments = [c.due_at for org in orgs for c in candidates(cycle, org, policy) if c.due_at > after]
    return min(moments, default=None)
