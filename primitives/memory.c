#include "primitives/memory.h"

#include <stdlib.h>

#include "primitives/cacheline.h"

static void *default_shared(void *arg, size_t bytes)
{
	(void)arg;
	return aligned_alloc(CACHELINE_SIZE, bytes);
}

static void *default_private(void *arg, size_t bytes, int worker)
{
	(void)worker;
	return default_shared(arg, bytes);
}

static void default_free(void *arg, void *p, size_t bytes)
{
	(void)arg;
	(void)bytes;
	free(p);
}

const memory_ops memory_default = {default_shared, default_private, default_free, NULL};

static const memory_ops *ops_or_default(const memory_ops *m)
{
	return m ? m : &memory_default;
}

size_t memory_rounded(size_t bytes)
{
	size_t lines = (bytes + CACHELINE_SIZE - 1) / CACHELINE_SIZE;
	return (lines ? lines : 1) * CACHELINE_SIZE;
}

void *memory_shared(const memory_ops *m, size_t bytes)
{
	m = ops_or_default(m);
	return m->alloc_shared(m->arg, memory_rounded(bytes));
}

void *memory_private(const memory_ops *m, size_t bytes, int worker)
{
	m = ops_or_default(m);
	return m->alloc_private(m->arg, memory_rounded(bytes), worker);
}

void memory_free(const memory_ops *m, void *p, size_t bytes)
{
	if (!p)
		return;
	m = ops_or_default(m);
	m->free(m->arg, p, memory_rounded(bytes));
}
