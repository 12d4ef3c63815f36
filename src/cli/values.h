/*
 * values.h - option-table parsers (cli/options.h cli_opt_parse_fn) for
 * values more than one subcommand takes. Each stores into what its first
 * argument points to.
 */
#ifndef BEACON_CLI_VALUES_H
#define BEACON_CLI_VALUES_H

#include <stddef.h>

/* int *level: debug, info, warn, error (log/log.h log_level_t). */
int cli_value_log_level(void *level, const char *v, char *why, size_t cap);
/* int *json: text (0) or json (1). */
int cli_value_log_format(void *json, const char *v, char *why, size_t cap);
/* const char **addr: an address metrics_parse_addr() accepts. */
int cli_value_metrics_addr(void *addr, const char *v, char *why, size_t cap);

/* Forms of values (cli/options.h cli_opt_check_fn). */
/* ":PORT", "HOST:PORT" or "[IPV6]:PORT" (--tunnel-addr). */
int cli_check_listen_addr(const char *v, char *why, size_t cap);
/* The same or a bare "PORT" (forward's --socks and --http-connect). */
int cli_check_front_addr(const char *v, char *why, size_t cap);
/* "[BIND:]PORT:HOST:PORT" (forward's -L). */
int cli_check_forward_spec(const char *v, char *why, size_t cap);
/* --congestion NAME: a congestion control this kernel lets us set, or
 * "system" (common/congestion.h). */
int cli_check_congestion(const char *v, char *why, size_t cap);
/* The --congestion line of --help. */
#define CLI_CONGESTION_HELP                                                   \
  "tunnel TCP congestion control, e.g.\nbbr, cubic; system = the kernel's\n"  \
  "default (default: bbr if allowed)"

/* The default directory of certificates and keys. */
#define CLI_DEFAULT_CONFIG_DIR "/etc/beacon"

/* What to add to a file error when dir is the default directory and the
 * process is not root: where its own files should go instead. "" when
 * there is nothing to add. */
const char *cli_config_dir_hint(const char *dir);

/* Splits "[BIND:]PORT:HOST:PORT" into the bind part ("[BIND:]PORT") and
 * the target (the last HOST:PORT, a valid target). 0, or BEACON_EINVAL. */
int cli_split_forward(const char *spec, char *bind, size_t bcap, char *target,
                      size_t tcap);

#endif
