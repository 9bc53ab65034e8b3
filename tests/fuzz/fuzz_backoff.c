/* libFuzzer target: backoff_parse on any bytes. A spec it accepts must format to a canonical
 * spec that parses back to the same policy; one it refuses must say why. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "primitives/backoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = malloc(size + 1);
	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	backoff_policy p, again;
	char err[256] = "", canon[256];
	if (backoff_parse(spec, &p, err, sizeof err) != 0) {
		if (err[0] == '\0')
			abort(); /* refused without a message */
		free(spec);
		return 0;
	}
	int n = backoff_format(&p, canon, sizeof canon);
	if (n < 0 || (size_t)n >= sizeof canon || backoff_parse(canon, &again, err, sizeof err) != 0 ||
	    memcmp(&p, &again, sizeof p) != 0) {
		fprintf(stderr, "\"%s\" formats as \"%s\", which does not parse back: %s\n", spec, canon, err);
		abort();
	}
	free(spec);
	return 0;
}
