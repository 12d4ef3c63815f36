/*
 * crl_watch.c - polling crl.pem (crl_watch.h). A stat poll, not inotify:
 * it sees a file renamed into place (a new inode), one written in place,
 * one created or removed, and works on any filesystem the config
 * directory may be on. A file caught half written fails to load, which
 * keeps the previous material; the write's end changes it again.
 */
#include "relay/crl_watch.h"

#include <stdio.h>

#include "log/log.h"
#include "relay/reload.h"

static void on_crl_change(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
                          const uv_stat_t *curr)
{
  relay_t *r = h->data;
  if(status < 0 && !prev->st_ino && !prev->st_mtim.tv_sec)
    return; /* absent from the start: nothing changed */
  log_line_t l;
  if(log_begin(&l, LOG_INFO, "crl_changed")) {
    log_str(&l, "file", "crl.pem");
    log_str(&l, "state", status < 0 ? "missing" : "present");
    log_end(&l);
  }
  relay_reload(r);
}

static void watch_closed(uv_handle_t *h)
{
}

void relay_crl_watch_start(relay_t *r)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/crl.pem", r->config_dir);
  uv_fs_poll_init(&r->loop, &r->crl_poll);
  r->crl_poll.data = r;
  int rc =
      uv_fs_poll_start(&r->crl_poll, on_crl_change, path, RELAY_CRL_POLL_MS);
  if(rc) {
    log_msg(LOG_WARN, "crl_watch_failed", "%s: %s", path, uv_strerror(rc));
    uv_close((uv_handle_t *)&r->crl_poll, watch_closed);
    return;
  }
  r->crl_poll_on = 1;
}

void relay_crl_watch_stop(relay_t *r)
{
  if(!r->crl_poll_on)
    return;
  r->crl_poll_on = 0;
  uv_close((uv_handle_t *)&r->crl_poll, watch_closed);
}
