/* libFuzzer target: sgdsync-train's command line from any bytes, one argument per line. A
 * command line it accepts must give a config object; one it refuses must say why. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness/train_options.h"

#define MAX_ARGS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *argv[MAX_ARGS + 1] = {"sgdsync-train"};
	int argc = 1;
	for (char *line = text; line && argc < MAX_ARGS; argc++) {
		argv[argc] = line;
		line = strchr(line, '\n');
		if (line)
			*line++ = '\0';
	}
	argv[argc] = NULL;
	train_options o;
	char err[512] = "";
	train_options_default(&o);
	int rc = train_options_parse(&o, argc, argv, err, sizeof err);
	if (rc < 0 && err[0] == '\0')
		abort(); /* refused without a message */
	if (rc == 0) {
		cJSON *config = train_options_config_json(&o, o.epochs, o.steps_per_epoch);
		if (!config)
			abort();
		cJSON_Delete(config);
	}
	free(text);
	return 0;
}
