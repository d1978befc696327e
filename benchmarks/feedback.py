"""Benchmark: one organisation's complete feedback, from score result to MIME message.

Each run does what the service does when a response is completed: the facts
(``scoring.feedback.feedback_facts``), both charts (PNG for the mail, SVG for the PDF),
the mail HTML (CSS inlined) and the plain text, the print HTML and its PDF (WeasyPrint),
and the ``multipart/mixed`` message serialised to bytes. One warm-up run (fonts, caches,
chart templates), then N timed runs; prints the median and the 95th percentile of the
whole and of each stage. Goal: a median of at most 300 ms.

    python benchmarks/feedback.py [--runs 20] [--level 2] [--lang sv]

Wall-clock time is the goal's measure; the process's CPU time is printed beside it because
on a shared machine other processes inflate the wall-clock figures.
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

    def stages() -> dict[str, float]:
        t: dict[str, float] = {}
        t0 = time.perf_counter()
        facts = feedback_facts(model, result)
        t1 = time.perf_counter()
        charts = draw_charts(model, facts, args.lang, svg=True)
        t2 = time.perf_counter()
        render_html(model, facts, variant="mail", charts=charts, **kw)  # type: ignore[arg-type]
        render_text(model, facts, **kw)  # type: ignore[arg-type]
        t3 = time.perf_counter()
        html, _ = render_html(model, facts, variant="print", charts=charts, **kw)  # type: ignore[arg-type]
        render_pdf(html)
        t4 = time.perf_counter()
        t["facts"], t["charts"], t["html+text"], t["pdf"] = t1 - t0, t2 - t1, t3 - t2, t4 - t3
        return t

    size = whole()  # warm-up
    stages()
    totals: list[float] = []
    cpu: list[float] = []
    for _ in range(args.runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        whole()
        totals.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    parts: dict[str, list[float]] = defaultdict(list)
    for _ in range(max(5, args.runs // 2)):
        for name, value in stages().items():
            parts[name].append(value)

    print(f"feedback for level {args.level} ({args.lang}), message {size / 1024:.0f} KiB, {args.runs} runs")
    for label, values in (("whole", totals), ("(CPU time)", cpu)):
        print(
            f"  {label:10s} median {statistics.median(values) * 1000:7.1f} ms   p95 {p95(values) * 1000:7.1f} ms"
        )
    for name, values in parts.items():
        print(
            f"  {name:10s} median {statistics.median(values) * 1000:7.1f} ms   p95 {p95(values) * 1000:7.1f} ms"
        )
    goal = statistics.median(totals) <= 0.300
    print(f"  goal (median ≤ 300 ms): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
