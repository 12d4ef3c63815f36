/*
 * file_checks.c - a private key readable by others is a key that others
 * may already have copied; a certificate outside its validity period makes
 * every peer refuse us with a TLS alert that names neither side's file.
 * Both are said here, before anything listens or dials.
 */
#include "tls/file_checks.h"

#include <grp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "beacon/beacon.h"

#define MAX_GROUPS 256

static int in_my_groups(gid_t g)
{
  gid_t groups[MAX_GROUPS];
  if(g == getegid() || g == getgid())
    return 1;
  int n = getgroups(MAX_GROUPS, groups);
  for(int i = 0; i < n; i++)
    if(groups[i] == g)
      return 1;
  return 0;
}

/* The name of group g ("beacon"), or its number when it has none. */
static void group_name(gid_t g, char *out, size_t cap)
{
  struct group gr, *found = NULL;
  char buf[1024];
  if(!getgrgid_r(g, &gr, buf, sizeof(buf), &found) && found)
    snprintf(out, cap, "%s", found->gr_name);
  else
    snprintf(out, cap, "%u", (unsigned)g);
}

int tls_key_file_check(const char *path, int allow_group, char *msg,
                       size_t cap)
{
  struct stat st;
  if(stat(path, &st))
    return 0;
  unsigned mode = (unsigned)st.st_mode & 0777;
  if(!(mode & 077))
    return 0;
  int group_only = !(mode & 007) && !(mode & 020) && (mode & 040);
  if(group_only && allow_group && in_my_groups(st.st_gid))
    return 0;
  if(!msg || !cap)
    return BEACON_ECONFIG;
  char file_group[64], my_group[64];
  group_name(st.st_gid, file_group, sizeof(file_group));
  group_name(getegid(), my_group, sizeof(my_group));
  /* With allow_group the key is typically root's, read through the
   * process's group (the packaged layout): chmod 600 would lock the
   * process out of it, so the advice is 0640 with that group. */
  const char *what = mode & 007   ? "accessible by others"
                     : mode & 020 ? "writable by its group"
                                  : "readable by its group";
  if(group_only && allow_group)
    snprintf(msg, cap,
             "key %s is readable by group %s, which is not this process's "
             "group: chgrp %s it (mode 0640), or chmod 600 it if this "
             "process owns it",
             path, file_group, my_group);
  else if(group_only)
    snprintf(msg, cap,
             "key %s is readable by its group %s (mode %04o): chmod 600 it "
             "(a relay may keep it 0640 for its own group with "
             "--allow-group-readable-key)",
             path, file_group, mode);
  else if(allow_group)
    snprintf(msg, cap,
             "key %s is %s (mode %04o): chmod 640 it and chgrp %s it, or "
             "chmod 600 it if this process owns it",
             path, what, mode, my_group);
  else
    snprintf(msg, cap, "key %s is %s (mode %04o): chmod 600 it", path, what,
             mode);
  return BEACON_ECONFIG;
}

static void utc(char *buf, size_t cap, const ASN1_TIME *t)
{
  struct tm tm;
  if(ASN1_TIME_to_tm(t, &tm) != 1 ||
     !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
    snprintf(buf, cap, "?");
}

int64_t tls_cert_file_not_after(const char *path)
{
  FILE *f = fopen(path, "r");
  if(!f)
    return 0;
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  struct tm tm;
  int64_t t = 0;
  if(x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
    t = (int64_t)timegm(&tm);
  X509_free(x);
  ERR_clear_error();
  return t;
}

int tls_cert_file_validity(const char *path, time_t now, char *msg, size_t cap)
{
  FILE *f = fopen(path, "r");
  if(!f)
    return 0;
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  ERR_clear_error();
  if(!x)
    return 0;
  int rc = 0;
  char when[64];
  if(X509_cmp_time(X509_get0_notAfter(x), &now) < 0) {
    utc(when, sizeof(when), X509_get0_notAfter(x));
    if(msg && cap)
      snprintf(msg, cap, "certificate %s expired on %s: renew it", path, when);
    rc = BEACON_ECONFIG;
  } else if(X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
    utc(when, sizeof(when), X509_get0_notBefore(x));
    if(msg && cap)
      snprintf(msg, cap,
               "certificate %s is not valid before %s (is this host's "
               "clock right?)",
               path, when);
    rc = BEACON_ECONFIG;
  }
  X509_free(x);
  ERR_clear_error();
  return rc;
}
