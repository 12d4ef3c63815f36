/* preset.h - named sets of rules (`--deny private`). */
#ifndef BEACON_POLICY_PRESET_H
#define BEACON_POLICY_PRESET_H

#include "policy/policy_int.h"

/* 1 and the preset's rules (CIDRs) when name is a preset ("private"),
 * 0 otherwise. */
int policy_preset(const char *name, const char *const **rules, size_t *n);

#endif
