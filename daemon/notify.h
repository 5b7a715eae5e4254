/* notify.h -- the systemd notification protocol, without libsystemd.
 *
 * sd_notify is one datagram to the socket named by $NOTIFY_SOCKET (a path,
 * or an abstract name starting with '@').  Without NOTIFY_SOCKET every call
 * is a no-op.  The watchdog interval comes from $WATCHDOG_USEC (honouring
 * $WATCHDOG_PID); the daemon pings at half of it from the loop thread, so a
 * stuck loop really does starve the watchdog. */
#ifndef PWD_NOTIFY_H
#define PWD_NOTIFY_H

#include <stdint.h>

/* Send "READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1" (printf-style). */
void pwd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Watchdog ping interval in milliseconds, 0 when no watchdog is wanted. */
uint64_t pwd_notify_watchdog_ms(void);

#endif
