/* version.c - the version of the loaded libbeacon (beacon.h). */
#include "beacon/beacon.h"

const char *beacon_version(void)
{
  return BEACON_VERSION;
}

unsigned beacon_version_number(void)
{
  return BEACON_VERSION_NUMBER;
}
