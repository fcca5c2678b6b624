#!/usr/bin/env bash
# Schema-driven fuzzing: schemathesis sends the server what its OpenAPI document allows and
# what it forbids, and checks every answer against the document (tests/tests/input_fuzz.rs).
# Runs on SQLite, then on PostgreSQL when LIANXIAO_TEST_PG_URL is set (scripts/test.sh sets
# it). Needs schemathesis in .tools/venv (scripts/test.sh installs it) and the built server.
#
# Bounded: LIANXIAO_FUZZ_EXAMPLES examples per operation and phase (default 25; about a
# minute per database on a busy 2-core machine). Extra schemathesis options go in
# LIANXIAO_FUZZ_ARGS, e.g. LIANXIAO_FUZZ_ARGS="--include-path /v1/sync --report har" with
# LIANXIAO_FUZZ_REPORT_DIR=/tmp/fuzz to keep the report.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [ ! -x .tools/venv/bin/schemathesis ] && [ -z "${LIANXIAO_TEST_PYTHON:-}" ]; then
    echo "tests/fuzz/run.sh: schemathesis is not in .tools/venv; run scripts/test.sh, or" \
        "python3 -m venv .tools/venv && .tools/venv/bin/pip install 'schemathesis>=4.3,<5'" >&2
    exit 1
fi

fuzz() {
    # --workspace: the features scripts/test.sh built every target with, so nothing is rebuilt.
    LIANXIAO_TEST_BACKEND=$1 cargo test --workspace --test input_fuzz -- --ignored --nocapture
}

status=0
echo "== schemathesis against the server on SQLite =="
fuzz sqlite || status=1
if [ -n "${LIANXIAO_TEST_PG_URL:-}" ]; then
    echo "== schemathesis against the server on PostgreSQL =="
    fuzz postgres || status=1
else
    echo "LIANXIAO_TEST_PG_URL is not set: PostgreSQL skipped" >&2
fi
exit "$status"
