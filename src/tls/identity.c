/*
 * identity.c - canonical controller identities for --allow-client (the
 * matching rule is in identity.h). A DN is reduced to its attribute=value
 * pairs: the type as a dotted OID (so CN, cn, commonName and 2.5.4.3 are
 * one), the value unescaped and then re-escaped one fixed way; pairs are
 * sorted within an RDN and RDNs sorted within the DN.
 */
#include "tls/identity.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "beacon/beacon.h"

#define MAX_AVAS 64   /* attribute=value pairs in one DN */
#define MAX_VALUE 256 /* bytes of one value after unescaping */
#define AVA_TEXT 600  /* "OID=" + the re-escaped value */

typedef struct ava {
  int rdn; /* which RDN it belongs to */
  char text[AVA_TEXT];
} ava_t;

typedef struct dn {
  ava_t ava[MAX_AVAS];
  int n;
} dn_t;

/* Names people write for the common attribute types; any other type
 * OpenSSL knows by its exact short or long name, or a dotted OID. */
static const struct {
  const char *name;
  int nid;
} type_names[] = {
    {"CN", NID_commonName},
    {"commonName", NID_commonName},
    {"O", NID_organizationName},
    {"organizationName", NID_organizationName},
    {"OU", NID_organizationalUnitName},
    {"organizationalUnitName", NID_organizationalUnitName},
    {"C", NID_countryName},
    {"countryName", NID_countryName},
    {"ST", NID_stateOrProvinceName},
    {"S", NID_stateOrProvinceName},
    {"stateOrProvinceName", NID_stateOrProvinceName},
    {"L", NID_localityName},
    {"localityName", NID_localityName},
    {"STREET", NID_streetAddress},
    {"streetAddress", NID_streetAddress},
    {"DC", NID_domainComponent},
    {"domainComponent", NID_domainComponent},
    {"UID", NID_userId},
    {"userId", NID_userId},
    {"E", NID_pkcs9_emailAddress},
    {"emailAddress", NID_pkcs9_emailAddress},
    {"serialNumber", NID_serialNumber},
    {"SN", NID_surname},
    {"surname", NID_surname},
    {"GN", NID_givenName},
    {"givenName", NID_givenName},
    {"title", NID_title},
    {"postalCode", NID_postalCode},
};

static int fail(char *err, size_t errlen, const char *fmt, const char *a)
{
  if(err && errlen)
    snprintf(err, errlen, fmt, a);
  return BEACON_EINVAL;
}

/* The dotted OID of a type name, or -1 when the name is unknown. */
static int type_oid(const char *name, char *oid, size_t cap)
{
  int nid = NID_undef;
  ASN1_OBJECT *obj = NULL;
  for(size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
    if(!strcasecmp(name, type_names[i].name)) {
      nid = type_names[i].nid;
      break;
    }
  if(nid == NID_undef && strspn(name, "0123456789.") == strlen(name))
    obj = OBJ_txt2obj(name, 1);
  else if(nid == NID_undef) {
    nid = OBJ_sn2nid(name);
    if(nid == NID_undef)
      nid = OBJ_ln2nid(name);
  }
  if(!obj && nid != NID_undef)
    obj = OBJ_dup(OBJ_nid2obj(nid));
  int n = obj ? OBJ_obj2txt(oid, (int)cap, obj, 1) : -1;
  ASN1_OBJECT_free(obj);
  ERR_clear_error();
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* "OID=value" with '\', ',', '+', '=' and control bytes escaped, so the
 * joined canonical form can be split unambiguously. */
static int ava_text(char *out, size_t cap, const char *oid,
                    const unsigned char *v, size_t vlen)
{
  size_t o = (size_t)snprintf(out, cap, "%s=", oid);
  for(size_t i = 0; i < vlen && o + 4 < cap; i++) {
    unsigned char c = v[i];
    if(c < 0x20 || c == 0x7f)
      o += (size_t)snprintf(out + o, cap - o, "\\%02x", c);
    else {
      if(c == '\\' || c == ',' || c == '+' || c == '=')
        out[o++] = '\\';
      out[o++] = (char)c;
    }
  }
  if(o + 4 >= cap)
    return -1;
  out[o] = '\0';
  return 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted RDNs of sorted pairs, "dn:" first. */
static int dn_canonical(const dn_t *d, char *canon, size_t cap)
{
  char *rdns[MAX_AVAS];
  const char *part[MAX_AVAS];
  int nrdn = 0, rc = -1;
  int maxrdn = -1;
  for(int i = 0; i < d->n; i++)
    if(d->ava[i].rdn > maxrdn)
      maxrdn = d->ava[i].rdn;
  for(int r = 0; r <= maxrdn; r++) {
    int np = 0;
    size_t len = 1;
    for(int i = 0; i < d->n; i++)
      if(d->ava[i].rdn == r) {
        part[np++] = d->ava[i].text;
        len += strlen(d->ava[i].text) + 1;
      }
    if(!np)
      continue;
    qsort(part, (size_t)np, sizeof(part[0]), cmp_str);
    char *s = malloc(len);
    if(!s)
      goto out;
    s[0] = '\0';
    for(int i = 0; i < np; i++) {
      if(i)
        strcat(s, "+");
      strcat(s, part[i]);
    }
    rdns[nrdn++] = s;
  }
  qsort(rdns, (size_t)nrdn, sizeof(rdns[0]), cmp_str);
  size_t o = (size_t)snprintf(canon, cap, "dn:");
  for(int i = 0; i < nrdn; i++) {
    size_t l = strlen(rdns[i]);
    if(o + l + 2 > cap)
      goto out;
    if(i)
      canon[o++] = ',';
    memcpy(canon + o, rdns[i], l + 1);
    o += l;
  }
  rc = nrdn ? 0 : -1;
out:
  for(int i = 0; i < nrdn; i++)
    free(rdns[i]);
  return rc;
}

static int hexval(int c)
{
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Parses one "type=value" at *pp up to an unescaped separator (one of
 * seps, or the end); leaves *pp on the separator. */
static int parse_ava(const char **pp, const char *seps, ava_t *a, char *err,
                     size_t errlen)
{
  const char *p = *pp;
  char type[64], oid[80];
  unsigned char val[MAX_VALUE];
  size_t tl = 0, vl = 0, keep = 0; /* keep: length up to the last
                                      escaped or quoted byte */
  while(*p == ' ')
    p++;
  while(*p && *p != '=' && !strchr(seps, *p)) {
    if(tl + 1 >= sizeof(type))
      return fail(err, errlen, "attribute type too long near '%s'", *pp);
    type[tl++] = *p++;
  }
  while(tl && type[tl - 1] == ' ')
    tl--;
  type[tl] = '\0';
  if(*p != '=')
    return fail(err, errlen,
                "'%s' is not TYPE=VALUE (a subject such as CN=ctl-1,O=fleet "
                "or a 64-hex SPKI SHA-256 is expected)",
                *pp);
  if(!tl)
    return fail(err, errlen, "missing attribute type before '%s'", p);
  if(type_oid(type, oid, sizeof(oid)))
    return fail(err, errlen, "unknown attribute type '%s'", type);
  p++;
  while(*p == ' ')
    p++;
  if(*p == '#')
    return fail(err, errlen, "hex-encoded values are not supported ('%s')", p);
  int quoted = *p == '"';
  if(quoted)
    p++;
  while(*p && (quoted ? *p != '"' : !strchr(seps, *p))) {
    unsigned char c = (unsigned char)*p++;
    int escaped = 0;
    if(c == '\\') {
      if(!*p)
        return fail(err, errlen, "a '\\' ends '%s'", *pp);
      if(hexval(p[0]) >= 0 && p[1] && hexval(p[1]) >= 0) {
        c = (unsigned char)(hexval(p[0]) * 16 + hexval(p[1]));
        p += 2;
      } else
        c = (unsigned char)*p++;
      escaped = 1;
    }
    if(vl == sizeof(val))
      return fail(err, errlen, "value too long in '%s'", *pp);
    val[vl++] = c;
    if(escaped || quoted || c != ' ')
      keep = vl;
  }
  if(quoted) {
    if(*p != '"')
      return fail(err, errlen, "unterminated quote in '%s'", *pp);
    p++;
    while(*p == ' ')
      p++;
    if(*p && !strchr(seps, *p))
      return fail(err, errlen, "text after a quoted value in '%s'", *pp);
  }
  vl = keep; /* unescaped trailing spaces are layout, not value */
  if(!vl)
    return fail(err, errlen, "empty value for '%s'", type);
  if(ava_text(a->text, sizeof(a->text), oid, val, vl))
    return fail(err, errlen, "value too long in '%s'", *pp);
  *pp = p;
  return 0;
}

/* "CN=a,O=b", "O = b, CN = a" (RDNs split by ',' or ';', pairs within
 * one by '+') or "/O=b/CN=a" (split by '/', pairs by '+'). */
static int parse_dn(const char *s, dn_t *d, char *err, size_t errlen)
{
  int slash = s[0] == '/';
  const char *seps = slash ? "/+" : ",;+";
  const char *p = s + slash;
  int rdn = 0;
  d->n = 0;
  for(;;) {
    if(d->n == MAX_AVAS)
      return fail(err, errlen, "more than 64 attributes in '%s'", s);
    ava_t *a = &d->ava[d->n];
    if(parse_ava(&p, seps, a, err, errlen))
      return BEACON_EINVAL;
    a->rdn = rdn;
    d->n++;
    if(!*p)
      return 0;
    if(*p != '+')
      rdn++;
    p++;
    if(slash && !*p)
      return 0; /* a trailing '/' */
  }
}

static int is_spki_hex(const char *s)
{
  size_t n = strlen(s);
  if(n != 64)
    return 0;
  for(size_t i = 0; i < n; i++)
    if(hexval((unsigned char)s[i]) < 0)
      return 0;
  return 1;
}

int tls_identity_of_spki(const char *hex, char *canon, size_t cap)
{
  if(!is_spki_hex(hex) || cap < 70)
    return BEACON_EINVAL;
  memcpy(canon, "spki:", 5);
  for(size_t i = 0; i < 64; i++)
    canon[5 + i] = (char)tolower((unsigned char)hex[i]);
  canon[69] = '\0';
  return 0;
}

int tls_identity_parse(const char *text, char *canon, size_t cap, char *err,
                       size_t errlen)
{
  if(!text || !*text)
    return fail(err, errlen, "%sempty identity", "");
  if(is_spki_hex(text))
    return tls_identity_of_spki(text, canon, cap);
  dn_t *d = malloc(sizeof(*d));
  if(!d)
    return BEACON_ENOMEM;
  int rc = parse_dn(text, d, err, errlen);
  if(!rc && dn_canonical(d, canon, cap))
    rc = fail(err, errlen, "'%s' is too long", text);
  free(d);
  return rc;
}

int tls_identity_of_name(const void *x509_name, char *canon, size_t cap)
{
  const X509_NAME *name = x509_name;
  int n = name ? X509_NAME_entry_count(name) : 0;
  if(n <= 0 || n > MAX_AVAS)
    return BEACON_EINVAL;
  dn_t *d = malloc(sizeof(*d));
  if(!d)
    return BEACON_ENOMEM;
  int rc = 0;
  d->n = 0;
  for(int i = 0; i < n && !rc; i++) {
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    char oid[80];
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    int ol = OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1);
    if(len < 0 || ol <= 0 || (size_t)ol >= sizeof(oid) ||
       ava_text(d->ava[d->n].text, AVA_TEXT, oid, utf8, (size_t)len))
      rc = BEACON_EINVAL;
    else
      d->ava[d->n++].rdn = X509_NAME_ENTRY_set(e);
    OPENSSL_free(utf8);
  }
  if(!rc && dn_canonical(d, canon, cap))
    rc = BEACON_ETOOLONG;
  free(d);
  ERR_clear_error();
  return rc;
}

int tls_identity_spki_hex(const void *x509_pubkey, char hex[65])
{
  static const char digits[] = "0123456789abcdef";
  unsigned char *der = NULL;
  int n = i2d_X509_PUBKEY((X509_PUBKEY *)x509_pubkey, &der);
  if(n <= 0)
    return BEACON_EINVAL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
  OPENSSL_free(der);
  if(!ok || mdlen != 32) {
    ERR_clear_error();
    return BEACON_ENOMEM;
  }
  for(unsigned i = 0; i < 32; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[64] = '\0';
  return 0;
}
