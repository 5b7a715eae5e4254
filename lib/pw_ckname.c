/* pw_ckname.c -- checkpoint name rules: temporaries, extensions, step (see pw_ckname.h).
 * The extensions are pw_checkpoint.h's PW_FORMAT_LIST, never a list of their own. */
#include "pw_ckname.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stddef.h>
#include <string.h>

#include "pw_checkpoint.h"

/* The largest step we accept has 18 digits, so it always fits an int64_t. */
#define CKNAME_MAX_DIGITS 18

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int pw_ckname_is_temporary(const char *name)
{
    static const char *const suffixes[] = {".tmp", ".part", ".partial", "~", ".swp"};
    if (name[0] == '.' || name[0] == '\0')
        return 1;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (ends_with(name, suffixes[i]))
            return 1;
    return strstr(name, ".tmp.") != NULL;
}

/* Length of the name without a recognised extension, or 0 when a file has none.
 * The extensions are the formats pw_checkpoint reads, in the case it reads
 * them (any), so the watcher never ignores a file `pwcca compare` would read. */
static size_t stem_length(const char *name, int is_dir)
{
    size_t n = strlen(name), ext = pw_ckpt_suffix_len(name);
    if (is_dir)
        return n;
    return ext > 0 && n > ext ? n - ext : 0;
}

int pw_ckname_has_control(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

int pw_ckname_parse(const char *name, int is_dir, const char *pattern, pw_ckname *out)
{
    if (pw_ckname_is_temporary(name) || pw_ckname_has_control(name))
        return 0;
    size_t stem = stem_length(name, is_dir);
    if (stem == 0)
        return 0;
    if (pattern && *pattern && fnmatch(pattern, name, 0) != 0)
        return 0;
    if (stem == 5 && strncmp(name, "final", 5) == 0) {
        out->step = -1;
        out->is_final = 1;
        return 1;
    }
    /* The last run of digits in the stem is the step. */
    size_t end = stem;
    while (end > 0 && !isdigit((unsigned char)name[end - 1]))
        end--;
    if (end == 0)
        return 0;
    size_t begin = end;
    while (begin > 0 && isdigit((unsigned char)name[begin - 1]))
        begin--;
    while (begin + 1 < end && name[begin] == '0')
        begin++; /* leading zeros carry no value and must not count as digits */
    if (end - begin > CKNAME_MAX_DIGITS)
        return 0;
    int64_t step = 0;
    for (size_t i = begin; i < end; i++)
        step = step * 10 + (name[i] - '0');
    out->step = step;
    out->is_final = 0;
    return 1;
}
