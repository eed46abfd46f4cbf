#!/usr/bin/env python3
"""Builds crates/hicra-tasks/tests/fixtures/math_verify_classes.jsonl.

A second labelled set for the Rust math-answer verifier, aimed at the answer *classes* the
first one (label_math_verify.py) barely covers: equations, expressions with variables and
functions, plus-minus, unordered lists and sets, unions and complements of intervals,
percentages, long decimal approximations, units and words in ``\\text{}``, answer extraction,
and a few inputs math-verify is stricter about than a lenient grader would be. Each line is

    {"id", "dataset", "class", "style", "gold", "response", "equivalent"}

where ``class`` is one of CLASSES, ``style`` says how the response wraps its answer and what
kind of rewrite it is (``wrong-`` rewrites are meant to differ, all others to agree), and
``equivalent`` is math-verify's own verdict ``verify(parse("\\boxed{GOLD}"), parse(RESPONSE))``
with its default arguments, computed exactly as in label_math_verify.py (forked child, hard
timeout). Gold answers come from MATH-500 where it has answers of the class (taken verbatim),
and from seeded generators otherwise (``dataset`` says which).

How to run (from the repository root, after scripts/fetch-data.sh):

    python3 -m venv /tmp/venv-mv
    /tmp/venv-mv/bin/pip install math-verify==0.9.0
    /tmp/venv-mv/bin/python scripts/label_math_verify_classes.py

The output is deterministic for a given math-verify version.
"""

from __future__ import annotations

import json
import random
import sys
from fractions import Fraction
from math import gcd
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_math_verify import MATH500_TEST, mv_verdict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/hicra-tasks/tests/fixtures/math_verify_classes.jsonl"
SEED = 20261203

# --------------------------------------------------------------------------------------------
# How a response presents its answer
# --------------------------------------------------------------------------------------------

WRAPPERS = {
    "boxed": lambda a: f"Putting the pieces together, the result is $\\boxed{{{a}}}$.",
    "display-boxed": lambda a: f"Simplifying each side carefully gives\n\\[\n\\boxed{{{a}}}\n\\]",
    "final-answer": lambda a: f"The final answer is ${a}$. I hope it is correct.",
    "answer-line": lambda a: f"Collecting the results from above.\n\nAnswer: ${a}$",
    "bold-answer": lambda a: f"We check the result once more.\n\n**Answer:** $\\boxed{{{a}}}$",
    "worked-boxed": lambda a: (
        "First we set up the relation between the quantities, then we simplify.\n"
        "Substituting back confirms the result, so the answer is $\\boxed{" + a + "}$."
    ),
}


def wrap(rng: random.Random, answer: str) -> tuple[str, str]:
    name = rng.choice(sorted(WRAPPERS))
    return name, WRAPPERS[name](answer)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def term(coef: int, var: str, first: bool) -> str:
    """`coef var` as it is written in a sum: `+ 3x`, `- x`, `2y` (first), `+ 5` (no var)."""
    if coef == 0:
        return ""
    mag = abs(coef)
    body = (str(mag) if mag != 1 or not var else "") + var
    if first:
        return ("-" if coef < 0 else "") + body
    return (" - " if coef < 0 else " + ") + body


def linear(coefs: list[int], names: list[str]) -> str:
    out, first = "", True
    for c, v in zip(coefs, names):
        t = term(c, v, first)
        if t:
            out += t
            first = False
    return out or "0"


def num(fr: Fraction) -> str:
    """A rational in LaTeX."""
    if fr.denominator == 1:
        return str(fr.numerator)
    sign = "-" if fr < 0 else ""
    return f"{sign}\\frac{{{abs(fr.numerator)}}}{{{fr.denominator}}}"


# --------------------------------------------------------------------------------------------
# The classes: each yields (gold, answer, rewrite, dataset); the answer is wrapped later
# --------------------------------------------------------------------------------------------


def equations(rng: random.Random, math_golds: list[str]):
    for g in [a for a in math_golds if "=" in a and "\\in" not in a]:
        if g.replace(" ", "") in ("x=5",):
            yield g, "5", "assignment-value", "math500"
            yield g, "5 = x", "swapped-sides", "math500"
            yield g, "x = 6", "wrong-value", "math500"
            continue
        lhs, rhs = [s.strip() for s in g.split("=")]
        yield g, f"{rhs} = {lhs}", "swapped-sides", "math500"
    names = ["x", "y", "z"]
    for k in range(14):
        n = rng.choice([2, 3])
        coefs = [rng.choice([-7, -5, -3, -2, -1, 1, 2, 3, 4, 6]) for _ in range(n)]
        d = rng.randint(-9, 9)
        g = gcd(gcd(*coefs), d) if d else gcd(*coefs)
        coefs = [c // g for c in coefs]
        d //= g
        vs = names[:n]
        gold = f"{linear(coefs + [d], vs + [''])} = 0"
        factor = rng.choice([2, 3, -1, -2])
        scaled = f"{linear([c * factor for c in coefs] + [d * factor], vs + [''])} = 0"
        moved = f"{linear(coefs, vs)} = {-d}"
        yield gold, scaled, "scaled", "generated"
        yield gold, moved, "constant-moved", "generated"
        if k % 2 == 0:
            # solve for the last variable when its coefficient is +-1
            if abs(coefs[-1]) == 1:
                rest = [-c * coefs[-1] for c in coefs[:-1]] + [-d * coefs[-1]]
                yield gold, f"{vs[-1]} = {linear(rest, vs[:-1] + [''])}", "solved-for-variable", "generated"
            wrong = coefs[:]
            wrong[0] += rng.choice([-1, 1]) or 1
            yield gold, f"{linear(wrong + [d], vs + [''])} = 0", "wrong-coefficient", "generated"
        else:
            yield gold, f"{linear(coefs + [d + rng.choice([-2, 1, 3])], vs + [''])} = 0", "wrong-constant", "generated"
            yield gold, f"{linear([c * factor for c in coefs] + [d], vs + [''])} = 0", "wrong-partly-scaled", "generated"
    for _ in range(6):
        h, kk, r = rng.randint(-4, 4), rng.randint(-4, 4), rng.randint(1, 5)
        xs = f"(x {'-' if h >= 0 else '+'} {abs(h)})^2" if h else "x^2"
        ys = f"(y {'-' if kk >= 0 else '+'} {abs(kk)})^2" if kk else "y^2"
        gold = f"{xs} + {ys} = {r * r}"
        expanded = linear([1, -2 * h, 1, -2 * kk, h * h + kk * kk - r * r], ["x^2", "x", "y^2", "y", ""])
        yield gold, f"{expanded} = 0", "expanded", "generated"
        yield gold, f"{xs} + {ys} = {r * r + 1}", "wrong-radius", "generated"
    for v in [3, -4, 11]:
        yield f"x = {v}", f"{v} = x", "swapped-sides", "generated"
        yield f"x = {v}", f"x - {v} = 0" if v > 0 else f"x + {-v} = 0", "constant-moved", "generated"


TRIG = [
    ("\\tan x", "\\frac{\\sin x}{\\cos x}", True),
    ("\\tan x", "\\frac{1}{\\cot x}", True),
    ("\\cot x", "\\frac{\\cos x}{\\sin x}", True),
    ("\\cot x", "\\tan x", False),
    ("\\sec x", "\\frac{1}{\\cos x}", True),
    ("\\csc x", "\\frac{1}{\\sin x}", True),
    ("\\sin 2x", "2\\sin x\\cos x", True),
    ("\\cos 2x", "\\cos^2 x - \\sin^2 x", True),
    ("\\cos 2x", "1 - 2\\sin^2 x", True),
    ("\\cos 2x", "2\\cos^2 x - 1", True),
    ("1", "\\sin^2 x + \\cos^2 x", True),
    ("\\sin x", "\\cos x", False),
    ("\\sin(x + y)", "\\sin x \\cos y + \\cos x \\sin y", True),
    ("\\sin(x + y)", "\\sin x + \\sin y", False),
    ("\\tan^2 x + 1", "\\sec^2 x", True),
    ("2\\sin x", "\\sin 2x", False),
    ("\\frac{\\sin 2x}{2}", "\\sin x \\cos x", True),
    ("\\sin(-x)", "-\\sin x", True),
    ("\\cos(\\pi - x)", "-\\cos x", True),
    ("e^{2x}", "(e^x)^2", True),
    ("e^{x+1}", "e \\cdot e^x", True),
    ("\\ln 6", "\\ln 2 + \\ln 3", True),
    ("\\ln 8", "3\\ln 2", True),
    ("\\log_2 8", "3", True),
    ("\\sqrt{x^2}", "|x|", True),
    ("\\frac{1}{\\sqrt{x}}", "x^{-1/2}", True),
    ("\\sqrt{x} \\sqrt{y}", "\\sqrt{xy}", True),
    ("\\frac{x^2 - 1}{x - 1}", "x + 1", True),
    ("\\frac{x^2 - 1}{x - 1}", "x - 1", False),
]


def expressions(rng: random.Random, math_golds: list[str]):
    for gold, answer, same in TRIG:
        yield gold, answer, "identity" if same else "wrong-identity", "generated"
    for _ in range(14):
        a, c = rng.choice([1, 2, 3]), rng.choice([1, 1, 2, -1])
        b, d = rng.randint(-6, 6) or 1, rng.randint(-6, 6) or -1
        v = rng.choice(["x", "t", "n", "a"])
        fact = f"({linear([a, b], [v, ''])})({linear([c, d], [v, ''])})"
        expanded = linear([a * c, a * d + b * c, b * d], [f"{v}^2", v, ""])
        yield expanded, fact, "factored", "generated"
        yield fact, expanded, "expanded", "generated"
        wrong = linear([a * c, a * d + b * c, -b * d], [f"{v}^2", v, ""])
        if b * d != 0:
            yield fact, wrong, "wrong-constant-sign", "generated"
    for _ in range(8):
        p, q, k = rng.randint(1, 9), rng.randint(1, 9), rng.choice([2, 3, 5])
        gold = f"\\frac{{x + {p}}}{{x + {q}}}"
        yield gold, f"\\frac{{{k}x + {k * p}}}{{{k}x + {k * q}}}", "scaled-fraction", "generated"
        yield gold, f"\\frac{{{k}x + {k * p}}}{{x + {k * q}}}", "wrong-scaled-numerator", "generated"
    shaped = [g for g in math_golds if any(c.isalpha() for c in g.replace("\\frac", "").replace("\\sqrt", "").replace("\\pi", "").replace("\\text", "").replace("\\left", "").replace("\\right", "")) and "=" not in g and "\\in" not in g and "\\text" not in g and "\\mbox" not in g and "pmatrix" not in g and "i" not in g.replace("\\pi", "")]
    shaped = [g for g in shaped if not any(m in g for m in ("\\pm", "\\cup", "\\{", ",", "["))]
    for g in shaped:
        flipped = " + ".join(reversed([t.strip() for t in g.split("+")])) if "+" in g and not any(c in g for c in "({-") else None
        if flipped and flipped != g:
            yield g, flipped, "terms-reordered", "math500"
        yield g, f"2\\cdot\\frac{{{g}}}{{2}}", "doubled-halved", "math500"


def plus_minus(rng: random.Random, math_golds: list[str]):
    golds = [g for g in math_golds if "\\pm" in g and not g.startswith("\\{")]
    for _ in range(8):
        a, b, c = rng.randint(-5, 6), rng.randint(1, 4), rng.choice([2, 3, 5, 6, 7, 10])
        golds.append(f"{a} \\pm {b if b > 1 else ''}\\sqrt{{{c}}}")
    for g in golds:
        a, r = [s.strip() for s in g.split("\\pm")]
        plus, minus = f"{a} + {r}", f"{a} - {r}"
        yield g, f"{plus}, {minus}", "expanded-list", "math500" if g in math_golds else "generated"
        yield g, f"{minus}, {plus}", "expanded-reordered", "math500" if g in math_golds else "generated"
        yield g, f"{plus} \\text{{ and }} {minus}", "expanded-and", "math500" if g in math_golds else "generated"
        yield g, f"\\{{{minus}, {plus}\\}}", "expanded-set", "math500" if g in math_golds else "generated"
        yield g, f"x = {plus}, x = {minus}", "expanded-assignments", "math500" if g in math_golds else "generated"
        yield g, plus, "wrong-one-root", "math500" if g in math_golds else "generated"
    for g in [g for g in math_golds if g.startswith("\\{") and "\\pm" in g]:
        yield g, "-2, 1+\\sqrt5, 1-\\sqrt5", "expanded-list", "math500"
        yield g, "1-\\sqrt{5}, -2, 1+\\sqrt{5}", "expanded-reordered", "math500"
        yield g, "1 \\pm \\sqrt{5}", "wrong-missing-element", "math500"


def lists_and_sets(rng: random.Random, math_golds: list[str]):
    golds = [g for g in math_golds if "," in g and g[0] not in "([\\" and not any(m in g for m in ("\\!", "{,", "\\in", "["))]
    golds = [g for g in golds if not g.replace(",", "").replace(" ", "").isdigit() or " " in g]
    for _ in range(8):
        k = rng.choice([2, 3, 4])
        items = rng.sample([-7, -3, -2, -1, 0, 1, 2, 3, 5, 8, 12], k)
        items = [num(Fraction(i, rng.choice([1, 1, 1, 2]))) for i in items]
        golds.append(", ".join(items))
    for g in golds:
        items = [s.strip() for s in g.split(",")]
        ds = "math500" if g in math_golds else "generated"
        perm = items[:]
        while perm == items and len(set(items)) > 1:
            rng.shuffle(perm)
        yield g, ", ".join(perm), "reordered", ds
        yield g, "\\{" + ", ".join(perm) + "\\}", "set-braces", ds
        yield g, " \\text{ and } ".join(perm), "words-and", ds
        yield g, ", ".join(perm[:-1]) + " \\text{ or } " + perm[-1], "words-or", ds
        yield g, ", ".join(perm[:-1]), "wrong-missing-element", ds
        yield g, ", ".join(perm + ["4"]) if "4" not in items else ", ".join(perm + ["6"]), "wrong-extra-element", ds
    for g in [g for g in math_golds if g.startswith("(") and g.endswith(")") and g.count(",") >= 2]:
        items = [s.strip() for s in g[1:-1].split(",")]
        yield g, "(" + ", ".join(reversed(items)) + ")", "wrong-tuple-reordered", "math500"
        yield g, "\\left(" + ",".join(items) + "\\right)", "tuple-spacing", "math500"


def interval(lo, hi, lo_closed, hi_closed) -> str:
    left = "[" if lo_closed and lo != "-\\infty" else "("
    right = "]" if hi_closed and hi != "\\infty" else ")"
    return f"{left}{lo}, {hi}{right}"


def intervals(rng: random.Random, math_golds: list[str]):
    for g in [g for g in math_golds if "\\cup" in g]:
        parts = [p.strip() for p in g.split("\\cup")]
        yield g, " \\cup ".join(reversed(parts)), "union-reordered", "math500"
    for _ in range(12):
        pts = sorted(rng.sample(range(-9, 12), 4))
        a = interval(pts[0], pts[1], rng.random() < 0.5, rng.random() < 0.5)
        b = interval(pts[2], pts[3], rng.random() < 0.5, rng.random() < 0.5)
        gold = f"{a} \\cup {b}"
        yield gold, f"{b} \\cup {a}", "union-reordered", "generated"
        flipped = ("(" if a[0] == "[" else "[") + a[1:]
        yield gold, f"{flipped} \\cup {b}", "wrong-endpoint-closed", "generated"
    for _ in range(8):
        a, m, b = sorted(rng.sample(range(-8, 14), 3))
        gold = f"({a}, {m}) \\cup ({m}, {b})"
        yield gold, f"({a}, {b}) \\setminus \\{{{m}\\}}", "punctured", "generated"
        yield gold, f"({a}, {b})", "wrong-point-kept", "generated"
    for _ in range(8):
        a, b = sorted(rng.sample(range(-6, 9), 2))
        gold = f"(-\\infty, {a}) \\cup ({b}, \\infty)"
        yield gold, f"\\mathbb{{R}} \\setminus [{a}, {b}]", "complement", "generated"
        yield gold, f"({b}, \\infty) \\cup (-\\infty, {a})", "union-reordered", "generated"
        yield gold, f"\\mathbb{{R}} \\setminus ({a}, {b})", "wrong-complement-open", "generated"
    for _ in range(4):
        a, m, b = sorted(rng.sample(range(-8, 14), 3))
        yield f"[{a}, {b}]", f"[{a}, {m}] \\cup [{m}, {b}]", "union-merged", "generated"


def percents(rng: random.Random, _math_golds: list[str]):
    for _ in range(10):
        p = rng.choice([5, 12, 20, 25, 35, 45, 60, 75, 80, 125, 150])
        fr = Fraction(p, 100)
        yield f"{p}\\%", num(fr), "as-fraction", "generated"
        yield f"{p}\\%", f"{float(fr):g}", "as-decimal", "generated"
        yield f"{p}", f"{p}\\%", "percent-sign-added", "generated"
        yield num(fr), f"{p}\\%", "fraction-as-percent", "generated"
        yield f"{p}\\%", f"{p / 10:g}\\%", "wrong-scale", "generated"
    for _ in range(6):
        p = rng.choice([12.5, 2.5, 37.5, 0.5])
        yield f"{p}\\%", f"{p / 100:g}", "as-decimal", "generated"
        yield f"{p}\\%", f"{p}", "percent-sign-dropped", "generated"


def decimals(rng: random.Random, math_golds: list[str]):
    for _ in range(16):
        q = rng.choice([3, 6, 7, 9, 11, 12, 13, 14, 17, 21])
        p = rng.randint(1, 3 * q)
        if p % q == 0:
            p += 1
        fr = Fraction(p, q)
        if fr.denominator in (1, 2, 4, 5, 8):
            continue
        digits = rng.choice([6, 7, 8, 10])
        yield num(fr), f"{float(fr):.{digits}f}", f"rounded-{digits}", "generated"
        short = rng.choice([2, 3, 4])
        yield num(fr), f"{float(fr):.{short}f}", f"wrong-rounded-{short}", "generated"
        yield num(fr), f"{float(fr) + 2e-6:.6f}", "wrong-sixth-digit", "generated"
    for g in [g for g in math_golds if g.replace(".", "", 1).isdigit() and "." in g]:
        fr = Fraction(g)
        yield g, num(fr), "decimal-as-fraction", "math500"
        yield g, f"{g}000", "trailing-zeros", "math500"


def units_and_text(rng: random.Random, math_golds: list[str]):
    for g in [g for g in math_golds if "\\text" in g or "\\mbox" in g]:
        body = g.split("\\text")[0].split("\\mbox")[0].strip()
        macro = "\\text{" if "\\text{" in g else "\\mbox{"
        start = g.index(macro) + len(macro)
        word = g[start : g.index("}", start)].strip()
        if body:  # a number with a unit
            yield g, body, "unit-dropped", "math500"
            yield g, f"{body}\\text{{ {word}}}", "unit-as-text", "math500"
        elif word.startswith("("):
            letter = word.strip("()")
            yield g, letter, "choice-letter", "math500"
            yield g, f"\\textbf{{{word}}}", "choice-bold", "math500"
            yield g, f"({letter})", "choice-parenthesised", "math500"
            yield g, chr(((ord(letter) - ord("A") + 1) % 5) + ord("A")), "wrong-choice", "math500"
        else:
            yield g, f"\\text{{{word.capitalize()}}}", "capitalised", "math500"
            yield g, word, "bare-word", "math500"
            yield g, f"\\text{{{word.upper()}}}", "upper-case", "math500"
    units = ["cm", "meters", "dollars", "square feet", "degrees", "hours", "inches"]
    for _ in range(14):
        n = rng.choice([3, 12, 45, 150, 2.5, 7.25])
        u = rng.choice(units)
        yield f"{n}", f"{n} \\text{{ {u}}}", "unit-added", "generated"
        yield f"{n}\\text{{ {u}}}", f"{n}", "unit-dropped", "generated"
        yield f"{n}", f"\\text{{{n} {u}}}", "number-inside-text", "generated"
        yield f"{n}", f"{n + 1} \\text{{ {u}}}", "wrong-with-unit", "generated"
    for word in ["Monday", "north", "Bob", "parabola", "odd"]:
        yield f"\\text{{{word}}}", f"\\text{{{word.swapcase()}}}", "case-swapped", "generated"
        yield f"\\text{{{word}}}", "\\text{Tuesday}" if word != "Tuesday" else "\\text{x}", "wrong-word", "generated"


def extraction(rng: random.Random, math_golds: list[str]):
    golds = [g for g in math_golds if "\\frac" in g and "\\pi" in g] + ["\\frac{\\pi}{3}", "\\frac{2\\pi}{3}"]
    for g in golds:
        yield g, ("answer-line-fraction", f"So the angle we want is found.\n\nAnswer: ${g}$"), "", "math500" if g in math_golds else "generated"
        yield g, ("answer-colon-bold", f"**Answer:** ${g}$"), "", "math500" if g in math_golds else "generated"
        yield g, ("final-answer-paren", f"The final answer is \\({g}\\)."), "", "math500" if g in math_golds else "generated"
    for n in [12, 45, 7, 250, 18]:
        yield str(n), ("escaped-dollar-sentence", f"Each ticket costs $\\${n}$."), "", "generated"
        yield str(n), ("escaped-dollar-answer-is", f"The answer is $\\${n}$."), "", "generated"
        yield str(n), ("escaped-dollar-cents", f"In total she pays $\\${n}.00$."), "", "generated"
        yield str(n), ("last-span-counts", f"We first get $x = {n + 3}$, then subtract 3 to get ${n}$."), "", "generated"
        yield str(n), ("wrong-last-span", f"We first get $x = {n}$, then add 3 to get ${n + 3}$."), "", "generated"


def stricter(rng: random.Random, _math_golds: list[str]):
    """Inputs math-verify refuses although a lenient grader would accept them."""
    for n in [1000, 25000, 1234567]:
        spaced = f"{n:,}".replace(",", "\\,")
        yield str(n), spaced, "thin-space-thousands", "generated"
    for n in [90, 45, 120]:
        yield str(n), f"{n}\u00b0", "unicode-degree", "generated"
        yield f"{n}^\\circ", f"{n}\u00b0", "unicode-degree", "generated"
    yield "\\infty", "\u221e", "unicode-infinity", "generated"
    yield "(2,\\infty)", "(2, \u221e)", "unicode-infinity", "generated"
    for n in [5, 3, 12]:
        yield f"{n}i", f"{n} \\cdot i", "cdot-imaginary", "generated"


CLASSES = {
    "equation": equations,
    "expression": expressions,
    "plus-minus": plus_minus,
    "list-set": lists_and_sets,
    "interval": intervals,
    "percent": percents,
    "decimal": decimals,
    "units-text": units_and_text,
    "extraction": extraction,
    "stricter": stricter,
}


def main() -> int:
    rng = random.Random(SEED)
    math_golds = [json.loads(line)["answer"] for line in MATH500_TEST.open(encoding="utf-8")]
    cases: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for cls, make in CLASSES.items():
        for gold, answer, rewrite, dataset in make(rng, math_golds):
            if isinstance(answer, tuple):  # a whole response, already styled
                style, response = answer
            else:
                wrapper, response = wrap(rng, answer)
                style = f"{rewrite}/{wrapper}"
            if (gold, response) in seen:
                continue
            seen.add((gold, response))
            cases.append({"id": f"{cls}-{len(cases)}", "dataset": dataset, "class": cls, "style": style, "gold": gold, "response": response})
    n_true = 0
    for i, case in enumerate(cases):
        eq, timed_out = mv_verdict(case["gold"], case["response"])
        case["equivalent"] = eq
        if timed_out:
            case["mv_timeout"] = True
        n_true += eq
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(cases)} labelled", file=sys.stderr)
    with OUT.open("w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
    per_class: dict[str, int] = {}
    for case in cases:
        per_class[case["class"]] = per_class.get(case["class"], 0) + 1
    print(f"wrote {len(cases)} cases to {OUT} ({n_true} equivalent): {per_class}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
