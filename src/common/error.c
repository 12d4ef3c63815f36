/* error.c - text for the BEACON_E* codes (include/beacon/beacon.h), and
 * the one mapping from errno and libuv errors to them. */
#include "common/error.h"

#include <errno.h>
#include <uv.h>

static const struct {
  int code;
  const char *name;
  const char *text;
} errors[] = {
    {BEACON_OK, "OK", "success"},
    {BEACON_EAGAIN, "EAGAIN", "need more input"},
    {BEACON_EINVAL, "EINVAL", "invalid argument or malformed input"},
    {BEACON_ENOMEM, "ENOMEM", "out of memory"},
    {BEACON_ETOOLONG, "ETOOLONG", "value exceeds its limit"},
    {BEACON_EPROTO, "EPROTO", "protocol error"},
    {BEACON_ECLOSED, "ECLOSED", "closed"},
    {BEACON_ERESET, "ERESET", "stream reset by peer"},
    {BEACON_ETIMEDOUT, "ETIMEDOUT", "timed out"},
    {BEACON_ELIMIT, "ELIMIT", "limit reached"},
    {BEACON_ETLS, "ETLS", "TLS failure"},
    {BEACON_EVERIFY, "EVERIFY", "certificate verification failed"},
    {BEACON_EREFUSED, "EREFUSED", "connection refused"},
    {BEACON_EIO, "EIO", "I/O error"},
    {BEACON_EGOAWAY, "EGOAWAY", "session is going away"},
    {BEACON_ECONFIG, "ECONFIG", "bad configuration"},
    {BEACON_ENOTFOUND, "ENOTFOUND", "name not found"},
    {BEACON_EPOLICY, "EPOLICY", "refused by destination policy"},
    {BEACON_EUNREACH, "EUNREACH", "target unreachable"},
};

#define NERRORS (sizeof(errors) / sizeof(errors[0]))

const char *beacon_strerror(int err)
{
  for(unsigned i = 0; i < NERRORS; i++)
    if(errors[i].code == err)
      return errors[i].text;
  return "unknown error";
}

const char *beacon_err_name(int err)
{
  for(unsigned i = 0; i < NERRORS; i++)
    if(errors[i].code == err)
      return errors[i].name;
  return "EUNKNOWN";
}

int beacon_is_fatal(int err)
{
  switch(err) {
  case BEACON_EPROTO:
  case BEACON_ENOMEM:
  case BEACON_ETLS:
  case BEACON_EVERIFY:
  case BEACON_ETIMEDOUT:
    return 1;
  default:
    return 0;
  }
}

int error_from_os(int err)
{
  if(err >= 0 || (err >= -599 && err <= -500))
    return err;
  switch(err) {
  case UV_ECONNREFUSED:
    return BEACON_EREFUSED;
  case UV_ETIMEDOUT:
    return BEACON_ETIMEDOUT;
  case UV_ENOMEM:
  case UV_ENOBUFS:
  case UV_EAI_MEMORY:
    return BEACON_ENOMEM;
  case UV_ECONNRESET:
  case UV_ECONNABORTED:
  case UV_EPIPE:
    return BEACON_ERESET;
  case UV_EOF:
  case UV_ECANCELED:
    return BEACON_ECLOSED;
  case UV_ENAMETOOLONG:
    return BEACON_ETOOLONG;
  case UV_EINVAL:
    return BEACON_EINVAL;
  case UV_EAI_ADDRFAMILY:
  case UV_EAI_AGAIN:
  case UV_EAI_FAIL:
  case UV_EAI_NODATA:
  case UV_EAI_NONAME:
  case UV_EAI_SERVICE:
  case UV_EAI_FAMILY:
    return BEACON_ENOTFOUND;
  default:
    return BEACON_EIO;
  }
}
