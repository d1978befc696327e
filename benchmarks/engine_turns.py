"""Benchmark: dialogue-engine turns per second (pure ``conversations.engine.step``).

Builds a realistic conversation over the bundled model: a response in progress with about
20 answers (a few skipped, a few key figures), then times ``step()`` on typical mail
turns against it: one-line answers, five-line answers (some with comments, ranges and
keywords, one mistake now and then), a ``status`` command. Every turn starts from the same
state (the engine is pure), so the figure is the cost of one turn, parsing included.
Goal: at least 2,000 turns per second.

    python benchmarks/engine_turns.py [--seconds S] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime

from conversations.engine import step
from conversations.parsing import format_answer, format_validation
from conversations.questionnaire import Model, Question, load_model
from conversations.state import Actor, AnswerRecord, ConversationState, Turn

GOAL = 2_000
AT = datetime(2027, 3, 5, 10, 12, tzinfo=UTC)
COORDINATOR = Actor("samordnare@kommun.se", coordinator=True)
COMMENTS = [None, None, None, "Beslutat i ledningsgruppen", "gäller bara förvaltningen; se bilaga"]


def random_choice(q: Question, rng: random.Random) -> list[str]:
    plain = [o.id for o in q.options if not o.exclusive]
    exclusive = [o.id for o in q.options if o.exclusive]
    if rng.random() < 0.15:
        return [rng.choice(exclusive)]
    if q.scoring == "scale":
        i = rng.randrange(len(plain))
        return plain[i : min(len(plain), i + rng.choice((1, 1, 2, 3)))]
    return [x for x in plain if rng.random() < 0.55] or [plain[0]]


def answer_line(q: Question, rng: random.Random) -> str:
    certain = rng.choice((True, True, False, None))
    return format_answer(q, random_choice(q, rng), certain, rng.choice(COMMENTS), lang="sv")


def initial_state(model: Model, rng: random.Random, n: int = 20) -> ConversationState:
    answers: dict[str, AnswerRecord] = {}
    for q in rng.sample(list(model.questions), n - 3):
        if rng.random() < 0.1:
            answers[q.id] = AnswerRecord(skipped=True, by=COORDINATOR.email, channel="mail", at=AT)
        else:
            opts = tuple(sorted(random_choice(q, rng), key=q.letters.index))
            answers[q.id] = AnswerRecord(
                options=opts, certain=rng.random() < 0.7, by=COORDINATOR.email, channel="mail", at=AT
            )
    for v in model.validation_questions[:3]:
        answers[v.id] = AnswerRecord(value="1" if v.kind != "choice" else "a", by=COORDINATOR.email, at=AT)
    return ConversationState(status="in_progress", answers=answers, section=2, version=len(answers))


def turns(model: Model, rng: random.Random, lines: int, k: int = 200) -> list[Turn]:
    out = []
    questions = list(model.questions)
    for _ in range(k):
        body = [answer_line(q, rng) for q in rng.sample(questions, lines)]
        if lines > 1 and rng.random() < 0.2:
            body[rng.randrange(lines)] = "1.3 a c säker"  # a mistake: not adjacent
        if lines > 1 and rng.random() < 0.3:
            v = rng.choice(model.validation_questions)
            body[-1] = format_validation(v, "b" if v.kind == "choice" else "40")
        text = "Hej!\n\n" + "\n".join(body) + "\n\nMed vänliga hälsningar\nAnna" if lines > 1 else body[0]
        out.append(Turn(COORDINATOR, "mail", AT, text))
    return out


def rate(model: Model, state: ConversationState, batch: list[Turn], seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for t in batch:
            step(model, state, t)
        n += len(batch)
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.5, help="time per kind of turn")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    model = load_model()
    rng = random.Random(args.seed)
    state = initial_state(model, rng)
    kinds = {
        "one-line answer": turns(model, rng, 1),
        "five-line answer": turns(model, rng, 5),
        "status": [Turn(COORDINATOR, "mail", AT, "status")] * 50,
    }
    for batch in kinds.values():  # warm up: per-model parser tables, caches
        step(model, state, batch[0])
    rates = {}
    for name, batch in kinds.items():
        rates[name] = rate(model, state, batch, args.seconds)
        print(f"{name:>18}: {rates[name]:10,.0f} turns/s")
    mixed = 1 / (0.5 / rates["one-line answer"] + 0.4 / rates["five-line answer"] + 0.1 / rates["status"])
    print(f"{'mixed (50/40/10)':>18}: {mixed:10,.0f} turns/s")
    worst = min(rates.values())
    verdict = "meets" if worst >= GOAL else "MISSES"
    print(f"engine turns per second (slowest kind): {worst:,.0f} — {verdict} the goal of {GOAL:,}/s")
    # For information: a correction after feedback re-scores the response (twice: new and previous level).
    answers = {
        q.id: AnswerRecord(options=(q.letters[0],), certain=True, by=COORDINATOR.email, at=AT)
        for q in model.questions
    }
    completed = ConversationState(status="completed", answers=answers, version=60)
    rescored = rate(model, completed, kinds["one-line answer"], args.seconds)
    print(f"(for information) one-line answer on a completed response, re-scored: {rescored:,.0f} turns/s")


if __name__ == "__main__":
    main()
