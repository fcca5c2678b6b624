#!/usr/bin/env bash
# Runs every test of Lianxiao: the one command for a newcomer and for CI (.ci/run).
#
# On a fresh Debian 12 machine (as root) it installs what the tests need, starts a private
# PostgreSQL cluster under target/pg-test (unless LIANXIAO_TEST_PG_URL points at a reachable
# one), builds every target once, then runs side by side: the whole workspace's tests
# (end-to-end on SQLite), the end-to-end suite again on PostgreSQL, and the binding tests
# (Kotlin, Python); then rustfmt and clippy (skip them with LIANXIAO_SKIP_LINT=1). Each phase
# keeps its whole output in target/test-logs/ (phases run side by side are shown when they
# end). Set LIANXIAO_KEEP_PG=1 to leave the private cluster running for the next run.
#
# The tests must pass at any hour of the day. To prove it, run them with the clock at another
# time: LIANXIAO_TEST_FAKETIME='20:00 UTC' scripts/test.sh (anything `date -d` reads; 20:00 UTC
# is 04:00 in China, in the quiet hours) runs every test process (the test binaries, the
# servers they start, Python and the JVM) under libfaketime with the wall clock moved there
# and running on from it; monotonic clocks (timeouts) are left alone, and so are cargo and
# PostgreSQL. Tests about time of day use the server's test clock instead
# (LIANXIAO_TEST_CLOCK=1, PUT /v1/test/clock).
#
# Each side-by-side test phase runs at most LIANXIAO_TEST_THREADS tests at once (default 2:
# two phases on a 2-core machine; end-to-end tests mostly wait on their servers).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

section() { printf '\n===== %s =====\n' "$*"; }
die() {
    printf 'test.sh: %s\n' "$*" >&2
    exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------------------------------------
# What the tests need. One line per tool: `need_apt PACKAGE CHECK` where CHECK is a command
# name or a path (globs allowed) that exists once PACKAGE is installed; `need_npm PACKAGE
# COMMAND` installs an npm package under .tools/npm.

APT_MISSING=()
NPM_MISSING=()

present() {
    local check=$1
    if [[ $check == */* ]]; then
        compgen -G "$check" >/dev/null
    else
        command -v "$check" >/dev/null
    fi
}

need_apt() {
    present "$2" || APT_MISSING+=("$1")
}

NPM_PREFIX="$ROOT/.tools/npm"
export PATH="$NPM_PREFIX/node_modules/.bin:$PATH"
need_npm() {
    present "$2" && return 0
    NPM_MISSING+=("$1")
    need_apt npm npm
}

need_apt postgresql '/usr/lib/postgresql/*/bin/initdb'
# The binding tests: Kotlin on the JVM (JNA, JUnit, kotlinc) and Python.
need_apt default-jdk-headless java
need_apt libjna-java /usr/share/java/jna.jar
need_apt junit4 /usr/share/java/junit4.jar
need_apt python3 python3
# Broadcast lessons: the server runs ffmpeg to package RTMP pushes into HLS, and the tests push with it.
need_apt ffmpeg ffmpeg
# A third-party tus client (tuspy, from PyPI) checks the upload endpoint; it lives in a venv.
need_apt python3-venv '/usr/lib/python3*/ensurepip/__init__.py'
# LIANXIAO_TEST_FAKETIME: the tests under another wall clock.
need_apt faketime '/usr/lib/*/faketime/libfaketime.so.1'
need_npm kotlin-compiler@2.4.20 "$NPM_PREFIX/node_modules/kotlin-compiler/bin/kotlinc-jvm"

install_missing() {
    if [ ${#APT_MISSING[@]} -gt 0 ]; then
        section "Installing ${APT_MISSING[*]}"
        if ! is_root; then
            die "missing Debian packages: ${APT_MISSING[*]}; install them with" \
                "'sudo apt-get install --no-install-recommends ${APT_MISSING[*]}' and run again"
        fi
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_MISSING[@]}"
    fi
    if [ ${#NPM_MISSING[@]} -gt 0 ]; then
        section "Installing ${NPM_MISSING[*]} (npm, into .tools/npm)"
        npm install --no-audit --no-fund --prefix "$NPM_PREFIX" "${NPM_MISSING[@]}"
    fi
}
install_missing

VENV="$ROOT/.tools/venv"
if ! "$VENV/bin/python" -c 'import tusclient, schemathesis' 2>/dev/null; then
    section "Installing tuspy and schemathesis (pip, into .tools/venv)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "tuspy>=1.1,<2" "schemathesis>=4.3,<5"
fi
export LIANXIAO_TEST_PYTHON="$VENV/bin/python" LIANXIAO_REQUIRE_TUSPY=1

# ---------------------------------------------------------------------------------------------
# PostgreSQL: the given LIANXIAO_TEST_PG_URL if it answers, else a private cluster.

PG_STARTED_HERE=""
PG_BIN=""
PG_DIR=""

pg_answers() {
    PGCONNECT_TIMEOUT=5 psql "$1" -XAtqc 'select 1' >/dev/null 2>&1
}

# Runs a PostgreSQL tool as the owner of the cluster: initdb and postgres refuse root.
as_pg() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop_pg() {
    if [ -n "$PG_STARTED_HERE" ] && [ -z "${LIANXIAO_KEEP_PG:-}" ]; then
        section "Stopping the private PostgreSQL"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
    fi
}

start_private_pg() {
    PG_BIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql"

    PG_DIR="$ROOT/target/pg-test"
    mkdir -p "$PG_DIR"
    if is_root; then
        chown postgres: "$PG_DIR"
    fi
    # The postgres user must reach the directory, and a unix socket path has ~100 bytes.
    if ! as_pg test -w "$PG_DIR" || [ ${#PG_DIR} -gt 80 ]; then
        PG_DIR="/tmp/lianxiao-pg-test-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
        mkdir -p "$PG_DIR"
        if is_root; then
            chown postgres: "$PG_DIR"
        fi
    fi
    local data="$PG_DIR/data" port

    if [ -f "$data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        port=$(sed -n 4p "$data/postmaster.pid")
        echo "Reusing the PostgreSQL already running in $data on port $port"
    else
        if [ ! -f "$data/PG_VERSION" ]; then
            echo "Creating a PostgreSQL cluster in $data"
            as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale \
                >"$PG_DIR/initdb.log" 2>&1 || {
                cat "$PG_DIR/initdb.log" >&2
                die "initdb failed"
            }
        fi
        port=55432
        while ! port_free "$port"; do
            port=$((port + 1))
            [ "$port" -lt 55532 ] || die "no free port for PostgreSQL in 55432-55531"
        done
        echo "Starting PostgreSQL from $data on 127.0.0.1:$port"
        # Test data is disposable: durability settings off for speed.
        as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null || {
            tail -n 30 "$PG_DIR/server.log" >&2 || true
            die "PostgreSQL did not start"
        }
        PG_STARTED_HERE=1
    fi
    LIANXIAO_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
    pg_answers "$LIANXIAO_TEST_PG_URL" || die "the private PostgreSQL does not answer at $LIANXIAO_TEST_PG_URL"
    # Databases left behind by test runs that were killed.
    local stale
    stale=$(psql "$LIANXIAO_TEST_PG_URL" -XAtqc \
        "select datname from pg_database where datname like 'lianxiao\_test\_%'")
    for db in $stale; do
        psql "$LIANXIAO_TEST_PG_URL" -Xqc "drop database if exists \"$db\" with (force)" >/dev/null || true
    done
}

section "PostgreSQL"
if [ -n "${LIANXIAO_TEST_PG_URL:-}" ] && pg_answers "$LIANXIAO_TEST_PG_URL"; then
    echo "Using LIANXIAO_TEST_PG_URL"
else
    if [ -n "${LIANXIAO_TEST_PG_URL:-}" ]; then
        echo "LIANXIAO_TEST_PG_URL does not answer; starting a private cluster instead"
    fi
    trap stop_pg EXIT
    start_private_pg
fi
export LIANXIAO_TEST_PG_URL

# ---------------------------------------------------------------------------------------------
# Build, test, lint. Every phase runs even if an earlier one failed, so one run shows
# everything; the script fails if any phase did.

LOG_DIR="$ROOT/target/test-logs"
mkdir -p "$LOG_DIR"
FAILED=()
TESTS_PASSED=0
TESTS_FAILED=0

THREADS=${LIANXIAO_TEST_THREADS:-2}
if cargo nextest --version >/dev/null 2>&1; then
    test_cmd() { cargo nextest run --no-fail-fast --test-threads "$THREADS" "$@"; }
    # The same build as the workspace run (same feature unification, so nothing is rebuilt),
    # running only the packages whose tests start a server.
    pg_test_cmd() { test_cmd --workspace -E 'package(lianxiao-tests) | package(lianxiao-cli)'; }
else
    test_cmd() { cargo test --no-fail-fast "$@" -- --test-threads "$THREADS"; }
    pg_test_cmd() { test_cmd -p lianxiao-tests -p lianxiao-cli; }
fi

# LIANXIAO_TEST_FAKETIME (see the top): libfaketime for the test processes only. Cargo runs the
# test binaries through a target runner (nextest too); cargo itself keeps the real clock, so
# nothing it writes (fingerprints) gets a time from the fake clock. The offset is taken once,
# so the fake clock runs on through the whole run like the real one.
FAKE_ENV=()
if [ -n "${LIANXIAO_TEST_FAKETIME:-}" ]; then
    fake_lib=$(compgen -G '/usr/lib/*/faketime/libfaketime.so.1' | head -n 1)
    [ -n "$fake_lib" ] || die "LIANXIAO_TEST_FAKETIME needs libfaketime (apt-get install faketime)"
    fake_at=$(date -u -d "$LIANXIAO_TEST_FAKETIME" +%s) ||
        die "LIANXIAO_TEST_FAKETIME: date cannot read '$LIANXIAO_TEST_FAKETIME'"
    fake_offset=$((fake_at - $(date -u +%s)))
    FAKE_ENV=(env "LD_PRELOAD=$fake_lib" "FAKETIME=$(printf '%+d' "$fake_offset")"
        FAKETIME_DONT_FAKE_MONOTONIC=1)
    host=$(rustc -vV | sed -n 's/^host: //p')
    runner_var="CARGO_TARGET_$(printf '%s' "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
    export "$runner_var=${FAKE_ENV[*]}"
    section "Tests run with the clock at $(date -u -d "@$fake_at") (${FAKE_ENV[*]:1})"
    # Proof that it takes: a test process sees the fake hour.
    "${FAKE_ENV[@]}" date -u
fi

# Adds up the counts from nextest's summary or from cargo test's per-binary result lines.
count_tests() {
    local log=$1 counts
    counts=$(sed -E 's/\x1b\[[0-9;]*m//g' "$log" | awk '
        /^ *Summary .* tests? run: / {
            nextest = 1
            if (match($0, /[0-9]+ passed/)) p += substr($0, RSTART, RLENGTH) + 0
            if (match($0, /[0-9]+ failed/)) f += substr($0, RSTART, RLENGTH) + 0
            next
        }
        /^[0-9]+ passed, [0-9]+ failed/ {
            cp += $1 + 0
            cf += $3 + 0
            next
        }
        /^test result: / {
            if (match($0, /[0-9]+ passed/)) cp += substr($0, RSTART, RLENGTH) + 0
            if (match($0, /[0-9]+ failed/)) cf += substr($0, RSTART, RLENGTH) + 0
        }
        END { if (nextest) print p + 0, f + 0; else print cp + 0, cf + 0 }')
    TESTS_PASSED=$((TESTS_PASSED + ${counts% *}))
    TESTS_FAILED=$((TESTS_FAILED + ${counts#* }))
}

phase_log() { printf '%s/%s.log' "$LOG_DIR" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9' '-')"; }

# run_phase NAME COMMAND...: runs a phase, keeps its output in target/test-logs.
run_phase() {
    local name=$1
    shift
    section "$name"
    local log
    log=$(phase_log "$name")
    if "$@" 2>&1 | tee "$log"; then
        status=0
    else
        status=1
        FAILED+=("$name")
    fi
    count_tests "$log"
    return 0
}

# start_phase NAME COMMAND...: like run_phase, but in the background beside the phases started
# before it; its output goes to its log, shown whole (and counted) by finish_phases.
BG_NAMES=()
BG_PIDS=()
BG_STARTED=()
start_phase() {
    local name=$1
    shift
    local log
    log=$(phase_log "$name")
    section "$name: started beside the others, output in ${log#"$ROOT"/}"
    "$@" >"$log" 2>&1 </dev/null &
    BG_NAMES+=("$name")
    BG_PIDS+=("$!")
    BG_STARTED+=("$(date +%s)")
}

# finish_phases: waits for every phase start_phase started, in order, and accounts for each.
finish_phases() {
    local i log result
    for i in "${!BG_PIDS[@]}"; do
        if wait "${BG_PIDS[$i]}"; then
            result=ok
        else
            result=FAILED
            FAILED+=("${BG_NAMES[$i]}")
        fi
        log=$(phase_log "${BG_NAMES[$i]}")
        section "${BG_NAMES[$i]} ($result, done within $(($(date +%s) - BG_STARTED[i])) s of its start)"
        cat "$log"
        count_tests "$log"
    done
    BG_NAMES=()
    BG_PIDS=()
    BG_STARTED=()
}

# Every target in one cargo invocation, so that every later step finds it built: cargo
# resolves dependencies' features per invocation, and a `cargo build -p` of one package (the
# server, the FFI library, xtask) would compile much of the tree again with other features.
# The end-to-end tests spawn this server binary; the binding tests load this library.
run_phase "Build every target" cargo build --workspace --lib --bins --tests --examples
if [ "$status" -eq 0 ]; then
    # Side by side: each starts its own servers on free ports, each PostgreSQL test server its
    # own database, so the phases share nothing but the machine; beside each other they take
    # about the time of the longest instead of the sum (the PostgreSQL phase re-runs every
    # end-to-end test, and the binding tests mostly wait on their servers and the JVM).
    LIANXIAO_TEST_BACKEND=sqlite start_phase "Tests (end-to-end on SQLite)" test_cmd --workspace
    LIANXIAO_TEST_BACKEND=postgres start_phase "End-to-end tests on PostgreSQL" pg_test_cmd
    LIANXIAO_PREBUILT=1 start_phase "Bindings (Kotlin on the JVM, Python, Swift header)" \
        "${FAKE_ENV[@]}" target/debug/xtask test-bindings
    finish_phases
    run_phase "OpenAPI fuzzing (schemathesis, SQLite and PostgreSQL)" tests/fuzz/run.sh
fi

if [ -z "${LIANXIAO_SKIP_LINT:-}" ] || [ "${LIANXIAO_SKIP_LINT}" = 0 ]; then
    run_phase "rustfmt" cargo fmt --all --check
    run_phase "clippy" cargo clippy --workspace --all-targets -- -D warnings
fi

stop_pg
PG_STARTED_HERE=""

section "Summary"
if [ ${#FAILED[@]} -gt 0 ]; then
    printf 'failed: %s\n' "${FAILED[@]}"
fi
echo "tests: $TESTS_PASSED passed, $TESTS_FAILED failed"
[ ${#FAILED[@]} -eq 0 ]
