/*
 * egress_reload.c - the configuration of `beacon egress` built again for
 * a reload, and compared with a running relay's (egress_reload.h).
 */
#include "cli/egress_reload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "log/log.h"

void egress_flags_apply(egress_flags_t *f, relay_config_t *cfg)
{
  cfg->policy = f->policy;
  cfg->allow_clients = (const char *const *)f->clients;
  cfg->n_allow_clients = f->nclients;
  cfg->log_level = f->level;
  cfg->log_json = f->json;
}

void egress_flags_free(egress_flags_t *f)
{
  for(size_t i = 0; i < f->nclients; i++)
    free(f->clients[i]);
  f->nclients = 0;
  policy_free(f->policy);
  f->policy = NULL;
}

/* One parse's result: the flags and the file text its strings point
 * into. */
typedef struct egress_parsed {
  egress_flags_t f;
  char *text;
} egress_parsed_t;

static void parsed_free(void *owner)
{
  egress_parsed_t *p = owner;
  if(!p)
    return;
  egress_flags_free(&p->f);
  free(p->text);
  free(p);
}

/* Parses argv into cfg and a new *out; CLI_GO_ON or an exit code, the
 * error lines written to err. */
static int parse_again(egress_parse_fn parse, int argc, char **argv,
                       relay_config_t *cfg, egress_parsed_t **out, FILE *err)
{
  egress_parsed_t *p = calloc(1, sizeof(*p));
  if(!p || !(p->f.policy = policy_new())) {
    free(p);
    fprintf(err, "out of memory\n");
    return CLI_EXIT_FAILURE;
  }
  p->f.level = LOG_INFO;
  relay_config_default(cfg);
  int rc = parse(argc, argv, cfg, &p->f, &p->text, err);
  if(rc != CLI_GO_ON) {
    parsed_free(p);
    return rc;
  }
  egress_flags_apply(&p->f, cfg);
  *out = p;
  return rc;
}

/* The error lines as one log value: "a; b", without the pointer to
 * --help. */
static void one_line(const char *text, char *out, size_t cap)
{
  size_t n = 0;
  out[0] = 0;
  while(text && *text && n + 1 < cap) {
    size_t len = strcspn(text, "\n");
    if(len && strncmp(text, "Run 'beacon", 11)) {
      int w =
          snprintf(out + n, cap - n, "%s%.*s", n ? "; " : "", (int)len, text);
      n += w > 0 ? (size_t)w : 0;
    }
    text += len + (text[len] == '\n');
  }
  if(!out[0])
    snprintf(out, cap, "invalid configuration");
}

typedef struct egress_argv {
  egress_parse_fn parse;
  int argc;
  char **argv;
} egress_argv_t;

static egress_argv_t the_argv;

static int load(void *ctx, relay_config_t *out, void **owner, char *err,
                size_t errlen)
{
  egress_argv_t *a = ctx;
  char *msg = NULL;
  size_t msglen = 0;
  FILE *ef = open_memstream(&msg, &msglen);
  egress_parsed_t *p = NULL;
  int rc = parse_again(a->parse, a->argc, a->argv, out, &p, ef ? ef : stderr);
  if(ef)
    fclose(ef);
  if(rc != CLI_GO_ON) {
    one_line(msg, err, errlen);
    free(msg);
    return rc == CLI_EXIT_OK ? CLI_EXIT_USAGE : rc; /* --help: no config */
  }
  free(msg);
  *owner = p;
  return 0;
}

void egress_reload_source(relay_config_source_t *src, egress_parse_fn parse,
                          int argc, char **argv)
{
  the_argv.parse = parse;
  the_argv.argc = argc;
  the_argv.argv = argv;
  src->load = load;
  src->release = parsed_free;
  src->ctx = &the_argv;
}

int egress_check_running(const relay_config_t *cfg, egress_parse_fn parse)
{
  const char *path = cfg->running_config;
  if(!path)
    return CLI_EXIT_OK;
  FILE *probe = fopen(path, "r");
  if(!probe) {
    if(errno == ENOENT) {
      printf("beacon egress: no running relay has written %s yet: nothing "
             "to compare\n",
             path);
      return CLI_EXIT_OK;
    }
    fprintf(stderr, "beacon egress: --running-config %s: %s\n", path,
            strerror(errno));
    return CLI_EXIT_CONFIG;
  }
  fclose(probe);
  char a0[] = "egress", a1[] = "--config";
  char *av[] = {a0, a1, (char *)path, NULL};
  relay_config_t running;
  egress_parsed_t *p = NULL;
  if(parse_again(parse, 3, av, &running, &p, stderr) != CLI_GO_ON)
    return CLI_EXIT_CONFIG;
  const char *names[16];
  size_t n = relay_config_restart_only(&running, cfg, names, 16);
  char was[512], wanted[512];
  for(size_t i = 0; i < n && i < 16; i++) {
    relay_config_option_text(&running, names[i], was, sizeof(was));
    relay_config_option_text(cfg, names[i], wanted, sizeof(wanted));
    printf("beacon egress: %s differs from the running relay's (%s: "
           "running %s, configured %s): a reload keeps the running value, "
           "a restart is needed\n",
           names[i], path, was, wanted);
  }
  if(!n)
    printf("beacon egress: a reload applies every change (compared with "
           "%s)\n",
           path);
  parsed_free(p);
  return CLI_EXIT_OK;
}
