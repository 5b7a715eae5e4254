# test_trainer.sh -- the example trainer really trains, and writes checkpoints the
# way pwccad needs them: valid safetensors, complete the moment they appear under
# their name, no temporaries left behind, reproducible from the seed.
# Sourced by run.sh ($BUILD, $PW_TMP, ok/fail/expect from lib.sh).

tr_bin="$BUILD/examples/trainer"
tr_dir="$PW_TMP/trainer"
tr_py=$(pw_numpy_python)
tr_check="$(dirname "${BASH_SOURCE[0]}")/stcheck.py"
mkdir -p "$tr_dir"

expect_status "trainer rejects an unknown option" 2 "$tr_bin" --bogus
expect_status "trainer rejects --hidden with a zero width" 2 "$tr_bin" --hidden 64,0,64
expect_output "trainer --help shows usage" "^Usage: trainer" "$tr_bin" --help

# A small run: 4 hidden layers of 48, probe 400 (> 2 x 48 + 48 with room), 9 checkpoints.
tr_args=(--steps 400 --every 50 --hidden 48,48,48,48 --probe 400 --seed 7)
"$tr_bin" --out "$tr_dir/a" "${tr_args[@]}" >"$tr_dir/a.log" 2>&1 &
tr_pid=$!
# Watch the directory while it is written: every file must be complete when first seen.
if [ -n "$tr_py" ]; then
    if tr_out=$("$tr_py" "$tr_check" --watch "$tr_dir/a" --pid "$tr_pid" 2>&1); then
        ok "every checkpoint is complete the moment it appears ($tr_out)"
    else
        fail "checkpoints appear complete" "$tr_out"
    fi
fi
if wait "$tr_pid"; then ok "trainer run exits 0"; else fail "trainer run exits 0" "$(tail -3 "$tr_dir/a.log")"; fi

tr_files=$(cd "$tr_dir/a" && ls step-*.safetensors 2>/dev/null | tr '\n' ' ')
if [ "$tr_files" = "step-000000.safetensors step-000050.safetensors step-000100.safetensors step-000150.safetensors step-000200.safetensors step-000250.safetensors step-000300.safetensors step-000350.safetensors step-000400.safetensors " ]; then
    ok "one checkpoint every 50 steps, from 0 to 400"
else
    fail "one checkpoint every 50 steps" "found: $tr_files"
fi
if [ "$(cat "$tr_dir/a/FINAL" 2>/dev/null)" = 400 ]; then ok "FINAL names the last step"; else fail "FINAL names the last step" "FINAL: $(cat "$tr_dir/a/FINAL" 2>&1)"; fi
tr_dots=$(find "$tr_dir/a" -name '.*' -type f | wc -l)
if [ "$tr_dots" = 0 ]; then ok "no temporary files left behind"; else fail "no temporaries" "$tr_dots dotfiles left"; fi

# The loss falls and the accuracy rises: compare the first and last reported values.
tr_first=$(awk '$1 == "step" && $3 == "loss" { print $4; exit }' "$tr_dir/a.log")
tr_last=$(awk '$1 == "step" && $3 == "loss" { v = $4 } END { print v }' "$tr_dir/a.log")
if [ -n "$tr_first" ] && awk -v f="$tr_first" -v l="$tr_last" 'BEGIN { exit !(l < 0.8 * f) }'; then
    ok "training loss falls ($tr_first -> $tr_last)"
else
    fail "training loss falls" "first $tr_first, last $tr_last"
fi
tr_acc0=$(awk '$1 == "step" { for (i = 1; i < NF; i++) if ($i == "accuracy") { sub("%", "", $(i+1)); print $(i+1); exit } }' "$tr_dir/a.log")
tr_acc1=$(awk '$1 == "step" { for (i = 1; i < NF; i++) if ($i == "accuracy") { sub("%", "", $(i+1)); v = $(i+1) } } END { print v }' "$tr_dir/a.log")
if [ -n "$tr_acc0" ] && awk -v a="$tr_acc0" -v b="$tr_acc1" 'BEGIN { exit !(b > a + 20) }'; then
    ok "probe accuracy rises by more than 20 points ($tr_acc0% -> $tr_acc1%)"
else
    fail "probe accuracy rises" "$tr_acc0% -> $tr_acc1%"
fi

# Structure of every file, checked by an independent parser.
if [ -n "$tr_py" ]; then
    if tr_out=$("$tr_py" "$tr_check" "$tr_dir"/a/step-*.safetensors 2>&1) &&
       "$tr_py" -c '
import json, sys
for line in sys.stdin:
    s = json.loads(line)
    step = int(s["file"][5:11])
    assert s["meta"]["step"] == str(step), s
    assert s["layers"] == ["fc1", "fc2", "fc3", "fc4", "logits"], s
    assert s["meta"]["layers"] == "fc1,fc2,fc3,fc4,logits", s
    assert s["dtypes"] == ["F32"] * 5, s
    assert s["shapes"] == [[400, 48]] * 4 + [[400, 10]], s
' <<<"$tr_out"; then
        ok "checkpoints are valid safetensors: step metadata, layers bottom to top, F32 [400, width]"
    else
        fail "checkpoints are valid safetensors" "$(head -c 600 <<<"$tr_out")"
    fi
else
    echo "  SKIP structure check: no python3 with numpy"
fi

# Same seed, same bytes; another seed, another network.
"$tr_bin" --out "$tr_dir/b" "${tr_args[@]}" --quiet >/dev/null 2>&1
expect "the same seed reproduces the run byte for byte" cmp "$tr_dir/a/step-000400.safetensors" "$tr_dir/b/step-000400.safetensors"
"$tr_bin" --out "$tr_dir/c" --steps 400 --every 50 --hidden 48,48,48,48 --probe 400 --seed 8 --quiet --no-final >/dev/null 2>&1
if ! cmp -s "$tr_dir/a/step-000400.safetensors" "$tr_dir/c/step-000400.safetensors" && [ ! -e "$tr_dir/c/FINAL" ]; then
    ok "another seed trains another network; --no-final writes no FINAL"
else
    fail "seed and --no-final" "seed 8 gave identical bytes or FINAL exists"
fi

# Once `pwcca compare` exists: a checkpoint compared with itself gives pwcca 1.
if "$PWCCA" compare --help >/dev/null 2>&1; then
    tr_json=$("$PWCCA" compare "$tr_dir/a/step-000200.safetensors" "$tr_dir/a/step-000200.safetensors" --json 2>&1)
    if jq -e '[.. | objects | select(has("pwcca")) | .pwcca] | length == 5 and all(. > 1 - 1e-9 and . < 1 + 1e-9)' <<<"$tr_json" >/dev/null 2>&1; then
        ok "pwcca compare of a trainer checkpoint with itself gives 1 for all 5 layers"
    else
        fail "pwcca compare of a checkpoint with itself" "$(head -c 600 <<<"$tr_json")"
    fi
fi
