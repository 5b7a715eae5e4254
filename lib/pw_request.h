/* pw_request.h -- one control-socket request line, parsed and validated.
 *
 * The daemon's control socket (docs/protocol.md) reads newline-delimited
 * JSON from any local process allowed to connect, so a line is hostile until
 * proven otherwise: too long, too deeply nested, not UTF-8, wrong types,
 * unknown commands, steps that do not fit.  pw_request_parse turns the bytes
 * of one line into a typed request, or fails with the sentence the daemon
 * sends back as {"ok": false, "error": ...}.  That sentence is always valid
 * UTF-8 without control characters, so it can go into a JSON string as is.
 * Fields a command does not use are ignored, so newer clients can add some. */
#ifndef PW_REQUEST_H
#define PW_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_limits.h"

/* What a request asks for. */
typedef enum pw_req_cmd {
    PW_REQ_STATUS,    /* {"cmd": "status"} */
    PW_REQ_FINALIZE,  /* {"cmd": "finalize", "run": R, "step": S (optional)} */
    PW_REQ_RESCAN,    /* {"cmd": "rescan"} */
    PW_REQ_SUBSCRIBE, /* {"cmd": "subscribe"} */
    PW_REQ_RESCORE,   /* {"cmd": "rescore", "run": R, "from": S (optional)} */
} pw_req_cmd;

typedef struct pw_request {
    pw_req_cmd cmd;           /* the command */
    char run[PW_REQ_MAX_RUN]; /* finalize, rescore: run name or path, non-empty UTF-8; "" else */
    int has_step;             /* finalize: 1 when "step" was given (and not null); rescore:
                                 likewise "from" */
    int64_t step;             /* finalize: the step, rescore: the first step, >= 0, when has_step */
} pw_request;

/* Parse line[0..len) (no newline, not NUL-terminated, any bytes).  0 and
 * *out filled, or -1 with err holding the reply's error sentence. */
int pw_request_parse(const char *line, size_t len, pw_request *out, pw_err *err);

#endif
