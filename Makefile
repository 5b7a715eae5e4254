# Makefile -- builds libpwcca, pwccad and pwcca; runs the tests, sanitizers,
# linters, fuzzers, benchmarks and the demo.  GNU make + pkg-config.
#
#   make            build/pwccad, build/pwcca, build/libpwcca.a
#   make check      install missing packages, build, run every unit and integration suite
#   make sanitize   the same tests under AddressSanitizer + UBSan (leak checking on)
#   make lint       cppcheck + clang-tidy + clang-format check (findings fail)
#   make fuzz       build libFuzzer targets; FUZZ_SECONDS=N make fuzz-run runs each
#   make bench      benchmarks (engine, daemon, real shapes, keep-up, sharing), figures on stdout
#   make demo       a real training run watched by the daemon, summary and plot
#   make install    PREFIX=/usr/local DESTDIR=
#
# New modules need no edit here: lib/*.c, tests/unit/test_*.c,
# tests/integration/*.sh and tests/fuzz/fuzz_*.c are discovered.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
DESTDIR    ?=

BUILD      ?= build
V          ?= 0
ifeq ($(V),0)
Q          := @
say         = @printf '  %-6s %s\n' $(1) $(2);
else
Q          :=
say         =
endif
CC         ?= cc
PKGS       := libuv sqlite3 openblas lapacke jansson zlib inih
SHELL      := /bin/bash
# libh2o (built with libuv) serves the optional /metrics endpoint on the daemon's loop.
PKGS       += libh2o
# libpq: the PostgreSQL backend of the store (lib/pw_store_pg.c, --db postgresql://...).
PKGS       += libpq

# Package flags are read when make parses this file, so a make that has just
# installed the packages (deps) builds in a second make, which reads them anew:
# every target that installs first (check, demo, bench, sanitize) re-invokes
# $(MAKE) for its build.  A plain `make` without the packages stops at once
# with the list of what is missing, not at the link with undefined symbols.
PKG_MISSING := $(shell for p in $(PKGS); do pkg-config --exists $$p 2>/dev/null || echo $$p; done)
# Third-party headers come in through -isystem so their warnings are not ours.
PKG_CFLAGS := $(subst -I,-isystem ,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
CHECK_CFLAGS := $(subst -I,-isystem ,$(shell pkg-config --cflags check 2>/dev/null))
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wformat=2 -Wvla -Wpointer-arith -Wcast-qual -Wundef
OPT        ?= -O2 -g
SAN_FLAGS  :=
ifeq ($(SAN),1)
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT        := -O1 -g
endif
CPPFLAGS   += -D_GNU_SOURCE -DPW_VERSION='"$(VERSION)"' -Ilib -I$(BUILD)/gen
ALL_CFLAGS := -std=c11 $(OPT) $(WARN) $(SAN_FLAGS) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SAN_FLAGS) $(LDFLAGS)

LIB_SRC    := $(sort $(wildcard lib/*.c))
DAEMON_SRC := $(sort $(wildcard daemon/*.c))
CLIENT_SRC := $(sort $(wildcard client/*.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
SCHEMA_SQL := $(sort $(wildcard schema/[0-9][0-9][0-9]_*.sql))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
BENCH_SRC  := $(sort $(filter-out bench/preload_%.c,$(wildcard bench/*.c)))
PRELOAD_SRC := $(sort $(wildcard bench/preload_*.c))

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/schema_sql.o $(BUILD)/obj/gen/web_assets.o
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/unit/runner.o
SUITES     := $(patsubst tests/unit/test_%.c,%,$(UNIT_SRC))
EXAMPLES   := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
BENCHES    := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%) $(PRELOAD_SRC:bench/%.c=$(BUILD)/bench/%.so)

.PHONY: packages-present deps-prometheus deps-postgres deps-browser all check check-run sanitize lint format fuzz fuzz-run bench bench-run demo demo-run deps deps-torch \
        install uninstall clean unit integration

# Keep object files make would otherwise delete as intermediates (examples, bench).
.SECONDARY:

all: $(BUILD)/libpwcca.a $(BUILD)/pwccad $(BUILD)/pwcca $(EXAMPLES)

# Every compile waits for this check; it fails with the missing packages named.
packages-present:
	@if [ -n "$(strip $(PKG_MISSING))" ]; then \
	  echo "make: missing pkg-config packages: $(strip $(PKG_MISSING))" >&2; \
	  echo "  run 'make deps' (as root it installs them), then make again" >&2; exit 1; fi

$(BUILD)/obj/%.o: %.c | packages-present
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# The schema's .sql files stay the source of truth; this embeds them as C strings.
$(BUILD)/gen/schema_sql.c: $(SCHEMA_SQL) Makefile
	@mkdir -p $(dir $@)
	@{ echo '/* generated from the schema directory by the Makefile: do not edit */'; \
	   echo '#include "pw_schema.h"'; \
	   i=0; for f in $(SCHEMA_SQL); do \
	     echo "static const char sql_$$i[] = {"; od -An -v -tx1 $$f | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0};'; \
	     i=$$((i+1)); done; \
	   echo 'const pw_schema_migration pw_schema_migrations[] = {'; \
	   i=0; for f in $(SCHEMA_SQL); do b=$$(basename $$f .sql); \
	     echo "  { $$((10#$${b%%_*})), \"$$b\", sql_$$i },"; i=$$((i+1)); done; \
	   echo '};'; \
	   echo "const unsigned pw_schema_nmigrations = $(words $(SCHEMA_SQL));"; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c lib/pw_schema.h
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# The dashboard's pages, script and style (web/) are served from the binary, so
# the daemon needs no file beside it: each file becomes a byte array (od is in
# coreutils, so a fresh root needs nothing more than for the schema above).
WEB_FILES  := $(sort $(wildcard web/*.html web/*.js web/*.css))
$(BUILD)/gen/web_assets.c: $(WEB_FILES) Makefile
	@mkdir -p $(dir $@)
	@{ echo '/* generated from the web directory by the Makefile: do not edit */'; \
	   echo '#include "pw_web.h"'; \
	   i=0; for f in $(WEB_FILES); do \
	     echo "static const unsigned char web_$$i[] = {"; od -An -v -tx1 $$f | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0};'; \
	     i=$$((i+1)); done; \
	   echo 'const pw_web_asset pw_web_assets[] = {'; \
	   i=0; for f in $(WEB_FILES); do \
	     echo "  { \"$$(basename $$f)\", web_$$i, sizeof web_$$i - 1 },"; i=$$((i+1)); done; \
	   echo '};'; \
	   echo "const unsigned pw_web_nassets = $(words $(WEB_FILES));"; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/web_assets.o: $(BUILD)/gen/web_assets.c lib/pw_web.h
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libpwcca.a: $(LIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(BUILD)/pwccad: $(DAEMON_OBJ) $(BUILD)/libpwcca.a
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $(DAEMON_OBJ) $(BUILD)/libpwcca.a $(PKG_LIBS)

$(BUILD)/pwcca: $(CLIENT_OBJ) $(BUILD)/libpwcca.a
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $(CLIENT_OBJ) $(BUILD)/libpwcca.a $(PKG_LIBS)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(BUILD)/libpwcca.a
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libpwcca.a $(PKG_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libpwcca.a
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libpwcca.a $(PKG_LIBS)

# bench/preload_NAME.c: LD_PRELOAD shims the benchmarks put under the real binaries.
$(BUILD)/bench/preload_%.so: bench/preload_%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -fPIC -shared -o $@ $< -ldl

# Unit suites: every tests/unit/test_NAME.c defines `Suite *NAME_suite(void)`.
$(BUILD)/gen/suites.h: $(UNIT_SRC) Makefile
	@mkdir -p $(dir $@)
	@{ for s in $(SUITES); do echo "PW_SUITE($$s)"; done; } > $@.tmp && \
	  { cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@; }

$(BUILD)/obj/tests/unit/%.o: tests/unit/%.c $(BUILD)/gen/suites.h | packages-present
	@pkg-config --exists check || { echo "make: the unit tests need Check: run 'make deps'" >&2; exit 1; }
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/unit_tests: $(UNIT_OBJ) $(BUILD)/libpwcca.a
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $(UNIT_OBJ) $(BUILD)/libpwcca.a $(PKG_LIBS) $(CHECK_LIBS)

# ---- tests ----------------------------------------------------------------
# PW_REFERENCE points the tests at shared/reference (beside the clone by default).
PW_REFERENCE ?= $(abspath $(firstword $(wildcard ../shared/reference ../../shared/reference)))
export PW_REFERENCE

check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all $(BUILD)/tests/unit_tests
	@echo "== unit suites ($(BUILD)) =="
	@CK_DEFAULT_TIMEOUT=600 $(BUILD)/tests/unit_tests
	@echo "== integration tests ($(BUILD)) =="
	@BUILD=$(abspath $(BUILD)) bash tests/integration/run.sh

sanitize: deps
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) BUILD=build-san SAN=1 check-run

# ---- lint -------------------------------------------------------------------
LINT_SRC := $(LIB_SRC) $(DAEMON_SRC) $(CLIENT_SRC) $(EXAMPLE_SRC) $(BENCH_SRC) $(PRELOAD_SRC)
lint: $(BUILD)/gen/schema_sql.c
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -Ilib $(LINT_SRC)
	clang-tidy --quiet $(LINT_SRC) -- -std=c11 $(CPPFLAGS) $(PKG_CFLAGS)
	clang-format --dry-run --Werror $(LINT_SRC) $(wildcard lib/*.h daemon/*.h client/*.h)
	@# The store seam (lib/pw_store.h): SQLite only in its implementation, and
	@# the programs reach the store through the seam's header alone.
	@bad=$$(grep -lE '^#include <sqlite3\.h>|sqlite3_[a-z0-9_]+ *\(' $(filter-out lib/pw_db.c lib/pw_query.c,$(LINT_SRC)) \
	  $(wildcard lib/*.h daemon/*.h client/*.h); \
	  grep -lE '^#include <libpq-fe\.h>|\<PQ[a-z][A-Za-z]+ *\(' $(filter-out lib/pw_store_pg.c,$(LINT_SRC)) \
	  $(wildcard lib/*.h daemon/*.h client/*.h); \
	  grep -lE '#include "pw_store_impl\.h"' $(DAEMON_SRC) $(CLIENT_SRC) $(wildcard daemon/*.h client/*.h); \
	  grep -lE '#include "(pw_db|pw_query)\.h"' $(DAEMON_SRC) $(CLIENT_SRC) \
	  $(wildcard daemon/*.h client/*.h)); \
	if [ -n "$$bad" ]; then echo "make lint: store seam breached (lib/pw_store.h) in:" $$bad >&2; \
	  exit 1; fi

format:
	clang-format -i $(LINT_SRC) $(wildcard lib/*.h daemon/*.h client/*.h)

# ---- fuzzing -----------------------------------------------------------------
FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
               $(CPPFLAGS:-I$(BUILD)/gen=-I$(FUZZ_BUILD)/gen) $(PKG_CFLAGS)
FUZZ_TARGETS := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_SECONDS ?= 60

fuzz: $(FUZZ_TARGETS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ) $(BUILD)/gen/schema_sql.c $(BUILD)/gen/web_assets.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB_OBJ) $(BUILD)/gen/schema_sql.c \
	  $(BUILD)/gen/web_assets.c -o $@ $(PKG_LIBS)

fuzz-run: fuzz
	@for t in $(FUZZ_TARGETS); do n=$$(basename $$t); \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== fuzzing $$n for $(FUZZ_SECONDS) s =="; \
	  rc=0; $$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ \
	      $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n >$(FUZZ_BUILD)/$$n.log 2>&1 || rc=$$?; \
	  tail -n 12 $(FUZZ_BUILD)/$$n.log; \
	  [ $$rc = 0 ] || { echo "fuzz-run: $$n failed (exit $$rc): $(FUZZ_BUILD)/$$n.log" >&2; exit 1; }; done

# ---- bench and demo ------------------------------------------------------------
bench: deps
	@$(MAKE) --no-print-directory bench-run

bench-run: all $(BENCHES)
	bash bench/run.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	bash examples/demo.sh $(BUILD)

# ---- dependencies ----------------------------------------------------------------
# Debian 12 packages that build, tests, fuzzing, lint, bench and demo need.
DEB_PKGS := build-essential pkg-config libuv1-dev libopenblas-dev liblapacke-dev libsqlite3-dev \
            libjansson-dev libinih-dev zlib1g-dev check libsubunit-dev clang libclang-rt-14-dev cppcheck \
            clang-tidy clang-format python3-numpy librsvg2-bin sqlite3 jq curl
# libh2o's headers include OpenSSL's, which its -dev package does not pull in.
DEB_PKGS += libh2o-dev libssl-dev
# The PostgreSQL client library (the server itself: deps-postgres, CI only).
DEB_PKGS += libpq-dev
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make deps: installing$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing \
	      || { echo "make deps: apt-get failed" >&2; exit 1; }; \
	  else \
	    echo "make deps: missing Debian packages:$$missing" >&2; \
	    echo "  run as root: apt-get install --no-install-recommends$$missing" >&2; exit 1; \
	  fi; \
	fi

deps-torch: deps
	@[ "$$(dpkg-query -W -f='$${Status}\n' python3-torch python3-torchvision 2>/dev/null | \
	    grep -c "ok installed")" = 2 ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends python3-torch python3-torchvision; \
	  else echo "run as root: apt-get install --no-install-recommends python3-torch python3-torchvision" >&2; exit 1; fi; }

# Debian's torch, numpy and scikit-learn for examples/digits (its digits data set
# ships with scikit-learn).  Not part of `deps`: torch is large, and the digits
# test skips without them.
.PHONY: deps-examples digits digits-run
DEB_EXAMPLE_PKGS := python3-torch python3-sklearn python3-numpy
deps-examples: deps
	@missing=""; for p in $(DEB_EXAMPLE_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "run as root: apt-get install --no-install-recommends$$missing" >&2; exit 1; fi; }

# Wider networks, more similar representations? (examples/README.md, "digits")
digits: deps-examples
	@$(MAKE) --no-print-directory digits-run

digits-run: all
	bash examples/digits/run.sh --build $(BUILD)

# Prometheus for the metrics test's real scrape.  Not part of `deps`: on a host
# running systemd the package starts its own server on 0.0.0.0:9090, which a
# plain `make check` must not do to a user's machine.  CI calls it.
deps-prometheus: deps
	@dpkg-query -W -f='$${Status}' prometheus 2>/dev/null | grep -q "ok installed" || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends prometheus; \
	  else echo "run as root: apt-get install --no-install-recommends prometheus" >&2; exit 1; fi; }

# The PostgreSQL server for tests/integration/test_postgres.sh, which starts a
# private one of its own (initdb in a temporary directory, a unix socket only).
# Not part of `deps`: on a host running systemd the package starts a cluster on
# port 5432, which a plain `make check` must not do to a user's machine; the
# test skips without the server.  CI calls it.
deps-postgres: deps
	@dpkg-query -W -f='$${Status}' postgresql 2>/dev/null | grep -q "ok installed" || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends postgresql; \
	  else echo "run as root: apt-get install --no-install-recommends postgresql" >&2; exit 1; fi; }

# Chromium, node and npm for the dashboard's browser test (tests/integration/
# test_dashboard_browser.sh; puppeteer-core itself comes from npm, pinned by
# tests/browser/package-lock.json, installed by the test into $(BUILD)/browser).
# Not part of `deps`: a browser is large, and the test skips without one.
# Debian's nodejs and npm unless a node and npm are already on PATH (another
# nodejs package would conflict with Debian's npm).  CI calls it.
deps-browser: deps
	@need=""; dpkg-query -W -f='$${Status}' chromium 2>/dev/null | grep -q "ok installed" || need="chromium"; \
	command -v node >/dev/null && command -v npm >/dev/null || need="$$need nodejs npm"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$need; \
	  else echo "run as root: apt-get install --no-install-recommends $$need" >&2; exit 1; fi; fi

# ---- install -----------------------------------------------------------------------
# Packaging-style: files only.  Afterwards, on the target system:
#   systemd-sysusers && systemd-tmpfiles --create pwccad.conf && systemctl daemon-reload
# (docs/SERVICE.md).  Config files an admin writes in $(SYSCONFDIR)/pwccad survive
# uninstall; only the shipped .example files are removed.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR    ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR         ?= $(DATADIR)/doc/pwccad
SCHEMA_FILES   := $(sort $(wildcard schema/[0-9][0-9][0-9]_*.sql))
EXAMPLE_CONF   := $(wildcard examples/pwccad.conf)
DOC_FILES      := $(sort $(wildcard docs/*.md)) systemd/metrics.conf systemd/cluster.conf
# The units name /usr/sbin/pwccad and /etc/pwccad; point them at this install.
UNIT_SED       := -e 's|/usr/sbin/pwccad|$(SBINDIR)/pwccad|g' -e 's|/etc/pwccad|$(SYSCONFDIR)/pwccad|g'

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/pwccad/schema \
	  $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/pwccad $(DESTDIR)$(SYSCONFDIR)/profile.d \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/pwccad $(DESTDIR)$(SBINDIR)/pwccad
	install -m 0755 $(BUILD)/pwcca $(DESTDIR)$(BINDIR)/pwcca
	install -m 0644 $(SCHEMA_FILES) $(DESTDIR)$(DATADIR)/pwccad/schema/
	for u in pwccad.service pwccad@.service; do \
	  sed $(UNIT_SED) systemd/$$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp && \
	  chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp && \
	  mv $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; done
	install -m 0644 systemd/pwccad.sysusers $(DESTDIR)$(SYSUSERSDIR)/pwccad.conf
	install -m 0644 systemd/pwccad.tmpfiles $(DESTDIR)$(TMPFILESDIR)/pwccad.conf
	install -m 0644 systemd/pwccad.env $(DESTDIR)$(SYSCONFDIR)/pwccad/pwccad.env.example
	$(if $(EXAMPLE_CONF),install -m 0644 $(EXAMPLE_CONF) $(DESTDIR)$(SYSCONFDIR)/pwccad/pwccad.conf.example)
	install -m 0644 systemd/profile.d-pwccad.sh $(DESTDIR)$(SYSCONFDIR)/profile.d/pwccad.sh
	install -m 0644 man/pwcca.1 $(DESTDIR)$(MANDIR)/man1/pwcca.1
	install -m 0644 man/pwccad.8 $(DESTDIR)$(MANDIR)/man8/pwccad.8
	install -m 0644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/pwccad $(DESTDIR)$(BINDIR)/pwcca
	rm -rf $(DESTDIR)$(DATADIR)/pwccad $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/pwccad.service $(DESTDIR)$(SYSTEMDUNITDIR)/pwccad@.service
	rm -f $(DESTDIR)$(SYSUSERSDIR)/pwccad.conf $(DESTDIR)$(TMPFILESDIR)/pwccad.conf
	rm -f $(DESTDIR)$(SYSCONFDIR)/pwccad/pwccad.env.example $(DESTDIR)$(SYSCONFDIR)/pwccad/pwccad.conf.example
	rm -f $(DESTDIR)$(SYSCONFDIR)/profile.d/pwccad.sh
	rm -f $(DESTDIR)$(MANDIR)/man1/pwcca.1 $(DESTDIR)$(MANDIR)/man8/pwccad.8
	rmdir $(DESTDIR)$(SYSCONFDIR)/pwccad 2>/dev/null || true

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
