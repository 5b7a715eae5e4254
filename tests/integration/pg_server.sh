# pg_server.sh -- a private PostgreSQL server for the integration tests that
# need one (test_postgres, test_shared, test_rootname, test_pgstatus); sourced
# by them, not a test.
#
# initdb in a temporary directory owned by an unprivileged user (initdb and
# pg_ctl refuse to run as root; as root the server runs as nobody), listening
# on a unix socket in that directory only (listen_addresses = '').  The
# directory is outside $PW_TMP, which the server's user may not enter.
#
#   pg_server_find WHO   sets pg_bin and pg_as; when the server's binaries (or,
#                        as root, runuser and a nobody user) are missing, one
#                        line saying WHO is skipped and why, and 1
#   pg_server_start      initdb and start in a new pg_dir; sets pg_url (its
#                        database postgres, user pwccad); 1 after a fail line
#   pg_ctl ARG...        pg_ctl on that cluster as its user (-w, 60 s at most)
#   pg_server_stop       stop it at once and remove pg_dir

pg_server_find() {
    pg_bin=$(pg_config --bindir 2>/dev/null)
    [ -x "$pg_bin/initdb" ] || pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ ! -x "$pg_bin/initdb" ] || [ ! -x "$pg_bin/pg_ctl" ]; then
        echo "  skip: $1: no PostgreSQL server binaries (initdb, pg_ctl; Debian: postgresql, via make deps-postgres)"
        return 1
    fi
    pg_as=()
    if [ "$(id -u)" = 0 ]; then
        if ! command -v runuser >/dev/null || ! id nobody >/dev/null 2>&1; then
            echo "  skip: $1: running as root without runuser or a nobody user to run the server as"
            return 1
        fi
        pg_as=(runuser -u nobody --)
    fi
}

pg_ctl() { "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 "$@"; }

pg_server_start() {
    pg_dir=$(mktemp -d /tmp/pwcca-pg.XXXXXX)
    [ ${#pg_as[@]} = 0 ] || chown nobody "$pg_dir"
    pg_url="postgresql://pwccad@/postgres?host=$pg_dir"
    if ! "${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" --no-locale -E UTF8 --auth=trust -U pwccad \
        >"$pg_dir/initdb.log" 2>&1; then
        fail "initdb a private PostgreSQL cluster" "$(tail -3 "$pg_dir/initdb.log")"
        return 1
    fi
    if ! pg_ctl -o "-k $pg_dir -c listen_addresses=''" start >/dev/null 2>&1; then
        fail "start the private PostgreSQL server" "$(tail -3 "$pg_dir/server.log")"
        return 1
    fi
}

pg_server_stop() {
    [ -n "${pg_dir:-}" ] || return 0
    pg_ctl stop -m immediate >/dev/null 2>&1
    rm -rf "$pg_dir"
    pg_dir=""
}
