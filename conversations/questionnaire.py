"""The follow-up model as values: levels, work areas, questions, sections, MSBFS mapping.

A model is read from a TOML file (format in ``docs/model-format.md``), checked, and turned
into frozen dataclasses that the scoring engine and the dialogue engine share. Checking
collects every problem as one line of text so that ``assessbot model validate`` can print
them all at once; loading a file with problems raises :class:`ModelError` with that list.

Nothing here does I/O except :func:`load_model_file`, which reads one file.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

BUNDLED_MODEL_ID = "msb-2021"
FLAGS = ("in_progress", "recent")
VALIDATION_KINDS = ("percent", "number", "choice")
Scoring = Literal["count", "scale"]


class ModelError(ValueError):
    """A model file that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Text:
    """A text in every language of the model."""

    values: Mapping[str, str]

    def get(self, lang: str) -> str:
        """Return the text in ``lang``, or in the first language when ``lang`` is missing."""
        if lang in self.values:
            return self.values[lang]
        return next(iter(self.values.values()), "")

    @property
    def sv(self) -> str:
        return self.get("sv")

    @property
    def en(self) -> str:
        return self.get("en")


EMPTY_TEXT = Text({})


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    certainty_share: Fraction
    name: Text
    description: Text


@dataclass(frozen=True, slots=True)
class Link:
    path: str
    title: Text

    def url(self, base_url: str) -> str:
        """Return the absolute address of the link under ``base_url``."""
        if self.path.startswith(("http://", "https://")):
            return self.path
        return base_url.rstrip("/") + "/" + self.path.lstrip("/")


@dataclass(frozen=True, slots=True)
class Area:
    id: str
    name: Text
    description: Text
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    points: int
    text: Text
    exclusive: bool = False
    keyword: Text = EMPTY_TEXT
    flags: tuple[str, ...] = ()
    projected_points: int | None = None


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    level: int
    areas: tuple[str, ...]
    scoring: Scoring
    text: Text
    help: Text
    options: tuple[Option, ...]
    stem: Text = EMPTY_TEXT

    def option(self, option_id: str) -> Option | None:
        """Return the option with this letter, or None."""
        for opt in self.options:
            if opt.id == option_id:
                return opt
        return None

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)


@dataclass(frozen=True, slots=True)
class ValidationQuestion:
    id: str
    kind: str
    text: Text
    help: Text = EMPTY_TEXT
    unit: Text = EMPTY_TEXT
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class Condition:
    question: str
    option: str | None = None
    min_points: int | None = None


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    reference: str
    requirement: Text
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: Text
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Model:
    """A whole follow-up model. Build it with :func:`parse_model` or :func:`load_model_file`."""

    id: str
    version: str
    languages: tuple[str, ...]
    name: Text
    points_min: int
    points_max: int
    levels: tuple[Level, ...]
    areas: tuple[Area, ...]
    questions: tuple[Question, ...]
    validation_questions: tuple[ValidationQuestion, ...]
    msbfs: tuple[Requirement, ...]
    sections: tuple[Section, ...]
    _question_index: dict[str, Question] = field(default_factory=dict, repr=False)
    _validation_index: dict[str, ValidationQuestion] = field(default_factory=dict, repr=False)
    _section_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._question_index.update({q.id: q for q in self.questions})
        self._validation_index.update({v.id: v for v in self.validation_questions})
        self._section_index.update({qid: i for i, s in enumerate(self.sections) for qid in s.questions})

    @property
    def default_language(self) -> str:
        return self.languages[0]

    @property
    def top_level(self) -> int:
        return self.levels[-1].level if self.levels else 0

    def question(self, qid: str) -> Question | None:
        return self._question_index.get(qid)

    def validation_question(self, vid: str) -> ValidationQuestion | None:
        return self._validation_index.get(vid)

    def any_question(self, qid: str) -> Question | ValidationQuestion | None:
        """The level-grounding or validation question ``qid``, or None."""
        return self._question_index.get(qid) or self._validation_index.get(qid)

    def section_of(self, qid: str) -> int | None:
        """The index of the section that asks ``qid``, or None."""
        return self._section_index.get(qid)

    def level(self, n: int) -> Level:
        return self.levels[n - 1]

    def area(self, area_id: str) -> Area | None:
        for a in self.areas:
            if a.id == area_id:
                return a
        return None


# --------------------------------------------------------------------------- parsing


class _Checker:
    """Collects problems while a raw TOML document is turned into values."""

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = tuple(languages)
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def text(self, raw: Any, where: str, *, required: bool = True) -> Text:
        if raw is None:
            if required:
                self.add(where, "missing text")
            return EMPTY_TEXT
        if isinstance(raw, str):
            if len(self.languages) > 1:
                self.add(where, f"missing translation ({', '.join(self.languages[1:])})")
            return Text({self.languages[0] if self.languages else "sv": raw})
        if not isinstance(raw, dict):
            self.add(where, 'text must be a table of languages, e.g. { sv = "…", en = "…" }')
            return EMPTY_TEXT
        values: dict[str, str] = {}
        for lang in self.languages:
            value = raw.get(lang)
            if not isinstance(value, str) or not value.strip():
                self.add(where, f"missing translation ({lang})")
            else:
                values[lang] = value.strip()
        for lang in raw:
            if lang not in self.languages:
                self.add(where, f"language {lang!r} is not in the model's languages")
        return Text(values)

    def integer(self, raw: Any, where: str, default: int | None = None) -> int:
        if raw is None and default is not None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.add(where, f"must be a whole number, not {raw!r}")
            return default if default is not None else 0
        return raw

    def string(self, raw: Any, where: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            self.add(where, f"must be a non-empty string, not {raw!r}")
            return ""
        return raw.strip()


def _share(raw: Any, where: str, checker: _Checker) -> Fraction:
    try:
        if isinstance(raw, bool) or raw is None:
            raise InvalidOperation
        value = Fraction(Decimal(str(raw)))
    except (InvalidOperation, ValueError):
        checker.add(where, f"certainty_share must be a decimal between 0 and 1, not {raw!r}")
        return Fraction(0)
    if not 0 <= value <= 1:
        checker.add(where, f"certainty_share must be between 0 and 1, not {raw}")
    return value


def _options(raw_options: Any, where: str, checker: _Checker, pmin: int, pmax: int) -> tuple[Option, ...]:
    if not isinstance(raw_options, list) or not raw_options:
        checker.add(where, "has no options")
        return ()
    options: list[Option] = []
    for i, raw in enumerate(raw_options):
        expected = string.ascii_lowercase[i] if i < 26 else "?"
        oid = str(raw.get("id", ""))
        owhere = f"{where} option {oid or expected}"
        if oid != expected:
            checker.add(
                owhere,
                f"option ids must be consecutive letters in display order: expected "
                f"{expected!r}, found {oid!r}",
            )
        points = checker.integer(raw.get("points"), f"{owhere} points")
        if not pmin <= points <= pmax:
            checker.add(owhere, f"points {points} outside {pmin}–{pmax}")
        flags = tuple(raw.get("flags", ()))
        for flag in flags:
            if flag not in FLAGS:
                checker.add(owhere, f"unknown flag {flag!r} (known: {', '.join(FLAGS)})")
        projected = raw.get("projected_points")
        if flags and projected is None:
            checker.add(owhere, "a flagged option needs projected_points")
        if projected is not None:
            if not flags:
                checker.add(owhere, "projected_points without a flag (in_progress or recent)")
            projected = checker.integer(projected, f"{owhere} projected_points")
            if not pmin <= projected <= pmax:
                checker.add(owhere, f"projected_points {projected} outside {pmin}–{pmax}")
        keyword = checker.text(raw.get("keyword"), f"{owhere} keyword", required=False)
        for word in keyword.values.values():
            if len(word) < 2 or " " in word.strip():
                checker.add(owhere, f"keyword {word!r} must be one word of two letters or more")
        options.append(
            Option(
                id=oid,
                points=points,
                text=checker.text(raw.get("text"), f"{owhere} text"),
                exclusive=bool(raw.get("exclusive", False)),
                keyword=Text({k: v.lower() for k, v in keyword.values.items()}),
                flags=flags,
                projected_points=projected,
            )
        )
    seen: dict[str, str] = {}
    for opt in options:
        for lang, word in opt.keyword.values.items():
            key = f"{lang}:{word}"
            if key in seen and seen[key] != opt.id:
                checker.add(where, f"keyword {word!r} is used by options {seen[key]} and {opt.id}")
            seen[key] = opt.id
    return tuple(options)


def _question(raw: dict[str, Any], checker: _Checker, pmin: int, pmax: int) -> Question:
    qid = str(raw.get("id", "")).strip()
    where = f"question {qid or '?'}"
    if not qid:
        checker.add(where, "missing id")
    raw_scoring = raw.get("scoring")
    scoring: Scoring = "scale" if raw_scoring == "scale" else "count"
    if raw_scoring not in ("count", "scale"):
        checker.add(where, f"scoring must be 'count' or 'scale', not {raw_scoring!r}")
    areas = raw.get("areas", [])
    if isinstance(areas, str):
        areas = [areas]
    if not areas:
        checker.add(where, "belongs to no work area")
    options = _options(raw.get("options"), where, checker, pmin, pmax)
    plain = [o for o in options if not o.exclusive]
    if not plain:
        checker.add(where, "needs at least one option that is not exclusive")
    if scoring == "scale":
        for before, after in pairwise(plain):
            if after.points >= before.points:
                checker.add(
                    where,
                    f"scale options must be listed best first with decreasing points: "
                    f"{before.id} ({before.points}) then {after.id} ({after.points})",
                )
        # non-exclusive options must be contiguous so that ranges are meaningful
        idx = [i for i, o in enumerate(options) if not o.exclusive]
        if idx and idx != list(range(idx[0], idx[-1] + 1)):
            checker.add(where, "scale options are not adjacent: an exclusive option splits them")
    return Question(
        id=qid,
        level=checker.integer(raw.get("level"), f"{where} level"),
        areas=tuple(str(a) for a in areas),
        scoring=scoring,
        text=checker.text(raw.get("text"), f"{where} text"),
        help=checker.text(raw.get("help"), f"{where} help"),
        stem=checker.text(raw.get("stem"), f"{where} stem", required=False),
        options=options,
    )


def parse_model(data: Mapping[str, Any]) -> tuple[Model | None, list[str]]:
    """Turn a raw model document into a :class:`Model`.

    Returns:
        ``(model, problems)``: the model (None when it could not be built at all) and one
        line per problem found. A model with problems must not be used.
    """
    problems: list[str] = []
    languages = data.get("languages") or ["sv", "en"]
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        return None, ['languages: must be a list such as ["sv", "en"]']
    checker = _Checker(languages)
    if data.get("format", 1) != 1:
        checker.add("format", f"unknown format {data.get('format')!r} (this version reads 1)")
    model_id = checker.string(data.get("id"), "id")
    version = str(data.get("version", "1"))
    name = checker.text(data.get("name"), "name")
    points = data.get("points", {})
    pmin = checker.integer(points.get("min"), "points.min", 0)
    pmax = checker.integer(points.get("max"), "points.max", 5)
    if pmin > pmax:
        checker.add("points", f"min {pmin} is above max {pmax}")

    levels: list[Level] = []
    for i, raw in enumerate(data.get("levels", [])):
        n = checker.integer(raw.get("level"), f"level #{i + 1}")
        if n != i + 1:
            checker.add(f"level {n}", f"levels must be numbered 1, 2, 3, … in order (expected {i + 1})")
        levels.append(
            Level(
                level=n,
                certainty_share=_share(raw.get("certainty_share"), f"level {n}", checker),
                name=checker.text(raw.get("name"), f"level {n} name"),
                description=checker.text(raw.get("description"), f"level {n} description"),
            )
        )
    if not levels:
        checker.add("levels", "the model has no levels")

    areas: list[Area] = []
    for raw in data.get("areas", []):
        aid = checker.string(raw.get("id"), "area id")
        links = tuple(
            Link(
                path=checker.string(link.get("path"), f"area {aid} link path"),
                title=checker.text(link.get("title"), f"area {aid} link title"),
            )
            for link in raw.get("links", [])
        )
        areas.append(
            Area(
                id=aid,
                name=checker.text(raw.get("name"), f"area {aid} name"),
                description=checker.text(raw.get("description"), f"area {aid} description"),
                links=links,
            )
        )
    area_ids = [a.id for a in areas]
    for dup in sorted({a for a in area_ids if area_ids.count(a) > 1}):
        checker.add(f"area {dup}", "id is used more than once")

    questions = [_question(raw, checker, pmin, pmax) for raw in data.get("questions", [])]
    qids = [q.id for q in questions]
    for dup in sorted({q for q in qids if qids.count(q) > 1}):
        checker.add(f"question {dup}", "id is used more than once")
    level_numbers = {lv.level for lv in levels}
    for q in questions:
        if q.level not in level_numbers:
            checker.add(f"question {q.id}", f"level {q.level} does not exist")
        for a in q.areas:
            if a not in area_ids:
                checker.add(f"question {q.id}", f"unknown area {a!r}")
    for lv in levels:
        if not any(q.level == lv.level for q in questions):
            checker.add(f"level {lv.level}", "has no questions")

    validation: list[ValidationQuestion] = []
    for raw in data.get("validation_questions", []):
        vid = checker.string(raw.get("id"), "validation question id")
        where = f"validation question {vid}"
        kind = raw.get("kind")
        if kind not in VALIDATION_KINDS:
            checker.add(where, f"kind must be one of {', '.join(VALIDATION_KINDS)}, not {kind!r}")
        vopts: tuple[Option, ...] = ()
        if kind == "choice":
            vopts = _options([{"points": 0, **o} for o in raw.get("options", [])], where, checker, 0, 0)
        validation.append(
            ValidationQuestion(
                id=vid,
                kind=str(kind),
                text=checker.text(raw.get("text"), f"{where} text"),
                help=checker.text(raw.get("help"), f"{where} help", required=False),
                unit=checker.text(raw.get("unit"), f"{where} unit", required=False),
                options=vopts,
            )
        )
    vids = [v.id for v in validation]
    for dup in sorted({v for v in vids if vids.count(v) > 1} | (set(vids) & set(qids))):
        checker.add(f"validation question {dup}", "id is used more than once")

    by_id = {q.id: q for q in questions}
    requirements: list[Requirement] = []
    for raw in data.get("msbfs", []):
        rid = checker.string(raw.get("id"), "msbfs id")
        where = f"msbfs {rid}"
        conditions: list[Condition] = []
        for c in raw.get("conditions", []):
            cq = str(c.get("question", ""))
            question = by_id.get(cq)
            if question is None:
                checker.add(where, f"condition names unknown question {cq!r}")
            option = c.get("option")
            min_points = c.get("min_points")
            if (option is None) == (min_points is None):
                checker.add(where, f"condition on {cq} needs exactly one of option or min_points")
            if option is not None and question is not None and question.option(option) is None:
                checker.add(where, f"condition names unknown option {option!r} of question {cq}")
            if min_points is not None:
                min_points = checker.integer(min_points, f"{where} min_points")
            conditions.append(Condition(question=cq, option=option, min_points=min_points))
        if not conditions:
            checker.add(where, "has no conditions")
        requirements.append(
            Requirement(
                id=rid,
                reference=str(raw.get("reference", rid)),
                requirement=checker.text(raw.get("requirement"), f"{where} requirement"),
                conditions=tuple(conditions),
            )
        )

    sections = _sections(data.get("sections"), areas, questions, validation, checker)
    problems.extend(checker.problems)
    model = Model(
        id=model_id,
        version=version,
        languages=tuple(languages),
        name=name,
        points_min=pmin,
        points_max=pmax,
        levels=tuple(levels),
        areas=tuple(areas),
        questions=tuple(questions),
        validation_questions=tuple(validation),
        msbfs=tuple(requirements),
        sections=sections,
    )
    return model, problems


_VALIDATION_SECTION_TITLE = {"sv": "Nyckeltal (valideringsfrågor)", "en": "Key figures (validation)"}


def _sections(
    raw: Any,
    areas: Sequence[Area],
    questions: Sequence[Question],
    validation: Sequence[ValidationQuestion],
    checker: _Checker,
) -> tuple[Section, ...]:
    if raw:
        sections = tuple(
            Section(
                id=checker.string(s.get("id"), "section id"),
                title=checker.text(s.get("title"), f"section {s.get('id')} title"),
                questions=tuple(str(x) for x in s.get("questions", [])),
            )
            for s in raw
        )
        placed: dict[str, str] = {}
        known = {q.id for q in questions} | {v.id for v in validation}
        for s in sections:
            for qid in s.questions:
                if qid not in known:
                    checker.add(f"section {s.id}", f"unknown question {qid!r}")
                elif qid in placed:
                    checker.add(f"section {s.id}", f"question {qid} is also in section {placed[qid]}")
                placed[qid] = s.id
        for qid in sorted(known - placed.keys()):
            checker.add(f"question {qid}", "is in no section")
        return sections
    result: list[Section] = []
    for area in areas:
        mine = sorted(
            (q for q in questions if q.areas and q.areas[0] == area.id),
            key=lambda q: q.level,
        )
        if mine:
            result.append(Section(id=area.id, title=area.name, questions=tuple(q.id for q in mine)))
    if validation:
        title = Text({lang: _VALIDATION_SECTION_TITLE.get(lang, "Key figures") for lang in checker.languages})
        result.append(Section(id="nyckeltal", title=title, questions=tuple(v.id for v in validation)))
    return tuple(result)


# --------------------------------------------------------------------------- files


def read_model_file(path: str | Path) -> tuple[Model | None, list[str]]:
    """Read and check a model file. Returns ``(model, problems)`` as :func:`parse_model`."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return None, [f"{p}: no such file"]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{p}: not valid TOML: {exc}"]
    except OSError as exc:
        return None, [f"{p}: cannot be read: {exc}"]
    return parse_model(data)


def load_model_file(path: str | Path) -> Model:
    """Load a model file.

    Raises:
        ModelError: the file is missing, unreadable or has problems (all listed).
    """
    model, problems = read_model_file(path)
    if problems or model is None:
        raise ModelError(problems or [f"{path}: unusable model"])
    return model


def bundled_model_path(model_id: str = BUNDLED_MODEL_ID) -> Path:
    """Path of a model file shipped with the package."""
    return Path(str(resources.files("conversations") / "questionnaires" / f"{model_id}.toml"))


_cache: dict[str, Model] = {}


def load_model(path: str | Path | None = None) -> Model:
    """Load the model at ``path`` (default: the bundled model), cached per path."""
    p = str(path) if path else str(bundled_model_path())
    if p not in _cache:
        _cache[p] = load_model_file(p)
    return _cache[p]
