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
from typing import Any

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


def _j(value: Any) -> bytes:
    return orjson.dumps(value)


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
        width = block.shape[1]
        data = block.tobytes()
        self.parts = []
        return [data[r * width : (r + 1) * width] for r in range(self.n)]


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
        top = self.top
        points_of, _, proj_of, optmask_of, flag_of = self._lookup()
        codes = np.array(rows, dtype=np.int64)
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
        packed = np.zeros((len(rows), len(self.req_conds)), dtype=np.int64)
        for k, conds in enumerate(self.req_conds):
            for c, (i, bit, mp) in enumerate(conds):
                holds = ((optmask[:, i] >> bit) & 1).astype(bool) if bit >= 0 else pts[:, i] >= mp
                packed[:, k] += np.where(answered[:, i], np.where(holds, 0, 1), 2) * 3**c
        has_next = level < top
        at_zero = level == 0
        nums = self._ints
        segs = _Segments(len(rows))
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
        qj = self.qjson
        empty = b""
        return [
            b"".join(
                (
                    head,
                    self._validation_json(val),
                    nx,
                    b",".join(compress(qj, bel)) if hn else empty,
                    fw,
                    b",".join(compress(qj, flg)) if z else empty,
                    end,
                )
            )
            for head, val, nx, bel, hn, fw, flg, z, end in zip(
                seg_head,
                validations,
                seg_next,
                below.tolist(),
                has_next.tolist(),
                seg_forward,
                (flag_of[gid] & answered).tolist(),
                at_zero.tolist(),
                seg_end,
                strict=True,
            )
        ]

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
