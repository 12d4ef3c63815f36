/* pki_files.c - key and certificate files of the development PKI
 * (cli_support/pki_files.h). */
#include "cli_support/pki_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "beacon/beacon.h"

int pki_fail(int code, char *err, size_t errlen, const char *fmt, ...)
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

EVP_PKEY *pki_gen_key(void)
{
  return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

int pki_path_join(char *out, size_t cap, const char *dir, const char *name,
                  const char *ext)
{
  int n = snprintf(out, cap, "%s/%s%s", dir, name, ext);
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int pki_file_exists(const char *path)
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
      return pki_fail(BEACON_EIO, err, errlen, "%s: cannot encode", path);
    return pki_fail(BEACON_EIO, err, errlen, "%s: %s", path, strerror(e));
  }
  return 0;
}

int pki_write_key(const char *path, EVP_PKEY *key, int replace, char *err,
                  size_t errlen)
{
  FILE *f = create_file(path, 0600, replace);
  if(!f)
    return pki_fail(BEACON_EIO, err, errlen, "%s: %s", path, strerror(errno));
  int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
  return finish_file(f, path, ok, err, errlen);
}

int pki_write_certs(const char *path, X509 *const *certs, int n, int replace,
                    char *err, size_t errlen)
{
  int to_stdout = !strcmp(path, "-");
  FILE *f = to_stdout ? stdout : create_file(path, 0644, replace);
  if(!f)
    return pki_fail(BEACON_EIO, err, errlen, "%s: %s", path, strerror(errno));
  int ok = 1;
  for(int i = 0; i < n && ok; i++)
    ok = PEM_write_X509(f, certs[i]) == 1;
  if(to_stdout) {
    if(!ok || fflush(stdout))
      return pki_fail(BEACON_EIO, err, errlen, "stdout: write failed");
    return 0;
  }
  return finish_file(f, path, ok, err, errlen);
}

/* A PEM file to read, or NULL with why in err. */
static BIO *open_for_reading(const char *path, char *err, size_t errlen)
{
  BIO *b = BIO_new_file(path, "r");
  if(!b) {
    ERR_clear_error(); /* errno says it better */
    pki_fail(0, err, errlen, "%s: %s", path,
             errno ? strerror(errno) : "cannot open");
  }
  return b;
}

EVP_PKEY *pki_load_key(const char *path, char *err, size_t errlen)
{
  BIO *b = open_for_reading(path, err, errlen);
  if(!b)
    return NULL;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if(!k)
    pki_fail(0, err, errlen, "%s: not a PEM private key", path);
  return k;
}

/* Loads every certificate of a PEM file; at least one. */
static STACK_OF(X509) * load_certs(const char *path, char *err, size_t errlen)
{
  BIO *b = open_for_reading(path, err, errlen);
  if(!b)
    return NULL;
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
    pki_fail(0, err, errlen, "%s: no PEM certificate in it", path);
    return NULL;
  }
  return sk;
}

int pki_load_pair(const char *dir, const char *name, X509 **cert,
                  STACK_OF(X509) * *chain, EVP_PKEY **key, char *err,
                  size_t errlen)
{
  char c[PKI_PATH_MAX], k[PKI_PATH_MAX];
  if(pki_path_join(c, sizeof(c), dir, name, ".crt") ||
     pki_path_join(k, sizeof(k), dir, name, ".key"))
    return pki_fail(BEACON_ECONFIG, err, errlen, "%s: path too long", dir);
  STACK_OF(X509) *sk = load_certs(c, err, errlen);
  if(!sk)
    return BEACON_ECONFIG;
  EVP_PKEY *pk = pki_load_key(k, err, errlen);
  if(!pk) {
    sk_X509_pop_free(sk, X509_free);
    return BEACON_ECONFIG;
  }
  if(X509_check_private_key(sk_X509_value(sk, 0), pk) != 1) {
    sk_X509_pop_free(sk, X509_free);
    EVP_PKEY_free(pk);
    return pki_fail(BEACON_ECONFIG, err, errlen,
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
    return pki_fail(BEACON_ENOMEM, err, errlen, "out of memory");
  }
  return 0;
}

int pki_ensure_dir(const char *dir, char *err, size_t errlen)
{
  struct stat st;
  if(mkdir(dir, 0700) == 0)
    return 0;
  if(errno != EEXIST)
    return pki_fail(BEACON_ECONFIG, err, errlen, "%s: cannot create: %s", dir,
                    strerror(errno));
  if(stat(dir, &st) || !S_ISDIR(st.st_mode))
    return pki_fail(BEACON_ECONFIG, err, errlen, "%s: not a directory", dir);
  return 0;
}

int pki_write_chain(const char *path, X509 *leaf, STACK_OF(X509) * chain,
                    int replace, char *err, size_t errlen)
{
  int n = sk_X509_num(chain);
  X509 **all = calloc((size_t)n + 1, sizeof(*all));
  if(!all)
    return pki_fail(BEACON_ENOMEM, err, errlen, "out of memory");
  all[0] = leaf;
  for(int i = 0; i < n; i++)
    all[i + 1] = sk_X509_value(chain, i);
  int rc = pki_write_certs(path, all, n + 1, replace, err, errlen);
  free(all);
  return rc;
}

/* The directory part of path ("." when none), for fsync after a rename. */
static void dir_of(const char *path, char *out, size_t cap)
{
  const char *slash = strrchr(path, '/');
  if(!slash)
    snprintf(out, cap, ".");
  else if(slash == path)
    snprintf(out, cap, "/");
  else
    snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* A temporary file beside path, with the mode and owner of the file it
 * replaces (mode otherwise); its name into tmp. NULL with errno set. */
static FILE *create_temp(const char *path, mode_t mode, char *tmp, size_t cap)
{
  struct stat st;
  if(snprintf(tmp, cap, "%s.XXXXXX", path) >= (int)cap) {
    errno = ENAMETOOLONG;
    return NULL;
  }
  int fd = mkstemp(tmp);
  if(fd < 0)
    return NULL;
  if(!stat(path, &st)) {
    mode = st.st_mode & 0777;
    /* as root, keep a group a service reads the file through */
    if(fchown(fd, st.st_uid, st.st_gid)) {
      /* not root: the file stays ours */
    }
  }
  FILE *f = fchmod(fd, mode) ? NULL : fdopen(fd, "w");
  if(!f) {
    int e = errno;
    close(fd);
    unlink(tmp);
    errno = e;
  }
  return f;
}

int pki_replace_file(const char *path, mode_t mode, pki_writer_fn write,
                     void *arg, char *err, size_t errlen)
{
  char tmp[PKI_PATH_MAX + 8], dir[PKI_PATH_MAX];
  FILE *f = create_temp(path, mode, tmp, sizeof(tmp));
  if(!f)
    return pki_fail(BEACON_EIO, err, errlen,
                    "%s: cannot create a temporary "
                    "file beside it: %s",
                    path, strerror(errno));
  int ok = write(f, arg);
  int e = fflush(f) || ferror(f) || fsync(fileno(f)) ? errno : 0;
  if(fclose(f) && !e)
    e = errno;
  if(!ok || e || rename(tmp, path)) {
    e = e ? e : errno;
    unlink(tmp);
    if(!ok)
      return pki_fail(BEACON_EIO, err, errlen, "%s: cannot encode", path);
    return pki_fail(BEACON_EIO, err, errlen, "%s: %s", path, strerror(e));
  }
  /* the rename itself must reach the disk before we say it is done */
  dir_of(path, dir, sizeof(dir));
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(dfd >= 0) {
    if(fsync(dfd)) {
      /* some file systems cannot sync a directory; the file is in place */
    }
    close(dfd);
  }
  return 0;
}
