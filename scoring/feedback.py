"""The facts of the feedback report: every figure the report shows, as ready values.

:func:`feedback_facts` turns a :class:`~scoring.result.ScoreResult` (scored with
``area_details=True``) into a :class:`FeedbackFacts`: the level, the quick facts for the
next level, the ten areas, the questions that block the next level and the cheapest way
up, the certainty of the answers, the MSBFS 2020:6 indication, the forward-looking part
below level 1, the key figures, the change since an earlier cycle and the comments.
Templates only print these values (with language-dependent formatting); nothing in a
template adds, compares or rounds.

The facts are language-neutral: texts stay :class:`~conversations.questionnaire.Text`
values of the model, and numbers stay numbers. A share is kept as an exact
:class:`~fractions.Fraction` and as a whole percentage rounded half up, computed here.

Pure: values in, values out; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal, Protocol

from conversations.questionnaire import Model, Question, Text
from scoring.compare import Comparison
from scoring.result import NextLevel, RequirementStatus, ScoreResult
from scoring.score import scorer_for

DEFAULT_METHOD_SUPPORT_URL = "https://www.informationssakerhet.se/metodstodet"
STEPS_SHOWN = 5  # at most this many steps of the cheapest way up are listed

KeyFigureKind = Literal["percent", "number", "choice"]
Flag = Literal["in_progress", "recent"]


class Commented(Protocol):
    """Anything stored per answer that may carry the respondent's comment."""

    @property
    def comment(self) -> str | None: ...


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class QuestionRef:
    """A question as the report names it: id, level, areas and text."""

    id: str
    level: int
    areas: tuple[str, ...]
    text: Text


@dataclass(frozen=True, slots=True)
class LevelFacts:
    """The organisation's level. ``name``/``description`` are None for 0 (under nivå 1)."""

    level: int
    top: int
    name: Text | None
    description: Text | None

    @property
    def below_first(self) -> bool:
        return self.level == 0

    @property
    def at_top(self) -> bool:
        return self.level >= self.top


@dataclass(frozen=True, slots=True)
class Threshold:
    """What level ``level`` needs: K(n) points, F(n) questions, certain answers."""

    level: int
    questions: int
    points_required: int
    minimum_per_question: int
    movable_points: int  # K(n) - F(n)·n: points beyond the minimum, from any question
    certain_required: int
    certainty_percent: int  # c(n) as a whole percentage


@dataclass(frozen=True, slots=True)
class Blocker:
    """A question below the minimum of the next level."""

    question: QuestionRef
    points: int
    needed: int
    missing: int
    answered: bool
    certain: bool | None


@dataclass(frozen=True, slots=True)
class AreaBlockers:
    """The blockers whose first (primary) work area is this area."""

    id: str
    name: Text
    blockers: tuple[Blocker, ...]


@dataclass(frozen=True, slots=True)
class NextLevelFacts:
    """The quick facts for level ``level`` (the next level of the whole or of one area)."""

    level: int
    name: Text | None
    points_required: int
    points_now: int
    points_missing: int
    mandatory_points: int  # raising every blocker exactly to the minimum
    movable_missing: int  # still needed after that, from any question
    cheapest_points: int  # mandatory + movable: the smallest increase that reaches the level
    questions: int  # F(N)
    minimum_per_question: int  # N
    blockers: tuple[Blocker, ...]
    certain_required: int
    certain_now: int
    certain_missing: int
    uncertain: tuple[str, ...]  # answered but uncertain in Q(N)
    unanswered: tuple[str, ...]  # unanswered in Q(N)
    by_area: tuple[AreaBlockers, ...] = ()  # the blockers grouped by primary area, model order

    @property
    def reached_points(self) -> bool:
        return self.points_missing == 0

    @property
    def reached_certainty(self) -> bool:
        return self.certain_missing == 0


@dataclass(frozen=True, slots=True)
class PathStep:
    """Moving one question up one answer option: what it costs and gains."""

    question: QuestionRef
    points: int  # now
    gain: int  # points gained by one option up
    after: int  # points after the step
    headroom: int  # points left up to the question's maximum


@dataclass(frozen=True, slots=True)
class CheapestPath:
    """The smallest total point increase that reaches the next level, and how."""

    level: int
    total: int
    mandatory: int  # points to lift the blockers to the minimum
    movable: int  # points still needed from any question after that
    blockers: int  # number of questions to lift
    steps: tuple[PathStep, ...]  # the cheapest ways to the movable points (not blockers)
    steps_gain: int  # sum of the listed steps' gains
    steps_cover: bool  # the listed steps together give at least ``movable`` points
    more_steps: int  # further questions with headroom not listed


@dataclass(frozen=True, slots=True)
class LinkFacts:
    title: Text
    url: str


@dataclass(frozen=True, slots=True)
class AreaFacts:
    id: str
    name: Text
    description: Text
    level: int  # indicative level of the area
    points: int
    points_max: int
    questions: int
    next: NextLevelFacts | None  # None at the top level
    links: tuple[LinkFacts, ...]
    below_overall: bool  # the area is below the organisation's level
    above_overall: bool


@dataclass(frozen=True, slots=True)
class UncertainAnswer:
    """An uncertain answer to document: lowest level first, blockers first within a level."""

    question: QuestionRef
    points: int
    in_level: bool  # counts for the level already reached
    blocks_next: bool  # the question is also below the next level's minimum
    counts_for_next: bool  # making it certain brings the next level's certainty closer


@dataclass(frozen=True, slots=True)
class CertaintyFacts:
    """How much of the answers behind the level is uncertain.

    ``scope`` is the level whose questions are counted: the level reached, or level 1
    for an organisation under level 1 (whose next step is level 1).
    """

    scope: int
    questions: int  # F(scope)
    answered: int
    certain: int
    uncertain: int
    unanswered: int
    share: Fraction | None  # uncertain / answered; None when nothing is answered
    percent: int | None  # the share as a whole percentage, rounded half up
    document_first: tuple[UncertainAnswer, ...]
    certain_total: int  # certain answers among all level-grounding questions
    answered_total: int


@dataclass(frozen=True, slots=True)
class IndicationRow:
    id: str
    reference: str
    requirement: Text
    status: RequirementStatus
    questions: tuple[str, ...]  # every question the requirement looks at
    failing: tuple[str, ...]  # answered questions whose condition fails
    missing: tuple[str, ...]  # unanswered questions it needs


@dataclass(frozen=True, slots=True)
class MsbfsFacts:
    rows: tuple[IndicationRow, ...]
    met: int
    not_met: int
    unknown: int

    @property
    def total(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class FlaggedItem:
    question: QuestionRef
    option: str
    option_text: Text
    flag: Flag
    points: int
    projected_points: int


@dataclass(frozen=True, slots=True)
class ForwardFacts:
    """Below level 1: work in progress or in place for less than two years."""

    projected_level: int
    projected_name: Text | None
    items: tuple[FlaggedItem, ...]
    in_progress: int
    recent: int
    points_gain: int  # total points the flagged work would add


@dataclass(frozen=True, slots=True)
class KeyFigure:
    """A validation question's answer (never scored)."""

    id: str
    kind: KeyFigureKind
    text: Text
    value: str | None  # normalised: a number as text, a percentage or an option letter
    number: Decimal | None  # the value as a number (percent and number kinds)
    unit: Text | None  # e.g. "st"; None for percentages and choices
    option_text: Text | None  # the chosen option of a choice

    @property
    def answered(self) -> bool:
        return self.value is not None


@dataclass(frozen=True, slots=True)
class LevelChange:
    before: int
    after: int
    delta: int


@dataclass(frozen=True, slots=True)
class AreaChange:
    id: str
    name: Text
    before: int | None
    after: int
    delta: int | None


@dataclass(frozen=True, slots=True)
class KeyFigureChange:
    figure: KeyFigure  # now
    before: str | None
    before_number: Decimal | None
    before_option_text: Text | None
    delta: Decimal | None  # after - before for numbers; None for choices or missing values
    changed: bool


@dataclass(frozen=True, slots=True)
class ComparisonFacts:
    same_model: bool
    level: LevelChange | None  # None when the model changed
    points: LevelChange | None
    areas: tuple[AreaChange, ...]
    areas_up: int
    areas_down: int
    key_figures: tuple[KeyFigureChange, ...]
    questions_changed: int  # comparable questions whose points changed
    questions_up: int
    questions_down: int
    comparable_questions: int
    questions_total: int


@dataclass(frozen=True, slots=True)
class CommentFacts:
    """A respondent's comment on one answer (user text: show it escaped)."""

    question: str
    text: Text  # the question's text
    comment: str


@dataclass(frozen=True, slots=True)
class FeedbackFacts:
    model_id: str
    model_version: str
    model_name: Text
    level: LevelFacts
    points: int
    points_max: int
    questions_total: int
    answered: int
    unanswered: int
    certain: int
    thresholds: tuple[Threshold, ...]
    next: NextLevelFacts | None  # quick facts; None at the top level
    path: CheapestPath | None
    areas: tuple[AreaFacts, ...]
    certainty: CertaintyFacts
    msbfs: MsbfsFacts
    forward: ForwardFacts | None  # only under level 1
    key_figures: tuple[KeyFigure, ...]
    comparison: ComparisonFacts | None
    comments: tuple[CommentFacts, ...]

    @property
    def key_figures_answered(self) -> int:
        return sum(1 for k in self.key_figures if k.answered)

    def area(self, area_id: str) -> AreaFacts:
        for a in self.areas:
            if a.id == area_id:
                return a
        raise KeyError(area_id)


# --------------------------------------------------------------------------- helpers


def percent(share: Fraction) -> int:
    """A share as a whole percentage, rounded half up: 0.265 → 27, 4/15 → 27, 0.5 → 50."""
    value = share * 100
    return int((value * 2 + 1) // 2)


def _ref(q: Question) -> QuestionRef:
    return QuestionRef(q.id, q.level, q.areas, q.text)


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


class _Facts:
    """The model-side lookups shared by the parts of :func:`feedback_facts`."""

    def __init__(self, model: Model, result: ScoreResult) -> None:
        self.model = model
        self.result = result
        self.scorer = scorer_for(model)
        self.refs = {q.id: _ref(q) for q in model.questions}
        self.max_points = dict(zip(self.scorer.ids, self.scorer.max_points, strict=True))
        self.questions = result.questions

    def level_name(self, n: int) -> Text | None:
        return self.model.level(n).name if 1 <= n <= self.model.top_level else None

    def next_facts(self, n: NextLevel, questions_in_scope: int) -> NextLevelFacts:
        """The quick facts of ``n``; ``questions_in_scope`` is F(N) of its group."""
        qs = self.questions
        blockers = tuple(
            Blocker(
                self.refs[s.question],
                s.points,
                s.needed,
                s.missing,
                qs[s.question].answered,
                qs[s.question].certain,
            )
            for s in n.below_minimum
        )
        return NextLevelFacts(
            level=n.level,
            name=self.level_name(n.level),
            points_required=n.points_required,
            points_now=n.points_now,
            points_missing=n.points_missing,
            mandatory_points=n.mandatory_points,
            movable_missing=n.movable_missing,
            cheapest_points=n.cheapest_points,
            questions=questions_in_scope,
            minimum_per_question=n.level,
            blockers=blockers,
            certain_required=n.certain_required,
            certain_now=n.certain_now,
            certain_missing=n.certain_missing,
            uncertain=n.uncertain,
            unanswered=n.unanswered,
            by_area=tuple(
                AreaBlockers(a.id, a.name, group)
                for a in self.model.areas
                if (group := tuple(b for b in blockers if b.question.areas[:1] == (a.id,)))
            ),
        )


# --------------------------------------------------------------------------- parts


def _thresholds(f: _Facts) -> tuple[Threshold, ...]:
    g = f.scorer.all
    return tuple(
        Threshold(
            level=lv.level,
            questions=g.f[lv.level],
            points_required=g.k[lv.level],
            minimum_per_question=lv.level,
            movable_points=g.k[lv.level] - g.f[lv.level] * lv.level,
            certain_required=g.c[lv.level],
            certainty_percent=percent(lv.certainty_share),
        )
        for lv in f.model.levels
    )


def _path(f: _Facts, n: NextLevel) -> CheapestPath:
    blocked = {s.question for s in n.below_minimum}
    candidates = [s for s in n.cheapest_path if s.question not in blocked]
    steps: list[PathStep] = []
    gained = 0
    if n.movable_missing > 0:
        for s in candidates:
            if len(steps) >= STEPS_SHOWN or gained >= n.movable_missing:
                break
            steps.append(PathStep(f.refs[s.question], s.points, s.step, s.points + s.step, s.headroom))
            gained += s.step
    return CheapestPath(
        level=n.level,
        total=n.cheapest_points,
        mandatory=n.mandatory_points,
        movable=n.movable_missing,
        blockers=len(n.below_minimum),
        steps=tuple(steps),
        steps_gain=gained,
        steps_cover=gained >= n.movable_missing,
        more_steps=len(candidates) - len(steps),
    )


def _areas(f: _Facts, method_support_url: str) -> tuple[AreaFacts, ...]:
    r = f.result
    out: list[AreaFacts] = []
    for area, group in zip(f.model.areas, f.scorer.area_groups, strict=True):
        ids = [f.scorer.ids[i] for i in group.indices]
        level = r.areas[area.id]
        n = r.area_next.get(area.id)
        nxt = None
        if n is not None:
            nxt = f.next_facts(n, group.f[n.level])
        out.append(
            AreaFacts(
                id=area.id,
                name=area.name,
                description=area.description,
                level=level,
                points=r.area_points[area.id],
                points_max=sum(f.max_points[q] for q in ids),
                questions=len(ids),
                next=nxt,
                links=tuple(LinkFacts(link.title, link.url(method_support_url)) for link in area.links),
                below_overall=level < r.level,
                above_overall=level > r.level,
            )
        )
    return tuple(out)


def _certainty(f: _Facts) -> CertaintyFacts:
    r = f.result
    qs = f.questions
    n = r.next_level
    if r.level >= 1 or n is None:
        scope = r.certainty.level
        scope_ids = [q for q in f.scorer.ids if f.refs[q].level <= scope]
        answered = r.certainty.answered
        uncertain = r.certainty.uncertain
    else:  # under level 1: count the questions of level 1, the next step
        scope = n.level
        scope_ids = [q for q in f.scorer.ids if f.refs[q].level <= scope]
        answered = len(scope_ids) - len(n.unanswered)
        uncertain = len(n.uncertain)
    share = Fraction(uncertain, answered) if answered else None
    blocked = {s.question for s in n.below_minimum} if n is not None else set()
    in_level = set(r.certainty.uncertain_questions)
    candidates = list(dict.fromkeys([*r.certainty.uncertain_questions, *(n.uncertain if n else ())]))
    order = {q: i for i, q in enumerate(f.scorer.ids)}
    candidates.sort(key=lambda q: (f.refs[q].level, q not in blocked, order[q]))
    document_first = tuple(
        UncertainAnswer(
            f.refs[q],
            qs[q].points,
            in_level=q in in_level,
            blocks_next=q in blocked,
            counts_for_next=n is not None and n.certain_missing > 0,
        )
        for q in candidates
    )
    return CertaintyFacts(
        scope=scope,
        questions=len(scope_ids),
        answered=answered,
        certain=answered - uncertain,
        uncertain=uncertain,
        unanswered=len(scope_ids) - answered,
        share=share,
        percent=percent(share) if share is not None else None,
        document_first=document_first,
        certain_total=r.certain,
        answered_total=r.answered,
    )


def _msbfs(f: _Facts) -> MsbfsFacts:
    requirements = {req.id: req for req in f.model.msbfs}
    rows = []
    for ind in f.result.msbfs:
        req = requirements.get(ind.id)
        questions = tuple(dict.fromkeys(c.question for c in req.conditions)) if req else ()
        rows.append(
            IndicationRow(
                id=ind.id,
                reference=ind.reference,
                requirement=req.requirement if req else Text({}),
                status=ind.status,
                questions=questions,
                failing=tuple(dict.fromkeys(ind.failing)),
                missing=tuple(dict.fromkeys(ind.missing)),
            )
        )
    return MsbfsFacts(
        rows=tuple(rows),
        met=sum(1 for x in rows if x.status == "met"),
        not_met=sum(1 for x in rows if x.status == "not_met"),
        unknown=sum(1 for x in rows if x.status == "unknown"),
    )


def _forward(f: _Facts) -> ForwardFacts | None:
    fl = f.result.forward_looking
    if fl is None:
        return None
    items: list[FlaggedItem] = []
    for it in fl.items:
        q = f.model.question(it.question)
        opt = q.option(it.option) if q is not None else None
        flag: Flag = "recent" if it.flag == "recent" else "in_progress"
        items.append(
            FlaggedItem(
                question=f.refs[it.question],
                option=it.option,
                option_text=opt.text if opt is not None else Text({}),
                flag=flag,
                points=it.points,
                projected_points=it.projected_points,
            )
        )
    # a question's gain is its projected points minus its points now (once per question)
    gains: dict[str, int] = {}
    for i in items:
        gains[i.question.id] = max(gains.get(i.question.id, 0), i.projected_points - i.points)
    return ForwardFacts(
        projected_level=fl.projected_level,
        projected_name=f.level_name(fl.projected_level),
        items=tuple(items),
        in_progress=sum(1 for i in items if i.flag == "in_progress"),
        recent=sum(1 for i in items if i.flag == "recent"),
        points_gain=sum(gains.values()),
    )


def _key_figure(model: Model, vid: str, value: str | None) -> KeyFigure | None:
    vq = model.validation_question(vid)
    if vq is None:
        return None
    kind: KeyFigureKind = (
        "choice" if vq.kind == "choice" else ("number" if vq.kind == "number" else "percent")
    )
    option_text = None
    if kind == "choice" and value is not None:
        opt = next((o for o in vq.options if o.id == value), None)
        option_text = opt.text if opt is not None else None
    return KeyFigure(
        id=vq.id,
        kind=kind,
        text=vq.text,
        value=value,
        number=_decimal(value) if kind != "choice" else None,
        unit=vq.unit if vq.unit.values else None,
        option_text=option_text,
    )


def _key_figures(f: _Facts) -> tuple[KeyFigure, ...]:
    out = []
    for vq in f.model.validation_questions:
        k = _key_figure(f.model, vq.id, f.result.validation.get(vq.id))
        if k is not None:
            out.append(k)
    return tuple(out)


def _comparison(f: _Facts, c: Comparison, figures: Sequence[KeyFigure]) -> ComparisonFacts:
    def change(before: object, after: object) -> LevelChange | None:
        if not isinstance(before, int) or not isinstance(after, int):
            return None
        return LevelChange(before, after, after - before)

    level = change(c.level_change.before, c.level_change.after) if c.level_change else None
    points = change(c.points_change.before, c.points_change.after) if c.points_change else None
    areas = []
    names = {a.id: a.name for a in f.model.areas}
    for ch in c.areas:
        before = ch.before if isinstance(ch.before, int) else None
        after = int(ch.after)
        areas.append(
            AreaChange(
                ch.key, names.get(ch.key, Text({})), before, after, None if before is None else after - before
            )
        )
    by_id = {k.id: k for k in figures}
    key_changes = []
    for ch in c.validation:
        now = by_id.get(ch.key)
        if now is None:
            continue
        before_value = None if ch.before is None else str(ch.before)
        before_fig = _key_figure(f.model, ch.key, before_value)
        before_number = before_fig.number if before_fig else None
        delta = now.number - before_number if now.number is not None and before_number is not None else None
        key_changes.append(
            KeyFigureChange(
                figure=now,
                before=before_value,
                before_number=before_number,
                before_option_text=before_fig.option_text if before_fig else None,
                delta=delta,
                changed=before_value != now.value,
            )
        )
    return ComparisonFacts(
        same_model=c.same_model,
        level=level,
        points=points,
        areas=tuple(areas),
        areas_up=sum(1 for a in areas if a.delta is not None and a.delta > 0),
        areas_down=sum(1 for a in areas if a.delta is not None and a.delta < 0),
        key_figures=tuple(key_changes),
        questions_changed=len(c.questions),
        questions_up=sum(1 for q in c.questions if q.after > q.before),
        questions_down=sum(1 for q in c.questions if q.after < q.before),
        comparable_questions=len(c.comparable_questions),
        questions_total=len(f.model.questions),
    )


def _comments(model: Model, answers: Mapping[str, Commented]) -> tuple[CommentFacts, ...]:
    out = []
    ordered = [q.id for q in model.questions] + [v.id for v in model.validation_questions]
    for qid in ordered:
        rec = answers.get(qid)
        comment = getattr(rec, "comment", None) if rec is not None else None
        if not comment or not comment.strip():
            continue
        q = model.question(qid)
        v = model.validation_question(qid)
        text = q.text if q is not None else (v.text if v is not None else Text({}))
        out.append(CommentFacts(qid, text, comment.strip()))
    return tuple(out)


# --------------------------------------------------------------------------- entry


def feedback_facts(
    model: Model,
    result: ScoreResult,
    *,
    comparison: Comparison | None = None,
    answers: Mapping[str, Commented] | None = None,
    method_support_url: str = DEFAULT_METHOD_SUPPORT_URL,
) -> FeedbackFacts:
    """Everything the feedback report shows, as ready values.

    ``result`` must come from scoring with ``area_details=True`` (the areas' next-level
    facts); ``comparison`` is the change since an earlier cycle; ``answers`` (stored
    answers by question id) gives the respondents' comments; ``method_support_url`` is the
    base address of Metodstödet, to which the model's links are relative.

    Raises:
        ValueError: ``result`` was scored without area details or under another model.
    """
    if result.model != model.id:
        raise ValueError(f"the result is for model {result.model!r}, not {model.id!r}")
    if model.top_level and result.level < model.top_level and not result.area_next:
        raise ValueError("score the result with area_details=True to give feedback per area")
    f = _Facts(model, result)
    n = result.next_level
    nxt = f.next_facts(n, f.scorer.all.f[n.level]) if n is not None else None
    figures = _key_figures(f)
    return FeedbackFacts(
        model_id=model.id,
        model_version=model.version,
        model_name=model.name,
        level=LevelFacts(
            level=result.level,
            top=model.top_level,
            name=f.level_name(result.level),
            description=model.level(result.level).description if result.level >= 1 else None,
        ),
        points=result.points,
        points_max=sum(f.scorer.max_points),
        questions_total=len(f.scorer.ids),
        answered=result.answered,
        unanswered=len(f.scorer.ids) - result.answered,
        certain=result.certain,
        thresholds=_thresholds(f),
        next=nxt,
        path=_path(f, n) if n is not None else None,
        areas=_areas(f, method_support_url),
        certainty=_certainty(f),
        msbfs=_msbfs(f),
        forward=_forward(f),
        key_figures=figures,
        comparison=_comparison(f, comparison, figures) if comparison is not None else None,
        comments=_comments(model, answers) if answers else (),
    )
