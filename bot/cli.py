"""The ``assessbot`` command: argument parsing and dispatch to ``bot.commands``.

Each sub-command lives in its own module under ``bot/commands`` and is imported only when
it runs, so that quick commands (``score``, ``model validate``) start fast.
Exit codes: 0 success, 1 a check found problems or a turn was refused, 2 bad input
(an unusable answer file, wrong arguments).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="assessbot",
        description="Infosäkkollen by mail and web chat: the follow-up model for systematic "
        "information security work.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser("serve", help="run the service (web, mail, scheduler)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(handler="serve:run")

    model = sub.add_parser("model", help="export or validate a model file")
    msub = model.add_subparsers(dest="model_command", metavar="ACTION")
    msub.required = True
    export = msub.add_parser("export", help="the model as JSON")
    export.add_argument("--model", metavar="PATH", help="model file (default: bundled msb-2021)")
    export.add_argument("--format", choices=["json"], default="json")
    export.add_argument("--lang", default=None, help="language of texts (default: the model's)")
    export.set_defaults(handler="model:export")
    validate = msub.add_parser("validate", help="check a model file; one line per problem")
    validate.add_argument("path", metavar="PATH")
    validate.set_defaults(handler="model:validate")

    score = sub.add_parser("score", help="score an answer file (or a JSON Lines batch)")
    score.add_argument("file", nargs="?", metavar="FILE", help="answer file (JSON); - for stdin")
    score.add_argument("--batch", metavar="FILE.jsonl", help="one answer document per line; - for stdin")
    score.add_argument("--model", metavar="PATH", help="model file (default: bundled msb-2021)")
    score.add_argument("--format", choices=["json", "text"], default="json")
    score.add_argument("--lang", choices=["sv", "en"], default="sv", help="language of --format text")
    score.set_defaults(handler="score:run")

    _response_parser(sub)
    _outbox_parser(sub)
    _mail_parser(sub)
    _demo_parser(sub)
    _reminders_parser(sub)
    _report_parser(sub)
    _demo_data_parser(sub)

    db = sub.add_parser("db", help="the database schema (migrations)")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    dsub.required = True
    dsub.add_parser("upgrade", help="apply the migrations the database lacks").set_defaults(
        handler="db:upgrade"
    )
    dsub.add_parser("current", help="the schema revision of the database").set_defaults(handler="db:current")

    org = sub.add_parser("org", help="register organisations and their contacts")
    osub = org.add_subparsers(dest="org_command", metavar="ACTION")
    osub.required = True
    add = osub.add_parser("add", help="register one organisation; prints its id")
    add.add_argument("--name", required=True)
    add.add_argument("--type", required=True, help="kommun, region or myndighet")
    add.add_argument("--orgnr", help="organisation number, NNNNNN-NNNN")
    add.add_argument("--county", help="län")
    add.add_argument("--size", help="size class")
    add.add_argument("--coordinator", required=True, action="append", metavar="EMAIL")
    add.add_argument("--manager", action="append", metavar="EMAIL", help="management (repeatable)")
    add.add_argument("--respondent", action="append", metavar="EMAIL", help="may answer too (repeatable)")
    add.add_argument(
        "--lang", choices=["sv", "en"], help="language of the contacts (default ASSESSBOT_LANGUAGE)"
    )
    add.add_argument("--domain", action="append", help="mail domain (default: the contacts' domains)")
    add.set_defaults(handler="org:add")
    imp = osub.add_parser("import", help="register many from a CSV or XLSX file")
    imp.add_argument("file", metavar="FILE", help="FILE.csv or FILE.xlsx with a header row")
    imp.set_defaults(handler="org:import_file")

    cycle = sub.add_parser("cycle", help="create and list cycles")
    cysub = cycle.add_subparsers(dest="cycle_command", metavar="ACTION")
    cysub.required = True
    create = cysub.add_parser("create", help="open a cycle (dates in ASSESSBOT_TIMEZONE)")
    create.add_argument("--name", required=True)
    create.add_argument("--launch", required=True, metavar="YYYY-MM-DD")
    create.add_argument("--deadline", required=True, metavar="YYYY-MM-DD")
    create.add_argument(
        "--model", metavar="PATH", help="model file (default: ASSESSBOT_MODEL_PATH or bundled)"
    )
    create.set_defaults(handler="cycle:create")
    clist = cysub.add_parser("list", help="the cycles with counts per response status")
    clist.add_argument("--format", choices=["text", "json"], default="text")
    clist.set_defaults(handler="cycle:list_")
    _cycle_run_parser(cysub)

    config = sub.add_parser("config", help="show the settings")
    csub = config.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    show = csub.add_parser("show", help="every setting with its value, default and help")
    show.set_defaults(handler="config:show")
    return p


def _response_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    response = sub.add_parser("response", help="an organisation's response: start, answer, show")
    rsub = response.add_subparsers(dest="response_command", metavar="ACTION")
    rsub.required = True
    start = rsub.add_parser("start", help="start a response: mails the first section")
    start.add_argument("org", metavar="ORG", help="organisation id, organisation number or name")
    start.add_argument("--cycle", metavar="NAME", help="the cycle (default: the latest)")
    start.add_argument("--channel", choices=["mail", "web"], default="mail")
    start.set_defaults(handler="response:start")
    answer = rsub.add_parser("answer", help="one turn in the reply format, as a contact (phone, paper)")
    answer.add_argument("org", metavar="ORG")
    answer.add_argument("text", metavar="TEXT", nargs="+", help="answers in the reply format")
    answer.add_argument("--as", dest="as_", metavar="EMAIL", required=True, help="the contact who answers")
    answer.add_argument("--cycle", metavar="NAME")
    answer.set_defaults(handler="response:answer")
    show = rsub.add_parser("show", help="status, every recorded answer and the score")
    show.add_argument("org", metavar="ORG")
    show.add_argument("--cycle", metavar="NAME")
    show.add_argument("--format", choices=["json"], default="json")
    show.set_defaults(handler="response:show")


def _mail_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mail = sub.add_parser("mail", help="inbound mail")
    msub = mail.add_subparsers(dest="mail_command", metavar="ACTION")
    msub.required = True
    ingest = msub.add_parser("ingest", help="process one message (an MTA pipe); exit 0/65/67/75")
    ingest.add_argument("file", nargs="?", metavar="FILE", help="the message (default: stdin)")
    ingest.add_argument("--recipient", action="append", metavar="ADDRESS", help="envelope recipient")
    ingest.set_defaults(handler="mail:ingest")


def _demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="a tour on the embedded default: demo data, web chat, captured mail")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.set_defaults(handler="demo:run")


def _report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="the national analysis of a cycle, and benchmarking mail")
    rsub = report.add_subparsers(dest="report_command", metavar="ACTION")
    rsub.required = True
    national = rsub.add_parser("national", help="the national analysis of the submitted responses of a cycle")
    national.add_argument("--cycle", metavar="NAME", help="the cycle (default: the latest)")
    national.add_argument("--format", choices=["json", "xlsx", "html", "csv"], default="json")
    national.add_argument(
        "--output", metavar="PATH", help="file (a directory for csv); default stdout (not for csv)"
    )
    national.add_argument("--lang", choices=["sv", "en"], help="language of xlsx, html and csv")
    national.add_argument(
        "--model", action="append", metavar="PATH", help="model file of an earlier cycle (repeatable)"
    )
    national.set_defaults(handler="report:national")
    bench = rsub.add_parser("benchmark", help="queue each submitting organisation's benchmarking mail")
    bench.add_argument("--cycle", metavar="NAME", help="the cycle (default: the latest)")
    bench.add_argument("--dry-run", action="store_true", help="say what would be queued; queue nothing")
    bench.add_argument("--force", action="store_true", help="send even though the cycle is still open")
    bench.add_argument(
        "--model", action="append", metavar="PATH", help="model file of an earlier cycle (repeatable)"
    )
    bench.set_defaults(handler="report:benchmark")


def _demo_data_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo-data", help="realistic organisations and submitted responses over K cycles")
    demo.add_argument("--organisations", type=int, required=True, metavar="N")
    demo.add_argument("--cycles", type=int, required=True, metavar="K")
    demo.add_argument("--seed", type=int, default=1, metavar="S")
    demo.add_argument(
        "--first-year", type=int, default=2021, metavar="YEAR", help="the first cycle (default 2021)"
    )
    demo.add_argument("--model", metavar="PATH", help="model file (default: ASSESSBOT_MODEL_PATH or bundled)")
    demo.set_defaults(handler="demo_data:run")


def _outbox_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = sub.add_parser("outbox", help="outgoing mail: list it, send what is due")
    xsub = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    xsub.required = True
    olist = xsub.add_parser("list", help="queued, sent and failed mail, newest last")
    olist.add_argument("--status", choices=["queued", "sending", "sent", "failed"])
    olist.add_argument("--format", choices=["text", "json"], default="text")
    olist.add_argument("--limit", type=int, default=100, metavar="N", help="the newest N (0: all)")
    olist.set_defaults(handler="outbox:list_")
    send = xsub.add_parser("send", help="send everything due now; exit 75 when the server is unreachable")
    send.set_defaults(handler="outbox:send")


def _cycle_run_parser(cysub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    when = "the moment to act at (default: now; local time without an offset)"
    launch = cysub.add_parser(
        "launch", help="mail every organisation: first section, or ask management to appoint"
    )
    launch.add_argument("--name", required=True)
    launch.add_argument("--type", action="append", help="only organisations of this type (repeatable)")
    launch.add_argument("--now", metavar="ISO-TIME", help=when)
    launch.set_defaults(handler="cycle_run:launch")
    close = cysub.add_parser("close", help="the deadline: close every response that is not submitted")
    close.add_argument("--name", required=True)
    close.add_argument("--now", metavar="ISO-TIME", help=when)
    close.set_defaults(handler="cycle_run:close")
    reopen = cysub.add_parser("reopen", help="let one organisation answer again after the deadline")
    reopen.add_argument("--name", required=True)
    reopen.add_argument("--org", required=True, metavar="ORG", help="organisation id, number or name")
    reopen.add_argument("--until", metavar="YYYY-MM-DD", help="last day to answer (default: in two weeks)")
    reopen.add_argument("--now", metavar="ISO-TIME", help=when)
    reopen.set_defaults(handler="cycle_run:reopen_")


def _reminders_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reminders = sub.add_parser("reminders", help="the reminders before a cycle's deadline")
    rsub = reminders.add_subparsers(dest="reminders_command", metavar="ACTION")
    rsub.required = True
    run = rsub.add_parser(
        "run", help="queue every reminder that is due; running it twice sends nothing twice"
    )
    run.add_argument(
        "--now", metavar="ISO-TIME", help="the moment (default: now; local time without an offset)"
    )
    run.add_argument("--dry-run", action="store_true", help="print what would be sent; change nothing")
    run.add_argument("--cycle", metavar="NAME", help="only this cycle (default: every launched cycle)")
    run.set_defaults(handler="reminders:run")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    module_name, func_name = args.handler.split(":")
    module = importlib.import_module(f"bot.commands.{module_name}")
    result = getattr(module, func_name)(args)
    return int(result or 0)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
