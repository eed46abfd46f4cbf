#!/usr/bin/env python3
"""Writes the small GSM8K / MATH-500 samples in crates/hicra-tasks/tests/fixtures/.

  gsm8k_sample.jsonl      first 12 rows of data/gsm8k/train.jsonl, byte for byte
  gsm8k_sample.parquet    the same 12 rows (question: string, answer: string, idx: int64),
                          written by pyarrow with its default (snappy) compression
  gsm8k_sample_bad.jsonl  6 lines: 1, 2, 4, 6 valid rows; 3 truncated JSON; 5 valid JSON
                          without the "answer" field
  math500_sample.jsonl    12 rows of data/math500/test.jsonl, byte for byte, picked for their
                          answer shapes (see MATH500_ROWS)

How to run (from the repository root, after scripts/fetch-data.sh):

    python3 -m venv /tmp/venv-data && /tmp/venv-data/bin/pip install pyarrow
    /tmp/venv-data/bin/python scripts/make_task_fixtures.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "crates/hicra-tasks/tests/fixtures"

# Line numbers (0-based) in data/math500/test.jsonl and the answer shape each stands for.
MATH500_ROWS = [
    (3, "integer: 9"),
    (2, "fraction: \\frac{14}{3}"),
    (8, "surd: 3\\sqrt{13}"),
    (17, "pi: \\pi"),
    (0, "tuple with \\left( \\right): \\left( 3, \\frac{\\pi}{2} \\right)"),
    (103, "half-open interval: (3,4]"),
    (4, "text: \\text{Evelyn}"),
    (15, "complex: 6 - 5i"),
    (7, "degrees: 90^\\circ"),
    (30, "base subscript: 52_8"),
    (264, "mixed number: 1\\frac{4}{5}"),
    (380, "union of intervals: (0,9) \\cup (9,36)"),
]


def main() -> None:
    train = (ROOT / "data/gsm8k/train.jsonl").read_text(encoding="utf-8").splitlines()
    first12 = train[:12]
    (FIXTURES / "gsm8k_sample.jsonl").write_text("\n".join(first12) + "\n", encoding="utf-8")

    rows = [json.loads(line) for line in first12]
    table = pa.table(
        {
            "question": pa.array([r["question"] for r in rows], pa.string()),
            "answer": pa.array([r["answer"] for r in rows], pa.string()),
            "idx": pa.array([r["idx"] for r in rows], pa.int64()),
        }
    )
    pq.write_table(table, FIXTURES / "gsm8k_sample.parquet")

    no_answer = {k: v for k, v in json.loads(train[4]).items() if k != "answer"}
    bad = [
        train[0],
        train[1],
        '{"question": "x',  # truncated JSON
        train[3],
        json.dumps(no_answer, ensure_ascii=False, separators=(",", ":")),  # valid, no "answer"
        train[5],
    ]
    (FIXTURES / "gsm8k_sample_bad.jsonl").write_text("\n".join(bad) + "\n", encoding="utf-8")

    math500 = (ROOT / "data/math500/test.jsonl").read_text(encoding="utf-8").splitlines()
    picked = [math500[i] for i, _ in MATH500_ROWS]
    (FIXTURES / "math500_sample.jsonl").write_text("\n".join(picked) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
