/* log.h -- pwccad's log: stderr, levels, journald priorities, no repeated spam.
 *
 * When stderr is the journal (systemd sets JOURNAL_STREAM) every line starts
 * with the syslog priority as "<N>", which journald turns into the entry's
 * priority; otherwise lines read "pwccad: warning: ...".  Lines start with the
 * local time ("2026-12-06T15:12:01.123+0000 ") unless stderr really is the
 * journal (JOURNAL_STREAM names fd 2's device and inode), which stamps its
 * own.  pwd_log_once logs a message at its level the first time a key
 * (usually a file path plus the problem) is seen and at debug level
 * afterwards, so a bad file found by every rescan is reported once. */
#ifndef PWD_LOG_H
#define PWD_LOG_H

enum { PWD_ERROR, PWD_WARNING, PWD_INFO, PWD_DEBUG };

/* Messages above this level are dropped (default PWD_INFO). */
void pwd_log_set_level(int level);
void pwd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pwd_log_once(const char *key, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Forget a key so its next problem is logged again (the file was fixed). */
void pwd_log_forget(const char *key);

#endif
