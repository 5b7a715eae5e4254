# test_python_probe.sh -- the PyTorch probe helper (integrations/python) on real
# small trainings: an MLP with a bfloat16 layer, a conv net (NCHW) and a
# sequence model ([N, T, D]).  probe_train.py checks the files it writes; then
# the real daemon scores them and every stored score must equal `pwcca compare`
# on the same files.  Needs Debian's python3-torch (`make deps-torch`); without
# it the test says so and counts nothing.

pp_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pp_py=/usr/bin/python3
if ! "$pp_py" -c 'import torch, numpy' >/dev/null 2>&1; then
    echo "  SKIP: python3-torch not installed (run make deps-torch)"
else
    pp_dir="$PW_TMP/probe"
    mkdir -p "$pp_dir/runs"
    if pp_out=$("$pp_py" "$pp_here/probe_train.py" "$pp_dir/runs" 2>&1); then
        ok "torch trainings with pwcca_probe: loss falls, files valid, values exact, BF16 raw bits ($pp_out)"
    else
        fail "torch trainings with pwcca_probe" "$(tail -c 600 <<<"$pp_out")"
    fi

    pp_finals=0
    if pp_feat=$("$pp_py" "$pp_here/probe_features.py" "$pp_dir/runs" 2>&1); then
        ok "affordable probes: ResNet-18 with spatial=, a padded transformer, the background writer ($(tail -1 <<<"$pp_feat"))"
        pp_finals=$(tail -1 <<<"$pp_feat" | "$pp_py" -c 'import json, sys; print(json.load(sys.stdin)["final_scores"])')
        case "$pp_feat" in *"resnet\": \"skipped"*) echo "  SKIP ResNet-18: python3-torchvision not installed (make deps-torch)" ;; esac
    else
        fail "affordable probes (probe_features.py)" "$(tail -c 600 <<<"$pp_feat")"
    fi

    # shellcheck source=../e2e/lib.sh
    source "$pp_here/../e2e/lib.sh"
    if ! e2e_ready; then
        echo "  SKIP daemon comparison: this build has no working pwccad, pwcca status or pwcca compare yet"
    elif e2e_start "$pp_dir/pwccad.db" "$pp_dir/pwccad.sock" "$pp_dir/pwccad.log" --watch "$pp_dir/runs"; then
        # 3 runs x 5 checkpoints; layers: mlp 4, conv 3, seq 2.  FINAL is in every
        # run, so each checkpoint is also scored against step 40.  probe_features.py
        # adds its runs (resnet, tfm: 3 checkpoints each) and says how many finals.
        pp_q="SELECT count(*) FROM scores WHERE ref = 'final'"
        if e2e_wait_sql "$pp_dir/pwccad.db" "$pp_q" $((4 * 4 + 4 * 3 + 4 * 2 + pp_finals)) 90 &&
            e2e_wait_quiet "$pp_dir/pwccad.db" 20; then
            ok "the daemon scored the torch runs against their final checkpoints"
        else
            fail "the daemon scored the torch runs" "$E2E_LAST final scores after 90 s; log: $(tail -5 "$pp_dir/pwccad.log")"
        fi
        pp_bf=$(e2e_sql "$pp_dir/pwccad.db" "SELECT dtype FROM layers l JOIN runs r ON r.id = l.run_id WHERE r.name = 'mlp' AND l.name = 'bf16'")
        if [ "$pp_bf" = BF16 ]; then ok "the daemon read the bfloat16 layer as BF16"; else fail "BF16 layer" "layers.dtype = '$pp_bf'"; fi
        pp_shape=$(e2e_sql "$pp_dir/pwccad.db" "SELECT rows || 'x' || cols FROM layers l JOIN runs r ON r.id = l.run_id WHERE r.name = 'conv' AND l.name = 'relu2'")
        if [ "$pp_shape" = 1536x16 ]; then ok "conv output [96,16,4,4] is 1536 positions x 16 channels"; else fail "NCHW layer" "rows x cols = $pp_shape"; fi
        pp_seq=$(e2e_sql "$pp_dir/pwccad.db" "SELECT rows || 'x' || cols FROM layers l JOIN runs r ON r.id = l.run_id WHERE r.name = 'seq' AND l.name = 'act'")
        if [ "$pp_seq" = 600x24 ]; then ok "sequence output [120,5,24] is 600 tokens x 24 features"; else fail "sequence layer" "rows x cols = $pp_seq"; fi
        if pp_cmp=$("$pp_py" "$pp_here/../e2e/db_vs_compare.py" "$pp_dir/pwccad.db" "$PWCCA" 2>&1); then
            ok "every stored score equals pwcca compare on the same files ($pp_cmp)"
        else
            fail "stored scores equal pwcca compare" "$(head -c 800 <<<"$pp_cmp")"
        fi
        if e2e_stop TERM; then ok "pwccad stops cleanly on SIGTERM"; else fail "pwccad stops cleanly" "exit status $?"; fi
    else
        fail "pwccad starts on the torch runs" "$(tail -5 "$pp_dir/pwccad.log")"
        e2e_stop KILL
    fi
fi
