# test_install.sh -- `make install` lays out exactly the packaged tree (files and
# modes) under a DESTDIR, the installed programs and man pages work, the units
# name the installed binary, and `make uninstall` removes every installed file
# but keeps the configuration an admin wrote.

pw_i_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pw_i_dest="$PW_TMP/install-root"
pw_i_log="$PW_TMP/install.log"
pw_i_san=""
nm "$BUILD/libpwcca.a" 2>/dev/null | grep -q __asan_ && pw_i_san="SAN=1"

# pw_i_make TARGET VAR=VALUE...: make in the repository with this build directory.
pw_i_make() {
    # shellcheck disable=SC2086
    make -s -C "$pw_i_repo" BUILD="$BUILD" $pw_i_san "$@" >>"$pw_i_log" 2>&1
}

# The installed tree: "MODE PATH" per file, sorted.
pw_i_expected() {
    local f
    {
        echo "755 usr/sbin/pwccad"
        echo "755 usr/bin/pwcca"
        for f in "$pw_i_repo"/schema/[0-9][0-9][0-9]_*.sql; do
            echo "644 usr/share/pwccad/schema/$(basename "$f")"
        done
        echo "644 usr/lib/systemd/system/pwccad.service"
        echo "644 usr/lib/systemd/system/pwccad@.service"
        echo "644 usr/lib/sysusers.d/pwccad.conf"
        echo "644 usr/lib/tmpfiles.d/pwccad.conf"
        echo "644 etc/pwccad/pwccad.env.example"
        [ -f "$pw_i_repo/examples/pwccad.conf" ] && echo "644 etc/pwccad/pwccad.conf.example"
        echo "644 etc/profile.d/pwccad.sh"
        echo "644 usr/share/man/man1/pwcca.1"
        echo "644 usr/share/man/man8/pwccad.8"
        for f in "$pw_i_repo"/docs/*.md; do echo "644 usr/share/doc/pwccad/$(basename "$f")"; done
        echo "644 usr/share/doc/pwccad/metrics.conf"
        echo "644 usr/share/doc/pwccad/cluster.conf"
    } | sort
}

pw_i_actual() {
    (cd "$pw_i_dest" && find . -type f -printf '%m %P\n' | sort)
}

rm -rf "$pw_i_dest"
if pw_i_make install PREFIX=/usr DESTDIR="$pw_i_dest"; then
    ok "make install PREFIX=/usr DESTDIR=... succeeds"
else
    fail "make install PREFIX=/usr DESTDIR=... succeeds" "$(tail -c 600 "$pw_i_log")"
fi

pw_i_diff=$(diff <(pw_i_expected) <(pw_i_actual))
if [ -z "$pw_i_diff" ]; then ok "every file is installed with its mode, and nothing else"
else fail "every file is installed with its mode, and nothing else" "expected < > installed: $pw_i_diff"; fi

expect_output "the installed pwcca runs" '^pwcca [0-9]+\.[0-9]+\.[0-9]+$' "$pw_i_dest/usr/bin/pwcca" --version
expect_output "the installed pwccad runs" '^pwccad [0-9]+\.[0-9]+\.[0-9]+$' "$pw_i_dest/usr/sbin/pwccad" --version
expect_output "the units start the installed daemon" \
    '^ExecStart=/usr/sbin/pwccad --foreground --config \$\{PWCCAD_CONFIG\} \$PWCCAD_ARGS$' \
    cat "$pw_i_dest/usr/lib/systemd/system/pwccad.service"
expect_output "the template reads its instance's config" '^Environment=PWCCAD_CONFIG=/etc/pwccad/%i\.conf$' \
    cat "$pw_i_dest/usr/lib/systemd/system/pwccad@.service"

# profile.d: sets the service's paths, but never over a user's own choice.
expect_output "profile.d points pwcca at the system service" \
    '^/var/lib/pwccad/pwccad\.db /run/pwccad/pwccad\.sock$' \
    env -i sh -c ". '$pw_i_dest/etc/profile.d/pwccad.sh'; echo \"\$PWCCAD_DB \$PWCCAD_SOCKET\""
expect_output "profile.d keeps a user's own PWCCAD_DB" '^/home/u/my\.db /run/pwccad/pwccad\.sock$' \
    env -i PWCCAD_DB=/home/u/my.db sh -c ". '$pw_i_dest/etc/profile.d/pwccad.sh'; echo \"\$PWCCAD_DB \$PWCCAD_SOCKET\""

# Man pages: groff's warnings (and mandoc's lint, where installed) are errors.
if command -v groff >/dev/null; then
    for pw_i_man in usr/share/man/man1/pwcca.1 usr/share/man/man8/pwccad.8; do
        pw_i_out=$(groff -man -Tutf8 -ww -z "$pw_i_dest/$pw_i_man" 2>&1)
        if [ -z "$pw_i_out" ]; then ok "$(basename "$pw_i_man") renders without groff warnings"
        else fail "$(basename "$pw_i_man") renders without groff warnings" "$pw_i_out"; fi
        if command -v mandoc >/dev/null; then
            pw_i_out=$(mandoc -Tlint "$pw_i_dest/$pw_i_man" 2>&1)
            if [ -z "$pw_i_out" ]; then ok "$(basename "$pw_i_man") passes mandoc -Tlint"
            else fail "$(basename "$pw_i_man") passes mandoc -Tlint" "$pw_i_out"; fi
        fi
    done
    expect_output "pwccad(8) documents --metrics" '^ +--metrics addr:port$' \
        groff -man -Tascii -P-cbou "$pw_i_dest/usr/share/man/man8/pwccad.8"
else
    echo "  skip man page rendering: groff is not installed"
fi

# uninstall: every installed file goes; an admin's own config stays.
echo "watch = /srv/runs" >"$pw_i_dest/etc/pwccad/pwccad.conf"
if pw_i_make uninstall PREFIX=/usr DESTDIR="$pw_i_dest"; then ok "make uninstall succeeds"
else fail "make uninstall succeeds" "$(tail -c 600 "$pw_i_log")"; fi
pw_i_left=$(pw_i_actual)
if [ "$pw_i_left" = "$(stat -c %a "$pw_i_dest/etc/pwccad/pwccad.conf" 2>/dev/null) etc/pwccad/pwccad.conf" ]; then
    ok "make uninstall removes every installed file and keeps the admin's config"
else
    fail "make uninstall removes every installed file and keeps the admin's config" "left: $pw_i_left"
fi

# Another prefix: the units follow the binary.
rm -rf "$pw_i_dest"
if pw_i_make install PREFIX=/usr/local DESTDIR="$pw_i_dest" &&
   grep -q '^ExecStart=/usr/local/sbin/pwccad ' "$pw_i_dest/usr/local/lib/systemd/system/pwccad.service" &&
   grep -q '^ExecStart=/usr/local/sbin/pwccad ' "$pw_i_dest/usr/local/lib/systemd/system/pwccad@.service" &&
   [ -x "$pw_i_dest/usr/local/sbin/pwccad" ]; then
    ok "with PREFIX=/usr/local the units start /usr/local/sbin/pwccad"
else
    fail "with PREFIX=/usr/local the units start /usr/local/sbin/pwccad" "$(tail -c 600 "$pw_i_log")"
fi
pw_i_make uninstall PREFIX=/usr/local DESTDIR="$pw_i_dest"
if [ -z "$(pw_i_actual)" ]; then ok "and make uninstall with the same PREFIX removes it all"
else fail "and make uninstall with the same PREFIX removes it all" "left: $(pw_i_actual)"; fi
rm -rf "$pw_i_dest"
