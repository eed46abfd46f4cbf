#!/usr/bin/env python3
"""Builds crates/hicra-tasks/tests/fixtures/countdown_oracle.jsonl.

Oracle cases for the Rust Countdown verifier. Puzzles come from reasoning-gym's seeded
`countdown` dataset; for each puzzle a set of candidate answers is built (the dataset's own
solution, rewritings of it, and several kinds of broken ones) and scored with the dataset's own
`score_answer(answer, entry)`. Each output line is

    {"numbers": [ints], "target": int, "expression": str, "oracle_score": float,
     "correct": oracle_score == 1.0, "kind": str, "puzzle": str}

`kind` names the candidate type so disagreements can be grouped; `puzzle` is
"countdown-seed<dataset seed>-<index>". A few kinds change the target
(kind starts with "derived-"): they score a hand-built expression against the same numbers with
the target set to that expression's value, which is how a non-integer intermediate is exercised.

What reasoning-gym 0.1.25's scorer does (games/countdown.py, CountdownDataset.score_answer):
  * None / blank answer -> 0.01.
  * value = float(sympy.parsing.sympy_parser.parse_expr(answer)) (default transformations, so
    Python syntax evaluated with sympy numbers: exact rationals, `**` power, `^` is Python XOR,
    `!` factorial); any exception (syntax error, unknown name, `=`, unicode operators, division
    by zero -> zoo) -> 0.01.
  * The integer literals of the raw text (regex \\b\\d+\\b, so "24.0" counts as 24 and 0) must
    equal the puzzle numbers as a multiset -- every number used exactly once -- else 0.05.
  * |value - target| <= 1e-6 (numpy.isclose, atol 1e-6) -> 1.0, else 0.05.

How to run (from the repository root):

    python3 -m venv /tmp/venv-rg
    /tmp/venv-rg/bin/pip install reasoning-gym==0.1.25
    /tmp/venv-rg/bin/python scripts/label_countdown.py
"""

from __future__ import annotations

import itertools
import json
import random
import re
import sys
from fractions import Fraction
from pathlib import Path

import reasoning_gym

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/hicra-tasks/tests/fixtures/countdown_oracle.jsonl"

SEED = 1234
# (dataset seed, number of puzzles, config overrides)
SOURCES = [
    (42, 22, {}),  # default: 4-6 numbers in 1..100, target 100..999
    (7, 8, {"min_numbers": 3, "max_numbers": 4, "min_target": 10, "max_target": 200}),
]
KINDS_PER_PUZZLE = 10

NUM_RE = re.compile(r"\b\d+\b")
OP_RE = re.compile(r"(?<=[\d)]) ?([+\-*/]) ?(?=[\d(])")


# --------------------------------------------------------------------------------------------
# A tiny exact solver, used to find expressions over a *subset* of the numbers that still hit
# the target (the scorer rejects them because not every number is used).
# --------------------------------------------------------------------------------------------


def solve(items: list[tuple[Fraction, str]], target: Fraction) -> str | None:
    if len(items) == 1:
        return items[0][1] if items[0][0] == target else None
    for i, j in itertools.permutations(range(len(items)), 2):
        (a, ea), (b, eb) = items[i], items[j]
        rest = [items[k] for k in range(len(items)) if k not in (i, j)]
        options = [(a + b, f"({ea} + {eb})"), (a - b, f"({ea} - {eb})"), (a * b, f"({ea} * {eb})")]
        if b != 0:
            options.append((a / b, f"({ea} / {eb})"))
        for val, text in options:
            found = solve(rest + [(val, text)], target)
            if found:
                return found
    return None


def subset_solution(numbers: list[int], target: int) -> str | None:
    for size in range(2, min(len(numbers) - 1, 4) + 1):
        for combo in itertools.combinations(numbers, size):
            found = solve([(Fraction(n), str(n)) for n in combo], Fraction(target))
            if found:
                return found[1:-1] if found.startswith("(") else found
    return None


# --------------------------------------------------------------------------------------------
# Candidate answers
# --------------------------------------------------------------------------------------------


def swap_first_operator(expr: str) -> str | None:
    m = OP_RE.search(expr)
    if not m:
        return None
    new = {"+": "-", "-": "+", "*": "+", "/": "*"}[m.group(1)]
    return expr[: m.start(1)] + new + expr[m.end(1) :]


def replace_first_number(expr: str, new: int) -> str:
    m = NUM_RE.search(expr)
    return expr[: m.start()] + str(new) + expr[m.end() :]


def candidates(rng: random.Random, numbers: list[int], target: int, ref: str) -> list[tuple[str, str, int]]:
    """(kind, expression, target) triples for one puzzle."""
    out: list[tuple[str, str, int]] = []
    add = lambda kind, expr, tgt=target: out.append((kind, expr, tgt))  # noqa: E731

    add("reference", ref)
    add("reference-no-spaces", ref.replace(" ", ""))
    add("reference-extra-spaces", "  " + re.sub(r"\s*([+\-*/()])\s*", r"  \1  ", ref).strip() + "  ")
    add("reference-parenthesized", f"({ref})")
    add("reference-newline-inside", OP_RE.sub(lambda m: f"\n{m.group(1)} ", ref, count=1))
    if "*" in ref:
        add("unicode-times", ref.replace("*", "×"))
        add("latex-times", ref.replace("*", "\\times "))
    if "/" in ref:
        add("unicode-divide", ref.replace("/", "÷"))
    if "-" in ref:
        add("unicode-minus", ref.replace("-", "−"))
    if "*(" in ref.replace(" ", ""):
        add("implicit-multiplication", re.sub(r"\*\s*\(", "(", ref, count=1))
    add("equals-target", f"{ref} = {target}")
    add("trailing-prose", f"{ref} which gives {target}")
    add("reference-decimal-literal", re.sub(r"\b(\d+)\b", r"\1.0", ref, count=1))
    add("reference-leading-zero", re.sub(r"\b(\d+)\b", r"0\1", ref, count=1))

    a = rng.choice(numbers)
    add("reuse-number-value-kept", f"{ref} + {a} - {a}")
    others = [n for n in numbers if n != int(NUM_RE.search(ref).group())]
    if others:
        add("reuse-number-replacing-another", replace_first_number(ref, rng.choice(others)))
    foreign = next(n for n in itertools.count(rng.randint(2, 50)) if n not in numbers)
    add("foreign-number-added", f"{ref} + {foreign} - {foreign}")
    add("foreign-number-replacing", replace_first_number(ref, foreign))
    swapped = swap_first_operator(ref)
    if swapped:
        add("wrong-operator", swapped)
    add("non-expression", rng.choice(["I cannot find a solution.", "no solution", "The answer is below."]))
    add("only-target", str(target))
    add("unbalanced-open-paren", f"(({ref})")
    add("unbalanced-close-paren", f"{ref})")
    add("empty", "")
    add("power-operator", ref.replace("*", "**", 1) if "*" in ref else f"{ref} ** 1")
    if "(" not in ref and len(NUM_RE.findall(ref)) > 2:
        add("subset-of-numbers-wrong-value", re.sub(r"\s*[+\-*/]\s*\d+\s*$", "", ref))
    sub = subset_solution(numbers, target)
    if sub:
        add("subset-of-numbers-reaches-target", sub)

    # `^` is Python's XOR under parse_expr, not a power: score it against the XOR value.
    if "*" in ref and "/" not in ref:
        caret = ref.replace("*", "^", 1)
        value = eval(caret, {"__builtins__": {}})  # integers and + - * ^ ( ) only
        if value > 0:
            add("derived-caret-is-xor", caret, value)

    # Non-integer intermediates: a / b * c with b not dividing a but dividing a * c, plus the
    # remaining numbers summed; the target is set to the exact value of the expression.
    for x, y, z in itertools.permutations(range(len(numbers)), 3):
        na, nb, nc = numbers[x], numbers[y], numbers[z]
        if na % nb and (na * nc) % nb == 0:
            rest = [numbers[k] for k in range(len(numbers)) if k not in (x, y, z)]
            expr = " + ".join([f"{na} / {nb} * {nc}"] + [str(r) for r in rest])
            value = Fraction(na, nb) * nc + sum(rest)
            add("derived-non-integer-intermediate", expr, int(value))
            add("derived-non-integer-final", " + ".join([f"{na} / {nb}", str(nc)] + [str(r) for r in rest]), int(value))
            break
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

ALWAYS = {"reference", "subset-of-numbers-reaches-target", "derived-non-integer-intermediate"}


def main() -> int:
    rng = random.Random(SEED)
    lines = []
    for ds_seed, size, overrides in SOURCES:
        ds = reasoning_gym.create_dataset("countdown", seed=ds_seed, size=size, **overrides)
        for entry in ds:
            meta = entry["metadata"]
            numbers, target, ref = list(meta["numbers"]), int(meta["target"]), entry["answer"]
            cands = candidates(rng, numbers, target, ref)
            keep = [c for c in cands if c[0] in ALWAYS]
            rest = [c for c in cands if c[0] not in ALWAYS]
            keep += rng.sample(rest, max(0, min(len(rest), KINDS_PER_PUZZLE - len(keep))))
            for kind, expr, tgt in sorted(keep, key=lambda c: [k for k, _, _ in cands].index(c[0])):
                scored_entry = {"metadata": {"numbers": numbers, "target": tgt}}
                score = float(ds.score_answer(expr, scored_entry))
                lines.append(
                    {
                        "numbers": numbers,
                        "target": tgt,
                        "expression": expr,
                        "oracle_score": score,
                        "correct": score == 1.0,
                        "kind": kind,
                        "puzzle": f"countdown-seed{ds_seed}-{meta['source_index']}",
                    }
                )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    n_ok = sum(line["correct"] for line in lines)
    print(f"wrote {len(lines)} cases to {OUT} ({n_ok} scored 1.0)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
