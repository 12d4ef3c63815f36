/*
 * egress_reload.h - `beacon egress` reads its configuration again on
 * SIGHUP, the config file and the command line as at start
 * (docs/OPERATIONS.md "Reloading"), and --check-config compares a
 * configuration with what a running relay wrote to --running-config.
 */
#ifndef BEACON_CLI_EGRESS_RELOAD_H
#define BEACON_CLI_EGRESS_RELOAD_H

#include <stddef.h>
#include <stdio.h>

#include "policy/policy.h"
#include "relay/relay.h"

#define MAX_ALLOW_CLIENTS 256

/* What the flags build besides relay_config_t. */
typedef struct egress_flags {
  policy_t *policy;
  /* canonical forms (tls/identity.h), compared with each peer's */
  char *clients[MAX_ALLOW_CLIENTS];
  size_t nclients;
  int level, json;
  int check_config; /* --check-config: check, then exit */
} egress_flags_t;

/* egress.c's parser, given to this file so that it depends on no
 * function of egress.c: fills cfg (defaults already in) and f (policy
 * allocated, level set) from argv and its --config file. text: NULL, or
 * where the file's text is handed over (the caller frees it); err: where
 * error lines go (NULL: stderr). CLI_GO_ON, or an exit code. */
typedef int (*egress_parse_fn)(int argc, char **argv, relay_config_t *cfg,
                               egress_flags_t *f, char **text, FILE *err);

/* Points cfg at what f holds (policy, clients, log settings). */
void egress_flags_apply(egress_flags_t *f, relay_config_t *cfg);
/* Frees what f holds. */
void egress_flags_free(egress_flags_t *f);

/* A reload source parsing argv again (argv must outlive the relay). */
void egress_reload_source(relay_config_source_t *src, egress_parse_fn parse,
                          int argc, char **argv);

/* --check-config, once cfg passed: when cfg->running_config names a
 * file, prints each option that differs from it and needs a restart.
 * An exit code (CLI_EXIT_OK unless the file cannot be read). */
int egress_check_running(const relay_config_t *cfg, egress_parse_fn parse);

#endif
