#!/usr/bin/env python3
"""Builds crates/hicra-tasks/tests/fixtures/math_verify_agreement.jsonl.

A labelled set for checking the Rust math-answer verifier against the Python reference,
HuggingFace's `math-verify` package. Each output line is

    {"id", "dataset": "gsm8k"|"math500", "style", "gold", "response", "equivalent"}

(adversarial lines also carry "mv_timeout"), where `equivalent` is math-verify's own verdict

    verify(parse(gold_for_mv), parse(response))

with the package's default `parse` / `verify` arguments (default extraction config:
[LatexExtractionConfig(), ExprExtractionConfig()], its 5 s internal timeouts).
`gold_for_mv` is the gold wrapped as `\\boxed{GOLD}`:
  * GSM8K: gold is the number after "#### " in the `answer` field, commas stripped.
  * MATH-500: gold is the `answer` field, unchanged.

Responses are generated with a seeded RNG in named styles. Styles starting with "wrong-" are
meant to be wrong, "adversarial-" ones probe robustness, all others are meant to be correct
rewritings of the gold; the label is always math-verify's verdict, so a Rust verifier can be
compared style by style. Every case is scored in a forked child process with a hard time limit;
a child that hangs is killed and recorded as "equivalent": false, "mv_timeout": true.
(math-verify's own 5 s timeouts fire first on the worst inputs -- 1000-deep nesting, power
towers, 1000000! -- and make it answer false; those lines have "mv_timeout": false.)

How to run (from the repository root, after scripts/fetch-data.sh):

    python3 -m venv /tmp/venv-mv
    /tmp/venv-mv/bin/pip install math-verify==0.9.0   # pulls latex2sympy2_extended, antlr4 4.13.2
    /tmp/venv-mv/bin/python scripts/label_math_verify.py

The output is deterministic for a given math-verify version.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import random
import re
import sys
from fractions import Fraction
from pathlib import Path

from math_verify import parse, verify

ROOT = Path(__file__).resolve().parent.parent
GSM8K_TEST = ROOT / "data/gsm8k/test.jsonl"
MATH500_TEST = ROOT / "data/math500/test.jsonl"
OUT = ROOT / "crates/hicra-tasks/tests/fixtures/math_verify_agreement.jsonl"

SEED = 20240601
N_GSM8K_ROWS = 300
N_MATH_ROWS = 250
P_CORRECT = 0.6
HARD_TIMEOUT_S = 60  # per case, on top of math-verify's own signal-based timeouts

logging.disable(logging.WARNING)  # math-verify logs parse failures; they are expected here


# --------------------------------------------------------------------------------------------
# math-verify, guarded
# --------------------------------------------------------------------------------------------


def gold_for_mv(gold: str) -> str:
    return "\\boxed{" + gold + "}"


def _mv_child(conn, gold: str, response: str) -> None:
    try:
        conn.send(bool(verify(parse(gold_for_mv(gold)), parse(response))))
    except BaseException:  # noqa: BLE001 - any crash is "not equivalent"
        conn.send(False)
    finally:
        conn.close()


def mv_verdict(gold: str, response: str) -> tuple[bool, bool]:
    """Returns (equivalent, timed_out), running math-verify in a forked child."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_mv_child, args=(child, gold, response))
    proc.start()
    child.close()
    if parent.poll(HARD_TIMEOUT_S):
        result = parent.recv()
        proc.join()
        return result, False
    proc.kill()
    proc.join()
    return False, True


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------

LEAD_INS = [
    "Let me work through this step by step.",
    "We need to compute the requested quantity.",
    "First, set up the problem carefully.",
    "Let's solve this.",
    "Okay, let me think about this problem.",
]


def boxed_sentence(rng: random.Random, ans: str) -> str:
    lead = rng.choice(LEAD_INS)
    tail = rng.choice(
        [
            "so the answer is $\\boxed{%s}$.",
            "Therefore, the final answer is $\\boxed{%s}$.",
            "Hence the result is \\boxed{%s}.",
            "Putting it together we get \\[\\boxed{%s}\\]",
        ]
    )
    return f"{lead} After simplifying, {tail % ans}" if tail.startswith("so") else f"{lead} {tail % ans}"


def final_answer_sentence(ans: str) -> str:
    return f"The final answer is ${ans}$. I hope it is correct."


def last_boxed_span(text: str) -> tuple[int, int] | None:
    """(start, end) of the content of the last \\boxed{...} in `text`, braces matched."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i = start + len("\\boxed{")
    depth = 1
    j = i
    while j < len(text):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return i, j
        j += 1
    return None


def replace_last_boxed(text: str, new: str) -> str | None:
    span = last_boxed_span(text)
    if span is None:
        return None
    return text[: span[0]] + new + text[span[1] :]


def with_thousands(n: int) -> str:
    return f"{n:,}"


# --------------------------------------------------------------------------------------------
# GSM8K
# --------------------------------------------------------------------------------------------

CALC_RE = re.compile(r"<<[^>]*>>")


def gsm8k_gold(row: dict) -> str:
    return row["answer"].split("####")[-1].strip().replace(",", "")


def gsm8k_worked(row: dict) -> str:
    """The reference reasoning without calculator annotations and without the #### line."""
    body = row["answer"].split("####")[0]
    return CALC_RE.sub("", body).strip()


def gsm8k_correct_styles(row: dict, gold: str) -> dict[str, str]:
    n = int(gold)
    q = row["question"]
    s: dict[str, str] = {}
    s["boxed-plain"] = None  # filled below with rng-dependent wording
    s["final-answer-dollar"] = final_answer_sentence(gold)
    s["plain-sentence"] = f"Adding everything up, the answer is {gold}."
    s["hash-marker"] = f"{gsm8k_worked(row)}\n#### {gold}"
    s["worked-solution-boxed"] = f"{gsm8k_worked(row)}\nSo the answer is $\\boxed{{{gold}}}$."
    s["boxed-decimal-zero"] = f"The answer is $\\boxed{{{gold}.0}}$."
    s["boxed-decimal-two-zeros"] = f"The answer is $\\boxed{{{gold}.00}}$."
    s["bold-markdown"] = f"Computing each part and summing.\n\n**Answer: {gold}**"
    s["boxed-assignment"] = f"Let $x$ be the unknown. Solving gives $\\boxed{{x = {gold}}}$."
    if abs(n) >= 1000:
        s["boxed-thousands-comma"] = f"The total is $\\boxed{{{with_thousands(n)}}}$."
        s["plain-thousands-comma"] = f"The total comes to {with_thousands(n)}."
    money = "$" in q or "dollar" in q.lower()
    if money and n >= 0:
        s["boxed-escaped-dollar"] = f"The answer is $\\boxed{{\\${gold}}}$."
        s["plain-currency"] = f"So the total is ${gold}."
        s["boxed-text-units"] = f"The answer is $\\boxed{{{gold} \\text{{ dollars}}}}$."
    if re.search(r"what percent|percentage", q, re.IGNORECASE):  # the answer is itself a percent
        s["boxed-percent"] = f"The answer is $\\boxed{{{gold}\\%}}$."
    return s


def gsm8k_wrong_styles(rng: random.Random, row: dict, gold: str, other_golds: list[str]) -> dict[str, str]:
    n = int(gold)
    s: dict[str, str] = {}
    delta = rng.choice([-1, 1])
    s["wrong-off-by-one"] = f"The answer is $\\boxed{{{n + delta}}}$."
    other = rng.choice([g for g in other_golds if g != gold])
    s["wrong-other-row"] = f"Therefore, the final answer is $\\boxed{{{other}}}$."
    s["wrong-scaled"] = f"The answer is $\\boxed{{{n * rng.choice([2, 10])}}}$."
    s["wrong-half-added"] = f"The final answer is ${n}.5$."
    if n != 0:
        s["wrong-sign"] = f"The answer is $\\boxed{{{-n}}}$."
    worked = gsm8k_worked(row)
    inter = [m for m in re.findall(r"\d+(?:\.\d+)?", worked) if m.rstrip("0").rstrip(".") != gold and m != gold]
    if inter:
        s["wrong-intermediate-value"] = f"{worked}\nSo the answer is $\\boxed{{{inter[0]}}}$."
    return s


# --------------------------------------------------------------------------------------------
# MATH-500
# --------------------------------------------------------------------------------------------

FRAC_RE = re.compile(r"^(-?)\\d?frac\{(\d+)\}\{(\d+)\}$")
INT_RE = re.compile(r"^-?\d+$")


def split_top_level(s: str) -> list[str]:
    """Splits on commas that are not inside (), [], {}."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def remove_spaces(a: str) -> str:
    # Drop a space unless it separates two letters (e.g. "\cot x" must keep its space).
    return re.sub(r"(?<![A-Za-z]) | (?![A-Za-z])", "", a)


def terminating_decimal(fr: Fraction) -> str | None:
    d = fr.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return None
    s = f"{float(fr):.10f}".rstrip("0").rstrip(".")
    return s if Fraction(s) == fr else None


def to_ascii_math(a: str) -> str | None:
    """Plain-text form of simple answers (digits, \\frac, \\sqrt, \\pi), else None."""
    if re.search(r"\d\s*\\d?frac", a):  # mixed numbers have no faithful plain form here
        return None
    s = a.replace(" ", "")
    s = re.sub(r"\\sqrt\{([^{}]+)\}", r"sqrt(\1)", s)
    s = re.sub(r"\\d?frac\{([^{}]+)\}\{([^{}]+)\}", r"(\1)/(\2)", s)
    s = re.sub(r"\((\d+)\)/", r"\1/", s)
    s = re.sub(r"/\((\d+)\)", r"/\1", s)
    s = re.sub(r"(\d)(sqrt|\\pi)", r"\1*\2", s)
    s = s.replace("\\pi", "pi")
    if re.fullmatch(r"[0-9+\-*/().a-z]+", s) and set(re.findall(r"[a-z]+", s)) <= {"sqrt", "pi"}:
        return s
    return None


def math_correct_styles(row: dict) -> dict[str, str]:
    a = row["answer"]
    s: dict[str, str] = {}
    s["boxed-plain"] = None  # rng-dependent wording
    s["final-answer-dollar"] = final_answer_sentence(a)
    s["solution-verbatim"] = row["solution"]
    if "\\frac" in a:
        s["dfrac-for-frac"] = final_answer_sentence(a.replace("\\frac", "\\dfrac"))
    elif "\\dfrac" in a:
        s["frac-for-dfrac"] = final_answer_sentence(a.replace("\\dfrac", "\\frac"))
    short = re.sub(r"\\(d?)frac\{(\d)\}\{(\d)\}", r"\\\1frac\2\3", a)
    if short != a:
        s["frac-shorthand"] = f"So the answer is $\\boxed{{{short}}}$."
    long = re.sub(r"\\(d?)frac ?(\d)(\d)(?![0-9])", r"\\\1frac{\2}{\3}", a)
    long = re.sub(r"\\(d?)frac\{(\d+)\}(\d)(?![0-9])", r"\\\1frac{\2}{\3}", long)
    long = re.sub(r"\\(d?)frac(\d)\{(\d+)\}", r"\\\1frac{\2}{\3}", long)
    if long != a:
        s["frac-braces-added"] = f"So the answer is $\\boxed{{{long}}}$."
    m = FRAC_RE.match(a.replace(" ", ""))
    if m:
        sign, p, q = m.group(1), int(m.group(2)), int(m.group(3))
        s["frac-as-slash"] = f"The answer is $\\boxed{{{sign}{p}/{q}}}$."
        fr = Fraction(p, q) * (-1 if sign else 1)
        dec = terminating_decimal(fr)
        if dec is not None:
            s["frac-as-decimal"] = f"The answer is $\\boxed{{{dec}}}$."
        if not sign and p > q and p % q:
            s["frac-as-mixed-number"] = f"The answer is $\\boxed{{{p // q}\\frac{{{p % q}}}{{{q}}}}}$."
    if INT_RE.match(a):
        n = int(a)
        s["int-decimal-zero"] = f"The answer is $\\boxed{{{a}.0}}$."
        if abs(n) >= 1000:
            s["int-thousands-comma"] = f"The answer is $\\boxed{{{with_thousands(n)}}}$."
            braced_commas = with_thousands(n).replace(",", "{,}")
            s["int-thousands-braced-comma"] = f"The answer is $\\boxed{{{braced_commas}}}$."
        s["plain-sentence"] = f"Counting carefully, the answer is {a}."
    if a[:1] in "([" and a[-1:] in ")]" and "\\left" not in a and "\\cup" not in a:
        s["left-right-added"] = f"The answer is $\\boxed{{\\left{a[0]} {a[1:-1]} \\right{a[-1]}}}$."
    if "\\left" in a:
        s["left-right-removed"] = final_answer_sentence(a.replace("\\left", "").replace("\\right", ""))
    if remove_spaces(a) != a:
        s["spaces-removed"] = f"So the answer is $\\boxed{{{remove_spaces(a)}}}$."
    spaced = re.sub(r"\s*([,=+])\s*", r" \1 ", a).strip()
    spaced = re.sub(r" , ", ", ", spaced)
    if spaced != a and "\\!" not in a and not re.fullmatch(r"\d+(,\d{3})+", a):
        s["spaces-added"] = f"So the answer is $\\boxed{{{spaced}}}$."
    # Unordered lists of solutions ("1,-2", "3, 5, 7", "\{...\}"): reorder.
    inner, wrap = a, ("", "")
    if a.startswith("\\{") and a.endswith("\\}"):
        inner, wrap = a[2:-2], ("\\{", "\\}")
    items = split_top_level(inner)
    if (
        len(items) > 1
        and a[:1] not in "(["
        and "\\!" not in a
        and not all(re.fullmatch(r"\d{3}", it.strip()) for it in items[1:])
    ):
        s["set-reordered"] = f"The solutions are $\\boxed{{{wrap[0]}{', '.join(x.strip() for x in reversed(items))}{wrap[1]}}}$."
    tm = re.fullmatch(r"\\text\{(.*)\}", a)
    if tm:
        s["text-wrapper-removed"] = f"The answer is $\\boxed{{{tm.group(1)}}}$."
        s["textbf-wrapper"] = f"The answer is $\\boxed{{\\textbf{{{tm.group(1)}}}}}$."
    if INT_RE.match(a) or m:
        s["text-units-added"] = f"The answer is $\\boxed{{{a} \\text{{ units}}}}$."
    if "^\\circ" in a:
        no_degree = a.replace("^\\circ", "")
        braced_degree = a.replace("^\\circ", "^{\\circ}")
        s["degree-removed"] = f"The answer is $\\boxed{{{no_degree}}}$."
        s["degree-braced"] = f"The answer is $\\boxed{{{braced_degree}}}$."
    if re.fullmatch(r"\d+_\{?\d+\}?", a):
        s["base-subscript-removed"] = f"The answer is $\\boxed{{{a.split('_')[0]}}}$."
    sq = re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt\1", a)
    if sq != a:
        s["sqrt-unbraced"] = f"The answer is $\\boxed{{{sq}}}$."
    sq2 = re.sub(r"\\sqrt(\d)(?![0-9])", r"\\sqrt{\1}", a)
    if sq2 != a:
        s["sqrt-braced"] = f"The answer is $\\boxed{{{sq2}}}$."
    mul = re.sub(r"(\d) ?(\\sqrt|\\pi)", r"\1 \\cdot \2", a)
    if mul != a:
        s["explicit-cdot"] = f"The answer is $\\boxed{{{mul}}}$."
    asc = to_ascii_math(a)
    if asc is not None and asc != a:
        s["plain-ascii-math"] = f"The answer is {asc}"
    return s


def bump_first_int(a: str) -> str | None:
    m = re.search(r"\d+", a)
    if not m or re.search(r"\\d?frac\s*\d", a):  # "\frac9{19}" + 1 would not be a fraction
        return None
    return a[: m.start()] + str(int(m.group()) + 1) + a[m.end() :]


def math_wrong_styles(rng: random.Random, row: dict, others: list[str]) -> dict[str, str]:
    a = row["answer"]
    norm = lambda x: x.replace(" ", "").replace("\\dfrac", "\\frac")  # noqa: E731
    s: dict[str, str] = {}
    other = rng.choice([o for o in others if norm(o) != norm(a)])
    s["wrong-other-row"] = f"Therefore, the final answer is $\\boxed{{{other}}}$."
    bumped = bump_first_int(a)
    if bumped is not None:
        s["wrong-first-number-plus-one"] = f"So the answer is $\\boxed{{{bumped}}}$."
        sol = replace_last_boxed(row["solution"], bumped)
        if sol is not None:
            s["wrong-solution-boxed-changed"] = sol
    if INT_RE.match(a):
        s["wrong-off-by-one"] = f"The answer is $\\boxed{{{int(a) - 1}}}$."
    m = FRAC_RE.match(a.replace(" ", ""))
    if m:
        sign, p, q = m.group(1), m.group(2), m.group(3)
        if p != q:
            s["wrong-reciprocal-fraction"] = f"The answer is $\\boxed{{{sign}\\frac{{{q}}}{{{p}}}}}$."
    if a.startswith("-") and len(a) > 1:
        s["wrong-sign"] = f"The answer is $\\boxed{{{a[1:]}}}$."
    elif re.match(r"^(\d|\\frac|\\sqrt|\\dfrac)", a) and a != "0":
        s["wrong-sign"] = f"The answer is $\\boxed{{-{a}}}$."
    if a[:1] == "(" and a[-1:] == ")" and "\\cup" not in a:
        items = split_top_level(a[1:-1])
        if len(items) > 1 and items[0].strip() != items[-1].strip():
            s["wrong-tuple-reordered"] = f"The answer is $\\boxed{{({','.join(reversed(items))})}}$."
    if a[:1] in "([" and a[-1:] in ")]" and len(split_top_level(a[1:-1])) == 2:
        flipped = ("[" if a[0] == "(" else "(") + a[1:]
        s["wrong-interval-bracket"] = f"The answer is $\\boxed{{{flipped}}}$."
    return s


# --------------------------------------------------------------------------------------------
# Adversarial cases
# --------------------------------------------------------------------------------------------


def adversarial_cases(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(dataset, style, gold, response)."""
    big = "".join(rng.choice("0123456789") for _ in range(10_000)).lstrip("0")
    nest = lambda body, d: "{" * d + body + "}" * d  # noqa: E731
    cases = [
        ("gsm8k", "adversarial-10k-digit-number", "18", f"The answer is $\\boxed{{{big}}}$."),
        ("gsm8k", "adversarial-10k-digit-plain", "18", f"The answer is {big}."),
        ("gsm8k", "adversarial-10k-leading-zeros", "18", "The answer is $\\boxed{" + "0" * 10_000 + "18}$."),
        ("gsm8k", "adversarial-10k-trailing-decimal-zeros", "18", "The answer is $\\boxed{18." + "0" * 10_000 + "}$."),
        ("gsm8k", "adversarial-10k-digit-gold-prefix", "18", "The answer is $\\boxed{18" + "0" * 9_998 + "}$."),
        ("gsm8k", "adversarial-nested-braces-1000", "18", "The answer is \\boxed" + nest("18", 1000) + "."),
        ("gsm8k", "adversarial-nested-braces-1000-dollar", "18", "The answer is $\\boxed" + nest("18", 1000) + "$."),
        ("gsm8k", "adversarial-nested-parens-1000", "18", "The answer is $\\boxed{" + "(" * 1000 + "18" + ")" * 1000 + "}$."),
        ("gsm8k", "adversarial-unbalanced-open-brace", "18", "The answer is $\\boxed{18$."),
        ("gsm8k", "adversarial-unbalanced-extra-close", "18", "The answer is $\\boxed{18}}$."),
        ("gsm8k", "adversarial-unbalanced-many-open", "18", "The answer is \\boxed{{{{18"),
        ("math500", "adversarial-unbalanced-frac", "\\frac{14}{3}", "The answer is $\\boxed{\\frac{14}{3}$."),
        ("gsm8k", "adversarial-power-tower", "9", "The answer is $\\boxed{9^{9^{9}}}$."),
        ("gsm8k", "adversarial-power-tower-tall", "9", "The answer is $\\boxed{9^{9^{9^{9}}}}$."),
        ("gsm8k", "adversarial-huge-power", "10", "The answer is $\\boxed{10^{10^{10}}}$."),
        ("gsm8k", "adversarial-huge-factorial", "24", "The answer is $\\boxed{1000000!}$."),
        ("gsm8k", "adversarial-several-boxed-last-correct", "18", "Maybe $\\boxed{17}$? No, it is $\\boxed{18}$."),
        ("gsm8k", "adversarial-several-boxed-first-correct", "18", "I get $\\boxed{18}$. Wait, actually $\\boxed{17}$."),
        ("gsm8k", "adversarial-several-boxed-alternatives", "18", "The answer is $\\boxed{18}$ or $\\boxed{19}$."),
        ("gsm8k", "adversarial-several-boxed-same-box", "18", "The answer is $\\boxed{17, 18, 19}$."),
        ("gsm8k", "adversarial-boxed-repeated-2000", "18", "$\\boxed{18}$ " * 2_000),
        ("gsm8k", "adversarial-arabic-indic-digits", "12", "The answer is $\\boxed{١٢}$."),
        ("gsm8k", "adversarial-arabic-indic-plain", "12", "The answer is ١٢."),
        ("gsm8k", "adversarial-fullwidth-digits", "18", "The answer is $\\boxed{１８}$."),
        ("gsm8k", "adversarial-devanagari-digits", "18", "The answer is $\\boxed{१८}$."),
        ("gsm8k", "adversarial-superscript-digits", "18", "The answer is $\\boxed{¹⁸}$."),
        ("math500", "adversarial-unicode-minus", "-50", "The answer is $\\boxed{−50}$."),
        ("math500", "adversarial-unicode-minus-plain", "-50", "The answer is −50."),
        ("math500", "adversarial-unicode-minus-wrong", "-50", "The answer is $\\boxed{−49}$."),
        ("gsm8k", "adversarial-zero-width-space", "18", "The answer is $\\boxed{1\u200b8}$."),
        ("gsm8k", "adversarial-nul-byte", "18", "The answer is $\\boxed{18}$.\x00"),
        ("gsm8k", "adversarial-empty-response", "18", ""),
        ("gsm8k", "adversarial-whitespace-response", "18", " \n\t "),
        ("gsm8k", "adversarial-empty-boxed", "18", "The answer is $\\boxed{}$."),
        ("gsm8k", "adversarial-division-by-zero", "18", "The answer is $\\boxed{\\frac{1}{0}}$."),
        ("gsm8k", "adversarial-zero-over-zero", "18", "The answer is $\\boxed{\\frac{0}{0}}$."),
        ("gsm8k", "adversarial-infinity", "18", "The answer is $\\boxed{\\infty}$."),
        ("gsm8k", "adversarial-variable-answer", "18", "The answer is $\\boxed{x}$."),
        ("gsm8k", "adversarial-nested-boxed", "18", "The answer is $\\boxed{\\boxed{18}}$."),
        ("gsm8k", "adversarial-latex-macro-definition", "18", "\\def\\x{18} The answer is $\\boxed{\\x}$."),
        ("gsm8k", "adversarial-long-filler", "18", "blah " * 5_000 + "The answer is $\\boxed{18}$."),
        ("gsm8k", "adversarial-only-dollars", "18", "$" * 1000),
    ]
    return cases


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


# Styles that apply to (almost) every row; the row-specific rewritings get a higher weight so
# that they are not drowned out.
GENERIC_STYLES = {
    "boxed-plain",
    "final-answer-dollar",
    "solution-verbatim",
    "plain-sentence",
    "int-decimal-zero",
    "text-units-added",
    "bold-markdown",
    "boxed-assignment",
    "boxed-decimal-zero",
    "boxed-decimal-two-zeros",
    "hash-marker",
    "worked-solution-boxed",
    "wrong-other-row",
    "wrong-sign",
}


# Rewritings that only a few MATH-500 answers allow; one is always added where it applies, so
# that each is represented (sets, intervals, tuples, \left/\right, \text, bases, degrees...).
RARE_MATH_STYLES = {
    "set-reordered",
    "left-right-added",
    "left-right-removed",
    "base-subscript-removed",
    "text-wrapper-removed",
    "textbf-wrapper",
    "frac-braces-added",
    "frac-for-dfrac",
    "frac-as-mixed-number",
    "frac-as-decimal",
    "sqrt-braced",
    "degree-removed",
    "degree-braced",
    "int-thousands-comma",
    "int-thousands-braced-comma",
    "wrong-tuple-reordered",
    "wrong-interval-bracket",
}


def pick_styles(rng: random.Random, correct: dict[str, str], wrong: dict[str, str]) -> list[tuple[str, str]]:
    """1-3 distinct styles for one row, each correct with probability P_CORRECT."""
    n = rng.choices([1, 2, 3], weights=[5, 3, 1])[0]
    chosen: list[tuple[str, str]] = []
    for _ in range(n):
        pool = correct if rng.random() < P_CORRECT else wrong
        avail = [k for k in sorted(pool) if k not in dict(chosen)]
        if not avail:
            continue
        k = rng.choices(avail, weights=[1 if a in GENERIC_STYLES else 4 for a in avail])[0]
        chosen.append((k, pool[k]))
    return chosen


def main() -> int:
    for p in (GSM8K_TEST, MATH500_TEST):
        if not p.exists():
            print(f"missing {p}: run scripts/fetch-data.sh first", file=sys.stderr)
            return 1
    rng = random.Random(SEED)
    gsm = [json.loads(line) for line in GSM8K_TEST.open(encoding="utf-8")]
    math = [json.loads(line) for line in MATH500_TEST.open(encoding="utf-8")]

    cases: list[dict] = []

    gsm_golds = [gsm8k_gold(r) for r in gsm]
    for row in rng.sample(gsm, N_GSM8K_ROWS):
        gold = gsm8k_gold(row)
        correct = gsm8k_correct_styles(row, gold)
        correct["boxed-plain"] = boxed_sentence(rng, gold)
        wrong = gsm8k_wrong_styles(rng, row, gold, gsm_golds)
        for k, (style, resp) in enumerate(pick_styles(rng, correct, wrong)):
            cases.append(
                {"id": f"gsm8k-test-{row['idx']}-{k}", "dataset": "gsm8k", "style": style, "gold": gold, "response": resp}
            )

    # All rows whose answer is not a plain integer (they carry the interesting shapes), topped
    # up with randomly chosen integer-answer rows.
    math_answers = [r["answer"] for r in math]
    shaped = [r for r in math if not INT_RE.match(r["answer"])]
    plain = [r for r in math if INT_RE.match(r["answer"])]
    math_rows = shaped[:N_MATH_ROWS] + rng.sample(plain, max(0, N_MATH_ROWS - len(shaped)))
    for row in math_rows:
        correct = math_correct_styles(row)
        correct["boxed-plain"] = boxed_sentence(rng, row["answer"])
        wrong = math_wrong_styles(rng, row, math_answers)
        uid = row["unique_id"].removeprefix("test/").removesuffix(".json").replace("/", "-")
        chosen = pick_styles(rng, correct, wrong)
        rare = sorted(k for k in {**correct, **wrong} if k in RARE_MATH_STYLES)
        if rare and not any(style in RARE_MATH_STYLES for style, _ in chosen):
            k = rng.choice(rare)
            chosen.append((k, {**correct, **wrong}[k]))
        for k, (style, resp) in enumerate(chosen):
            cases.append(
                {"id": f"math500-{uid}-{k}", "dataset": "math500", "style": style, "gold": row["answer"], "response": resp}
            )

    for k, (dataset, style, gold, resp) in enumerate(adversarial_cases(rng)):
        cases.append({"id": f"adversarial-{k}", "dataset": dataset, "style": style, "gold": gold, "response": resp})

    n_true = n_timeout = 0
    for i, case in enumerate(cases):
        eq, timed_out = mv_verdict(case["gold"], case["response"])
        case["equivalent"] = eq
        if timed_out or case["style"].startswith("adversarial-"):
            case["mv_timeout"] = timed_out
        n_true += eq
        n_timeout += timed_out
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(cases)} labelled", file=sys.stderr)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {OUT} ({n_true} equivalent, {n_timeout} timed out)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
