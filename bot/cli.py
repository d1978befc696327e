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
