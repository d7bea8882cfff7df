/*
 * The sd_notify protocol without libsystemd: datagrams to $NOTIFY_SOCKET
 * (a path, or an abstract name starting with '@'). Everything is a no-op
 * when podwall does not run under systemd.
 */
#ifndef PW_SDNOTIFY_H
#define PW_SDNOTIFY_H

#include <stdint.h>

/* Sends "READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1", "RELOADING=1"... 0 or -errno. */
int pw_sd_notify(const char *state);
int pw_sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* $WATCHDOG_USEC for this process, in ms; 0 when no watchdog is asked for. */
uint64_t pw_sd_watchdog_interval_ms(void);

#endif
