/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration file (iser.conf, iniparser format): a [global] section
 * and sections per portal and per target. What the command line sets wins
 * over the file; a [target IQN] section wins over a [portal HOST:PORT]
 * section, which wins over [global].
 */
#ifndef ISA_CMD_CONFIG_H
#define ISA_CMD_CONFIG_H

#include <glib.h>

#include "cmd/cli.h"

/* Where the file is looked for when --config is not given. */
const char *config_default_path(void);

/*
 * Fill what @c leaves unset from the file (@c->config_file, or the default
 * path, which may be missing) for @portal and @target (NULL for
 * discovery), and settle the initiator name (file, then the stored
 * generated name). Returns 0, or -1 with @err set: unreadable file, a
 * file holding secrets that group or others can read, a bad value.
 */
int config_apply(struct cli_login *c, const char *portal, const char *target, GError **err);

#endif
