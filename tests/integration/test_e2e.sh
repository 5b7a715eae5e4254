# test_e2e.sh -- runs the end-to-end test (tests/e2e/run.sh) in its own process,
# so its daemon, trainer and traps stay apart from the other tests, and adds its
# passes and failures to the integration totals.
e2e_sh="$(cd "$(dirname "${BASH_SOURCE[0]}")/../e2e" && pwd)/run.sh"
e2e_out=$(BUILD="$BUILD" E2E_KEEP=1 timeout 300 bash "$e2e_sh" 2>&1)
e2e_rc=$?
sed 's/^/  /' <<<"$e2e_out" | grep -v '^  e2e: [0-9]* passed'
e2e_sum=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed$' <<<"$e2e_out" | tail -1)
if [ -n "$e2e_sum" ]; then
    e2e_p=${e2e_sum#e2e: }
    PW_PASSED=$((PW_PASSED + ${e2e_p%% *}))
    e2e_f=${e2e_sum#*passed, }
    PW_FAILED=$((PW_FAILED + ${e2e_f%% *}))
    [ "$e2e_rc" = 0 ] || [ "${e2e_f%% *}" != 0 ] || fail "tests/e2e/run.sh" "exit status $e2e_rc with no failure counted"
else
    fail "tests/e2e/run.sh" "no summary line (exit status $e2e_rc; timeout after 300 s is 124)"
fi

# The client's format checks (test_client.sh) on the database the real daemon
# just wrote from real checkpoints, not only on the fixture.
e2e_kept=$(sed -n 's/^e2e: kept //p' <<<"$e2e_out" | tail -1)
if [ -n "$e2e_kept" ] && [ -f "$e2e_kept/pwccad.db" ] && declare -F pw_client_checks >/dev/null; then
    pw_client_checks "$e2e_kept/pwccad.db" a
fi
[ -n "$e2e_kept" ] && rm -rf "$e2e_kept"
