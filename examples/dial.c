/*
 * dial.c - libbeacon in a few lines: dial TARGET through a relay, send a
 * line, print what comes back until the far side closes.
 *
 *   beacon_dial_example RELAY_HOST:PORT CONFIG_DIR TARGET [LINE]
 *
 * CONFIG_DIR holds controller.crt, controller.key and fleet-ca.crt.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <beacon/beacon.h>

int main(int argc, char **argv)
{
  if(argc < 4) {
    fprintf(stderr, "usage: %s RELAY CONFIG_DIR TARGET [LINE]\n", argv[0]);
    return 2;
  }
  const char *line = argc > 4 ? argv[4] : "hello";
  beacon_config_t *cfg = beacon_config_new();
  beacon_tunnel_t *t = NULL;
  beacon_error_t err;
  int rc = 1;
  if(!cfg || beacon_config_add_relay(cfg, argv[1]) ||
     beacon_config_set_dir(cfg, argv[2])) {
    fprintf(stderr, "bad relay address or config dir\n");
    goto out;
  }
  if(beacon_tunnel_new(&t, cfg, &err)) {
    fprintf(stderr, "tunnel: %s\n", err.message);
    goto out;
  }
  int fd = beacon_dial(t, argv[3], 0, &err);
  if(fd < 0) {
    fprintf(stderr, "dial %s: %s\n", argv[3], err.message);
    goto out;
  }
  /* An ordinary connected socket from here on. */
  if(write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0)
    perror("write");
  shutdown(fd, SHUT_WR);
  char buf[4096];
  ssize_t n;
  while((n = read(fd, buf, sizeof(buf))) > 0)
    fwrite(buf, 1, (size_t)n, stdout);
  if(n < 0)
    perror("read");
  else
    rc = 0;
  close(fd);
out:
  beacon_tunnel_free(t);
  beacon_config_free(cfg);
  return rc;
}
