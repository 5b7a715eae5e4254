# test_honest.sh -- the summaries never state what their data does not support (issue 15).
#
# The mistakes a new user makes with real files: a torch.save file given to
# compare, one .npy per step, two files with no layer in common, an option
# without its value; then a real pwccad on runs where layers were never
# measured (too few datapoints) or where a probe-set change left steps
# without a distance: runs, status, convergence and the alert must name
# those layers and say why, and no verdict may rest on them.

H_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_PY=$(pw_numpy_python)
if [ -z "$H_PY" ]; then
    echo "  SKIP test_honest: no python3 with numpy (Debian: python3-numpy, via make deps)"
    return 0 2>/dev/null || exit 0
fi
H=$PW_TMP/honest
mkdir -p "$H"

# ---- compare: a torch.save file is named as such, with the way out -------------------------
# torch.save (torch >= 1.6) writes a zip: NAME/data.pkl (the pickle), NAME/data/0, ...
"$H_PY" - "$H/model.pt" "$H/step-100.npz" <<'EOF'
import pickle, sys, zipfile
for path in sys.argv[1:]:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("model/data.pkl", pickle.dumps({"fc": "storage 0"}))
        z.writestr("model/byteorder", "little")
        z.writestr("model/data/0", b"\0" * 64)
        z.writestr("model/version", "3\n")
EOF
"$H_PY" "$H_HERE/mkckpt.py" "$H/a.safetensors" --layers conv1,fc --seed 1
expect_status "compare of a torch.save file exits 1" 1 "$PWCCA" compare "$H/model.pt" "$H/a.safetensors"
expect_output "compare says a torch.save file is a pickle it does not read" \
    "model.pt: a PyTorch torch.save file .*does not read" "$PWCCA" compare "$H/model.pt" "$H/a.safetensors"
expect_output "compare says how to write safetensors instead" \
    "safetensors.torch.save_file\(\{name: t.detach\(\).contiguous\(\)" "$PWCCA" compare "$H/a.safetensors" "$H/model.pt"
expect_output "a torch.save file named .npz is still recognised" \
    "step-100.npz: a PyTorch torch.save file" "$PWCCA" compare "$H/step-100.npz" "$H/a.safetensors"

# ---- compare: one .npy per step compares; files with nothing in common are an error ----------
"$H_PY" - "$H" <<'EOF'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
base = rng.standard_normal((200, 6)).astype("<f4")
np.save(d + "/step-000100.npy", base)
np.save(d + "/step-000200.npy", base + np.float32(0.01) * rng.standard_normal((200, 6)).astype("<f4"))
EOF
out=$("$PWCCA" compare "$H/step-000100.npy" "$H/step-000200.npy" --json 2>&1); rc=$?
if [ "$rc" = 0 ] && "$H_PY" -c '
import json, sys
l = json.loads(sys.argv[1])["layers"]
assert len(l) == 1 and l[0]["layer"] == "activations" and l[0]["status"] == "ok", l' "$out" 2>/dev/null; then
    ok "two .npy files compare as the one layer 'activations'"
else
    fail "two .npy files compare as the one layer 'activations'" "exit $rc: $(head -c 300 <<<"$out")"
fi
"$H_PY" "$H_HERE/mkckpt.py" "$H/b.safetensors" --layers embed,head --seed 2
expect_status "compare of files with no layer in common exits 1" 1 "$PWCCA" compare "$H/a.safetensors" "$H/b.safetensors"
expect_output "compare names both files' layers when none is common" \
    "no layer in common: .*a.safetensors has conv1, fc; .*b.safetensors has embed, head" \
    "$PWCCA" compare "$H/a.safetensors" "$H/b.safetensors"

# ---- options without their value ---------------------------------------------------------------
expect_status "curve --layer without a value exits 2" 2 "$PWCCA" --db "$H/none.db" curve r --layer
expect_output "curve --layer without a value says so" "^pwcca curve: --layer needs a value$" \
    "$PWCCA" --db "$H/none.db" curve r --layer
expect_output "curve --layer followed by an option says the value is missing" \
    "^pwcca curve: --layer needs a value, not the option '--format'" \
    "$PWCCA" --db "$H/none.db" curve r --layer --format csv
expect_output "plot -o without a value names both spellings" "^pwcca plot: -o \(--output\) needs a value$" \
    "$PWCCA" --db "$H/none.db" plot r -o
expect_output "an unknown option is called unknown" "^pwcca runs: unknown option '--bogus'$" \
    "$PWCCA" --db "$H/none.db" runs --bogus
expect_status "--db without a value exits 2" 2 "$PWCCA" --db
expect_output "--db without a value says so" "^pwcca: --db needs a value" "$PWCCA" --db
expect_output "--socket followed by a command says it lacks its value" "^pwcca: --socket needs a value" \
    "$PWCCA" --socket --db x runs
expect_output "compare --layer without a value says so" "^pwcca compare: --layer needs a value" \
    "$PWCCA" compare "$H/a.safetensors" "$H/b.safetensors" --layer
