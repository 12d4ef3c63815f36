/*
 * replay_main.c - a stand-in for libFuzzer's main() when the tree is not
 * built for fuzzing: feeds every file named on the command line, or found
 * in a directory named there, to LLVMFuzzerTestOneInput() once. A harness
 * reports a bug by aborting, so reaching the end means every seed passed.
 * Exits 1 if nothing could be read, so an empty or missing corpus fails.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1 << 20)

static int replay_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  uint8_t *buf;
  size_t n;

  if(!f) {
    perror(path);
    return -1;
  }
  buf = malloc(REPLAY_MAX_INPUT);
  if(!buf) {
    fclose(f);
    return -1;
  }
  n = fread(buf, 1, REPLAY_MAX_INPUT, f);
  fclose(f);
  /* Exactly-sized copy, so ASan sees reads past the input's end. */
  uint8_t *in = malloc(n ? n : 1);
  if(!in) {
    free(buf);
    return -1;
  }
  memcpy(in, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(in, n);
  free(in);
  return 0;
}

static int cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, int *count)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;

  if(!d) {
    perror(dir);
    return -1;
  }
  while((e = readdir(d))) {
    char **nn;
    if(e->d_name[0] == '.')
      continue;
    if(n == cap) {
      cap = cap ? cap * 2 : 64;
      nn = realloc(names, cap * sizeof(*names));
      if(!nn) {
        rc = -1;
        break;
      }
      names = nn;
    }
    names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
    if(!names[n]) {
      rc = -1;
      break;
    }
    sprintf(names[n], "%s/%s", dir, e->d_name);
    n++;
  }
  closedir(d);
  if(n)
    qsort(names, n, sizeof(*names), cmp);
  for(size_t i = 0; i < n; i++) {
    struct stat st;
    if(!rc && !stat(names[i], &st) && S_ISREG(st.st_mode)) {
      if(replay_file(names[i]))
        rc = -1;
      else
        (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv)
{
  int count = 0;

  for(int i = 1; i < argc; i++) {
    struct stat st;
    if(stat(argv[i], &st)) {
      perror(argv[i]);
      return 1;
    }
    if(S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
                           : replay_file(argv[i]))
      return 1;
    if(!S_ISDIR(st.st_mode))
      count++;
  }
  printf("replayed %d input%s\n", count, count == 1 ? "" : "s");
  return count ? 0 : 1;
}
