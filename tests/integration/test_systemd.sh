# test_systemd.sh -- the installed units pass systemd's own checks: `systemd-analyze
# verify` has nothing to say about pwccad.service, an instance of
# pwccad@.service, or pwccad.service with the metrics drop-in, and
# `systemd-analyze security --offline=yes` rates each one's overall exposure
# at most 2.0.  sysusers.d and tmpfiles.d entries are applied to the DESTDIR
# as a root file system.  Nothing is started; skipped where systemd's tools
# are missing.
#
# verify checks that ExecStart's binary exists, and with --root it would need a
# whole systemd tree under the root, so the installed units are copied with
# ExecStart pointing at the DESTDIR's pwccad (the only change).

pw_s_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pw_s_dest="$PW_TMP/systemd-root"
pw_s_units="$PW_TMP/systemd-units"
pw_s_san=""
nm "$BUILD/libpwcca.a" 2>/dev/null | grep -q __asan_ && pw_s_san="SAN=1"
pw_s_max_exposure=2.0

# pw_s_verify NAME DIR UNIT: verify prints nothing and succeeds.
pw_s_verify() {
    local out rc
    out=$(cd "$2" && MANPATH="$pw_s_dest/usr/share/man" systemd-analyze verify "$2/$3" 2>&1)
    rc=$?
    if [ "$rc" = 0 ] && [ -z "$out" ]; then ok "$1"; else fail "$1" "exit $rc: $out"; fi
}

# pw_s_exposure NAME DIR UNIT: overall exposure <= pw_s_max_exposure.
pw_s_exposure() {
    local out level
    out=$(cd "$2" && systemd-analyze security --offline=yes --no-pager "$3" 2>&1)
    level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    if [ -n "$level" ] && awk -v l="$level" -v m="$pw_s_max_exposure" 'BEGIN { exit !(l <= m) }'; then
        ok "$1 ($level)"
    else
        fail "$1" "exposure '${level}' > $pw_s_max_exposure: $(grep '✗' <<<"$out" | head -20)"
    fi
}

if ! command -v systemd-analyze >/dev/null; then
    echo "  skip systemd units: systemd-analyze is not installed"
elif ! systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    echo "  skip systemd units: this systemd-analyze has no 'security --offline' (systemd < 250)"
else
    rm -rf "$pw_s_dest" "$pw_s_units"
    # shellcheck disable=SC2086
    if make -s -C "$pw_s_repo" BUILD="$BUILD" $pw_s_san PREFIX=/usr DESTDIR="$pw_s_dest" install \
        >"$PW_TMP/systemd-install.log" 2>&1; then
        mkdir -p "$pw_s_units/plain" "$pw_s_units/template" "$pw_s_units/metrics/pwccad.service.d"
        pw_s_sed="s|^ExecStart=/usr/sbin/pwccad |ExecStart=$pw_s_dest/usr/sbin/pwccad |"
        sed "$pw_s_sed" "$pw_s_dest/usr/lib/systemd/system/pwccad.service" >"$pw_s_units/plain/pwccad.service"
        sed "$pw_s_sed" "$pw_s_dest/usr/lib/systemd/system/pwccad@.service" \
            >"$pw_s_units/template/pwccad@team-a.service"
        cp "$pw_s_units/plain/pwccad.service" "$pw_s_units/metrics/"
        cp "$pw_s_dest/usr/share/doc/pwccad/metrics.conf" "$pw_s_units/metrics/pwccad.service.d/"
        mkdir -p "$pw_s_units/cluster/pwccad.service.d"
        cp "$pw_s_units/plain/pwccad.service" "$pw_s_units/cluster/"
        cp "$pw_s_dest/usr/share/doc/pwccad/cluster.conf" "$pw_s_units/cluster/pwccad.service.d/"

        pw_s_verify "systemd-analyze verify: pwccad.service" "$pw_s_units/plain" pwccad.service
        pw_s_verify "systemd-analyze verify: pwccad@team-a.service" "$pw_s_units/template" pwccad@team-a.service
        pw_s_verify "systemd-analyze verify: pwccad.service + metrics.conf" "$pw_s_units/metrics" pwccad.service
        pw_s_verify "systemd-analyze verify: pwccad.service + cluster.conf" "$pw_s_units/cluster" pwccad.service
        pw_s_exposure "exposure of pwccad.service <= $pw_s_max_exposure" "$pw_s_units/plain" pwccad.service
        pw_s_exposure "exposure of pwccad@team-a.service <= $pw_s_max_exposure" "$pw_s_units/template" \
            pwccad@team-a.service
        pw_s_exposure "exposure with metrics.conf <= $pw_s_max_exposure" "$pw_s_units/metrics" pwccad.service
        pw_s_exposure "exposure with cluster.conf <= $pw_s_max_exposure" "$pw_s_units/cluster" pwccad.service
        # The verify above must be able to fail: an unknown key is reported.
        sed 's/^ProtectClock=yes/ProtectClok=yes/' "$pw_s_units/plain/pwccad.service" \
            >"$PW_TMP/systemd-typo.service"
        expect_output "systemd-analyze verify reports a misspelt key" "Unknown key 'ProtectClok'" \
            systemd-analyze verify "$PW_TMP/systemd-typo.service"

        # sysusers.d and tmpfiles.d on the DESTDIR as a root file system.
        if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
            systemd-sysusers --root="$pw_s_dest" >/dev/null 2>&1
            pw_s_uid=$(awk -F: '$1 == "pwccad" { print $3 ":" $4 ":" $7 }' "$pw_s_dest/etc/passwd" 2>/dev/null)
            pw_s_gid=$(awk -F: '$1 == "pwccad" { print $3 }' "$pw_s_dest/etc/group" 2>/dev/null)
            if [ -n "$pw_s_uid" ] && [ "${pw_s_uid#*:}" = "$pw_s_gid:/usr/sbin/nologin" ]; then
                ok "sysusers.d creates the pwccad user and group (no login)"
            else
                fail "sysusers.d creates the pwccad user and group (no login)" "passwd: '$pw_s_uid', group: '$pw_s_gid'"
            fi
            systemd-tmpfiles --root="$pw_s_dest" --create pwccad.conf >/dev/null 2>&1
            pw_s_stat=$(stat -c '%a %u:%g' "$pw_s_dest/var/lib/pwccad" 2>/dev/null)
            if [ "$pw_s_stat" = "750 ${pw_s_uid%%:*}:$pw_s_gid" ]; then
                ok "tmpfiles.d makes /var/lib/pwccad 0750 pwccad:pwccad"
            else
                fail "tmpfiles.d makes /var/lib/pwccad 0750 pwccad:pwccad" "got '$pw_s_stat'"
            fi
        else
            echo "  skip sysusers/tmpfiles: systemd-sysusers or systemd-tmpfiles is missing"
        fi
    else
        fail "make install for the systemd checks" "$(tail -c 600 "$PW_TMP/systemd-install.log")"
    fi
    rm -rf "$pw_s_dest" "$pw_s_units"
fi
