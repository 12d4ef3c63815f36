/* pki_init.c - `beacon pki init`: root CA, Fleet CA, relay and controller
 * in one directory, keeping what exists (cli_support/pki.h pki_init). */
#include <string.h>

#include "beacon/beacon.h"
#include "cli_support/pki_cert.h"
#include "cli_support/pki_files.h"
#include "cli_support/pki_int.h"

enum { PAIR_ABSENT = 0, PAIR_PRESENT = 1, PAIR_PARTIAL = 2 };
enum { ROOT = 0, FLEET, RELAY, CONTROLLER, NPAIRS };

static const char *const pair_names[NPAIRS] = {"root-ca", "fleet-ca", "relay",
                                               "controller"};

/* The CAs as loaded or made, to sign what comes after them. */
typedef struct cas {
  X509 *root, *fleet;
  EVP_PKEY *root_key, *fleet_key;
} cas_t;

static int pair_state(const char *dir, const char *name, int force)
{
  char c[PKI_PATH_MAX], k[PKI_PATH_MAX];
  if(force)
    return PAIR_ABSENT;
  if(pki_path_join(c, sizeof(c), dir, name, ".crt") ||
     pki_path_join(k, sizeof(k), dir, name, ".key"))
    return PAIR_PARTIAL;
  int n = pki_file_exists(c) + pki_file_exists(k);
  return n == 2 ? PAIR_PRESENT : n == 1 ? PAIR_PARTIAL : PAIR_ABSENT;
}

/* A CA that --force alone would replace: its name, or NULL. */
static const char *existing_ca(const char *dir)
{
  static const char *const cas[] = {"fleet-ca", "root-ca"};
  char c[PKI_PATH_MAX], k[PKI_PATH_MAX];
  for(int i = 0; i < 2; i++)
    if(!pki_path_join(c, sizeof(c), dir, cas[i], ".crt") &&
       !pki_path_join(k, sizeof(k), dir, cas[i], ".key") &&
       (pki_file_exists(c) || pki_file_exists(k)))
      return cas[i];
  return NULL;
}

/* --force without --replace-ca must not replace a CA. */
static int check_flags(const char *dir, int flags, char *err, size_t errlen)
{
  int force = flags & PKI_INIT_FORCE;
  const char *ca =
      force && !(flags & PKI_INIT_REPLACE_CA) ? existing_ca(dir) : NULL;
  if(ca)
    return pki_fail(
        BEACON_EINVAL, err, errlen,
        "%s holds a CA (%s): --force would replace it, and every "
        "relay and controller certificate it signed would then fail "
        "to verify (unknown CA) until reissued and fleet-ca.crt is "
        "replaced everywhere; to do that, give --force --replace-ca",
        dir, ca);
  if((flags & PKI_INIT_REPLACE_CA) && !force)
    return pki_fail(BEACON_EINVAL, err, errlen, "--replace-ca needs --force");
  return 0;
}

/* Which pairs exist; refuses half pairs and leaves without their CA. */
static int scan(const char *dir, int force, int st[NPAIRS], char *err,
                size_t errlen)
{
  for(int i = 0; i < NPAIRS; i++) {
    st[i] = pair_state(dir, pair_names[i], force);
    if(st[i] == PAIR_PARTIAL)
      return pki_fail(BEACON_ECONFIG, err, errlen,
                      "%s/%s: only one of .crt/.key exists; remove it or "
                      "use --force",
                      dir, pair_names[i]);
  }
  /* A new CA invalidates everything it would sign: never mix a fresh CA
   * with leaves kept from an older one. */
  if((st[ROOT] == PAIR_ABSENT && st[FLEET] == PAIR_PRESENT) ||
     (st[FLEET] == PAIR_ABSENT &&
      (st[RELAY] == PAIR_PRESENT || st[CONTROLLER] == PAIR_PRESENT)))
    return pki_fail(BEACON_ECONFIG, err, errlen,
                    "%s: incomplete PKI (a CA is missing but certificates "
                    "it signed exist); use --force to recreate it all",
                    dir);
  return 0;
}

/* Loads or makes the root CA, then the Fleet CA it signs. */
static int ensure_cas(const char *dir, const int st[NPAIRS], int force,
                      cas_t *c, char *err, size_t errlen)
{
  int rc;
  if(st[ROOT] == PAIR_PRESENT) {
    rc = pki_load_pair(dir, "root-ca", &c->root, NULL, &c->root_key, err,
                       errlen);
  } else {
    cert_spec_t s = {.cn = "beacon development root CA",
                     .org = "beacon",
                     .ca = 1,
                     .pathlen = -1,
                     .nb_secs = -BACKDATE_SECS,
                     .na_secs = CA_DAYS * DAY_SECS};
    rc = pki_new_pair(dir, "root-ca", &s, NULL, force, &c->root, &c->root_key,
                      err, errlen);
  }
  if(rc)
    return rc;
  if(st[FLEET] == PAIR_PRESENT)
    return pki_load_pair(dir, "fleet-ca", &c->fleet, NULL, &c->fleet_key, err,
                         errlen);
  cert_spec_t s = {.cn = "beacon Fleet CA",
                   .org = "beacon",
                   .issuer = c->root,
                   .issuer_key = c->root_key,
                   .ca = 1,
                   .pathlen = 0,
                   .nb_secs = -BACKDATE_SECS,
                   .na_secs = CA_DAYS * DAY_SECS};
  return pki_new_pair(dir, "fleet-ca", &s, NULL, force, &c->fleet,
                      &c->fleet_key, err, errlen);
}

/* The relay's and the controller's leaves that are missing. */
static int make_leaves(const char *dir, const int st[NPAIRS], int force,
                       const cas_t *c, char *err, size_t errlen)
{
  cert_spec_t s = {.org = "beacon",
                   .issuer = c->fleet,
                   .issuer_key = c->fleet_key,
                   .pathlen = -1,
                   .nb_secs = -BACKDATE_SECS,
                   .na_secs = LEAF_DAYS * DAY_SECS};
  if(st[RELAY] == PAIR_ABSENT) {
    cert_spec_t r = s;
    r.cn = "relay";
    r.eku = EKU_SERVER | EKU_CLIENT;
    r.sans = "localhost,127.0.0.1,::1";
    int rc = pki_new_pair(dir, "relay", &r, c->fleet, force, NULL, NULL, err,
                          errlen);
    if(rc)
      return rc;
  }
  if(st[CONTROLLER] == PAIR_ABSENT) {
    s.cn = "controller";
    s.eku = EKU_CLIENT;
    return pki_new_pair(dir, "controller", &s, c->fleet, force, NULL, NULL,
                        err, errlen);
  }
  return 0;
}

int pki_init(const char *dir, int flags, char *err, size_t errlen)
{
  int force = flags & PKI_INIT_FORCE;
  int st[NPAIRS];
  cas_t c = {0};
  int rc = check_flags(dir, flags, err, errlen);
  if(!rc)
    rc = pki_ensure_dir(dir, err, errlen);
  if(!rc)
    rc = scan(dir, force, st, err, errlen);
  if(rc)
    return rc;
  if(st[ROOT] && st[FLEET] && st[RELAY] && st[CONTROLLER])
    return 0; /* complete: nothing to do, nothing overwritten */
  rc = ensure_cas(dir, st, force, &c, err, errlen);
  if(!rc)
    rc = make_leaves(dir, st, force, &c, err, errlen);
  X509_free(c.root);
  X509_free(c.fleet);
  EVP_PKEY_free(c.root_key);
  EVP_PKEY_free(c.fleet_key);
  return rc;
}
