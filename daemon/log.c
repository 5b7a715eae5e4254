/* log.c -- levelled, journald-friendly logging with per-key deduplication (see log.h).
 *
 * Logging happens from the loop and from compute threads, so a mutex keeps
 * lines whole and guards the table of keys already reported. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SEEN_SLOTS 4096 /* remembered keys; a full table forgets the oldest slot */

static int log_level = PWD_INFO;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t seen[LOG_SEEN_SLOTS]; /* hashes of keys already logged, 0 = empty */

void pwd_log_set_level(int level)
{
    log_level = level;
}

static void vlog(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    static const int prio[] = {3, 4, 6, 7}; /* syslog priorities */
    if (level > log_level)
        return;
    const char *js = getenv("JOURNAL_STREAM");
    pthread_mutex_lock(&log_mutex);
    if (js && *js)
        fprintf(stderr, "<%d>", prio[level]);
    else
        fprintf(stderr, "pwccad: %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_mutex);
}

void pwd_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

/* FNV-1a, never 0 so 0 can mark an empty slot. */
static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ? h : 1;
}

/* 1 when the key was already seen; records it otherwise. */
static int seen_before(const char *key, int forget)
{
    uint64_t h = hash_key(key);
    size_t slot = h % LOG_SEEN_SLOTS;
    pthread_mutex_lock(&log_mutex);
    int was = seen[slot] == h;
    seen[slot] = forget ? 0 : h;
    pthread_mutex_unlock(&log_mutex);
    return was;
}

void pwd_log_once(const char *key, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(seen_before(key, 0) ? PWD_DEBUG : level, fmt, ap);
    va_end(ap);
}

void pwd_log_forget(const char *key)
{
    seen_before(key, 1);
}
