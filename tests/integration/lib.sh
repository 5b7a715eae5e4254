# lib.sh -- what the integration tests share: temp dirs, pass/fail counting.
# Each tests/integration/test_*.sh is sourced by run.sh with $BUILD set to the
# build directory holding pwccad and pwcca.

PW_PASSED=${PW_PASSED:-0}
PW_FAILED=${PW_FAILED:-0}

# ok NAME: record a pass.  fail NAME WHY: record a failure.
ok()   { PW_PASSED=$((PW_PASSED + 1)); echo "  ok   $1"; }
fail() { PW_FAILED=$((PW_FAILED + 1)); echo "  FAIL $1: $2"; }

# expect NAME COMMAND...: pass when the command succeeds.
expect() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name" "command failed: $*"; fi; }

# expect_status NAME CODE COMMAND...: pass when the command exits with CODE.
expect_status() {
    local name=$1 code=$2; shift 2
    "$@" >/dev/null 2>&1; local rc=$?
    if [ "$rc" = "$code" ]; then ok "$name"; else fail "$name" "exit $rc, expected $code: $*"; fi
}

# expect_output NAME PATTERN COMMAND...: pass when stdout+stderr match the grep -E pattern.
expect_output() {
    local name=$1 pat=$2; shift 2
    local out; out=$("$@" 2>&1)
    if grep -Eq -- "$pat" <<<"$out"; then ok "$name"; else fail "$name" "output lacks /$pat/: $(head -c 400 <<<"$out")"; fi
}

# A python3 that imports numpy (Debian's /usr/bin/python3 first), or empty.
pw_numpy_python() {
    local py
    for py in /usr/bin/python3 python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import numpy' 2>/dev/null; then echo "$py"; return; fi
    done
}

# pw_need WHO NEED...: 0 when every NEED is there, else one line saying which
# tests are skipped and what to install, and 1.  NEEDs: numpy (a python3 that
# imports it, see pw_numpy_python), sqlite3 (the CLI), or the path of a program
# the build makes.  A test file starts:  pw_need "watch tests" numpy sqlite3 || return 0
pw_need() {
    local who=$1 miss="" n; shift
    for n in "$@"; do
        case $n in
        numpy) [ -n "$(pw_numpy_python)" ] || miss="$miss, python3 with numpy (Debian: python3-numpy, via make deps)" ;;
        sqlite3) command -v sqlite3 >/dev/null || miss="$miss, the sqlite3 CLI (Debian: sqlite3, via make deps)" ;;
        *) [ -x "$n" ] || miss="$miss, $n (make all)" ;;
        esac
    done
    [ -z "$miss" ] && return 0
    echo "  skip: $who: missing ${miss#, }"
    return 1
}

# pw_daemon_start VAR LOG SOCK ARG...: pwccad ARG... --socket SOCK --foreground in
# the background, its output appended to LOG and its pid in $VAR; 0 once SOCK
# exists, 1 when it does not within 10 s.  pw_daemon_stop VAR: pw_stop_pid of
# $VAR, which is cleared; its exit status.
pw_daemon_start() {
    local var=$1 log=$2 sock=$3
    shift 3
    "$PWCCAD" "$@" --socket "$sock" --foreground >>"$log" 2>&1 &
    printf -v "$var" %s $!
    pw_wait 10 test -S "$sock"
}
pw_daemon_stop() {
    local pid=${!1} rc
    pw_stop_pid "$pid"
    rc=$?
    printf -v "$1" %s ""
    return $rc
}

# pw_wait SECONDS CMD...: poll CMD (output discarded) every 0.05 s until it
# succeeds; 1 when SECONDS pass first.  Every wait in the tests is bounded.
pw_wait() {
    local end=$((SECONDS + $1)); shift
    while [ $SECONDS -lt $end ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# pw_expect_wait NAME SECONDS CMD...: pass when CMD succeeds within SECONDS.
pw_expect_wait() {
    local name=$1 limit=$2; shift 2
    if pw_wait "$limit" "$@"; then ok "$name"; else fail "$name" "not true within ${limit}s: $*"; fi
}

# pw_stop_pid PID: SIGTERM, up to 5 s to exit, then SIGKILL; returns its exit status.
pw_stop_pid() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null
    local i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
