#include "primitives/cohort.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cohort_init(lock_t *l, uint32_t clusters)
{
	if (clusters < 1 || clusters > UINT32_MAX / sizeof(cohort_cluster))
		return EINVAL;
	l->u.cohort.clusters = aligned_alloc(CACHELINE_PAD, clusters * sizeof(cohort_cluster));
	if (!l->u.cohort.clusters)
		return ENOMEM;
	memset(l->u.cohort.clusters, 0, clusters * sizeof(cohort_cluster));
	l->u.cohort.nclusters = clusters;
	return 0;
}

void cohort_destroy(lock_t *l)
{
	free(l->u.cohort.clusters);
	l->u.cohort.clusters = NULL;
}
