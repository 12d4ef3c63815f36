/*
 * pki.c - the development PKI, CSR signing, test certificates and the
 * relay's CSR, all through OpenSSL 3's API (EVP_PKEY, X509, X509_REQ).
 *
 * Keys are ECDSA P-256: crypto/tls and OpenSSL both have fast constant-time
 * code for it, keys and signatures are small, and it is what a Go PKI makes
 * by default. Private keys are written with open(O_CREAT|O_EXCL, 0600), so
 * there is never a moment where a key file is readable by others.
 */
#include "cli_support/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "beacon/beacon.h"
#include "tls/identity.h"

#define DAY_SECS 86400L
#define LEAF_DAYS 825L      /* the CA/Browser maximum, as Go tools use */
#define CA_DAYS (3650L)     /* ten years */
#define BACKDATE_SECS 3600L /* tolerate an hour of clock skew */

/* key usage / EKU bits for make_cert() */
enum { EKU_SERVER = 1, EKU_CLIENT = 2 };

typedef struct cert_spec {
  const char *cn;
  const char *org;
  EVP_PKEY *pub;        /* subject key */
  X509 *issuer;         /* NULL: self-signed */
  EVP_PKEY *issuer_key; /* signs; the subject key when self-signed */
  int ca;               /* CA:TRUE */
  int pathlen;          /* -1: none */
  int eku;              /* EKU_* bits; 0 = no EKU extension */
  const char *sans;     /* comma-separated, may be NULL */
  X509_NAME *subject;   /* overrides cn/org when set */
  GENERAL_NAMES *gens;  /* overrides sans when set */
  long nb_secs;         /* notBefore offset from now */
  long na_secs;         /* notAfter offset from now */
} cert_spec_t;

/* Formats the message, then appends the first queued OpenSSL error (if
 * any) and clears the queue. Returns code. */
static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
  if(err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_error();
    if(e && n >= 0 && (size_t)n + 3 < errlen) {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      snprintf(err + n, errlen - (size_t)n, " (%s)", buf);
    }
  }
  ERR_clear_error();
  return code;
}

static EVP_PKEY *gen_key(void)
{
  return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int path_join(char *out, size_t cap, const char *dir, const char *name,
                     const char *ext)
{
  int n = snprintf(out, cap, "%s/%s%s", dir, name, ext);
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int file_exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

/* Creates path exclusively with mode (after unlinking it when replace) and
 * returns a FILE for writing, or NULL with errno set. */
static FILE *create_file(const char *path, mode_t mode, int replace)
{
  if(replace && unlink(path) && errno != ENOENT)
    return NULL;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if(fd < 0)
    return NULL;
  FILE *f = fdopen(fd, "w");
  if(!f) {
    int e = errno;
    close(fd);
    unlink(path);
    errno = e;
  }
  return f;
}

static int finish_file(FILE *f, const char *path, int ok, char *err,
                       size_t errlen)
{
  int e = 0;
  if(fflush(f) || ferror(f))
    e = errno ? errno : EIO;
  if(fclose(f) && !e)
    e = errno;
  if(!ok || e) {
    unlink(path);
    if(!ok)
      return fail(BEACON_EIO, err, errlen, "%s: cannot encode", path);
    return fail(BEACON_EIO, err, errlen, "%s: %s", path, strerror(e));
  }
  return 0;
}

static int write_key(const char *path, EVP_PKEY *key, int replace, char *err,
                     size_t errlen)
{
  FILE *f = create_file(path, 0600, replace);
  if(!f)
    return fail(BEACON_EIO, err, errlen, "%s: %s", path, strerror(errno));
  int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
  return finish_file(f, path, ok, err, errlen);
}

/* Writes certs[0..n) as PEM ("-" = stdout). Certificates are public:
 * 0644, replacing an existing file only when replace. */
static int write_certs(const char *path, X509 *const *certs, int n,
                       int replace, char *err, size_t errlen)
{
  int to_stdout = !strcmp(path, "-");
  FILE *f = to_stdout ? stdout : create_file(path, 0644, replace);
  if(!f)
    return fail(BEACON_EIO, err, errlen, "%s: %s", path, strerror(errno));
  int ok = 1;
  for(int i = 0; i < n && ok; i++)
    ok = PEM_write_X509(f, certs[i]) == 1;
  if(to_stdout) {
    if(!ok || fflush(stdout))
      return fail(BEACON_EIO, err, errlen, "stdout: write failed");
    return 0;
  }
  return finish_file(f, path, ok, err, errlen);
}

static EVP_PKEY *load_key(const char *path, char *err, size_t errlen)
{
  BIO *b = BIO_new_file(path, "r");
  if(!b) {
    ERR_clear_error(); /* errno says it better */
    fail(0, err, errlen, "%s: %s", path,
         errno ? strerror(errno) : "cannot open");
    return NULL;
  }
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if(!k)
    fail(0, err, errlen, "%s: not a PEM private key", path);
  return k;
}

/* Loads every certificate of a PEM file; at least one. */
static STACK_OF(X509) * load_certs(const char *path, char *err, size_t errlen)
{
  BIO *b = BIO_new_file(path, "r");
  if(!b) {
    ERR_clear_error(); /* errno says it better */
    fail(0, err, errlen, "%s: %s", path,
         errno ? strerror(errno) : "cannot open");
    return NULL;
  }
  STACK_OF(X509) *sk = sk_X509_new_null();
  X509 *x;
  while(sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
    if(!sk_X509_push(sk, x)) {
      X509_free(x);
      break;
    }
  }
  BIO_free(b);
  /* the loop ends on "no start line" at EOF: expected, not an error */
  ERR_clear_error();
  if(!sk || sk_X509_num(sk) == 0) {
    sk_X509_pop_free(sk, X509_free);
    fail(0, err, errlen, "%s: no PEM certificate in it", path);
    return NULL;
  }
  return sk;
}

static int rand_serial(X509 *x)
{
  unsigned char b[16];
  if(RAND_bytes(b, sizeof(b)) != 1)
    return -1;
  b[0] &= 0x7f; /* positive */
  b[0] |= 0x40; /* full 128-bit length, never zero */
  BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
  if(!bn)
    return -1;
  ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
  BN_free(bn);
  if(!ai)
    return -1;
  int rc = X509_set_serialNumber(x, ai) == 1 ? 0 : -1;
  ASN1_INTEGER_free(ai);
  return rc;
}

/* "a.example,127.0.0.1,::1" (entries may carry DNS: / IP: prefixes) into
 * GENERAL_NAMES; NULL on a malformed list (message in err). */
static GENERAL_NAMES *parse_sans(const char *list, char *err, size_t errlen)
{
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  char *dup = strdup(list);
  if(!gens || !dup)
    goto oom;
  char *save = NULL;
  for(char *tok = strtok_r(dup, ",", &save); tok;
      tok = strtok_r(NULL, ",", &save)) {
    while(*tok == ' ')
      tok++;
    size_t tl = strlen(tok);
    while(tl && tok[tl - 1] == ' ')
      tok[--tl] = '\0';
    if(!tl)
      continue;
    int want_ip = 0, want_dns = 0;
    if(!strncasecmp(tok, "IP:", 3)) {
      want_ip = 1;
      tok += 3;
    } else if(!strncasecmp(tok, "DNS:", 4)) {
      want_dns = 1;
      tok += 4;
    }
    GENERAL_NAME *gn = GENERAL_NAME_new();
    if(!gn)
      goto oom;
    ASN1_OCTET_STRING *ip = want_dns ? NULL : a2i_IPADDRESS(tok);
    if(ip) {
      GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
    } else {
      ERR_clear_error();
      size_t n = strlen(tok);
      int bad = want_ip || n == 0 || n > 253;
      for(size_t i = 0; i < n && !bad; i++) {
        unsigned char c = (unsigned char)tok[i];
        bad = !(c == '.' || c == '-' || c == '*' || c == '_' ||
                (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                (c >= 'A' && c <= 'Z'));
      }
      ASN1_IA5STRING *s = bad ? NULL : ASN1_IA5STRING_new();
      if(bad || !s || !ASN1_STRING_set(s, tok, (int)n)) {
        ASN1_IA5STRING_free(s);
        GENERAL_NAME_free(gn);
        if(!bad)
          goto oom;
        fail(0, err, errlen, "bad SAN '%s': not a DNS name or IP address",
             tok);
        goto fail_out;
      }
      GENERAL_NAME_set0_value(gn, GEN_DNS, s);
    }
    if(!sk_GENERAL_NAME_push(gens, gn)) {
      GENERAL_NAME_free(gn);
      goto oom;
    }
  }
  free(dup);
  return gens;
oom:
  fail(0, err, errlen, "out of memory");
fail_out:
  free(dup);
  GENERAL_NAMES_free(gens);
  return NULL;
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
  if(!ext)
    return -1;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : -1;
}

static X509_NAME *make_name(const char *org, const char *cn)
{
  X509_NAME *n = X509_NAME_new();
  if(!n)
    return NULL;
  if((org &&
      !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                  (const unsigned char *)org, -1, -1, 0)) ||
     (cn &&
      !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                  (const unsigned char *)cn, -1, -1, 0))) {
    X509_NAME_free(n);
    return NULL;
  }
  return n;
}

/* Builds and signs a certificate per spec. NULL with err set on failure. */
static X509 *make_cert(const cert_spec_t *s, char *err, size_t errlen)
{
  X509 *x = X509_new();
  X509_NAME *name = s->subject ? NULL : make_name(s->org, s->cn);
  GENERAL_NAMES *gens = NULL;
  X509V3_CTX v3;
  char buf[128];

  if(!x || (!s->subject && !name))
    goto fail;
  if(!X509_set_version(x, X509_VERSION_3) || rand_serial(x) ||
     !X509_set_subject_name(x, s->subject ? s->subject : name) ||
     !X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer)
                                        : X509_get_subject_name(x)) ||
     !X509_gmtime_adj(X509_getm_notBefore(x), s->nb_secs) ||
     !X509_gmtime_adj(X509_getm_notAfter(x), s->na_secs) ||
     !X509_set_pubkey(x, s->pub))
    goto fail;

  /* SKID must be present before AKID: for a self-signed certificate the
   * AKID is taken from the certificate itself. */
  X509V3_set_ctx(&v3, s->issuer ? s->issuer : x, x, NULL, NULL, 0);
  if(s->ca) {
    if(s->pathlen >= 0)
      snprintf(buf, sizeof(buf), "critical,CA:TRUE,pathlen:%d", s->pathlen);
    else
      snprintf(buf, sizeof(buf), "critical,CA:TRUE");
    if(add_ext(x, &v3, NID_basic_constraints, buf) ||
       add_ext(x, &v3, NID_key_usage,
               s->eku ? "critical,keyCertSign,cRLSign,digitalSignature"
                      : "critical,keyCertSign,cRLSign"))
      goto fail;
  } else if(add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") ||
            add_ext(x, &v3, NID_key_usage, "critical,digitalSignature"))
    goto fail;
  if(s->eku) {
    snprintf(buf, sizeof(buf), "%s%s%s",
             s->eku & EKU_SERVER ? "serverAuth" : "",
             s->eku == (EKU_SERVER | EKU_CLIENT) ? "," : "",
             s->eku & EKU_CLIENT ? "clientAuth" : "");
    if(add_ext(x, &v3, NID_ext_key_usage, buf))
      goto fail;
  }
  if(add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
     add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"))
    goto fail;
  if(s->gens) {
    if(sk_GENERAL_NAME_num(s->gens) > 0 &&
       !X509_add1_ext_i2d(x, NID_subject_alt_name, s->gens, 0,
                          X509V3_ADD_DEFAULT))
      goto fail;
  } else if(s->sans) {
    gens = parse_sans(s->sans, err, errlen);
    if(!gens)
      goto fail_msg;
    if(sk_GENERAL_NAME_num(gens) > 0 &&
       !X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                          X509V3_ADD_DEFAULT))
      goto fail;
  }
  if(!X509_sign(x, s->issuer_key, EVP_sha256()))
    goto fail;
  X509_NAME_free(name);
  GENERAL_NAMES_free(gens);
  return x;
fail:
  fail(0, err, errlen, "cannot build certificate '%s'",
       s->cn ? s->cn : "(from CSR)");
fail_msg:
  X509_NAME_free(name);
  GENERAL_NAMES_free(gens);
  X509_free(x);
  return NULL;
}

/* ---- pki init ----------------------------------------------------------- */

enum { PAIR_ABSENT = 0, PAIR_PRESENT = 1, PAIR_PARTIAL = 2 };

static int pair_state(const char *dir, const char *name, int force)
{
  char c[4096], k[4096];
  if(force)
    return PAIR_ABSENT;
  if(path_join(c, sizeof(c), dir, name, ".crt") ||
     path_join(k, sizeof(k), dir, name, ".key"))
    return PAIR_PARTIAL;
  int n = file_exists(c) + file_exists(k);
  return n == 2 ? PAIR_PRESENT : n == 1 ? PAIR_PARTIAL : PAIR_ABSENT;
}

/* Loads DIR/NAME.crt (first certificate) and DIR/NAME.key and checks
 * that they belong together. */
static int load_pair(const char *dir, const char *name, X509 **cert,
                     STACK_OF(X509) * *chain, EVP_PKEY **key, char *err,
                     size_t errlen)
{
  char c[4096], k[4096];
  if(path_join(c, sizeof(c), dir, name, ".crt") ||
     path_join(k, sizeof(k), dir, name, ".key"))
    return fail(BEACON_ECONFIG, err, errlen, "%s: path too long", dir);
  STACK_OF(X509) *sk = load_certs(c, err, errlen);
  if(!sk)
    return BEACON_ECONFIG;
  EVP_PKEY *pk = load_key(k, err, errlen);
  if(!pk) {
    sk_X509_pop_free(sk, X509_free);
    return BEACON_ECONFIG;
  }
  if(X509_check_private_key(sk_X509_value(sk, 0), pk) != 1) {
    sk_X509_pop_free(sk, X509_free);
    EVP_PKEY_free(pk);
    return fail(BEACON_ECONFIG, err, errlen,
                "%s does not match the certificate in %s", k, c);
  }
  *cert = X509_dup(sk_X509_value(sk, 0));
  if(chain)
    *chain = sk;
  else
    sk_X509_pop_free(sk, X509_free);
  *key = pk;
  if(!*cert) {
    if(chain)
      sk_X509_pop_free(*chain, X509_free);
    EVP_PKEY_free(pk);
    return fail(BEACON_ENOMEM, err, errlen, "out of memory");
  }
  return 0;
}

/* Generates a key, writes DIR/NAME.key then DIR/NAME.crt (cert followed by
 * extra, when given). */
static int new_pair(const char *dir, const char *name, cert_spec_t *spec,
                    X509 *extra, int replace, X509 **cert_out,
                    EVP_PKEY **key_out, char *err, size_t errlen)
{
  char c[4096], k[4096];
  int rc;
  if(path_join(c, sizeof(c), dir, name, ".crt") ||
     path_join(k, sizeof(k), dir, name, ".key"))
    return fail(BEACON_ECONFIG, err, errlen, "%s: path too long", dir);
  EVP_PKEY *key = gen_key();
  if(!key)
    return fail(BEACON_ENOMEM, err, errlen, "cannot generate a P-256 key");
  spec->pub = key;
  if(!spec->issuer)
    spec->issuer_key = key;
  X509 *x = make_cert(spec, err, errlen);
  if(!x) {
    EVP_PKEY_free(key);
    return BEACON_ECONFIG;
  }
  X509 *certs[2] = {x, extra};
  rc = write_key(k, key, replace, err, errlen);
  if(!rc)
    rc = write_certs(c, certs, extra ? 2 : 1, replace, err, errlen);
  if(rc || !cert_out)
    X509_free(x);
  else
    *cert_out = x;
  if(rc || !key_out)
    EVP_PKEY_free(key);
  else
    *key_out = key;
  return rc;
}

static int ensure_dir(const char *dir, char *err, size_t errlen)
{
  struct stat st;
  if(mkdir(dir, 0700) == 0)
    return 0;
  if(errno != EEXIST)
    return fail(BEACON_ECONFIG, err, errlen, "%s: cannot create: %s", dir,
                strerror(errno));
  if(stat(dir, &st) || !S_ISDIR(st.st_mode))
    return fail(BEACON_ECONFIG, err, errlen, "%s: not a directory", dir);
  return 0;
}

/* A CA that --force alone would replace: its name, or NULL. */
static const char *existing_ca(const char *dir)
{
  static const char *const cas[] = {"fleet-ca", "root-ca"};
  char c[4096], k[4096];
  for(int i = 0; i < 2; i++)
    if(!path_join(c, sizeof(c), dir, cas[i], ".crt") &&
       !path_join(k, sizeof(k), dir, cas[i], ".key") &&
       (file_exists(c) || file_exists(k)))
      return cas[i];
  return NULL;
}

int pki_init(const char *dir, int flags, char *err, size_t errlen)
{
  int force = flags & PKI_INIT_FORCE;
  const char *ca =
      force && !(flags & PKI_INIT_REPLACE_CA) ? existing_ca(dir) : NULL;
  if(ca)
    return fail(BEACON_EINVAL, err, errlen,
                "%s holds a CA (%s): --force would replace it, and every "
                "relay and controller certificate it signed would then fail "
                "to verify (unknown CA) until reissued and fleet-ca.crt is "
                "replaced everywhere; to do that, give --force --replace-ca",
                dir, ca);
  if((flags & PKI_INIT_REPLACE_CA) && !force)
    return fail(BEACON_EINVAL, err, errlen, "--replace-ca needs --force");
  static const char *const names[] = {"root-ca", "fleet-ca", "relay",
                                      "controller"};
  int st[4];
  X509 *root = NULL, *fleet = NULL;
  EVP_PKEY *root_key = NULL, *fleet_key = NULL;
  int rc = ensure_dir(dir, err, errlen);
  if(rc)
    return rc;

  for(int i = 0; i < 4; i++) {
    st[i] = pair_state(dir, names[i], force);
    if(st[i] == PAIR_PARTIAL)
      return fail(BEACON_ECONFIG, err, errlen,
                  "%s/%s: only one of .crt/.key exists; remove it or use "
                  "--force",
                  dir, names[i]);
  }
  /* A new CA invalidates everything it would sign: never mix a fresh CA
   * with leaves kept from an older one. */
  if((st[0] == PAIR_ABSENT && st[1] == PAIR_PRESENT) ||
     (st[1] == PAIR_ABSENT &&
      (st[2] == PAIR_PRESENT || st[3] == PAIR_PRESENT)))
    return fail(BEACON_ECONFIG, err, errlen,
                "%s: incomplete PKI (a CA is missing but certificates it "
                "signed exist); use --force to recreate it all",
                dir);
  if(st[0] && st[1] && st[2] && st[3])
    return 0; /* complete: nothing to do, nothing overwritten */

  if(st[0] == PAIR_PRESENT)
    rc = load_pair(dir, "root-ca", &root, NULL, &root_key, err, errlen);
  else {
    cert_spec_t s = {.cn = "beacon development root CA",
                     .org = "beacon",
                     .ca = 1,
                     .pathlen = -1,
                     .nb_secs = -BACKDATE_SECS,
                     .na_secs = CA_DAYS * DAY_SECS};
    rc = new_pair(dir, "root-ca", &s, NULL, force, &root, &root_key, err,
                  errlen);
  }
  if(rc)
    goto out;

  if(st[1] == PAIR_PRESENT)
    rc = load_pair(dir, "fleet-ca", &fleet, NULL, &fleet_key, err, errlen);
  else {
    cert_spec_t s = {.cn = "beacon Fleet CA",
                     .org = "beacon",
                     .issuer = root,
                     .issuer_key = root_key,
                     .ca = 1,
                     .pathlen = 0,
                     .nb_secs = -BACKDATE_SECS,
                     .na_secs = CA_DAYS * DAY_SECS};
    rc = new_pair(dir, "fleet-ca", &s, NULL, force, &fleet, &fleet_key, err,
                  errlen);
  }
  if(rc)
    goto out;

  if(st[2] == PAIR_ABSENT) {
    cert_spec_t s = {.cn = "relay",
                     .org = "beacon",
                     .issuer = fleet,
                     .issuer_key = fleet_key,
                     .pathlen = -1,
                     .eku = EKU_SERVER | EKU_CLIENT,
                     .sans = "localhost,127.0.0.1,::1",
                     .nb_secs = -BACKDATE_SECS,
                     .na_secs = LEAF_DAYS * DAY_SECS};
    rc = new_pair(dir, "relay", &s, fleet, force, NULL, NULL, err, errlen);
    if(rc)
      goto out;
  }
  if(st[3] == PAIR_ABSENT) {
    cert_spec_t s = {.cn = "controller",
                     .org = "beacon",
                     .issuer = fleet,
                     .issuer_key = fleet_key,
                     .pathlen = -1,
                     .eku = EKU_CLIENT,
                     .nb_secs = -BACKDATE_SECS,
                     .na_secs = LEAF_DAYS * DAY_SECS};
    rc =
        new_pair(dir, "controller", &s, fleet, force, NULL, NULL, err, errlen);
  }
out:
  X509_free(root);
  X509_free(fleet);
  EVP_PKEY_free(root_key);
  EVP_PKEY_free(fleet_key);
  return rc;
}

/* ---- pki issue ---------------------------------------------------------- */

int pki_issue(const char *dir, const pki_issue_opts_t *o, char *err,
              size_t errlen)
{
  X509 *ca = NULL;
  STACK_OF(X509) *chain = NULL;
  EVP_PKEY *ca_key = NULL;
  int rc;

  if(!o->name || !*o->name || strchr(o->name, '/'))
    return fail(BEACON_EINVAL, err, errlen,
                "--name: a plain file name is required");
  if(!o->self_signed_ca && !o->ca_dir)
    return fail(BEACON_EINVAL, err, errlen,
                "--ca-dir is required (or --self-signed-ca)");
  long nb = o->not_before_days * DAY_SECS;
  long na = (o->not_after_days ? o->not_after_days : LEAF_DAYS) * DAY_SECS;
  if(!o->not_before_days)
    nb = -BACKDATE_SECS;
  if(na <= nb)
    return fail(BEACON_EINVAL, err, errlen,
                "validity ends before it starts (not-before %ld days, "
                "not-after %ld days)",
                o->not_before_days, o->not_after_days);
  rc = ensure_dir(dir, err, errlen);
  if(rc)
    return rc;

  int eku =
      (o->server_auth ? EKU_SERVER : 0) | (o->client_auth ? EKU_CLIENT : 0);
  cert_spec_t s = {.cn = o->cn ? o->cn : o->name,
                   .org = "beacon",
                   .pathlen = -1,
                   .eku = eku,
                   .sans = o->sans,
                   .nb_secs = nb,
                   .na_secs = na};
  if(o->self_signed_ca) {
    /* A CA of its own, trusted by nobody: the "other CA" of tests. It can
     * sign further certificates (--ca-dir DIR --ca-name NAME) or be shown
     * as a peer certificate directly. */
    s.ca = 1;
    return new_pair(dir, o->name, &s, NULL, 1, NULL, NULL, err, errlen);
  }
  rc = load_pair(o->ca_dir, o->ca_name ? o->ca_name : "fleet-ca", &ca, &chain,
                 &ca_key, err, errlen);
  if(rc)
    return rc;
  s.issuer = ca;
  s.issuer_key = ca_key;
  /* the chain we append is the CA file itself (CA first) */
  X509 *x = NULL;
  EVP_PKEY *key = gen_key();
  char c[4096], k[4096];
  if(!key) {
    rc = fail(BEACON_ENOMEM, err, errlen, "cannot generate a P-256 key");
    goto out;
  }
  if(path_join(c, sizeof(c), dir, o->name, ".crt") ||
     path_join(k, sizeof(k), dir, o->name, ".key")) {
    rc = fail(BEACON_EINVAL, err, errlen, "%s: path too long", dir);
    goto out;
  }
  s.pub = key;
  x = make_cert(&s, err, errlen);
  if(!x) {
    rc = BEACON_EINVAL;
    goto out;
  }
  int n = sk_X509_num(chain);
  X509 **all = calloc((size_t)n + 1, sizeof(*all));
  if(!all) {
    rc = fail(BEACON_ENOMEM, err, errlen, "out of memory");
    goto out;
  }
  all[0] = x;
  for(int i = 0; i < n; i++)
    all[i + 1] = sk_X509_value(chain, i);
  /* issue is for tests: it replaces earlier output of the same name */
  rc = write_key(k, key, 1, err, errlen);
  if(!rc)
    rc = write_certs(c, all, n + 1, 1, err, errlen);
  free(all);
out:
  X509_free(x);
  EVP_PKEY_free(key);
  X509_free(ca);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(ca_key);
  return rc;
}

/* ---- pki sign ----------------------------------------------------------- */

/* 1 when the request asks for clientAuth and not serverAuth: a
 * controller's (`gen-csr --controller`). */
static int requests_client_only(STACK_OF(X509_EXTENSION) * exts)
{
  EXTENDED_KEY_USAGE *eku =
      X509V3_get_d2i(exts, NID_ext_key_usage, NULL, NULL);
  int client = 0, server = 0;
  for(int i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++) {
    int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
    client |= nid == NID_client_auth;
    server |= nid == NID_server_auth;
  }
  EXTENDED_KEY_USAGE_free(eku);
  ERR_clear_error();
  return client && !server;
}

int pki_sign_csr(const char *ca_dir, const char *csr_path,
                 const char *out_path, long days, int controller, char *err,
                 size_t errlen)
{
  X509 *ca = NULL, *x = NULL;
  STACK_OF(X509) *chain = NULL;
  EVP_PKEY *ca_key = NULL, *pub = NULL;
  X509_REQ *req = NULL;
  STACK_OF(X509_EXTENSION) *exts = NULL;
  GENERAL_NAMES *gens = NULL;
  X509 **all = NULL;
  int rc;

  if(days < 0 || days > CA_DAYS)
    return fail(BEACON_EINVAL, err, errlen,
                "--days: %ld is out of range (1..%ld)", days, CA_DAYS);
  BIO *b = BIO_new_file(csr_path, "r");
  if(!b) {
    ERR_clear_error();
    return fail(BEACON_ECONFIG, err, errlen, "%s: %s", csr_path,
                errno ? strerror(errno) : "cannot open");
  }
  req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
  BIO_free(b);
  if(!req)
    return fail(BEACON_ECONFIG, err, errlen,
                "%s: not a PEM certificate request", csr_path);
  pub = X509_REQ_get_pubkey(req);
  if(!pub || X509_REQ_verify(req, pub) != 1) {
    rc = fail(BEACON_ECONFIG, err, errlen,
              "%s: the request's signature does not verify", csr_path);
    goto out;
  }
  rc = load_pair(ca_dir, "fleet-ca", &ca, &chain, &ca_key, err, errlen);
  if(rc)
    goto out;
  exts = X509_REQ_get_extensions(req);
  gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
  ERR_clear_error();
  controller = controller || requests_client_only(exts);
  if(!gens && controller)
    gens = sk_GENERAL_NAME_new_null(); /* a controller needs no name */
  if(!gens) {
    rc = fail(BEACON_ECONFIG, err, errlen,
              "%s: the request has no subjectAltName (a relay needs its "
              "DNS name or IP address)",
              csr_path);
    goto out;
  }
  cert_spec_t s = {.cn = NULL,
                   .subject = X509_REQ_get_subject_name(req),
                   .pub = pub,
                   .issuer = ca,
                   .issuer_key = ca_key,
                   .pathlen = -1,
                   .eku = controller ? EKU_CLIENT : EKU_SERVER | EKU_CLIENT,
                   .gens = gens,
                   .nb_secs = -BACKDATE_SECS,
                   .na_secs = (days ? days : LEAF_DAYS) * DAY_SECS};
  x = make_cert(&s, err, errlen);
  if(!x) {
    rc = BEACON_ECONFIG;
    goto out;
  }
  int n = sk_X509_num(chain);
  all = calloc((size_t)n + 1, sizeof(*all));
  if(!all) {
    rc = fail(BEACON_ENOMEM, err, errlen, "out of memory");
    goto out;
  }
  all[0] = x;
  for(int i = 0; i < n; i++)
    all[i + 1] = sk_X509_value(chain, i);
  rc = write_certs(out_path, all, n + 1, 1, err, errlen);
out:
  free(all);
  X509_free(x);
  X509_free(ca);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(pub);
  X509_REQ_free(req);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  GENERAL_NAMES_free(gens);
  return rc;
}

/* ---- gen-csr ------------------------------------------------------------ */

int pki_gen_csr(const char *dir, const char *cn, const char *sans,
                int controller, const char *out_path, char *err, size_t errlen)
{
  char k[4096];
  EVP_PKEY *key = NULL;
  X509_REQ *req = NULL;
  X509_NAME *name = NULL;
  GENERAL_NAMES *gens = NULL;
  STACK_OF(X509_EXTENSION) *exts = NULL;
  int rc = 0;

  if(!cn || !*cn)
    return fail(BEACON_EINVAL, err, errlen, "--cn: a common name is needed");
  if(path_join(k, sizeof(k), dir, controller ? "controller" : "relay", ".key"))
    return fail(BEACON_EINVAL, err, errlen, "%s: path too long", dir);
  /* validate everything before touching the disk */
  if(sans) {
    gens = parse_sans(sans, err, errlen);
    if(!gens)
      return BEACON_EINVAL;
  }
  /* The directory is the operator's to create, with the owner and mode
   * the relay's user needs (docs/OPERATIONS.md "Enrol a relay"). */
  struct stat st;
  int e = stat(dir, &st) ? errno : 0;
  if(e || !S_ISDIR(st.st_mode)) {
    rc = fail(BEACON_ECONFIG, err, errlen, "%s: %s", dir,
              e == ENOENT   ? "no such directory (create it first)"
              : e == EACCES ? "unreadable (permission denied)"
              : e           ? strerror(e)
                            : "not a directory");
    goto out;
  }
  if(!file_exists(k) && access(dir, W_OK | X_OK)) {
    rc = fail(BEACON_ECONFIG, err, errlen, "%s: cannot create %s there: %s",
              dir, k, strerror(errno));
    goto out;
  }
  if(file_exists(k)) {
    key = load_key(k, err, errlen);
    if(!key) {
      rc = BEACON_ECONFIG;
      goto out;
    }
  } else {
    key = gen_key();
    if(!key) {
      rc = fail(BEACON_ENOMEM, err, errlen, "cannot generate a P-256 key");
      goto out;
    }
    rc = write_key(k, key, 0, err, errlen);
    if(rc)
      goto out;
  }

  req = X509_REQ_new();
  name = make_name(NULL, cn);
  exts = sk_X509_EXTENSION_new_null();
  if(!req || !name || !exts ||
     !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
     !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, key))
    goto ossl_fail;
  if(gens && sk_GENERAL_NAME_num(gens) > 0 &&
     !X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0,
                      X509V3_ADD_DEFAULT))
    goto ossl_fail;
  if(controller) {
    /* asks `pki sign` (or a real CA) for a clientAuth-only leaf */
    X509_EXTENSION *eku =
        X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "clientAuth");
    int ok = eku && sk_X509_EXTENSION_push(exts, eku);
    if(!ok) {
      X509_EXTENSION_free(eku);
      goto ossl_fail;
    }
  }
  if(sk_X509_EXTENSION_num(exts) > 0 && !X509_REQ_add_extensions(req, exts))
    goto ossl_fail;
  if(!X509_REQ_sign(req, key, EVP_sha256()))
    goto ossl_fail;

  int to_stdout = !strcmp(out_path, "-");
  FILE *f = to_stdout ? stdout : fopen(out_path, "w");
  if(!f) {
    rc = fail(BEACON_EIO, err, errlen, "%s: %s", out_path, strerror(errno));
    goto out;
  }
  int ok = PEM_write_X509_REQ(f, req) == 1;
  if(to_stdout)
    ok = !fflush(f) && ok;
  else
    ok = !fclose(f) && ok;
  if(!ok)
    rc = fail(BEACON_EIO, err, errlen, "%s: write failed", out_path);
  goto out;
ossl_fail:
  rc = fail(BEACON_ENOMEM, err, errlen, "cannot build the request");
out:
  EVP_PKEY_free(key);
  X509_REQ_free(req);
  X509_NAME_free(name);
  GENERAL_NAMES_free(gens);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return rc;
}

/* ---- fingerprint -------------------------------------------------------- */

int pki_fingerprint(const char *path, char hex[65], char *err, size_t errlen)
{
  BIO *b = BIO_new_file(path, "r");
  if(!b) {
    int e = errno;
    ERR_clear_error();
    return fail(BEACON_ECONFIG, err, errlen, "%s: %s", path,
                e == ENOENT   ? "missing"
                : e == EACCES ? "unreadable (permission denied)"
                              : strerror(e));
  }
  /* The first PEM object decides: a certificate, a request, or a public
   * or private key all carry the SubjectPublicKeyInfo that is pinned. */
  X509_PUBKEY *spki = NULL;
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  X509_REQ *req = NULL;
  EVP_PKEY *pk = NULL;
  if(x)
    spki = X509_get_X509_PUBKEY(x);
  else {
    BIO_reset(b);
    req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    if(!req) {
      BIO_reset(b);
      pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    }
    if(!req && !pk) {
      BIO_reset(b);
      pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    }
    if(req)
      pk = X509_REQ_get_pubkey(req);
    if(pk && !X509_PUBKEY_set(&spki, pk))
      spki = NULL;
  }
  int rc = 0;
  if(!spki)
    rc = fail(BEACON_ECONFIG, err, errlen,
              "%s: no PEM certificate, request or key in it", path);
  else if(tls_identity_spki_hex(spki, hex))
    rc = fail(BEACON_ECONFIG, err, errlen, "%s: cannot hash its key", path);
  if(!x)
    X509_PUBKEY_free(spki);
  X509_free(x);
  X509_REQ_free(req);
  EVP_PKEY_free(pk);
  BIO_free(b);
  ERR_clear_error();
  return rc;
}
