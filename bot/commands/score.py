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
from itertools import islice
from typing import IO

import orjson

from conversations.questionnaire import Model, ModelError, load_model
from scoring.batch import BatchScorer, batch_scorer_for
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


def batch(model: Model, path: str, chunk_size: int = 4096) -> int:
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
    with source:
        first = 1  # the number of the chunk's first line
        while lines := list(islice(source, chunk_size)):
            results, errors = score_chunk(scorer, lines, first)
            first += len(lines)
            for number, message in errors:
                print(f"{path}:{number}: {message}", file=sys.stderr)
            failed += len(errors)
            if results:
                results.append(b"")
                out.write(b"\n".join(results))  # one write per chunk
    out.flush()
    return 2 if failed else 0


def score_chunk(
    scorer: BatchScorer, lines: list[bytes], first: int
) -> tuple[list[bytes], list[tuple[int, str]]]:
    """The output lines (without newline) of a chunk of input lines, the first numbered
    ``first``, and the errors as ``(line number, message)``. A blank line has no output."""
    # plain documents in one go; the rest (errors, blank lines, unusual spellings) one by
    # one, exactly as a single document is read
    codes, validation, slow = scorer.encode_lines(lines)
    errors: dict[int, bytes] = {}
    messages: list[tuple[int, str]] = []
    skipped: set[int] = set()
    for k in slow:
        line, number = lines[k], first + k
        try:
            row, val = scorer.encode(orjson.loads(line))
        except (orjson.JSONDecodeError, AnswerFileError) as exc:
            if not line.strip():
                skipped.add(k)
                continue
            message = f"not valid JSON: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
            messages.append((number, message))
            errors[k] = orjson.dumps({"line": number, "error": message})
            continue
        codes[k] = row
        validation[k] = scorer.validation_json(val)
    if not errors and not skipped:
        return scorer.score_codes(codes, validation), messages
    keep = [k for k in range(len(lines)) if k not in errors and k not in skipped]
    scored = iter(scorer.score_codes(codes[keep], [validation[k] for k in keep]))
    results = [errors[k] if k in errors else next(scored) for k in range(len(lines)) if k not in skipped]
    return results, messages
