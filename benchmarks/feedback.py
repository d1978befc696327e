"""Benchmark: one organisation's complete feedback, from score result to MIME message.

Each run does what the service does when a response is completed: the facts
(``scoring.feedback.feedback_facts``), both charts (PNG for the mail, SVG as the web page
uses them), the mail HTML (CSS inlined) and the plain text, the print HTML (the two-page
handout) and its PDF (WeasyPrint), and the ``multipart/mixed`` message serialised to
bytes. One warm-up run (fonts, stylesheet, chart backgrounds), then N timed runs of the
whole and N timed runs of the stages one by one; prints the median and the 95th percentile
of each, in wall-clock time and in this process's CPU time. Goal: a median of at most
300 ms.

    python benchmarks/feedback.py [--runs 20] [--level 2] [--lang sv]

Wall-clock time is the goal's measure; the CPU time is printed beside it because on a
shared machine other processes inflate the wall-clock figures (and, less, the CPU time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from bot.feedback.mail import feedback_message
from bot.feedback.pdf import render_pdf
from bot.feedback.render import draw_charts, render_html, render_text
from bot.settings import Settings
from conversations.questionnaire import load_model
from scoring.feedback import feedback_facts
from scoring.score import score_document

ROOT = Path(__file__).resolve().parent.parent


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--level", type=int, default=2, choices=range(5))
    parser.add_argument("--lang", default="sv", choices=("sv", "en"))
    args = parser.parse_args()

    model = load_model()
    doc = json.loads((ROOT / "examples" / f"answers-level{args.level}.json").read_text())
    result = score_document(model, doc, area_details=True)
    settings = Settings(
        secret_key="benchmark", var_dir="/nonexistent-benchmark", reply_domain="svar.example.se"
    )
    kw = {"organisation_name": "Exempelkommun", "cycle_name": "2027", "lang": args.lang, "settings": settings}

    def whole() -> int:
        facts = feedback_facts(model, result)
        msg = feedback_message(
            settings, model, facts, to="ledningen@example.se", organisation_name="Exempelkommun",
            cycle_name="2027", lang=args.lang,
        )  # fmt: skip
        return len(msg.as_bytes())

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def stages() -> dict[str, tuple[float, float]]:
        t = [clock()]
        facts = feedback_facts(model, result)
        t.append(clock())
        charts = draw_charts(model, facts, args.lang, svg=True)
        t.append(clock())
        render_html(model, facts, variant="mail", charts=charts, **kw)  # type: ignore[arg-type]
        render_text(model, facts, **kw)  # type: ignore[arg-type]
        t.append(clock())
        html, _ = render_html(model, facts, variant="print", charts=charts, **kw)  # type: ignore[arg-type]
        render_pdf(html)
        t.append(clock())
        names = ("facts", "charts", "html+text", "pdf")
        return {n: (b[0] - a[0], b[1] - a[1]) for n, a, b in zip(names, t[:-1], t[1:], strict=True)}

    size = whole()  # warm-up
    stages()
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.runs):
        start = clock()
        whole()
        end = clock()
        wall["whole"].append(end[0] - start[0])
        cpu["whole"].append(end[1] - start[1])
    for _ in range(args.runs):
        for name, (w, c) in stages().items():
            wall[name].append(w)
            cpu[name].append(c)

    print(f"feedback for level {args.level} ({args.lang}), message {size / 1024:.0f} KiB, {args.runs} runs")
    print(f"  {'':10s} {'wall median':>12s} {'p95':>8s} {'CPU median':>12s} {'p95':>8s}")
    for name in wall:
        w, c = wall[name], cpu[name]
        print(
            f"  {name:10s} {statistics.median(w) * 1000:9.1f} ms {p95(w) * 1000:5.1f} ms"
            f" {statistics.median(c) * 1000:9.1f} ms {p95(c) * 1000:5.1f} ms"
        )
    goal = statistics.median(wall["whole"]) <= 0.300
    print(f"  goal (median ≤ 300 ms): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
