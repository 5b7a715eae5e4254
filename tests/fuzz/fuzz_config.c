/* fuzz_config.c -- libFuzzer target: any bytes as pwccad's INI config file.
 *
 * The bytes go in twice: as a file through pw_config_load (which sees every
 * byte, NULs included) and, up to the first NUL, as a string through
 * pw_config_load_string.  Without a NUL both must agree exactly, message
 * included.  An accepted config must hold only values the daemon can use
 * (finite durations within PW_CFG_MAX_SECONDS, valid alert thresholds), and
 * pw_config_for_run must merge every [run NAME] section into such values. */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pw_config.h"
#include "pw_engine.h"
#include "pw_stability.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int duration_ok(double s, double lo)
{
    return isfinite(s) && s >= lo && s <= PW_CFG_MAX_SECONDS;
}

static void check_run_values(const pw_run_config *r)
{
    assert(duration_ok(r->settle_s, 0));
    assert(duration_ok(r->incomplete_s, 0));
    assert(r->metrics != 0 && (r->metrics & ~(unsigned)PW_M_ALL) == 0);
    assert(pw_stab_params_valid(&r->stab) == 0);
    assert(memchr(r->pattern, '\0', sizeof r->pattern) != NULL);
}

static void check_accepted(const pw_config *c)
{
    assert(duration_ok(c->rescan_s, 0.05));
    assert(duration_ok(c->hook_timeout_s, 0.1));
    assert(c->workers >= 0 && c->workers <= 256);
    assert(c->blas_threads >= 0 && c->blas_threads <= 256);
    assert(c->log_level >= 0 && c->log_level <= 3);
    assert(c->nwatch <= PW_CFG_MAX_LIST && c->nruns <= PW_CFG_MAX_LIST);
    assert(c->nhook <= PW_CFG_MAX_LIST && c->noverrides <= PW_CFG_MAX_RUNS);
    check_run_values(&c->defaults);
    /* No section can be named "" ([run ] is refused), so "" matches none. */
    assert(pw_config_for_run(c, "", "") == &c->defaults);
    for (size_t i = 0; i < c->noverrides; i++) {
        const char *name = c->overrides[i].name;
        assert(name[0] != '\0');
        const pw_run_config *r = pw_config_for_run(c, name, "");
        assert(strcmp(r->name, name) == 0);
        check_run_values(r);
        /* The same section is found by absolute path too. */
        assert(strcmp(pw_config_for_run(c, "", name)->name, name) == 0);
    }
}

/* pw_config_load on the bytes through a memory file; -2 when none can be made. */
static int load_as_file(pw_config *c, const uint8_t *data, size_t size, char *path, size_t plen,
                        pw_err *err)
{
    int fd = memfd_create("fuzz_config", MFD_CLOEXEC);
    if (fd < 0)
        return -2;
    int rc = -2;
    if (write(fd, data, size) == (ssize_t)size) {
        snprintf(path, plen, "/proc/self/fd/%d", fd);
        rc = pw_config_load(c, path, err);
    }
    close(fd);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Two configs are ~1.6 MB: made once, not on the stack nor per input. */
    static pw_config *a, *b;
    if (!a)
        a = malloc(sizeof *a);
    if (!b)
        b = malloc(sizeof *b);
    char *text = malloc(size + 1);
    if (!a || !b || !text)
        goto out;
    memcpy(text, data, size);
    text[size] = '\0';

    char path[64];
    pw_err ea, eb;
    pw_config_defaults(a);
    int ra = load_as_file(a, data, size, path, sizeof path, &ea);
    if (ra == -2) {
        pw_config_free(a);
        goto out;
    }
    pw_config_defaults(b);
    int rb = pw_config_load_string(b, path, text, &eb);
    assert(ra == 0 || strstr(ea.msg, path) == ea.msg); /* every message names the file */
    assert(rb == 0 || strstr(eb.msg, path) == eb.msg);
    if (ra == 0)
        check_accepted(a);
    if (rb == 0)
        check_accepted(b);
    if (!memchr(data, '\0', size) && size <= PW_CFG_MAX_FILE) {
        assert(ra == rb);
        assert(ra == 0 || strcmp(ea.msg, eb.msg) == 0);
    }
    pw_config_free(a);
    pw_config_free(b);
out:
    free(text);
    return 0;
}
