/* fuzz_request.c -- libFuzzer target: any bytes as one control-socket request line.
 *
 * The input is the line as the daemon hands it over (no newline, not
 * NUL-terminated).  A parse that succeeds must give a request that says what
 * the protocol allows and survives a round trip through JSON; one that fails
 * must leave an error sentence the daemon can put into a JSON string as is.
 * The same bytes also go through pw_name_printable_utf8, which the daemon
 * uses to quote names from disk in its responses. */
#include <assert.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_name.h"
#include "pw_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when s is valid UTF-8 without control characters (jansson is the judge
 * of UTF-8, since the daemon's responses go through it). */
static int json_text_ok(const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        return 0;
    json_decref(j);
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static void check_accepted(const pw_request *r)
{
    switch (r->cmd) {
    case PW_REQ_FINALIZE:
    case PW_REQ_RESCORE: {
        /* The same shape: a run and an optional first step, named "step" by
         * finalize and "from" by rescore. */
        const char *cmd = r->cmd == PW_REQ_FINALIZE ? "finalize" : "rescore";
        const char *key = r->cmd == PW_REQ_FINALIZE ? "step" : "from";
        size_t n = strnlen(r->run, sizeof r->run);
        assert(n > 0 && n < sizeof r->run);
        json_t *j = json_string(r->run);
        assert(j); /* a run name is UTF-8: it came out of a JSON string */
        json_decref(j);
        assert(!r->has_step || r->step >= 0);
        /* Round trip: the request as a client would write it parses the same. */
        json_t *o = r->has_step ? json_pack("{s:s, s:s, s:I}", "cmd", cmd, "run", r->run, key,
                                            (json_int_t)r->step)
                                : json_pack("{s:s, s:s}", "cmd", cmd, "run", r->run);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!line)
            return; /* out of memory: nothing to compare */
        pw_request again;
        pw_err err;
        /* Escaping at most sextuples the run's < 4096 bytes: the line fits. */
        if (pw_request_parse(line, strlen(line), &again, &err) != 0)
            abort();
        assert(again.cmd == r->cmd && strcmp(again.run, r->run) == 0);
        assert(again.has_step == r->has_step && again.step == r->step);
        free(line);
        break;
    }
    case PW_REQ_STATUS:
    case PW_REQ_RESCAN:
    case PW_REQ_SUBSCRIBE:
        assert(r->run[0] == '\0' && !r->has_step);
        break;
    default:
        abort(); /* no other command exists */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so ASan sees any read past the line. */
    char *line = malloc(size ? size : 1);
    if (!line)
        return 0;
    memcpy(line, data, size);

    pw_request *r = malloc(sizeof *r);
    pw_err err;
    if (r) {
        err.msg[0] = '\0';
        if (pw_request_parse(line, size, r, &err) == 0) {
            check_accepted(r);
        } else {
            size_t n = strnlen(err.msg, sizeof err.msg);
            assert(n > 0 && n < sizeof err.msg);
            assert(json_text_ok(err.msg));
        }
        free(r);
    }

    char shown[96];
    pw_name_printable_utf8(shown, sizeof shown, line, size);
    assert(strlen(shown) < sizeof shown);
    assert(json_text_ok(shown));
    assert(size >= sizeof shown - 1 || strlen(shown) == size); /* short input: one byte each */

    free(line);
    return 0;
}
