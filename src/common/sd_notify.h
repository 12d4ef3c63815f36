/*
 * sd_notify.h - the systemd notification protocol (sd_notify(3)) without
 * libsystemd: one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET.
 * The relay sends "READY=1" once its port listens (Type=notify units),
 * "RELOADING=1" then "READY=1" around a SIGHUP reload and "STOPPING=1"
 * when it starts draining.
 */
#ifndef BEACON_SD_NOTIFY_H
#define BEACON_SD_NOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=listening on :8456") to
 * $NOTIFY_SOCKET: a filesystem path, or an abstract socket when it starts
 * with '@'. Returns 1 when sent, 0 when NOTIFY_SOCKET is unset or empty
 * (not under systemd), BEACON_EINVAL for an unusable NOTIFY_SOCKET value
 * or state, BEACON_EIO when the send fails. Thread-safe; never blocks. */
int beacon_sd_notify(const char *state);

#endif
