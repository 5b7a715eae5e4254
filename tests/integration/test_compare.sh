# test_compare.sh -- `pwcca compare` reproduces the reference cases in every format it reads.
#
# F64 variants (safetensors, npy, npz stored/deflated, conv NCHW, sequence) must
# match shared/reference/expected.json; F32 and BF16 variants must match the
# definitions evaluated by tests/integration/pwref.py (an independent SVD route)
# on the rounded data.  Then the command-line contract: exit codes and messages.

py=$(pw_numpy_python)
if pw_need "test_compare" numpy; then
    cases="$PW_TMP/cases"
    "$py" "$(dirname "${BASH_SOURCE[0]}")/pwref.py" write "$PW_REFERENCE" "$cases"
    for c in $(cd "$PW_REFERENCE" && ls *.X.npy | sed 's/\.X\.npy$//'); do
        d="$cases/$c"
        for v in "a64.safetensors b64.safetensors ref" "x.npy y.npy ref" \
                 "a_stored.npz b_deflated.npz ref" "a_conv.safetensors b_conv.safetensors ref" \
                 "a_seq.npz b_seq.npz ref" "a32.safetensors b32.safetensors f32" \
                 "a16.safetensors b16.safetensors bf16"; do
            set -- $v
            [ -e "$d/$1" ] || continue
            # The reference is the exact definitions: no reduction for wide cases.
            "$PWCCA" compare "$d/$1" "$d/$2" --json --reduce none > "$d/out.json" 2> "$d/err.txt"
            rc=$?
            res=$("$py" - "$d/out.json" "$PW_REFERENCE/expected.json" "$cases/expected.json" "$c" "$3" <<'PY'
import json, math, sys
out, ref, mine, case, kind = sys.argv[1:]
try:
    got = json.load(open(out))["layers"][0]
except Exception as e:
    print("unparsable output: %s" % e); sys.exit()
if kind == "ref":
    exp = json.load(open(ref))["cases"][case]; tol = json.load(open(ref))["tolerance"]
else:
    exp = json.load(open(mine))[case][kind]; tol = {"pwcca": 1e-9, "mean_cca": 1e-9, "svcca": 1e-7, "cka": 1e-9}
bad = []
if got["status"] != exp.get("status", "ok"):
    bad.append("status %s != %s" % (got["status"], exp.get("status")))
for k in ("pwcca", "mean_cca", "svcca", "cka"):
    e = exp.get(k)
    g = got.get(k)
    if e is None:
        if g is not None: bad.append("%s should be null, got %r" % (k, g))
    elif g is None or abs(g - e) > tol[k]:
        bad.append("%s %r vs %r" % (k, g, e))
if exp.get("pwcca") is not None and got.get("distance") is not None and abs(got["distance"] - (1 - got["pwcca"])) > 1e-15:
    bad.append("distance != 1 - pwcca")
for k in ("p_kept", "q_kept"):
    if k in exp and got[k] != exp[k]: bad.append("%s %r vs %r" % (k, got[k], exp[k]))
print("; ".join(bad) if bad else "OK")
PY
)
            if [ "$rc" = 0 ] && [ "$res" = OK ]; then ok "compare $c $1 $2"
            else fail "compare $c $1 $2" "exit $rc: $res $(head -c 300 "$d/err.txt")"; fi
        done
    done

    d="$cases/b_independent"
    out=$("$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --metrics cka --json)
    if "$py" -c 'import json,sys; l=json.loads(sys.argv[1])["layers"][0]; sys.exit(not (l["pwcca"] is None and l["svcca"] is None and l["cka"] is not None))' "$out"
    then ok "--metrics cka computes only cka"; else fail "--metrics cka computes only cka" "$out"; fi
    # One parser for --metrics and the config key (issue #16): blanks after commas and "all".
    out=$("$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --metrics "pwcca, cka" --json)
    if "$py" -c 'import json,sys; l=json.loads(sys.argv[1])["layers"][0]; sys.exit(not (l["pwcca"] is not None and l["cka"] is not None and l["svcca"] is None and l["mean_cca"] is None))' "$out"
    then ok "--metrics \"pwcca, cka\" computes pwcca and cka only"; else fail "--metrics \"pwcca, cka\" computes pwcca and cka only" "$out"; fi
    out=$("$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --metrics all --json)
    if "$py" -c 'import json,sys; l=json.loads(sys.argv[1])["layers"][0]; sys.exit(not all(l[k] is not None for k in ("pwcca","distance","mean_cca","svcca","cka")))' "$out"
    then ok "--metrics all computes every metric"; else fail "--metrics all computes every metric" "$out"; fi
    expect_output "table output has a header and the status" "^layer +n +p +q +pwcca.*status" \
        "$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors"
    expect_output "the degenerate case is reported as insufficient_datapoints with advice" \
        "insufficient_datapoints" "$PWCCA" compare "$cases/f_small_n_degenerate/a64.safetensors" \
        "$cases/f_small_n_degenerate/b64.safetensors" --reduce none
    expect_status "an unknown --layer exits 1" 1 "$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --layer nope
    expect_output "an unknown --layer names the known layers" "layers of .*: layer" \
        "$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --layer nope
    printf 'garbage' > "$PW_TMP/bad.safetensors"
    expect_status "a malformed file exits 1" 1 "$PWCCA" compare "$PW_TMP/bad.safetensors" "$d/b64.safetensors"
    expect_output "a malformed file is named in the error" "bad.safetensors" \
        "$PWCCA" compare "$PW_TMP/bad.safetensors" "$d/b64.safetensors"
    expect_status "one file is a usage error" 2 "$PWCCA" compare "$d/a64.safetensors"
    expect_status "an unknown metric is a usage error" 2 "$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --metrics foo
    expect_status "compare --help exits 0" 0 "$PWCCA" compare --help
    # compare parses its options like every other subcommand (client/cli.c's table).
    expect_output "compare takes --option=value like the other subcommands" '"cka": 0\.[0-9]' \
        "$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --metrics=cka --json
    expect_output "compare names an option that lacks its value and hints --help" \
        "^pwcca compare: --layer needs a value, not the option '--json'$" \
        "$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --layer --json
    expect_output "compare's unknown option is one line and a --help hint" \
        "^Try 'pwcca compare --help'\.$" "$PWCCA" compare "$d/a64.safetensors" --bogus
    expect_output "compare --layer of a name in neither file lists both files' layers" \
        "^  layers of .*/b64\.safetensors: [^ ]" \
        "$PWCCA" compare "$d/a64.safetensors" "$d/b64.safetensors" --layer nosuchlayer
fi
