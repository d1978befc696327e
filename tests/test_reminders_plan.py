"""The reminder plan, pure: steps and pacing, quiet hours, who gets what, skips and postponements."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.reminders.plan import (
    CycleTimes,
    OrgState,
    Past,
    Person,
    Policy,
    candidates,
    deadline_steps,
    decide,
    is_allowed,
    next_allowed,
    parse_days,
    parse_holidays,
    parse_quiet_hours,
    step_moment,
)

TZ = ZoneInfo("Europe/Stockholm")
POLICY = Policy()
DEADLINE = date(2027, 10, 29)  # a Friday
CYCLE = CycleTimes(1, DEADLINE, datetime(2027, 10, 30, tzinfo=TZ))
LAUNCH = datetime(2027, 3, 1, 9, tzinfo=TZ)
COORD = Person(1, "anna@kommun.se", coordinator=True)
MANAGER = Person(2, "chef@kommun.se", manager=True)


def local(y: int, m: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=TZ)


def org(**kw: object) -> OrgState:
    values: dict[str, object] = {
        "id": 7, "invited_at": LAUNCH, "response_id": 70, "status": "in_progress",
        "last_activity_at": LAUNCH + timedelta(days=100), "left": 40, "total": 40,
        "people": (COORD, MANAGER), "past": (),
    }  # fmt: skip
    values.update(kw)
    return OrgState(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (1.0, [("first", 84), ("mid28", 56), ("d28", 28), ("d14", 14), ("d7", 7), ("d2", 2)]),
        (0.9, [("first", 78), ("mid28", 53), ("d28", 28), ("d14", 14), ("d7", 7), ("d2", 2)]),
        (0.5, [("first", 56), ("d28", 28), ("d14", 14), ("d7", 7), ("d2", 2)]),
        (0.25, [("first", 42), ("d28", 28), ("d14", 14), ("d7", 7), ("d2", 2)]),
        (0.1, [("d28", 28), ("d14", 14), ("d7", 7), ("d2", 2)]),  # 34 days is within a week of 28
    ],
)
def test_steps_are_paced_by_what_remains(share: float, expected: list[tuple[str, int]]) -> None:
    assert deadline_steps((56, 28, 14, 7, 2), share) == expected


def test_more_left_means_earlier_and_more_often() -> None:
    nine_left, one_left = deadline_steps((56, 28, 14, 7, 2), 0.9), deadline_steps((56, 28, 14, 7, 2), 0.1)
    assert len(nine_left) > len(one_left)
    assert nine_left[0][1] > one_left[0][1]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(2027, 9, 1, 9), local(2027, 9, 1, 9)),  # a Wednesday morning: allowed
        (local(2027, 9, 1, 7, 59), local(2027, 9, 1, 8)),  # before 08: waits
        (local(2027, 9, 1, 18), local(2027, 9, 2, 8)),  # evening: next morning
        (local(2027, 9, 1, 23, 30), local(2027, 9, 2, 8)),
        (local(2027, 9, 3, 19), local(2027, 9, 6, 8)),  # Friday evening: Monday morning
        (local(2027, 9, 4, 12), local(2027, 9, 6, 8)),  # Saturday
        (local(2027, 10, 31, 12), local(2027, 11, 1, 8)),  # Sunday, the day summer time ends
    ],
)
def test_quiet_hours_and_weekends(at: datetime, expected: datetime) -> None:
    assert next_allowed(at, POLICY) == expected.astimezone(UTC)
    assert is_allowed(expected, POLICY)
    assert is_allowed(at, POLICY) == (at == expected)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(2027, 6, 25, 10), local(2027, 6, 28, 8)),  # midsommarafton (a Friday): Monday
        (local(2027, 12, 23, 18, 30), local(2027, 12, 27, 8)),  # the evening before julafton: after Christmas
        (local(2027, 12, 31, 9), local(2028, 1, 3, 8)),  # nyårsafton, nyårsdagen, a weekend
        (local(2027, 5, 6, 9), local(2027, 5, 7, 8)),  # Kristi himmelsfärdsdag (a Thursday)
        (local(2027, 5, 7, 9), local(2027, 5, 7, 9)),  # the day after: a working day
        (local(2027, 11, 5, 9), local(2027, 11, 5, 9)),  # allahelgonsafton is not a day off
    ],
)
def test_no_reminders_on_swedish_holidays(at: datetime, expected: datetime) -> None:
    assert next_allowed(at, POLICY) == expected.astimezone(UTC)
    assert is_allowed(at, Policy(holidays="")) or at.weekday() >= 5 or at.hour >= 18


def test_holidays_configurable() -> None:
    assert parse_holidays(" se ") == "SE"
    assert parse_holidays("") == ""
    with pytest.raises(ValueError, match="ASSESSBOT_HOLIDAYS"):
        parse_holidays("Sverige")
    thursday = local(2027, 5, 6, 9)  # Kristi himmelsfärdsdag
    assert not is_allowed(thursday, POLICY)
    assert is_allowed(thursday, Policy(holidays=""))
    assert is_allowed(local(2027, 6, 25, 10), Policy(holidays="NO"))  # not a holiday in Norway
    # a step due on midsommarafton waits for the next working day
    assert step_moment(date(2027, 7, 2), 7, POLICY) == local(2027, 6, 28, 8).astimezone(UTC)


def test_quiet_hours_configurable() -> None:
    assert parse_quiet_hours("18-08") == (time(18), time(8))
    assert parse_quiet_hours("22:30-07:15") == (time(22, 30), time(7, 15))
    assert parse_quiet_hours("") is None
    lunch = Policy(quiet=parse_quiet_hours("12-13"), weekends=False)
    assert next_allowed(local(2027, 9, 4, 12, 30), lunch) == local(2027, 9, 4, 13).astimezone(UTC)
    with pytest.raises(ValueError, match="ASSESSBOT_QUIET_HOURS"):
        parse_quiet_hours("kväll")
    assert parse_days("2, 7,56,28,14") == (56, 28, 14, 7, 2)
    with pytest.raises(ValueError, match="ASSESSBOT_REMINDER_DAYS"):
        parse_days("56,-1")


def test_a_step_on_a_weekend_moves_to_monday_morning() -> None:
    sunday_deadline = date(2027, 10, 31)  # 28 days before is a Sunday: Monday morning instead
    assert step_moment(sunday_deadline, 28, POLICY) == local(2027, 10, 4, 8).astimezone(UTC)
    assert step_moment(DEADLINE, 2, POLICY) == local(2027, 10, 27, 9).astimezone(UTC)


def test_nothing_for_completed_submitted_closed_or_not_launched() -> None:
    for status in ("completed", "submitted", "closed"):
        assert candidates(CYCLE, org(status=status), POLICY) == ()
    assert candidates(CYCLE, org(invited_at=None, response_id=None, status=None), POLICY) == ()


def test_the_plan_of_an_organisation_that_has_not_begun() -> None:
    planned = candidates(CYCLE, org(last_activity_at=None), POLICY)
    to_coordinator = sorted((c.step, c.due_at.astimezone(TZ)) for c in planned if c.contact_id == COORD.id)
    assert [s for s, _ in to_coordinator] == [
        "d14",
        "d2",
        "d28",
        "d7",
        "first",
        "idle:20270301T080000",
        "mid28",
    ]
    idle = dict(to_coordinator)["idle:20270301T080000"]
    assert idle == local(2027, 3, 22, 9)  # three weeks of silence after the first section
    escalation = sorted(c.step for c in planned if c.contact_id == MANAGER.id)
    assert escalation == ["d14", "d2", "d7"]
    assert {c.kind for c in planned if c.contact_id == MANAGER.id} == {"escalation"}


def test_due_decisions_send_the_latest_and_record_the_rest_as_superseded() -> None:
    at = local(2027, 9, 20, 10)  # first (6 Aug) and mid28 (2 Sep) overdue together: the service was down
    state = org(last_activity_at=at - timedelta(days=1))
    decisions = decide(CYCLE, state, POLICY, at)
    to_coordinator = {d.candidate.step: (d.status, d.reason) for d in decisions}
    assert to_coordinator == {"first": ("skipped", "superseded by mid28"), "mid28": ("planned", "")}


def test_failing_and_paused_are_skipped_with_the_reason_and_away_is_postponed() -> None:
    at = local(2027, 8, 9, 9)
    for person, reason in (
        (Person(3, "b@k.se", coordinator=True, failing=True), "the address bounces"),
        (Person(3, "b@k.se", coordinator=True, paused=True), "paused by the contact"),
    ):
        state = org(people=(COORD, person, MANAGER), last_activity_at=at - timedelta(days=5))
        assert sorted((d.candidate.email, d.status, d.reason) for d in decide(CYCLE, state, POLICY, at)) == [
            ("anna@kommun.se", "planned", ""),
            ("b@k.se", "skipped", reason),
        ]
    back = local(2027, 8, 23, 0)  # a Monday
    away = Person(1, "a@k.se", coordinator=True, away_until=back)
    state = org(people=(away, MANAGER), last_activity_at=at - timedelta(days=5))
    assert decide(CYCLE, state, POLICY, at) == []  # postponed, not skipped
    first = next(c for c in candidates(CYCLE, state, POLICY) if c.step == "first")
    assert first.due_at == local(2027, 8, 23, 8).astimezone(UTC)
    assert [d.candidate.step for d in decide(CYCLE, state, POLICY, local(2027, 8, 23, 8))] == ["first"]


def test_no_coordinator_means_management_is_asked_to_appoint() -> None:
    letter = Past(MANAGER.id, "launch", LAUNCH)
    state = OrgState(7, LAUNCH, people=(MANAGER,), past=(letter,))
    kinds = {(c.step, c.kind) for c in candidates(CYCLE, state, POLICY)}
    assert kinds == {(s, "appoint") for s in ("first", "mid28", "d28", "d14", "d7", "d2")}
    bouncing = org(people=(Person(1, "a@k.se", coordinator=True, failing=True), MANAGER))
    assert {c.kind for c in candidates(CYCLE, bouncing, POLICY) if c.contact_id == MANAGER.id} == {"appoint"}


def test_escalation_only_after_silence_since_the_previous_reminder() -> None:
    d14 = step_moment(DEADLINE, 14, POLICY)
    d28_sent = step_moment(DEADLINE, 28, POLICY)
    past = (Past(COORD.id, "d28", d28_sent),)
    silent = org(left=30, past=past, last_activity_at=d28_sent - timedelta(days=20))
    decisions = {(d.candidate.contact_id, d.candidate.step): d for d in decide(CYCLE, silent, POLICY, d14)}
    assert decisions[(COORD.id, "d14")].status == "planned"
    escalation = decisions[(MANAGER.id, "d14")]
    assert (escalation.candidate.kind, escalation.status) == ("escalation", "planned")
    assert escalation.details["silent_since"] == d28_sent.isoformat()

    answered = org(left=30, past=past, last_activity_at=d28_sent + timedelta(days=3))
    decisions = {(d.candidate.contact_id, d.candidate.step): d for d in decide(CYCLE, answered, POLICY, d14)}
    assert decisions[(MANAGER.id, "d14")].status == "skipped"
    assert decisions[(MANAGER.id, "d14")].reason == "the coordinator answered after the previous reminder"

    wrote = org(
        left=30, past=past, last_activity_at=None,
        people=(Person(1, "anna@kommun.se", coordinator=True, last_mail_at=d28_sent + timedelta(days=1)), MANAGER),
    )  # fmt: skip
    decisions = {(d.candidate.contact_id, d.candidate.step): d for d in decide(CYCLE, wrote, POLICY, d14)}
    assert decisions[(MANAGER.id, "d14")].reason == "the coordinator wrote after the previous reminder"


def test_inactivity_once_per_silence_and_not_right_after_a_reminder() -> None:
    last = local(2027, 4, 14, 19, 40)  # an evening answer: three weeks on is an evening too
    state = org(last_activity_at=last, left=20)
    idle = [c for c in candidates(CYCLE, state, POLICY) if c.kind == "inactivity"]
    assert len(idle) == 1 and idle[0].step == "idle:20270414T174000"
    # the morning after, but 6 May 2027 is Kristi himmelsfärdsdag: the day after
    assert idle[0].due_at == local(2027, 5, 7, 8).astimezone(UTC)
    no_holidays = [c for c in candidates(CYCLE, state, Policy(holidays="")) if c.kind == "inactivity"]
    assert no_holidays[0].due_at == local(2027, 5, 6, 8).astimezone(UTC)
    recorded = org(last_activity_at=last, left=20, past=(Past(COORD.id, idle[0].step, idle[0].due_at),))
    assert not [c for c in candidates(CYCLE, recorded, POLICY) if c.kind == "inactivity"]
    reminded = org(last_activity_at=last, left=20, past=(Past(COORD.id, "mid28", local(2027, 5, 4, 9)),))
    nudge = next(c for c in candidates(CYCLE, reminded, POLICY) if c.kind == "inactivity")
    assert nudge.due_at == local(2027, 5, 11, 9).astimezone(UTC)  # a week after the last reminder


def test_a_step_due_before_the_invitation_settled_is_left_out() -> None:
    late_start = local(2027, 10, 10, 10)  # coordinator appointed 19 days before the deadline
    state = org(invited_at=late_start, last_activity_at=None)
    steps = {c.step for c in candidates(CYCLE, state, POLICY) if c.kind == "deadline"}
    assert steps == {"d7", "d2"}  # d14 (15 Oct) comes less than a week after the start


def test_a_coordinator_registered_after_the_letter_stops_the_appoint_reminders() -> None:
    letter = Past(MANAGER.id, "launch", LAUNCH)
    state = OrgState(7, LAUNCH, people=(COORD, MANAGER), past=(letter,))  # no response yet
    assert candidates(CYCLE, state, POLICY) == ()  # `cycle launch` again starts its response
