"""``assessbot report national`` and ``assessbot report benchmark``: after the deadline.

``national`` writes the national analysis of a cycle's submitted responses as JSON (stdout
by default), XLSX (a sheet per table), a standalone HTML page, or CSV (one file per table
in a directory). ``benchmark`` queues each submitting organisation's benchmarking mail;
running it again queues nothing twice, and ``--dry-run`` only says what it would queue.

Earlier cycles run under another model version are compared question by question only
when that version's model file is given with ``--model`` (or is the configured one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.analysis.national import NoSuchCycle, available_models, national_report
from bot.commands.common import CommandError, run_with_database
from bot.db.database import Database
from bot.settings import Settings
from conversations.questionnaire import Model, ModelError


def analysis_models(settings: Settings, paths: list[str] | None) -> list[Model]:
    try:
        return available_models(settings, paths or ())
    except (ModelError, OSError) as exc:
        problems = exc.problems if isinstance(exc, ModelError) else (str(exc),)
        raise CommandError("en modellfil kan inte användas:\n" + "\n".join(problems), code=2) from None


def national(args: argparse.Namespace) -> int:
    settings = Settings()
    fmt = args.format
    lang = args.lang or settings.language
    if fmt == "csv" and not args.output:
        raise SystemExit("assessbot: --format csv skriver en fil per tabell: ange en katalog med --output")
    if fmt == "xlsx" and not args.output and sys.stdout.isatty():
        raise SystemExit(
            "assessbot: --format xlsx skriver en binär fil: ange --output FIL eller styr om utdata"
        )

    async def body(db: Database) -> int:
        models = analysis_models(settings, args.model)
        try:
            report = await national_report(db, args.cycle, models, min_group=settings.benchmark_min_group)
        except NoSuchCycle as exc:
            raise CommandError(str(exc)) from None
        except ValueError as exc:
            raise CommandError(f"{exc}: ange modellfilen med --model") from None
        model = next(
            m for m in models if (m.id, m.version) == (report["model"]["id"], report["model"]["version"])
        )
        _write(report, model, fmt, lang, args.output, settings)
        return 0

    return run_with_database(settings, body)


def _write(report: dict, model: Model, fmt: str, lang: str, output: str | None, settings: Settings) -> None:  # type: ignore[type-arg]
    from bot.analysis import export, html

    if fmt == "csv":
        assert output is not None
        paths = export.write_csv(export.tables(report, model, lang), Path(output))
        print(f"{len(paths)} tabeller skrivna till {output}", file=sys.stderr)
        return
    if fmt == "json":
        data = export.to_json(report)
    elif fmt == "xlsx":
        data = export.xlsx_bytes(export.tables(report, model, lang))
    else:
        data = html.render_page(report, model, lang, authority=settings.authority_name).encode("utf-8")
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def benchmark(args: argparse.Namespace) -> int:
    settings = Settings()

    async def body(db: Database) -> int:
        from bot.analysis.benchmark import TooEarly, queue_benchmarks

        models = analysis_models(settings, args.model)
        try:
            outcome = await queue_benchmarks(
                db, settings, models, args.cycle, dry_run=args.dry_run, force=args.force
            )
        except (NoSuchCycle, TooEarly) as exc:
            raise CommandError(str(exc)) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        verb = "skulle köas" if args.dry_run else "köade"
        print(
            f"omgång {outcome.cycle}: {outcome.organisations} inskickade svar, {outcome.recipients} mottagare; "
            f"{outcome.queued} mejl {verb}, {outcome.already} fanns redan i kön"
            + (
                f"; {outcome.without_recipients} organisationer utan samordnare eller ledning"
                if outcome.without_recipients
                else ""
            )
        )
        return 0

    return run_with_database(settings, body)
