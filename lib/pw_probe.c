/* pw_probe.c -- probe identity of two checkpoints (see pw_probe.h). */
#include "pw_probe.h"

#include <stdio.h>
#include <string.h>

void pw_probe_fingerprint(const pw_ckpt *c, char *out, size_t len)
{
    const char *fp = pw_ckpt_meta(c, "probe_fingerprint");
    size_t n = fp ? strspn(fp, "0123456789abcdef") : 0;
    if (len)
        out[0] = '\0';
    if (fp && n > 0 && fp[n] == '\0' && n < len)
        memcpy(out, fp, n + 1);
}

pw_probe_verdict pw_probe_check(const char *fa, const char *la, const char *fb, const char *lb,
                                char *msg, size_t len)
{
    if (len)
        msg[0] = '\0';
    if (fa[0] && fb[0] && strcmp(fa, fb) == 0)
        return PW_PROBE_SAME;
    if (fa[0] && fb[0]) {
        snprintf(msg, len,
                 "probe_mismatch: %s was taken on probe_fingerprint %.64s but %s on %.64s: their "
                 "rows are different inputs, so no layer is compared; take both on the same "
                 "probe inputs and subsampling",
                 la, fa, lb, fb);
        return PW_PROBE_DIFFERENT;
    }
    if (!fa[0] && !fb[0])
        snprintf(msg, len,
                 "neither %s nor %s has a probe_fingerprint: only their n says they hold the same "
                 "probe inputs",
                 la, lb);
    else
        snprintf(msg, len,
                 "%s has no probe_fingerprint (%s has %.64s): only their n says they hold the "
                 "same probe inputs",
                 fa[0] ? lb : la, fa[0] ? la : lb, fa[0] ? fa : fb);
    return PW_PROBE_UNKNOWN;
}
