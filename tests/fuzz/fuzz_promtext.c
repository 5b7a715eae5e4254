/* fuzz_promtext.c -- libFuzzer target: arbitrary run/layer names and HELP text
 * (they come from file names and configuration) must always give an
 * exposition Prometheus can parse, and metrics addresses must never crash the
 * parser.
 *
 * The input is split at the first NUL into a label value and a HELP text;
 * the exposition must then be valid UTF-8, have exactly its three lines, and
 * the label value must end at its closing quote right before "} 1". */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_metrics_http.h"
#include "pw_promtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 2);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    in[size + 1] = '\0';
    const char *value = in;
    const char *help = in + strlen(in) + 1;
    if (help > in + size)
        help = in + size;

    struct sockaddr_storage sa;
    pw_err err;
    (void)pw_metrics_http_parse_addr(value, &sa, &err);

    pw_promtext t;
    pw_promtext_init(&t);
    pw_prom_label lab = {"run", value};
    if (pw_promtext_family(&t, "m", PW_PROM_GAUGE, help, &err) != 0 ||
        pw_promtext_sample(&t, &lab, 1, 1, &err) != 0)
        abort(); /* any name or help text must render */
    assert(valid_utf8((const unsigned char *)t.buf, t.len));
    size_t lines = 0;
    for (size_t i = 0; i < t.len; i++)
        lines += t.buf[i] == '\n';
    assert(lines == 3);
    /* The sample line: m{run="...."} 1 with every inner quote escaped. */
    const char *p = strstr(t.buf, "\nm{run=\"");
    assert(p);
    p += strlen("\nm{run=\"");
    while (*p != '"') {
        assert(*p && *p != '\n');
        p += *p == '\\' ? 2 : 1;
    }
    assert(strcmp(p, "\"} 1\n") == 0);
    pw_promtext_free(&t);
    free(in);
    return 0;
}
