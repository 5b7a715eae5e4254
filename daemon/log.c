/* log.c -- levelled, journald-friendly logging with per-key deduplication (see log.h).
 *
 * Logging happens from the loop and from compute threads, so a mutex keeps
 * lines whole and guards the table of keys already reported.
 *
 * Messages carry text nobody vetted: run and checkpoint names come from
 * directory entries any user with write access to a watched root can create,
 * layer names from checkpoint files, errors from libraries.  A newline there
 * would forge a log line -- under journald "\n<0>..." even an emergency --
 * and terminal escapes would reach whoever reads the log.  So every message
 * is escaped here, once, rather than at each call: control bytes, DEL, C1
 * controls and bytes that are not UTF-8 become \n, \t, \r or \xNN, and a
 * backslash becomes \\ so the escaped text reads back unambiguously.  Valid
 * UTF-8 (accented names) is kept as it is. */
#include "log.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LOG_SEEN_SLOTS 4096 /* remembered keys; a full table forgets the oldest slot */
#define LOG_MAX_LINE   8192 /* bytes of a message before escaping; longer ones are cut */

static int log_level = PWD_INFO;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t seen[LOG_SEEN_SLOTS]; /* hashes of keys already logged, 0 = empty */

void pwd_log_set_level(int level)
{
    log_level = level;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when the
 * bytes there are not one: overlong forms, surrogates and code points past
 * U+10FFFF are refused, as are the C1 controls U+0080..U+009F (terminals
 * act on some of them). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        if (c == 0xc2)
            lo = 0xa0; /* C2 80..C2 9F are the C1 controls */
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* Append msg[0..n) escaped (see the top of the file) to out at *o; out has room
 * for 4 bytes per byte of msg. */
static void escape(char *out, size_t *o, const char *msg, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)msg;
    size_t k = *o;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t u;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[k++] = (char)c;
            i++;
        } else if (c == '\\' || c == '\n' || c == '\t' || c == '\r') {
            out[k++] = '\\';
            out[k++] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : '\\';
            i++;
        } else if (c >= 0x80 && (u = utf8_len(s + i, n - i)) > 0) {
            memcpy(out + k, s + i, u);
            k += u;
            i += u;
        } else {
            out[k++] = '\\';
            out[k++] = 'x';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
            i++;
        }
    }
    *o = k;
}

static int journal_stderr; /* stderr is the journal (decide_journal) */

/* Whether stderr is the journal, as systemd documents it (systemd.exec(5)):
 * JOURNAL_STREAM holds the "device:inode" of the stream it connected, and a
 * process whose fd 2 is that stream logs to the journal, which stamps each
 * line with its own time.  Decided once: stderr stays for the process. */
static void decide_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    if (!js || fstat(2, &st) != 0)
        return;
    char *colon, *end;
    unsigned long long dev = strtoull(js, &colon, 10);
    if (colon == js || *colon != ':')
        return;
    unsigned long long ino = strtoull(colon + 1, &end, 10);
    journal_stderr = end != colon + 1 && *end == '\0' && (unsigned long long)st.st_dev == dev &&
                     (unsigned long long)st.st_ino == ino;
}

/* "2026-12-06T15:12:01.123+0000 ": local time with its offset, for lines nobody else
 * stamps (a terminal, a file); size gets at least 40 bytes. */
static size_t stamp(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!localtime_r(&ts.tv_sec, &tm))
        return 0;
    char date[24], zone[8];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm);
    int n = snprintf(buf, size, "%s.%03ld%s ", date, ts.tv_nsec / 1000000, zone);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static void vlog(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    static const int prio[] = {3, 4, 6, 7}; /* syslog priorities */
    /* The escaped line, built under the lock and written with one call so a
     * hook writing to the same stderr cannot split it. */
    static char line[64 + 48 + 4 * LOG_MAX_LINE + 64];
    if (level > log_level)
        return;
    const char *js = getenv("JOURNAL_STREAM");
    char msg[LOG_MAX_LINE];
    int len = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = len < 0 ? 0 : (size_t)len < sizeof msg ? (size_t)len : sizeof msg - 1;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, decide_journal);
    pthread_mutex_lock(&log_mutex);
    size_t o;
    if (js && *js)
        o = (size_t)snprintf(line, 64, "<%d>", prio[level]);
    else
        o = 0;
    if (!journal_stderr)
        o += stamp(line + o, 48);
    if (!(js && *js))
        o += (size_t)snprintf(line + o, 64, "pwccad: %s: ", names[level]);
    escape(line, &o, msg, n);
    if (len >= 0 && (size_t)len >= sizeof msg)
        o += (size_t)snprintf(line + o, 64, " [cut at %zu of %d bytes]", n, len);
    line[o++] = '\n';
    assert(o <= sizeof line);
    fwrite(line, 1, o, stderr);
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
