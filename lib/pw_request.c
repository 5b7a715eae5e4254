/* pw_request.c -- control-socket request lines to typed requests (see pw_request.h).
 *
 * jansson does the JSON.  What jansson is given is bounded first: the length,
 * and the nesting depth, counted in one linear pass so that 64 KiB of '['
 * cannot make jansson recurse thousands of times deep.  jansson itself
 * rejects invalid UTF-8, raw control characters, \u0000, duplicate keys and
 * integers beyond 64 bits.  Every text that ends up in an error sentence (a
 * jansson message, which may quote the input, or the request's own strings)
 * goes through pw_name_printable_utf8, so the sentence is valid UTF-8 and
 * short whatever the request was. */
#include "pw_request.h"

#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "pw_name.h"

static const struct {
    const char *name; /* as sent in "cmd" */
    pw_req_cmd cmd;   /* what it becomes */
} commands[] = {
    /* clang-format off */
    {"status", PW_REQ_STATUS},
    {"finalize", PW_REQ_FINALIZE},
    {"rescan", PW_REQ_RESCAN},
    {"subscribe", PW_REQ_SUBSCRIBE},
    {"rescore", PW_REQ_RESCORE},
    /* clang-format on */
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* Byte offset where objects and arrays nest deeper than PW_REQ_MAX_DEPTH,
 * or len when they never do.  Brackets inside strings do not count; the
 * JSON need not be valid (jansson judges that afterwards). */
static size_t too_deep_at(const char *s, size_t len)
{
    unsigned depth = 0;
    int in_string = 0, escaped = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > PW_REQ_MAX_DEPTH)
                return i;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return len;
}

/* finalize's "run" and "step", or rescore's "run" and "from". */
static int parse_run_step(const json_t *req, const char *cmd, const char *step_key, pw_request *out,
                          pw_err *err)
{
    const json_t *jr = json_object_get(req, "run"), *js = json_object_get(req, step_key);
    if (!json_is_string(jr) || json_string_length(jr) == 0)
        return pw_err_set(err, "%s needs \"run\": a run name or path", cmd);
    size_t n = json_string_length(jr);
    if (n >= sizeof out->run)
        return pw_err_set(err, "\"run\" is %zu bytes, more than %d", n, PW_REQ_MAX_RUN - 1);
    /* jansson refuses \u0000 unless asked to allow it, so the name is one C string. */
    assert(strlen(json_string_value(jr)) == n);
    memcpy(out->run, json_string_value(jr), n + 1);
    if (js && !json_is_null(js)) {
        if (!json_is_integer(js) || json_integer_value(js) < 0)
            return pw_err_set(err, "\"%s\" must be a non-negative integer", step_key);
        out->has_step = 1;
        out->step = (int64_t)json_integer_value(js);
    }
    return 0;
}

static int parse_object(const json_t *req, pw_request *out, pw_err *err)
{
    const json_t *jc = json_object_get(req, "cmd");
    if (!json_is_object(req) || !json_is_string(jc))
        return pw_err_set(err, "a request is a JSON object with a \"cmd\" string");
    const char *c = json_string_value(jc);
    size_t n = json_string_length(jc);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strlen(commands[i].name) != n || memcmp(commands[i].name, c, n) != 0)
            continue;
        out->cmd = commands[i].cmd;
        if (out->cmd == PW_REQ_FINALIZE)
            return parse_run_step(req, "finalize", "step", out, err);
        if (out->cmd == PW_REQ_RESCORE)
            return parse_run_step(req, "rescore", "from", out, err);
        return 0;
    }
    char shown[68];
    pw_name_printable_utf8(shown, sizeof shown, c, n);
    return pw_err_set(err, "unknown cmd '%s' (known: status, finalize, rescan, subscribe, rescore)",
                      shown);
}

int pw_request_parse(const char *line, size_t len, pw_request *out, pw_err *err)
{
    memset(out, 0, sizeof *out);
    if (len > PW_SOCK_MAX_REQUEST)
        return pw_err_set(err, "request line longer than %d bytes", PW_SOCK_MAX_REQUEST);
    size_t deep = too_deep_at(line, len);
    if (deep < len)
        return pw_err_set(err, "request nests objects and arrays deeper than %d (byte %zu)",
                          PW_REQ_MAX_DEPTH, deep);
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        char shown[sizeof jerr.text];
        pw_name_printable_utf8(shown, sizeof shown, jerr.text,
                               strnlen(jerr.text, sizeof jerr.text));
        return pw_err_set(err, "malformed JSON at column %d: %s", jerr.column, shown);
    }
    int rc = parse_object(req, out, err);
    json_decref(req);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}
