#!/usr/bin/env bash
# run.sh -- runs every tests/integration/test_*.sh against the real binaries in
# $BUILD (only those named in $PW_IT_ONLY, if set) and prints "integration: N passed, N failed"; non-zero exit on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:?BUILD must name the build directory}"
BUILD=$(cd "$BUILD" && pwd)  # tests cd elsewhere
export BUILD PWCCA="$BUILD/pwcca" PWCCAD="$BUILD/pwccad"
export PW_TMP; PW_TMP=$(mktemp -d /tmp/pwcca-it.XXXXXX)
trap 'rm -rf "$PW_TMP"' EXIT
source "$here/lib.sh"
for t in "$here"/test_*.sh; do
    # PW_IT_ONLY="daemon metrics" runs only test_daemon.sh and test_metrics.sh
    if [ -n "${PW_IT_ONLY:-}" ]; then
        name=$(basename "$t" .sh); name=${name#test_}
        case " $PW_IT_ONLY " in *" $name "*) ;; *) continue ;; esac
    fi
    echo "-- $(basename "$t")"
    # shellcheck disable=SC1090
    source "$t"
done
echo "integration: $PW_PASSED passed, $PW_FAILED failed"
[ "$PW_FAILED" = 0 ]
