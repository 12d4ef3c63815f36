/* outcome.c - the outcome table and the one classification (outcome.h). */
#include "common/outcome.h"

#include <errno.h>

#include "beacon/beacon.h"

/* RFC 1928 §6 reply codes used below. */
enum {
  S_OK = 0x00,
  S_GENERAL = 0x01,
  S_NOT_ALLOWED = 0x02,
  S_NET_UNREACHABLE = 0x03,
  S_HOST_UNREACHABLE = 0x04,
  S_REFUSED = 0x05,
  S_TTL_EXPIRED = 0x06 /* RFC 1928's code for a timeout */
};

/* beacon/1 reason codes (docs/PROTOCOL.md "Refusal codes"). */
static const char *const reason_names[] = {
    [OUTCOME_REASON_UNSPECIFIED] = "unspecified",
    [OUTCOME_REASON_REFUSED] = "refused",
    [OUTCOME_REASON_NOT_FOUND] = "not_found",
    [OUTCOME_REASON_UNREACHABLE] = "unreachable",
    [OUTCOME_REASON_TIMED_OUT] = "timed_out",
    [OUTCOME_REASON_POLICY] = "policy",
    [OUTCOME_REASON_BAD_TARGET] = "bad_target",
    [OUTCOME_REASON_RELAY_LIMIT] = "relay_limit",
    [OUTCOME_REASON_REVOKED] = "revoked"};
#define NREASONS (sizeof(reason_names) / sizeof(reason_names[0]))

const char *const outcome_label_names[OUTCOME_LABEL_COUNT] = {
    [OUTCOME_LABEL_OK] = "ok",
    [OUTCOME_LABEL_REFUSED] = "refused",
    [OUTCOME_LABEL_NOT_FOUND] = "not_found",
    [OUTCOME_LABEL_UNREACHABLE] = "unreachable",
    [OUTCOME_LABEL_TIMEOUT] = "timeout",
    [OUTCOME_LABEL_POLICY] = "policy",
    [OUTCOME_LABEL_OTHER] = "other",
    [OUTCOME_LABEL_TUNNEL] = "tunnel",
};

typedef struct outcome_row {
  const char *word;      /* the `outcome` of stream_done / conn_done */
  outcome_label_t label; /* the connect metrics' label */
  uint32_t reason;       /* the beacon/1 RST code before the ACK */
  uint8_t socks;         /* the SOCKS5 reply of beacon forward */
  int http;              /* the HTTP CONNECT status of beacon forward */
  int code;              /* the BEACON_E* code a controller reports */
} outcome_row_t;

/* clang-format off */
/* Short names, so that a row reads on one line. */
#define L_OK OUTCOME_LABEL_OK
#define L_REFUSED OUTCOME_LABEL_REFUSED
#define L_NOT_FOUND OUTCOME_LABEL_NOT_FOUND
#define L_UNREACHABLE OUTCOME_LABEL_UNREACHABLE
#define L_TIMEOUT OUTCOME_LABEL_TIMEOUT
#define L_POLICY OUTCOME_LABEL_POLICY
#define L_OTHER OUTCOME_LABEL_OTHER
#define L_TUNNEL OUTCOME_LABEL_TUNNEL
#define R_UNSPECIFIED OUTCOME_REASON_UNSPECIFIED
#define R_REFUSED OUTCOME_REASON_REFUSED
#define R_NOT_FOUND OUTCOME_REASON_NOT_FOUND
#define R_UNREACHABLE OUTCOME_REASON_UNREACHABLE
#define R_TIMED_OUT OUTCOME_REASON_TIMED_OUT
#define R_POLICY OUTCOME_REASON_POLICY
#define R_BAD_TARGET OUTCOME_REASON_BAD_TARGET
#define R_RELAY_LIMIT OUTCOME_REASON_RELAY_LIMIT
#define R_REVOKED OUTCOME_REASON_REVOKED

static const outcome_row_t rows[OUTCOME_COUNT] = {
  /* outcome                   word                        label          reason         SOCKS               HTTP code */
  [OUTCOME_OK]              = {"ok",                       L_OK,          R_UNSPECIFIED, S_OK,               200, 0},
  [OUTCOME_REFUSED]         = {"dial_error",               L_REFUSED,     R_REFUSED,     S_REFUSED,          502, BEACON_EREFUSED},
  [OUTCOME_NOT_FOUND]       = {"dial_error",               L_NOT_FOUND,   R_NOT_FOUND,   S_HOST_UNREACHABLE, 502, BEACON_ENOTFOUND},
  [OUTCOME_UNREACHABLE]     = {"dial_error",               L_UNREACHABLE, R_UNREACHABLE, S_NET_UNREACHABLE,  502, BEACON_EUNREACH},
  [OUTCOME_TARGET_TIMEOUT]  = {"dial_error",               L_TIMEOUT,     R_TIMED_OUT,   S_TTL_EXPIRED,      504, BEACON_ETIMEDOUT},
  [OUTCOME_POLICY]          = {"refused",                  L_POLICY,      R_POLICY,      S_NOT_ALLOWED,      403, BEACON_EPOLICY},
  [OUTCOME_BAD_TARGET]      = {"bad_target",               L_OTHER,       R_BAD_TARGET,  S_HOST_UNREACHABLE, 502, BEACON_EINVAL},
  [OUTCOME_RESOURCE]        = {"resource",                 L_OTHER,       R_RELAY_LIMIT, S_GENERAL,          503, BEACON_ELIMIT},
  /* sent as 3: a controller reads it as OUTCOME_UNREACHABLE */
  [OUTCOME_DIAL_OTHER]      = {"dial_error",               L_OTHER,       R_UNREACHABLE, S_GENERAL,          502, BEACON_EUNREACH},
  /* sent with the tunnel's end: the controller's dial fails as a tunnel */
  [OUTCOME_REVOKED]         = {"revoked",                  L_TUNNEL,      R_REVOKED,     S_GENERAL,          503, BEACON_ECLOSED},
  [OUTCOME_RELAY_RESET]     = {"refused",                  L_REFUSED,     R_UNSPECIFIED, S_REFUSED,          502, BEACON_ERESET},
  [OUTCOME_TUNNEL]          = {"tunnel",                   L_TUNNEL,      R_UNSPECIFIED, S_GENERAL,          503, BEACON_ECLOSED},
  /* past the connect: no connect label, answered to no front end */
  [OUTCOME_LINE_TIMEOUT]    = {"timeout",                  L_OTHER,       R_BAD_TARGET,  S_GENERAL,          502, BEACON_ETIMEDOUT},
  [OUTCOME_RESET]           = {"reset",                    L_OTHER,       R_UNSPECIFIED, S_GENERAL,          502, BEACON_ERESET},
  [OUTCOME_RESET_BY_TARGET] = {"reset_by_target",          L_OTHER,       R_UNSPECIFIED, S_GENERAL,          502, BEACON_ERESET},
  [OUTCOME_RESET_BY_CLIENT] = {"reset_by_client",          L_OTHER,       R_UNSPECIFIED, S_GENERAL,          502, BEACON_EIO},
  [OUTCOME_TUNNEL_LOST]     = {"tunnel_lost",              L_TUNNEL,      R_UNSPECIFIED, S_GENERAL,          503, BEACON_ECLOSED},
  [OUTCOME_LOCAL_ERROR]     = {"error",                    L_OTHER,       R_UNSPECIFIED, S_GENERAL,          502, BEACON_EIO},
  [OUTCOME_BAD_REQUEST]     = {"bad_request",              L_OTHER,       R_UNSPECIFIED, S_GENERAL,          400, BEACON_EPROTO},
  [OUTCOME_NO_REQUEST]      = {"handshake_timeout_or_eof", L_OTHER,       R_UNSPECIFIED, S_GENERAL,          408, BEACON_ETIMEDOUT},
  [OUTCOME_BAD_RESPONSE]    = {"bad_response",             L_OTHER,       R_UNSPECIFIED, S_GENERAL,          502, BEACON_EPROTO},
};
/* clang-format on */

static const outcome_row_t *row(outcome_t o)
{
  return (unsigned)o < OUTCOME_COUNT ? &rows[o] : &rows[OUTCOME_DIAL_OTHER];
}

/* The relay's dial: the code dial/dial.h reported, and the OS error
 * for what error_from_os() folds into BEACON_EIO. */
static outcome_t classify_dial(int code, int os_err)
{
  switch(code) {
  case BEACON_EREFUSED:
    return OUTCOME_REFUSED;
  case BEACON_ENOTFOUND:
    return OUTCOME_NOT_FOUND;
  case BEACON_EUNREACH:
    return OUTCOME_UNREACHABLE;
  case BEACON_ETIMEDOUT:
    return OUTCOME_TARGET_TIMEOUT;
  case BEACON_EPOLICY:
    return OUTCOME_POLICY;
  case BEACON_EINVAL:
  case BEACON_ETOOLONG:
    return OUTCOME_BAD_TARGET;
  case BEACON_ENOMEM:
  case BEACON_ELIMIT:
    return OUTCOME_RESOURCE;
  default:
    /* libuv codes are the negated errno on the systems we run on */
    if(os_err == -EHOSTUNREACH || os_err == -ENETUNREACH)
      return OUTCOME_UNREACHABLE;
    return OUTCOME_DIAL_OTHER;
  }
}

outcome_t outcome_classify(int code, int os_err, outcome_side_t side)
{
  if(!code)
    return OUTCOME_OK;
  if(side == OUTCOME_AT_DIAL)
    return classify_dial(code, os_err);
  if(code == BEACON_EINVAL || code == BEACON_ETOOLONG)
    return OUTCOME_BAD_TARGET; /* refused before it reached the wire */
  return OUTCOME_TUNNEL;
}

outcome_t outcome_from_reason(uint32_t reason)
{
  /* The first row that sends this code: the verdict rows come first. */
  for(int o = OUTCOME_REFUSED; o <= OUTCOME_REVOKED; o++)
    if(reason && rows[o].reason == reason)
      return (outcome_t)o;
  return OUTCOME_RELAY_RESET;
}

const char *outcome_word(outcome_t o)
{
  return row(o)->word;
}

outcome_label_t outcome_label(outcome_t o)
{
  return row(o)->label;
}

uint32_t outcome_reason(outcome_t o)
{
  return row(o)->reason;
}

const char *outcome_reason_name(uint32_t reason)
{
  return reason < NREASONS ? reason_names[reason] : "unspecified";
}

uint8_t outcome_socks_reply(outcome_t o)
{
  return row(o)->socks;
}

int outcome_http_status(outcome_t o)
{
  return row(o)->http;
}

int outcome_code(outcome_t o)
{
  return row(o)->code;
}
