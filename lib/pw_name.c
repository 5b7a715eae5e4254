/* pw_name.c -- layer name checks, safe printing and natural order (see pw_name.h). */
#include "pw_name.h"

#include <string.h>

#include "pw_limits.h"

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, beyond Unicode, or a surrogate */
    return len;
}

int pw_name_check(const char *s, size_t len, pw_err *err)
{
    char shown[64];
    if (len == 0)
        return pw_err_set(err, "empty layer name");
    pw_name_printable(shown, sizeof shown, s, len);
    if (len >= PW_MAX_NAME)
        return pw_err_set(err, "layer name '%s' is %zu bytes, more than %d", shown, len,
                          PW_MAX_NAME - 1);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return pw_err_set(err, "layer name '%s' contains control character 0x%02x", shown,
                              u[i]);
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0)
            return pw_err_set(err, "layer name '%s' is not valid UTF-8 (byte %zu)", shown, i);
        i += n;
    }
    return 0;
}

void pw_name_printable(char *dst, size_t cap, const char *s, size_t len)
{
    size_t keep = len < cap - 1 ? len : cap - 4;
    for (size_t i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (keep < len) {
        memcpy(dst + keep, "...", 3);
        keep += 3;
    }
    dst[keep] = '\0';
}

void pw_name_printable_utf8(char *dst, size_t cap, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    /* Up to 4 bytes of a character plus "..." and the NUL must still fit. */
    size_t room = len < cap - 1 ? cap - 1 : cap - 4, o = 0, i = 0;
    while (i < len) {
        size_t n = utf8_seq(u + i, len - i);
        if (n == 1 && (u[i] < 0x20 || u[i] == 0x7f))
            n = 0;
        size_t out = n ? n : 1;
        if (o + out > room)
            break;
        if (n)
            memcpy(dst + o, s + i, n);
        else
            dst[o] = '?';
        o += out;
        i += n ? n : 1;
    }
    if (i < len) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int pw_name_natcmp(const char *a, const char *b)
{
    const char *pa = a, *pb = b;
    while (*pa && *pb) {
        if (is_digit(*pa) && is_digit(*pb)) {
            const char *za = pa, *zb = pb;
            while (*za == '0')
                za++;
            while (*zb == '0')
                zb++;
            const char *ea = za, *eb = zb;
            while (is_digit(*ea))
                ea++;
            while (is_digit(*eb))
                eb++;
            /* Without leading zeros, the longer run is the larger number. */
            if (ea - za != eb - zb)
                return ea - za < eb - zb ? -1 : 1;
            int c = memcmp(za, zb, (size_t)(ea - za));
            if (c != 0)
                return c < 0 ? -1 : 1;
            pa = ea;
            pb = eb;
            continue;
        }
        if (*pa != *pb)
            return (unsigned char)*pa < (unsigned char)*pb ? -1 : 1;
        pa++;
        pb++;
    }
    if (*pa || *pb)
        return *pa ? 1 : -1;
    int c = strcmp(a, b); /* "a01" vs "a1": equal numerically, still distinct */
    return c < 0 ? -1 : c > 0;
}
