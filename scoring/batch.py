"""Scoring many answer sets at once: the same rules as ``score.py``, over arrays.

National analysis and ``assessbot score --batch`` score tens of thousands of answer sets;
applying the rules one answer set at a time in Python costs more than reading them.
Theory of operation:

1. :meth:`BatchScorer.encode` turns one answer document into a row of integer codes, one
   per question in level order: ``3 · choice id + certainty`` (0 unanswered, 1 uncertain,
   2 certain). Each distinct choice of options on a question is checked once by
   ``Scorer.choice`` and given an id; its points, step and projected points go into lookup
   arrays. A dictionary from ``(question, options, certain)`` to ``(column, code)`` makes
   encoding one dictionary lookup per answer.
   :meth:`BatchScorer.encode_lines` does the same for a chunk of JSON lines without parsing
   most of them: a line in orjson's compact form is cut at the members of ``answers`` and
   ``validation``, and each member's text is looked up in a dictionary of texts that were
   parsed and checked once (way 1); other plain lines are decoded by msgspec into strict
   types (way 2); anything else is left to ``encode`` (exact errors included).
2. :meth:`BatchScorer.score_rows` applies every rule of ``scoring-rules.md`` to the whole
   chunk with NumPy: prefix slices for ``Q(n)`` (columns are in level order), column subsets
   for areas, a stable ``argsort`` where an order is needed.
3. The JSON of each row is assembled from byte fragments: the per-question part is
   gathered for all rows at once from a table of equal-width fragments (spaces pad them,
   which JSON allows), the rest is one ``%`` format per row.

``score.py`` stays the readable reference and the source of typed results; tests check that
both give the same JSON for random answer sets. Pure functions over values; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson
from numpy.typing import NDArray

from conversations.questionnaire import Model
from scoring.answers import AnswerProblem
from scoring.score import AnswerFileError, Choice, Scorer, scorer_for

_UNANSWERED, _UNCERTAIN, _CERTAIN = 0, 1, 2
_MAX_KEYS = 1 << 20

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class _Answer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One answer as way 2 of ``encode_lines`` reads it (hashable: half of a lookup key)."""

    options: tuple[str, ...]
    certain: bool


# orjson reads integers beyond 64 bits as float; way 2 takes only int64 (msgspec's bounds)
# and steps aside otherwise, so that both read a value alike
_JsonInt = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]


class _Document(msgspec.Struct, forbid_unknown_fields=True):
    """An answer document in its plain form. Anything else (other keys, ``certain`` as 1/0,
    options as a string, floats, …) fails to decode and goes the general way."""

    model: str | msgspec.UnsetType = msgspec.UNSET
    answers: dict[str, _Answer] = {}
    validation: dict[str, str | _JsonInt | None] | None = None


_decode_document = msgspec.json.Decoder(_Document).decode
_DecodeError = msgspec.DecodeError  # ValidationError is a subclass


def _j(value: Any) -> bytes:
    return orjson.dumps(value)


def _one_member(text: bytes) -> tuple[str, Any] | None:
    """The only member of a JSON object given in orjson's compact form, or None when
    ``text`` is anything else (not JSON, another value, more members, other spacing)."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or len(doc) != 1 or orjson.dumps(doc) != text:
        return None
    ((key, value),) = doc.items()
    return key, value


def _padded(fragments: Sequence[bytes]) -> NDArray[np.bytes_]:
    """Fragments as a fixed-width array, each padded on the right with spaces."""
    width = max(len(f) for f in fragments)
    return np.array([f.ljust(width) for f in fragments], dtype=f"S{width}")


class _Segments:
    """Builds the fixed parts of N JSON lines side by side, one column of fragments at a time.

    Every column is a gather from a table of equal-width fragments (or one constant), so
    the rows stay aligned; :meth:`cut` returns the bytes of each row so far and starts anew.
    Fragments that a row lacks are spaces of the same width, which JSON ignores.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: list[NDArray[np.uint8]] = []
        self.pending = bytearray()

    def _flush(self) -> None:
        if self.pending:
            row = np.frombuffer(bytes(self.pending), dtype=np.uint8)
            self.parts.append(np.broadcast_to(row, (self.n, len(row))))
            self.pending = bytearray()

    def text(self, fragment: bytes) -> None:
        self.pending += fragment

    def gather(self, table: NDArray[np.bytes_], idx: IntArray) -> None:
        self._flush()
        self.parts.append(table[idx].view(np.uint8).reshape(self.n, -1))

    def maybe(self, present: BoolArray, fragment: bytes) -> None:
        self.gather(_padded([fragment, b""]), np.where(present, 0, 1))

    def cut(self) -> list[bytes]:
        self._flush()
        if not self.parts:
            return [b""] * self.n
        block = np.hstack(self.parts) if len(self.parts) > 1 else np.ascontiguousarray(self.parts[0])
        self.parts = []
        # one bytes object per row (JSON text holds no NUL, which the conversion would drop)
        rows: list[bytes] = block.view(f"S{block.shape[1]}").ravel().tolist()
        return rows


@dataclass(frozen=True, slots=True)
class ScoreArrays:
    """The score results of many answer sets as arrays, for analysis (see :meth:`BatchScorer.score_arrays`).

    Rows are answer sets; question columns are in level order (:attr:`ids`), area columns in
    the model's order (:attr:`area_ids`).
    """

    ids: tuple[str, ...]
    area_ids: tuple[str, ...]
    level: IntArray  # (rows,)
    areas: IntArray  # (rows, areas): indicative level per area
    points: IntArray  # (rows, questions)
    certain: BoolArray  # (rows, questions)
    answered: BoolArray  # (rows, questions)
    total: IntArray  # (rows,): the points P
    blocking: BoolArray  # (rows, questions): below the minimum of the next level (none at the top)


class BatchScorer:
    """Scores chunks of answer documents to JSON lines equal to ``ScoreResult.to_dict()``."""

    def __init__(self, model: Model) -> None:
        s: Scorer = scorer_for(model)
        self.s = s
        n = len(s.ids)
        self.n = n
        self.top = s.top
        self.col = np.arange(n)
        self.qjson = [_j(q) for q in s.ids]
        # the registry of choices seen: an id per (question, canonical choice)
        self._gid: dict[tuple[int, tuple[str, ...]], int] = {}
        self._points: list[int] = []
        self._step: list[int] = []
        self._projected: list[int] = []
        self._optmask: list[int] = []
        self._flagged: list[bool] = []
        self._arrays_size = -1
        self.unanswered_code = [self._register(i, s.unanswered[i]) * 3 for i in range(n)]
        self._keys: dict[tuple[str, tuple[str, ...], bool], tuple[int, int]] = {}
        # the fast ways of encode_lines, what they have checked
        self._apieces: dict[bytes, int] = {}  # way 1: answer text -> column + n * code, or -1
        self._vparts: dict[bytes, bytes] = {}  # way 1: key figure text -> its JSON
        self._vrejected: set[bytes] = set()  # way 1: key figure texts it cannot take
        self._vsame: set[bytes] = set()  # way 1: key figure texts already in normal form
        self._vindex: dict[bytes, int] = {}  # way 1: key figure text -> index of its question
        self._vnames = list(s.validation)
        self._hits: dict[tuple[str, _Answer], int] = {}  # way 2
        self._vitems: dict[tuple[str, str | int | None], bytes] = {}  # way 2
        self._line_head = b'{"model":%s,"answers":' % _j(model.id)
        self._id_list_text: dict[bytes, bytes] = {}  # bits of chosen questions -> JSON list items
        self._unanswered = np.array(self.unanswered_code, dtype=np.int64)
        # "questions": per column, one fragment per (points, certainty), padded to one width
        self.pmax = s.cap + 1
        cert_json = (b"null", b"false", b"true")
        self.qfrag = [
            _padded(
                [
                    (b"," if i else b"") + self.qjson[i] + b':{"points":%d,"certain":%s}' % (p, cert_json[c])
                    for p in range(self.pmax)
                    for c in range(3)
                ]
            )
            for i in range(n)
        ]
        # "msbfs": per requirement, one fragment per combination of its conditions' states
        # (0 holds, 1 fails, 2 unanswered), packed base 3
        self.req_conds = [
            [
                (i, (s.questions[i].letters.index(opt) if opt is not None else -1), mp or 0)
                for i, opt, mp in conds
            ]
            for _, conds in s.requirements
        ]
        self.req_frag = []
        for k, (req, _) in enumerate(s.requirements):
            frags = []
            conds = self.req_conds[k]
            for packed in range(3 ** len(conds)):
                states = [packed // 3**c % 3 for c in range(len(conds))]
                status = b"not_met" if 1 in states else (b"unknown" if 2 in states else b"met")
                frags.append(
                    (b"," if k else b"") + b'{"requirement":%s,"status":"%s"}' % (_j(req.id), status)
                )
            self.req_frag.append(_padded(frags))
        self.groups = [s.all, *s.area_groups]
        self.group_cols = [np.array(g.indices, dtype=np.int64) for g in self.groups]
        self.f_of = np.array(s.all.f)
        self.k_of = np.array(s.all.k)
        self.c_of = np.array(s.all.c)
        self.head = b'{"model":%s,"model_version":%s,' % (_j(model.id), _j(model.version))
        self.area_keys = [(b"," if a else b"") + _j(aid) + b":" for a, aid in enumerate(s.area_ids)]
        # numbers, right-aligned to one width (leading spaces are JSON whitespace); the last
        # entry is blank, for figures a row does not have
        most = max([n * s.cap, *s.all.k, n]) + 1
        self._ints = np.array([b"%*d" % (len(str(most)), v) for v in range(most)] + [b" " * len(str(most))])
        self._blank = most

    # ------------------------------------------------------------------ input

    def _register(self, i: int, choice: Choice) -> int:
        key = (i, choice.options)
        gid = self._gid.get(key)
        if gid is None:
            gid = self._gid[key] = len(self._points)
            letters = self.s.questions[i].letters
            self._points.append(choice.points)
            self._step.append(choice.step)
            self._projected.append(choice.projected)
            self._optmask.append(sum(1 << letters.index(o) for o in choice.options))
            self._flagged.append(bool(choice.flagged))
        return gid

    def _slow(self, qid: str, ans: Any) -> tuple[int, int]:
        """Check an answer not seen before, remember it, and return ``(column, code)``."""
        s = self.s
        i = s.position.get(qid)
        if i is None:
            raise AnswerFileError(AnswerProblem(qid, "unknown_question"))
        options, flag = s.answer_parts(qid, ans)
        choice = s.choice(i, options)
        hit = (i, self._register(i, choice) * 3 + (_CERTAIN if flag else _UNCERTAIN))
        if len(self._keys) < _MAX_KEYS and "certain" in ans:
            self._keys[(qid, (*ans["options"],), ans["certain"])] = hit
        return hit

    def encode(self, doc: Any) -> tuple[list[int], dict[str, str]]:
        """One answer document as a row of codes, and its normalised key figures.

        Raises:
            AnswerFileError: as :func:`scoring.score.score_document`.
        """
        s = self.s
        if type(doc) is not dict:
            raise AnswerFileError("the answer document must be a JSON object")
        model_id = doc.get("model", s.model.id)
        if model_id != s.model.id:
            raise AnswerFileError(f"the answers are for model {model_id!r}, not {s.model.id!r}")
        answers = doc.get("answers", {})
        if type(answers) is not dict:
            raise AnswerFileError("'answers' must be an object of question ids")
        validation = doc.get("validation")
        if validation is not None and type(validation) is not dict:
            raise AnswerFileError("'validation' must be an object of validation question ids")
        row = self.unanswered_code.copy()
        keys = self._keys
        try:  # the common case: every answer seen before
            for qid, ans in answers.items():
                column, code = keys[qid, (*ans["options"],), ans["certain"]]
                row[column] = code
        except (KeyError, TypeError):
            for qid, ans in answers.items():
                column, code = self._slow(qid, ans)
                row[column] = code
        return row, s.validation_values(validation)

    def encode_lines(self, lines: Sequence[bytes]) -> tuple[IntArray, list[bytes], list[int]]:
        """Codes and key-figure JSON of a chunk of JSON lines, read the fast ways.

        Returns ``(codes, validation, slow)``: a row of codes and the JSON of the normalised
        key figures for every line, and the indices of the lines that the fast ways leave
        alone, whose rows are unanswered and whose JSON is empty: anything that is not a
        plain, allowed answer document (an error, a blank line, ``certain`` written as 1,
        another key, …). Those lines must go through :meth:`encode`, which gives the same
        row or the exact error. A line that a fast way reads is read as :meth:`encode`
        reads it:

        1. A line in the compact form that orjson writes, ``{"model":…,"answers":{…},
           "validation":{…}}`` (these three keys in this order), is cut into its answers and
           key figures as text, and each piece is looked up. A piece is remembered only
           after it was parsed and checked by the same code as :meth:`encode`, and only when
           it is exactly one member in compact form; the pieces rejoined are the line, so a
           line of remembered pieces is that sequence of members. A question or key figure
           given twice sends the line to way 2.
        2. Any other line is decoded with msgspec into types that admit only what orjson
           reads alike (``_Document``); each answer is checked once and remembered.
        """
        n = len(lines)
        if not n:
            return np.zeros((0, self.n), dtype=np.int64), [], []
        head = self._line_head
        opening = head + b'{"'  # before the first answer
        cut = len(opening)
        nothing = head + b"{"  # no answers
        pieces: list[bytes] = []  # the answers of the compact lines, in order
        counts = [0] * n  # answers per line
        vjson = [b""] * n
        vpieces: list[bytes] = []  # the key figures of the compact lines, in order
        vcounts = [0] * n
        other: list[int] = []  # lines for way 2
        vpart = self._vparts.__getitem__
        as_given = self._vsame.issuperset
        for k, line in enumerate(lines):
            # head{"A1},"A2},"…},"Am}},"validation":{…}}: cut at '},"' the line is
            # [head{"A1, A2, …, Am}, validation":{…}}]; rejoined, the pieces are the line
            ps = line.split(b'},"')
            last = ps.pop()
            if last[-1:] == b"\n":
                last = last[:-1]
            if not ps or last[:12] != b'validation":' or last[-1:] != b"}":
                other.append(k)
                continue
            if len(ps) == 1 and ps[0] == nothing:
                ps = []
            elif ps[0][:cut] == opening and ps[-1][-1:] == b"}":
                ps[-1] = ps[-1][:-1]
                ps[0] = ps[0][cut:]
            else:
                other.append(k)
                continue
            validation = last[12:-1]
            if validation == b"{}":
                vjson[k] = validation
            elif validation[:2] == b'{"' and validation[-1:] == b"}":
                vs = validation[2:-1].split(b',"')
                if as_given(vs):  # every key figure already in normal form
                    vjson[k] = validation
                else:
                    try:
                        vjson[k] = b"{" + b",".join(map(vpart, vs)) + b"}"
                    except KeyError:  # a piece not seen before, or not for way 1
                        parts = [self._validation_piece(v) for v in vs]
                        if None in parts:
                            other.append(k)
                            continue
                        vjson[k] = b"{" + b",".join(p for p in parts if p is not None) + b"}"
                vpieces += vs
                vcounts[k] = len(vs)
            else:
                other.append(k)
                continue
            pieces += ps
            counts[k] = len(ps)
        try:  # the common case: every piece seen before
            hits = np.array(list(map(self._apieces.__getitem__, pieces)), dtype=np.int64)
        except KeyError:
            hits = np.array([self._answer_piece(p) for p in pieces], dtype=np.int64)
        row_of = np.repeat(np.arange(n), counts)
        cols = hits % self.n
        # lines with a piece not for way 1, or a question or key figure given twice
        # (JSON keeps the last value in the first place): way 2 reads them as a whole
        twice = np.bincount(row_of * self.n + cols, minlength=n * self.n).reshape(n, -1).max(axis=1) > 1
        if vpieces:
            vrow_of = np.repeat(np.arange(n), vcounts)
            vidx = np.fromiter(map(self._vindex.__getitem__, vpieces), dtype=np.int64, count=len(vpieces))
            nv = len(self._vnames)
            twice |= np.bincount(vrow_of * nv + vidx, minlength=n * nv).reshape(n, -1).max(axis=1) > 1
        bad = twice
        bad[row_of[hits < 0]] = True
        codes = np.tile(self._unanswered, (n, 1))
        if bad.any():
            keep = ~bad[row_of]
            row_of, cols, hits = row_of[keep], cols[keep], hits[keep]
            for k in np.flatnonzero(bad).tolist():
                vjson[k] = b""
                other.append(k)
        codes[row_of, cols] = hits // self.n
        slow = []
        rows2: list[int] = []  # way 2: row and column + n * code of every answer
        hits2: list[int] = []
        for k in sorted(other):
            try:
                found, vjson[k] = self._typed(lines[k])
            except (_DecodeError, ValueError):  # AnswerFileError, UnicodeDecodeError
                slow.append(k)
                continue
            hits2 += found
            rows2 += [k] * len(found)
        if hits2:
            found_at = np.array(hits2, dtype=np.int64)
            codes[rows2, found_at % self.n] = found_at // self.n
        return codes, vjson, slow

    def _answer_piece(self, piece: bytes) -> int:
        """``column + n * code`` of an answer as compact text ``1.1":{…}`` (way 1 of
        :meth:`encode_lines`), or -1 when way 1 cannot take it. Checked once, then remembered."""
        hit = self._apieces.get(piece)
        if hit is None:
            hit = -1
            member = _one_member(b'{"' + piece + b"}}")
            if member is not None:
                qid, ans = member
                try:
                    column, code = self._slow(qid, ans)
                    hit = column + self.n * code
                except AnswerFileError:
                    pass
            if len(self._apieces) < _MAX_KEYS:
                self._apieces[piece] = hit
        return hit

    def _validation_piece(self, piece: bytes) -> bytes | None:
        """The JSON of a key figure given as compact text ``V1":"12"`` (way 1 of
        :meth:`encode_lines`), or None when way 1 cannot take it (a value left out, an
        error, another form). Checked once, then remembered."""
        part = self._vparts.get(piece)
        if part is not None or piece in self._vrejected:
            return part
        member = _one_member(b'{"' + piece + b"}")
        key = member[0] if member is not None else ""
        if member is not None:
            try:
                values = self.s.validation_values(dict([member]))
            except AnswerFileError:
                values = {}
            for vid, value in values.items():
                part = _j(vid) + b":" + _j(value)
        if len(self._vparts) + len(self._vrejected) >= _MAX_KEYS:
            return None  # not remembered, so not for way 1
        if part is None:
            self._vrejected.add(piece)
        else:
            self._vparts[piece] = part
            self._vindex[piece] = self._vnames.index(key)
            if part == b'"' + piece:
                self._vsame.add(piece)
        return part

    def _typed(self, line: bytes) -> tuple[list[int], bytes]:
        """``column + n * code`` of every answer and the key-figure JSON of one line,
        decoded with msgspec (way 2 of :meth:`encode_lines`).

        Raises:
            msgspec.DecodeError: not a plain answer document (:meth:`encode` decides).
            UnicodeDecodeError: text that is not UTF-8 (likewise).
            AnswerFileError: an answer or key figure that :meth:`encode` rejects.
        """
        doc = _decode_document(line)
        if doc.model is not msgspec.UNSET and doc.model != self.s.model.id:
            raise AnswerFileError("another model")
        answers = doc.answers.items()
        try:  # the common case: every answer seen before
            hits = list(map(self._hits.__getitem__, answers))
        except KeyError:
            hits = [self._hit(item) for item in answers]
        v = doc.validation
        if not v:
            return hits, b"{}"
        try:
            parts = list(map(self._vitems.__getitem__, v.items()))
        except KeyError:
            parts = [self._validation_part(item) for item in v.items()]
        return hits, b"{" + b",".join(filter(None, parts)) + b"}"

    def _hit(self, item: tuple[str, _Answer]) -> int:
        """``column + n * code`` of one answer of way 2 (checked once, then remembered)."""
        hit = self._hits.get(item)
        if hit is None:
            qid, ans = item
            i = self.s.position.get(qid)
            if i is None:
                raise AnswerFileError(AnswerProblem(qid, "unknown_question"))
            choice = self.s.choice(i, ans.options)
            hit = i + self.n * (self._register(i, choice) * 3 + (_CERTAIN if ans.certain else _UNCERTAIN))
            if len(self._hits) < _MAX_KEYS:
                self._hits[item] = hit
        return hit

    def _validation_part(self, item: tuple[str, str | int | None]) -> bytes:
        """The JSON member of one key figure of way 2 (b"" when it is left out)."""
        part = self._vitems.get(item)
        if part is None:
            vid, value = item
            part = b"".join(_j(k) + b":" + _j(v) for k, v in self.s.validation_values({vid: value}).items())
            if len(self._vitems) < _MAX_KEYS:
                self._vitems[item] = part
        return part

    def validation_json(self, values: Mapping[str, str]) -> bytes:
        """The JSON of normalised key figures, as in a score result."""
        return self._validation_json(values)

    def encode_answer(self, qid: str, options: Sequence[str], certain: bool) -> tuple[int, int]:
        """``(column, code)`` of one answer given as its parts (as stored, not as JSON).

        Raises:
            AnswerFileError: an unknown question or a choice the question does not allow.
        """
        i = self.s.position.get(qid)
        if i is None:
            raise AnswerFileError(AnswerProblem(qid, "unknown_question"))
        choice = self.s.choice(i, options)
        return i, self._register(i, choice) * 3 + (_CERTAIN if certain else _UNCERTAIN)

    def unanswered_rows(self, n: int) -> IntArray:
        """``n`` rows of codes with every question unanswered, to fill in with :meth:`encode_answer`."""
        return np.tile(np.array(self.unanswered_code, dtype=np.int64), (n, 1))

    # ------------------------------------------------------------------ rules over arrays

    def _lookup(self) -> tuple[IntArray, IntArray, IntArray, IntArray, BoolArray]:
        if self._arrays_size != len(self._points):
            self._arrays_size = len(self._points)
            self._a = (
                np.array(self._points, dtype=np.int64),
                np.array(self._step, dtype=np.int64),
                np.array(self._projected, dtype=np.int64),
                np.array(self._optmask, dtype=np.int64),
                np.array(self._flagged, dtype=bool),
            )
        return self._a

    def _levels(self, g_index: int, pts: IntArray, certain: BoolArray) -> IntArray:
        """The level of every row for group ``g_index`` (0: all questions; 1…: the areas)."""
        g = self.groups[g_index]
        cols = self.group_cols[g_index]
        gp = pts[:, cols] if g_index else pts
        gc = certain[:, cols] if g_index else certain
        total = gp.sum(axis=1)
        reached = np.ones(len(pts), dtype=bool)
        level = np.zeros(len(pts), dtype=np.int64)
        for n in range(1, self.top + 1):
            fn = g.f[n]
            if fn:
                reached &= (
                    (total >= g.k[n]) & (gp[:, :fn].min(axis=1) >= n) & (gc[:, :fn].sum(axis=1) >= g.c[n])
                )
            level += reached
        return level

    def score_arrays(self, codes: IntArray) -> ScoreArrays:
        """Level, area levels, points, certainty and blocking questions of every row of codes.

        The same rules as :meth:`score_rows`, returned as arrays instead of JSON, so that a
        national analysis can aggregate them without building a result per answer set.
        """
        codes = np.asarray(codes, dtype=np.int64).reshape(-1, self.n)
        points_of = self._lookup()[0]
        gid = codes // 3
        cert = codes - gid * 3
        pts = points_of[gid]
        certain = cert == _CERTAIN
        level = self._levels(0, pts, certain)
        areas = np.zeros((len(codes), len(self.groups) - 1), dtype=np.int64)
        for a in range(1, len(self.groups)):
            areas[:, a - 1] = self._levels(a, pts, certain)
        nxt = np.minimum(level + 1, self.top)
        in_next = self.col[None, :] < self.f_of[nxt][:, None]
        blocking = in_next & (pts < nxt[:, None]) & (level < self.top)[:, None]
        return ScoreArrays(
            ids=self.s.ids,
            area_ids=self.s.area_ids,
            level=level,
            areas=areas,
            points=pts,
            certain=certain,
            answered=cert != _UNANSWERED,
            total=pts.sum(axis=1),
            blocking=blocking,
        )

    def score_rows(
        self, rows: Sequence[Sequence[int]], validations: Sequence[Mapping[str, str]]
    ) -> list[bytes]:
        """The JSON of the score result of every row, without newline."""
        if not rows:
            return []
        return self.score_codes(
            np.array(rows, dtype=np.int64), [self._validation_json(v) for v in validations]
        )

    def score_codes(self, codes: IntArray, validation: Sequence[bytes]) -> list[bytes]:
        """The JSON of the score result of every row of codes, without newline.

        ``validation`` holds the JSON of each row's normalised key figures.
        """
        if not len(codes):
            return []
        top = self.top
        points_of, _, proj_of, optmask_of, flag_of = self._lookup()
        gid = codes // 3
        cert = codes - gid * 3
        pts = points_of[gid]
        certain = cert == _CERTAIN
        answered = cert != _UNANSWERED
        total = pts.sum(axis=1)
        level = self._levels(0, pts, certain)
        # the next level N = L + 1
        nxt = np.minimum(level + 1, top)
        in_next = self.col[None, :] < self.f_of[nxt][:, None]
        below = in_next & (pts < nxt[:, None])
        mandatory = ((nxt[:, None] - pts) * below).sum(axis=1)
        required = self.k_of[nxt]
        certain_required = self.c_of[nxt]
        # MSBFS indication
        optmask = optmask_of[gid]
        packed = np.zeros((len(codes), len(self.req_conds)), dtype=np.int64)
        for k, conds in enumerate(self.req_conds):
            for c, (i, bit, mp) in enumerate(conds):
                holds = ((optmask[:, i] >> bit) & 1).astype(bool) if bit >= 0 else pts[:, i] >= mp
                packed[:, k] += np.where(answered[:, i], np.where(holds, 0, 1), 2) * 3**c
        has_next = level < top
        at_zero = level == 0
        nums = self._ints
        segs = _Segments(len(codes))
        segs.text(self.head)
        for name, values in (
            (b"level", level),
            (b"points", total),
            (b"certain", certain.sum(axis=1)),
            (b"answered", answered.sum(axis=1)),
        ):
            segs.text(b'"%s":' % name)
            segs.gather(nums, values)
            segs.text(b",")
        segs.text(b'"areas":{')
        for a in range(1, len(self.groups)):
            segs.text(self.area_keys[a - 1])
            segs.gather(nums, self._levels(a, pts, certain))
        segs.text(b'},"questions":{')
        qcode = pts * 3 + cert
        for i, table in enumerate(self.qfrag):
            segs.gather(table, qcode[:, i])
        segs.text(b'},"msbfs":[')
        for k, table in enumerate(self.req_frag):
            segs.gather(table, packed[:, k])
        segs.text(b'],"validation":')
        seg_head = segs.cut()
        # next_level (absent at the top level): figures, then the below-minimum list
        for name, values in (
            (b',"next_level":{"level":', nxt),
            (b',"points_required":', required),
            (b',"points_missing":', np.maximum(0, required - total)),
            (b',"mandatory_points":', mandatory),
            (b',"movable_missing":', np.maximum(0, required - total - mandatory)),
            (b',"certain_required":', certain_required),
            (b',"certain_missing":', np.maximum(0, certain_required - (in_next & certain).sum(axis=1))),
        ):
            segs.maybe(has_next, name)
            segs.gather(nums, np.where(has_next, values, self._blank))
        segs.maybe(has_next, b',"below_minimum":[')
        seg_next = segs.cut()
        segs.maybe(has_next, b"]}")
        segs.maybe(at_zero, b',"forward_looking":{"projected_level":')
        segs.gather(nums, np.where(at_zero, self._levels(0, proj_of[gid], certain), self._blank))
        segs.maybe(at_zero, b',"items":[')
        seg_forward = segs.cut()
        segs.maybe(at_zero, b"]}")
        segs.text(b"}")
        seg_end = segs.cut()
        seg_below = self._id_lists(below, has_next)
        seg_flagged = self._id_lists(flag_of[gid] & answered, at_zero)
        return list(
            map(
                b"".join,
                zip(
                    seg_head, validation, seg_next, seg_below, seg_forward, seg_flagged, seg_end, strict=True
                ),
            )
        )

    def _id_lists(self, chosen: BoolArray, present: BoolArray) -> list[bytes]:
        """Per row, the JSON list items of the chosen questions (b"" where not present).

        Rows are keyed by the bits of their choice and the list text remembered per key.
        """
        chosen = chosen & present[:, None]
        bits = np.packbits(chosen, axis=1)
        # equal-length keys: dropping trailing NULs (bytes_ does) keeps them distinct
        keys: list[bytes] = bits.view(f"S{bits.shape[1]}").ravel().tolist()
        known = self._id_list_text
        out = list(map(known.get, keys))
        if None in out:
            qj = self.qjson
            for r, key in enumerate(keys):
                if out[r] is None:
                    text = b",".join(compress(qj, chosen[r].tolist()))
                    if len(known) < _MAX_KEYS:
                        known[key] = text
                    out[r] = text
        return out  # type: ignore[return-value]

    def _validation_json(self, values: Mapping[str, str]) -> bytes:
        if not values:
            return b"{}"
        return _j(values)

    def score_documents(self, docs: Iterable[Any]) -> list[bytes]:
        """Score documents (all valid) to JSON; raises on the first bad one."""
        rows, vals = [], []
        for doc in docs:
            row, val = self.encode(doc)
            rows.append(row)
            vals.append(val)
        return self.score_rows(rows, vals)


_batch: dict[int, BatchScorer] = {}


def batch_scorer_for(model: Model) -> BatchScorer:
    """The batch scorer of ``model`` (cached for the model object's lifetime)."""
    b = _batch.get(id(model))
    if b is None or b.s.model is not model:
        b = _batch[id(model)] = BatchScorer(model)
    return b
