#include "harness/train_options.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workloads/dataset.h"
#include "workloads/net.h"

/* ---- values ---- */

static int parse_u64(const char *name, const char *text, uint64_t min, uint64_t max,
		     uint64_t *out, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (!isdigit((unsigned char)text[0]) || *end != '\0' || errno == ERANGE || v < min ||
	    v > max) {
		snprintf(err, errlen, "--%s: '%s' is not an integer in [%llu, %llu]", name, text,
			 (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_double(const char *name, const char *text, double min, double max, int open_min,
			double *out, char *err, size_t errlen)
{
	char *end;
	double v = strtod(text, &end);
	if (text[0] == '\0' || *end != '\0' || !isfinite(v) || v < min || v > max ||
	    (open_min && v == min)) {
		snprintf(err, errlen, "--%s: '%s' is not a number in %c%g, %g]", name, text,
			 open_min ? '(' : '[', min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int copy_text(const char *name, const char *text, char *dst, size_t size, char *err,
		     size_t errlen)
{
	if (text[0] == '\0' || strlen(text) >= size) {
		snprintf(err, errlen, "--%s: the value must be 1 to %zu characters", name, size - 1);
		return -1;
	}
	memcpy(dst, text, strlen(text) + 1);
	return 0;
}

/* A library's parser says what is wrong; the message gains the option's name. */
static int named(int rc, const char *name, char *err, size_t errlen)
{
	if (rc != 0) {
		char inner[256];
		snprintf(inner, sizeof inner, "%s", err);
		snprintf(err, errlen, "--%s: %s", name, inner);
	}
	return rc;
}

/* ---- setters, one per option ---- */

static int set_method(train_options *o, const char *v, char *err, size_t errlen)
{
	return named(model_method_parse(v, &o->method, err, errlen), "method", err, errlen);
}

static int set_threads(train_options *o, const char *v, char *err, size_t errlen)
{
	uint64_t n;
	if (parse_u64("threads", v, 1, 4096, &n, err, errlen))
		return -1;
	o->threads = (int)n;
	return 0;
}

static int set_backoff(train_options *o, const char *v, char *err, size_t errlen)
{
	return named(backoff_parse(v, &o->backoff, err, errlen), "backoff", err, errlen);
}

static int set_lock(train_options *o, const char *v, char *err, size_t errlen)
{
	lock_kind k;
	if (strcmp(v, "default") == 0) {
		o->lock = -1;
		return 0;
	}
	if (named(lock_kind_parse(v, &k, err, errlen), "lock", err, errlen))
		return -1;
	o->lock = (int)k;
	return 0;
}

static int set_persistence(train_options *o, const char *v, char *err, size_t errlen)
{
	uint64_t n;
	if (parse_u64("persistence", v, 0, UINT32_MAX, &n, err, errlen))
		return -1;
	o->persistence = (uint32_t)n;
	return 0;
}

static int set_alloc(train_options *o, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "pool") == 0)
		o->alloc = CHAIN_POOL;
	else if (strcmp(v, "malloc") == 0)
		o->alloc = CHAIN_MALLOC;
	else {
		snprintf(err, errlen, "--alloc: '%s' is not one of: pool, malloc", v);
		return -1;
	}
	return 0;
}

static int set_batch(train_options *o, const char *v, char *err, size_t errlen)
{
	uint64_t n;
	if (parse_u64("batch", v, 1, 65536, &n, err, errlen))
		return -1;
	o->batch = (int)n;
	return 0;
}

static int set_eta(train_options *o, const char *v, char *err, size_t errlen)
{
	double x;
	/* eta is a float in the update: below FLT_MIN it would be 0 or lose its precision. */
	if (parse_double("eta", v, FLT_MIN, 1e9, 0, &x, err, errlen))
		return -1;
	o->eta = x;
	return 0;
}

static int set_epochs(train_options *o, const char *v, char *err, size_t errlen)
{
	return parse_u64("epochs", v, 1, 1000000, &o->epochs, err, errlen);
}

static int set_steps(train_options *o, const char *v, char *err, size_t errlen)
{
	return parse_u64("steps", v, 0, UINT64_C(1) << 40, &o->steps, err, errlen);
}

static int set_steps_per_epoch(train_options *o, const char *v, char *err, size_t errlen)
{
	return parse_u64("steps-per-epoch", v, 0, UINT64_C(1) << 40, &o->steps_per_epoch, err,
			 errlen);
}

static int set_arch(train_options *o, const char *v, char *err, size_t errlen)
{
	/* Checked on 28x28 inputs and 10 classes; the run checks again on its data's shape. */
	net *n = net_create(v, 28 * 28, 10, err, errlen);
	if (!n)
		return named(-1, "arch", err, errlen);
	net_destroy(n);
	return copy_text("arch", v, o->arch, sizeof o->arch, err, errlen);
}

static int set_data(train_options *o, const char *v, char *err, size_t errlen)
{
	struct stat st;
	if (strcmp(v, "fashion-mnist") != 0 && strcmp(v, "synthetic") != 0 &&
	    (stat(v, &st) != 0 || !S_ISDIR(st.st_mode))) {
		snprintf(err, errlen,
			 "--data: '%s' is not fashion-mnist, synthetic or a directory of MNIST-format files",
			 v);
		return -1;
	}
	return copy_text("data", v, o->data, sizeof o->data, err, errlen);
}

static int set_pinning(train_options *o, const char *v, char *err, size_t errlen)
{
	return named(pin_parse(v, &o->pinning, err, errlen), "pinning", err, errlen);
}

static int set_placement(train_options *o, const char *v, char *err, size_t errlen)
{
	return named(placement_parse(v, &o->memory, err, errlen), "placement", err, errlen);
}

static int set_step_policy(train_options *o, const char *v, char *err, size_t errlen)
{
	return named(step_spec_parse(v, &o->step, err, errlen), "step-policy", err, errlen);
}

static int set_seed(train_options *o, const char *v, char *err, size_t errlen)
{
	return parse_u64("seed", v, 0, UINT64_MAX, &o->seed, err, errlen);
}

static int set_targets(train_options *o, const char *v, char *err, size_t errlen)
{
	char buf[256];
	int n = 0;
	if (strcmp(v, "none") == 0) {
		o->ntargets = 0;
		return 0;
	}
	if (copy_text("targets", v, buf, sizeof buf, err, errlen))
		return -1;
	size_t len = strlen(v);
	if (len == 0 || v[0] == ',' || v[len - 1] == ',' || strstr(v, ",,")) {
		snprintf(err, errlen, "--targets: '%s' has an empty item; give fractions in (0, 1] or none", v);
		return -1;
	}
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == TRAIN_MAX_TARGETS) {
			snprintf(err, errlen, "--targets: at most %d fractions", TRAIN_MAX_TARGETS);
			return -1;
		}
		if (parse_double("targets", tok, 0.0, 1.0, 1, &o->targets[n], err, errlen))
			return -1;
		n++;
	}
	o->ntargets = n;
	return 0;
}

static int set_counters(train_options *o, const char *v, char *err, size_t errlen)
{
	/* The backends check a likwid group when they open; here only the form. */
	if (strcmp(v, "auto") != 0 && strcmp(v, "none") != 0 && strcmp(v, "perf") != 0 &&
	    strcmp(v, "likwid") != 0 && (strncmp(v, "likwid:", 7) != 0 || v[7] == '\0')) {
		snprintf(err, errlen, "--counters: '%s' is not one of: auto, likwid, likwid:GROUP, perf, none",
			 v);
		return -1;
	}
	return copy_text("counters", v, o->counters, sizeof o->counters, err, errlen);
}

static int set_time_limit(train_options *o, const char *v, char *err, size_t errlen)
{
	return parse_double("time-limit", v, 0.0, 1e7, 0, &o->time_limit_s, err, errlen);
}

static int set_output(train_options *o, const char *v, char *err, size_t errlen)
{
	return copy_text("output", v, o->output, sizeof o->output, err, errlen);
}

static int set_quiet(train_options *o, const char *v, char *err, size_t errlen)
{
	(void)v, (void)err, (void)errlen;
	o->quiet = 1;
	return 0;
}

static int set_abort_at(train_options *o, const char *v, char *err, size_t errlen)
{
	return parse_u64("debug-abort-at-update", v, 0, UINT64_MAX, &o->abort_at_update, err, errlen);
}

static int set_hang_at(train_options *o, const char *v, char *err, size_t errlen)
{
	return parse_u64("debug-hang-at-update", v, 0, UINT64_MAX, &o->hang_at_update, err, errlen);
}

const train_option train_option_table[] = {
	{"method", "M", "leashed", "sync, mutex, rwlock, hogwild or leashed", set_method, 1},
	{"threads", "N", "the machine's PUs", "worker threads, 1 to 4096", set_threads, 1},
	{"backoff", "SPEC", "none",
	 "after a busy lock or a lost CAS: none, const:base=B, linear:base=B,step=S,cap=C, "
	 "exp:base=B,cap=C, jitter:base=B,cap=C, yield, sleep:base=NS",
	 set_backoff, 1},
	{"lock", "KIND", "default",
	 "mutex and rwlock: default (chosen from the backoff), mutex, trymutex, tas, ttas, ticket, "
	 "pthread-rw, rw, mcs, clh, cohort (one cluster in training)",
	 set_lock, 1},
	{"persistence", "B", "0", "leashed: CAS attempts per update before it is dropped; 0 = unbounded",
	 set_persistence, 1},
	{"alloc", "A", "pool", "leashed parameter vectors: pool (recycled) or malloc", set_alloc, 1},
	{"batch", "N", "64", "mini-batch size, 1 to 65536", set_batch, 1},
	{"eta", "X", "0.01", "step size, > 0", set_eta, 1},
	{"epochs", "N", "5", "epochs to train", set_epochs, 1},
	{"steps", "N", "0",
	 "total updates instead of --epochs (the last epoch may be shorter); 0 = use --epochs",
	 set_steps, 1},
	{"steps-per-epoch", "N", "0",
	 "updates per epoch; 0 = training-set size / batch (the reference code fixes it instead)",
	 set_steps_per_epoch, 1},
	{"arch", "NET", "mlp:3x128", "mlp:LxU, cnn or lenet", set_arch, 1},
	{"data", "D", "fashion-mnist",
	 "fashion-mnist (" DATASET_FASHION_MNIST_DIR "), synthetic (6000 seeded 28x28 images, 1000 "
	 "held out) or a directory of MNIST-format files",
	 set_data, 1},
	{"pinning", "P", "compact", "worker placement on PUs: compact, scatter or none", set_pinning, 1},
	{"placement", "MEM", "local",
	 "the model's shared memory (theta, chain vectors): local, interleave or node:N",
	 set_placement, 1},
	{"step-policy", "S", "none",
	 "staleness-adaptive step size: none, inverse, fleet, tail or tail:amplitude=A", set_step_policy,
	 1},
	{"seed", "N", "1", "parameters, sampling and synthetic data", set_seed, 1},
	{"targets", "F,F", "0.5,0.25",
	 "target losses as fractions of the initial loss, in (0, 1], or none", set_targets, 0},
	{"counters", "C", "auto", "auto, likwid, likwid:GROUP, perf or none", set_counters, 0},
	{"time-limit", "S", "600", "seconds of training before it stops cleanly; 0 = none",
	 set_time_limit, 0},
	{"output", "FILE", "stdout", "where the run's JSON goes (written atomically)", set_output, 0},
	{"quiet", NULL, "off", "no progress line", set_quiet, 0},
	{"debug-abort-at-update", "N", "0", "test hook: abort() after update N (a crashing run)",
	 set_abort_at, 1},
	{"debug-hang-at-update", "N", "0",
	 "test hook: the worker that applies update N never returns (a hung run)", set_hang_at, 1},
};
const size_t train_option_count = sizeof(train_option_table) / sizeof(train_option_table[0]);

void train_options_default(train_options *o)
{
	memset(o, 0, sizeof(*o));
	o->method = MODEL_LEASHED;
	o->threads = topology_get()->pus;
	o->backoff = backoff_none;
	o->lock = -1;
	o->alloc = CHAIN_POOL;
	o->batch = 64;
	o->eta = 0.01;
	o->epochs = 5;
	snprintf(o->arch, sizeof o->arch, "mlp:3x128");
	snprintf(o->data, sizeof o->data, "fashion-mnist");
	o->pinning = PIN_COMPACT;
	o->memory.kind = PLACEMENT_LOCAL;
	o->step.kind = STEP_NONE;
	o->step.amplitude = 1.0f;
	o->seed = 1;
	o->targets[0] = 0.5;
	o->targets[1] = 0.25;
	o->ntargets = 2;
	snprintf(o->counters, sizeof o->counters, "auto");
	o->time_limit_s = 600;
}

const train_option *train_option_find(const char *name)
{
	for (size_t i = 0; i < train_option_count; i++)
		if (strcmp(train_option_table[i].name, name) == 0)
			return &train_option_table[i];
	return NULL;
}

int train_option_set(train_options *o, const char *name, const char *value, char *err,
		     size_t errlen)
{
	const train_option *opt = train_option_find(name);
	if (!opt) {
		snprintf(err, errlen, "unknown option '--%s' (see --help)", name);
		return -1;
	}
	return opt->set(o, value, err, errlen);
}

int train_options_check(const train_options *o, char *err, size_t errlen)
{
	model_config mc = model_config_default(o->method, o->threads);
	mc.backoff = o->backoff;
	mc.lock = o->lock;
	if (model_check_backoff(&mc, err, errlen) != 0) {
		char inner[256];
		snprintf(inner, sizeof inner, "%s", err);
		snprintf(err, errlen, "--%s", inner); /* "--backoff SPEC has no effect with ..." */
		return -1;
	}
	return 0;
}

int train_options_parse(train_options *o, int argc, char *const *argv, char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return 1;
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errlen, "unexpected argument '%s' (options are --name value)", arg);
			return -1;
		}
		char name[64];
		const char *eq = strchr(arg + 2, '=');
		size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1),
			 arg + 2);
		const train_option *opt = train_option_find(name);
		if (!opt) {
			snprintf(err, errlen, "unknown option '--%s' (see --help)", name);
			return -1;
		}
		const char *value = eq ? eq + 1 : "";
		if (opt->metavar && !eq) {
			if (i + 1 == argc) {
				snprintf(err, errlen, "--%s needs a value (%s)", name, opt->help);
				return -1;
			}
			value = argv[++i];
		} else if (!opt->metavar && eq) {
			snprintf(err, errlen, "--%s takes no value", name);
			return -1;
		}
		if (opt->set(o, value, err, errlen) != 0)
			return -1;
	}
	return train_options_check(o, err, errlen);
}

/* Prints text in lines of at most `width` characters, the later ones indented by `indent`. */
static void print_wrapped(FILE *f, const char *text, int indent, int width)
{
	int col = indent;
	while (*text) {
		int word = (int)strcspn(text, " ");
		if (col > indent && col + 1 + word > width) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", word, text);
		col += word;
		text += word;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

void train_options_usage(FILE *f, const char *program)
{
	fprintf(f, "usage: %s [--option value | --option=value]...\n\n"
		   "Trains one network with N worker threads sharing one model through a synchronization\n"
		   "method, and writes the run's JSON (format sgdsync-train, version 1).\n\noptions:\n",
		program);
	for (size_t i = 0; i < train_option_count; i++) {
		const train_option *o = &train_option_table[i];
		char head[64];
		snprintf(head, sizeof head, "--%s%s%s", o->name, o->metavar ? " " : "",
			 o->metavar ? o->metavar : "");
		char text[512];
		snprintf(text, sizeof text, "%s (default: %s)", o->help, o->fallback);
		fprintf(f, "  %-26s ", head);
		print_wrapped(f, text, 29, 100);
	}
	fprintf(f, "  %-26s this text\n\n", "--help");
	fprintf(f, "Exit status: 0 when the run completed, whatever its outcome (converged, not-converged,\n"
		   "diverged: see \"outcome\" in the JSON); 1 when it could not run (unreadable data, out\n"
		   "of memory); 2 for a bad option; 3 when it ran but its result could not be written; 124\n"
		   "when the run did not finish within twice its time limit plus 60 s (a watchdog ends it).\n");
}

/* The training examples the run will have; -1 when its data cannot be read. */
static int train_examples(const train_options *o, size_t *count)
{
	char err[512];
	if (strcmp(o->data, "synthetic") == 0) {
		*count = TRAIN_SYNTHETIC_EXAMPLES - TRAIN_SYNTHETIC_HELD_OUT;
		return 0;
	}
	const char *dir = strcmp(o->data, "fashion-mnist") == 0 ? DATASET_FASHION_MNIST_DIR : o->data;
	return dataset_idx_count(dir, "train", count, err, sizeof err);
}

int train_options_check_budget(const train_options *o, char *err, size_t errlen)
{
	size_t examples;
	uint64_t spe, nepochs;
	if (train_examples(o, &examples) != 0)
		return 0;
	train_budget(o->epochs, o->steps, o->steps_per_epoch, o->batch, examples, &spe, &nepochs);
	size_t per_epoch = train_bytes_per_epoch(o->threads);
	double need = (double)nepochs * (double)per_epoch;
	double limit = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / 2;
	if (need <= limit)
		return 0;
	snprintf(err, errlen,
		 "--%s %llu at %llu updates per epoch is %llu epochs, whose bookkeeping takes %.3g GB "
		 "(%zu bytes per epoch at %d threads), over the limit of %.3g GB (half this machine's "
		 "memory): give fewer %s",
		 o->steps ? "steps" : "epochs",
		 (unsigned long long)(o->steps ? o->steps : o->epochs), (unsigned long long)spe,
		 (unsigned long long)nepochs, need / 1e9, per_epoch, o->threads, limit / 1e9,
		 o->steps ? "--steps or more --steps-per-epoch" : "--epochs or --threads");
	return -1;
}

static void add_text(cJSON *c, const char *key, const char *text)
{
	cJSON_AddStringToObject(c, key, text);
}

cJSON *train_options_config_json(const train_options *o, uint64_t epochs, uint64_t steps_per_epoch)
{
	char buf[128];
	cJSON *c = cJSON_CreateObject();
	add_text(c, "method", model_method_name(o->method));
	cJSON_AddNumberToObject(c, "threads", o->threads);
	backoff_format(&o->backoff, buf, sizeof buf);
	add_text(c, "backoff", buf);
	add_text(c, "lock", o->lock < 0 ? "default" : lock_kind_name((lock_kind)o->lock));
	cJSON_AddNumberToObject(c, "persistence", o->persistence);
	add_text(c, "alloc", o->alloc == CHAIN_POOL ? "pool" : "malloc");
	cJSON_AddNumberToObject(c, "batch", o->batch);
	cJSON_AddNumberToObject(c, "eta", o->eta);
	step_spec_format(&o->step, buf, sizeof buf);
	add_text(c, "step_policy", buf);
	add_text(c, "arch", o->arch);
	add_text(c, "data", o->data);
	cJSON_AddNumberToObject(c, "epochs", (double)epochs);
	cJSON_AddNumberToObject(c, "steps", (double)o->steps);
	cJSON_AddNumberToObject(c, "steps_per_epoch", (double)steps_per_epoch);
	cJSON_AddNumberToObject(c, "seed", (double)o->seed);
	cJSON_AddItemToObject(c, "targets", cJSON_CreateDoubleArray(o->targets, o->ntargets));
	add_text(c, "pinning", pin_name(o->pinning));
	placement_format(&o->memory, buf, sizeof buf);
	add_text(c, "placement", buf);
	add_text(c, "counters", o->counters);
	cJSON_AddNumberToObject(c, "time_limit_s", o->time_limit_s);
	if (o->abort_at_update)
		cJSON_AddNumberToObject(c, "debug_abort_at_update", (double)o->abort_at_update);
	if (o->hang_at_update)
		cJSON_AddNumberToObject(c, "debug_hang_at_update", (double)o->hang_at_update);
	return c;
}
