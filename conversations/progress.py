"""How far a conversation has come: per section and overall.

A question counts as *done* for section flow when it is answered or skipped on purpose;
it counts as *answered* (for completion and scoring) only when it has an answer.
Completion needs every level-grounding question answered; validation questions are asked
but never required.
"""

from __future__ import annotations

from collections.abc import Mapping

from conversations.questionnaire import Model
from conversations.replies import SectionProgress
from conversations.state import AnswerRecord


class Progress:
    """Progress of one set of answers through a model's sections."""

    def __init__(self, model: Model, answers: Mapping[str, AnswerRecord]) -> None:
        self.model = model
        self.answers = answers

    def is_done(self, qid: str) -> bool:
        return qid in self.answers

    def is_answered(self, qid: str) -> bool:
        rec = self.answers.get(qid)
        return rec is not None and not rec.skipped

    def section_of(self, qid: str) -> int:
        return self.model.section_of(qid) or 0

    def section_done(self, index: int) -> bool:
        return all(self.is_done(q) for q in self.model.sections[index].questions)

    def open_questions(self, index: int) -> tuple[str, ...]:
        return tuple(q for q in self.model.sections[index].questions if not self.is_done(q))

    def next_open_section(self, start: int) -> int | None:
        """The first section from ``start`` on (wrapping around) with open questions."""
        n = len(self.model.sections)
        for k in range(n):
            i = (start + k) % n
            if not self.section_done(i):
                return i
        return None

    def first_open_question(self) -> str | None:
        for s in self.model.sections:
            for q in s.questions:
                if not self.is_done(q):
                    return q
        return None

    def all_answered(self) -> bool:
        """Every level-grounding question has an answer (skips do not count)."""
        return all(self.is_answered(q.id) for q in self.model.questions)

    def key_figures_offered(self, sections_sent: frozenset[str]) -> bool:
        """Whether the key-figure (validation) questions have been asked or answered.

        A response completes on its own when every level-grounding question is answered
        and the key figures have had their turn: each of them answered or skipped, or the
        sections holding them already sent. The key figures are never required (``klar``
        completes at any time), but they are asked before the feedback is made.
        """
        ids = {v.id for v in self.model.validation_questions}
        for section in self.model.sections:
            if (
                ids & set(section.questions)
                and section.id not in sections_sent
                and not all(self.is_done(q) for q in section.questions if q in ids)
            ):
                return False
        return True

    def answered_count(self) -> int:
        """Level-grounding questions with an answer (skips do not count)."""
        question = self.model.question
        return sum([1 for qid, rec in self.answers.items() if not rec.skipped and question(qid) is not None])

    def remaining(self) -> tuple[str, ...]:
        """Level-grounding questions without an answer (skipped ones included)."""
        return tuple(q.id for q in self.model.questions if not self.is_answered(q.id))

    def sections(self) -> tuple[SectionProgress, ...]:
        out = []
        for s in self.model.sections:
            answered = sum(1 for q in s.questions if self.is_answered(q))
            skipped = sum(1 for q in s.questions if q in self.answers and self.answers[q].skipped)
            out.append(SectionProgress(s.id, answered, skipped, len(s.questions)))
        return tuple(out)
