"""Recall and false-positive rate of the input safety rules on the labelled sets.

    python scripts/safety_eval.py                 # the table, default threshold
    python scripts/safety_eval.py --threshold 0.4 --misses
    python scripts/safety_eval.py --json out.json  # also write the figures

Reads ``tests/data/safety_dev.jsonl`` (the set the rules were developed on) and
``tests/data/safety_heldout.jsonl`` (written after the rules were frozen, never
used to tune them) and prints each, then both together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from steadyllm.policy.injection import DEFAULT_THRESHOLD
from steadyllm.safety.evaluation import evaluate, load_labelled

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = {"dev": DATA / "safety_dev.jsonl", "held-out": DATA / "safety_heldout.jsonl"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument(
        "--misses", action="store_true", help="list missed attacks and flagged benign"
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    loaded = {name: load_labelled(path) for name, path in SETS.items()}
    loaded["all"] = [row for rows in list(loaded.values()) for row in rows]
    figures = {}
    texts = {row.id: row.text for row in loaded["all"]}
    for name, rows in loaded.items():
        result = evaluate(rows, threshold=args.threshold)
        figures[name] = result.as_dict()
        print(result.table(f"{name}: {len(rows)} messages"))
        if args.misses and name != "all":
            for row_id, score in result.misses:
                print(f"    missed  {row_id} ({score:.2f}): {texts[row_id][:90]!r}")
            for row_id, score in result.flagged_benign:
                print(f"    flagged {row_id} ({score:.2f}): {texts[row_id][:90]!r}")
        print()
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
