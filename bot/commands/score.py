"""``assessbot score FILE`` and ``assessbot score --batch FILE.jsonl``.

A single answer file is scored completely before anything is printed, so a bad file
prints only its error (exit 2). A batch streams: one result per input line, in order; a
line that cannot be scored yields ``{"line": N, "error": "…"}`` in its place, the error
also goes to stderr, and the exit code is 2 when any line failed.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

import orjson

from conversations.questionnaire import Model, ModelError, load_model
from scoring.score import AnswerFileError, score_document, scorer_for


def _open(path: str) -> IO[bytes]:
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def run(args: argparse.Namespace) -> int:
    if bool(args.file) == bool(args.batch):
        print("give either an answer FILE or --batch FILE.jsonl", file=sys.stderr)
        return 2
    try:
        model = load_model(args.model)
    except ModelError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    if args.batch:
        return batch(model, args.batch)
    try:
        with _open(args.file) as f:
            raw = f.read()
    except OSError as exc:
        print(f"{args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        print(f"{args.file}: not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        result = score_document(model, doc, area_details=args.format == "text")
    except AnswerFileError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    if args.format == "text":
        from bot.report_text import render_score_text

        sys.stdout.write(render_score_text(model, result, args.lang))
    else:
        sys.stdout.buffer.write(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def batch(model: Model, path: str) -> int:
    scorer_for(model)  # compile once before the loop
    failed = 0
    out = sys.stdout.buffer
    dumps, loads = orjson.dumps, orjson.loads
    try:
        source = _open(path)
    except OSError as exc:
        print(f"{path}: {exc.strerror}", file=sys.stderr)
        return 2
    with source:
        chunk: list[bytes] = []
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            doc: Any
            try:
                doc = loads(line)
                chunk.append(dumps(score_document(model, doc).to_dict()))
            except (orjson.JSONDecodeError, AnswerFileError) as exc:
                failed += 1
                message = f"not valid JSON: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
                print(f"{path}:{number}: {message}", file=sys.stderr)
                chunk.append(dumps({"line": number, "error": message}))
            if len(chunk) >= 512:
                out.write(b"\n".join(chunk) + b"\n")
                chunk.clear()
        if chunk:
            out.write(b"\n".join(chunk) + b"\n")
    out.flush()
    return 2 if failed else 0
