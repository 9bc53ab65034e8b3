/* libFuzzer target: sweep_config_parse on any bytes, as a config file. A text it accepts gives
 * a grid whose every value sgdsync-train's own setter takes, and whose size is computed or
 * refused with a message; a text it refuses says where (the file's name and a line). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_grid(const sweep_config *c)
{
	char err[1024];
	for (int i = 0; i < c->ndims; i++) {
		const sweep_dim *d = &c->dims[i];
		if (d->n < 1 || d->n > SWEEP_CONFIG_MAX_VALUES || (d->n > 1 && !d->opt->list))
			abort();
		for (int v = 0; v < d->n; v++) {
			train_options probe;
			train_options_default(&probe);
			if (d->opt->set(&probe, d->values[v], err, sizeof err) != 0) {
				fprintf(stderr, "accepted %s='%s', which its setter refuses: %s\n",
					d->opt->name, d->values[v], err);
				abort();
			}
		}
	}
	size_t runs;
	err[0] = '\0';
	if (sweep_config_grid_size(c, &runs, err, sizeof err) != 0 ? err[0] == '\0' : runs == 0)
		abort(); /* refused without a message, or an empty grid */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static sweep_config c;
	char err[2048] = "";
	sweep_config_init(&c);
	if (sweep_config_parse(&c, (const char *)data, size, "fuzz.conf", err, sizeof err) == 0)
		check_grid(&c);
	else if (strncmp(err, "fuzz.conf:", 10) != 0) {
		fprintf(stderr, "refused without naming the line: %s\n", err);
		abort();
	}
	sweep_config_free(&c);
	return 0;
}
