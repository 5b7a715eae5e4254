/* pw_status.c -- names and descriptions for the status list in pw_status.h. */
#include "pw_status.h"

#include <string.h>

static const char *const status_names[] = {
#define PW_STATUS_NAME(sym, name, doc) name,
    PW_STATUS_LIST(PW_STATUS_NAME)
#undef PW_STATUS_NAME
};

static const char *const status_docs[] = {
#define PW_STATUS_DOC(sym, name, doc) doc,
    PW_STATUS_LIST(PW_STATUS_DOC)
#undef PW_STATUS_DOC
};

const char *pw_status_name(pw_status s)
{
    if ((unsigned)s >= PW_STATUS_COUNT)
        return "unknown";
    return status_names[s];
}

const char *pw_status_doc(pw_status s)
{
    if ((unsigned)s >= PW_STATUS_COUNT)
        return "unknown status";
    return status_docs[s];
}

int pw_status_parse(const char *name, pw_status *out)
{
    for (unsigned i = 0; i < PW_STATUS_COUNT; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (pw_status)i;
            return 0;
        }
    }
    return -1;
}
