/*
 * rotation.c - a tunnel follows its identity files on disk (rotation.h).
 *
 * A timer stats the certificate, key, CA and CRL files each second (so
 * a rename over a file counts as well as a write in place) and reloads
 * the identity when any of them changed; a reload that fails (a file
 * half written, a key that does not match its certificate yet) keeps
 * the old identity and is tried again at the next change.
 *
 * The same tick asks client/renewal.h whether each member's connection
 * is due: if so, and a certificate that outlives the connection's is
 * loaded, members.c opens a fresh connection to the same relay, which
 * takes the member's new streams once it is up while the old one
 * finishes its live streams (the Go Away path). A retired connection
 * still open at its certificate's notAfter is closed: the relay would
 * refuse it from then on anyway.
 */
#include "client/rotation.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client/chain.h"
#include "client/member_state.h"
#include "client/own_files.h"
#include "client/relay_recheck.h"
#include "client/renewal.h"
#include "log/log.h"

static void file_sig(const char *path, client_file_sig_t *sig)
{
  struct stat st;
  memset(sig, 0, sizeof(*sig));
  if(!path)
    return;
  if(stat(path, &st)) {
    sig->err = errno ? errno : EIO;
    return;
  }
  sig->dev = (uint64_t)st.st_dev;
  sig->ino = (uint64_t)st.st_ino;
  sig->size = (uint64_t)st.st_size;
  sig->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  sig->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
}

/* 1 when the files differ from what was last loaded (now in sig). */
static int files_changed(const beacon_tunnel_t *t,
                         client_file_sig_t sig[CLIENT_WATCHED_FILES])
{
  const char *paths[CLIENT_WATCHED_FILES] = {t->cfg.cert, t->cfg.key,
                                             t->cfg.ca, t->cfg.crl};
  for(int i = 0; i < CLIENT_WATCHED_FILES; i++)
    file_sig(paths[i], &sig[i]);
  return memcmp(sig, t->files_seen, sizeof(t->files_seen)) != 0;
}

void client_rotation_refresh(beacon_tunnel_t *t)
{
  client_file_sig_t sig[CLIENT_WATCHED_FILES];
  if(!files_changed(t, sig))
    return;
  memcpy(t->files_seen, sig, sizeof(t->files_seen));
  beacon_error_t err;
  if(t->host->reload(t, &err)) {
    t->files_failed = 1;
    client_own_warn(&t->cfg, "reload_failed",
                    "%s (the old certificate stays until the files change "
                    "again)",
                    err.message);
    return;
  }
  t->files_failed = 0;
  if(t->cfg.log_pool)
    log_msg(LOG_INFO, "reload",
            "certificate, key and CA changed on disk: new tunnels use them");
}

/* Member i's connection is due: a fresh one with the loaded certificate,
 * or a warning (once per certificate) when there is none. */
static void renew_member(beacon_tunnel_t *t, int i, time_t now,
                         time_t loaded_na)
{
  client_member_t *m = &t->members[i];
  client_chain_t *s = m->chain;
  switch(
      renewal_decide(s->cert_not_before, s->cert_not_after, loaded_na, now)) {
  case RENEWAL_ROTATE:
    if(client_members_renew(t, i) == 0 && t->cfg.log_pool)
      log_msg(LOG_INFO, "tunnel_renewing",
              "%s: a new tunnel with the renewed certificate", m->name);
    return;
  case RENEWAL_NO_NEWER:
    if(t->not_renewed_warned == s->cert_not_after)
      return;
    t->not_renewed_warned = s->cert_not_after;
    {
      char date[32];
      struct tm tm;
      time_t na = (time_t)s->cert_not_after;
      gmtime_r(&na, &tm);
      strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
      client_own_warn(&t->cfg, "cert_not_renewed",
                      "our own certificate %s expires on %s and no renewed "
                      "one is on disk: the tunnel stays until then (renew "
                      "it)",
                      t->cfg.cert, date);
    }
    return;
  default:
    return;
  }
}

/* Retired connections still open when their certificate ends. */
static void close_expired_retired(beacon_tunnel_t *t, time_t now)
{
  list_link_t *n = t->chains.next;
  while(n != &t->chains) {
    list_link_t *next = n->next;
    client_chain_t *s = LIST_CONTAINER(n, client_chain_t, link);
    if(s->retired && s->state != CHAIN_FAILED && s->cert_not_after &&
       now >= s->cert_not_after)
      client_chain_fail(s, -1, BEACON_ECLOSED,
                        "the certificate of a renewed tunnel expired");
    n = next;
  }
}

static void on_tick(uv_timer_t *tm)
{
  beacon_tunnel_t *t = tm->data;
  if(t->stopped)
    return;
  client_rotation_refresh(t);
  client_relay_recheck(t); /* after a reload, here or by another thread */
  time_t now = time(NULL);
  tls_ctx_t *ctx = t->host->ctx_get(t);
  time_t loaded_na = tls_ctx_cert_not_after(ctx);
  tls_ctx_unref(ctx);
  uint64_t mono = uv_now(&t->loop);
  for(int i = 0; i < t->nmembers; i++) {
    client_member_t *m = &t->members[i];
    client_chain_t *s = m->chain;
    if(s && s->state == CHAIN_UP && !s->going_away && !m->successor &&
       mono >= m->renew_retry_at)
      renew_member(t, i, now, loaded_na);
  }
  close_expired_retired(t, now);
}

void client_rotation_init(beacon_tunnel_t *t)
{
  client_file_sig_t sig[CLIENT_WATCHED_FILES];
  (void)files_changed(t, sig); /* the files tunnel_create() loaded */
  memcpy(t->files_seen, sig, sizeof(t->files_seen));
  uv_timer_init(&t->loop, &t->rotation_timer);
  t->rotation_timer.data = t;
  uv_timer_start(&t->rotation_timer, on_tick, CLIENT_ROTATION_TICK_MS,
                 CLIENT_ROTATION_TICK_MS);
  /* the watch alone must not keep the loop alive */
  uv_unref((uv_handle_t *)&t->rotation_timer);
}

static void close_noop(uv_handle_t *h)
{
  (void)h;
}

void client_rotation_stop(beacon_tunnel_t *t)
{
  uv_close((uv_handle_t *)&t->rotation_timer, close_noop);
}
