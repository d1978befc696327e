"""``assessbot score FILE`` and ``assessbot score --batch FILE.jsonl``.

A single answer file is scored completely before anything is printed, so a bad file
prints only its error (exit 2). A batch streams: one result per input line, in order; a
line that cannot be scored yields ``{"line": N, "error": "…"}`` in its place, the error
also goes to stderr, and the exit code is 2 when any line failed.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import IO

import orjson

from conversations.questionnaire import Model, ModelError, load_model
from scoring.batch import batch_scorer_for
from scoring.score import AnswerFileError, score_document


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


def batch(model: Model, path: str, chunk_size: int = 1024) -> int:
    try:
        return _batch(model, path, chunk_size)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _batch(model: Model, path: str, chunk_size: int) -> int:
    gc.freeze()  # the model and scorer tables live for the whole run
    gc.disable()  # scoring makes no reference cycles; collections only cost time here
    scorer = batch_scorer_for(model)
    failed = 0
    out = sys.stdout.buffer
    try:
        source = _open(path)
    except OSError as exc:
        print(f"{path}: {exc.strerror}", file=sys.stderr)
        return 2

    def flush(
        entries: list[tuple[int, bytes | None]], rows: list[list[int]], vals: list[dict[str, str]]
    ) -> None:
        scored = iter(scorer.score_rows(rows, vals))
        out.write(b"\n".join(line if line is not None else next(scored) for _, line in entries) + b"\n")

    with source:
        entries: list[tuple[int, bytes | None]] = []
        rows: list[list[int]] = []
        vals: list[dict[str, str]] = []
        loads, encode = orjson.loads, scorer.encode
        for number, line in enumerate(source, start=1):
            try:
                row, val = encode(loads(line))
            except (orjson.JSONDecodeError, AnswerFileError) as exc:
                if not line.strip():
                    continue
                failed += 1
                message = f"not valid JSON: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
                print(f"{path}:{number}: {message}", file=sys.stderr)
                entries.append((number, orjson.dumps({"line": number, "error": message})))
                continue
            rows.append(row)
            vals.append(val)
            entries.append((number, None))
            if len(entries) >= chunk_size:
                flush(entries, rows, vals)
                entries, rows, vals = [], [], []
        if entries:
            flush(entries, rows, vals)
    out.flush()
    return 2 if failed else 0
