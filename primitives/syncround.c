#include "primitives/syncround.h"

#include <string.h>

int syncround_init(syncround *s, size_t n, const float *init, int members, const memory_ops *mem)
{
	memset(s, 0, sizeof(*s));
	s->theta = memory_shared(mem, n * sizeof(float));
	s->sum = memory_shared(mem, n * sizeof(float));
	if (!s->theta || !s->sum) {
		memory_free(mem, s->theta, n * sizeof(float));
		memory_free(mem, s->sum, n * sizeof(float));
		return -1;
	}
	memcpy(s->theta, init, n * sizeof(float));
	memset(s->sum, 0, n * sizeof(float));
	s->mem = mem;
	s->n = n;
	s->members = members;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->next_round, NULL);
	return 0;
}

void syncround_destroy(syncround *s)
{
	pthread_cond_destroy(&s->next_round);
	pthread_mutex_destroy(&s->mu);
	memory_free(s->mem, s->theta, s->n * sizeof(float));
	memory_free(s->mem, s->sum, s->n * sizeof(float));
}

/* Called with mu held once every member has arrived. */
static void round_finish(syncround *s)
{
	float inv = 1.0f / (float)s->arrived;
	for (size_t i = 0; i < s->n; i++) {
		s->theta[i] += s->sum[i] * inv;
		s->sum[i] = 0.0f;
	}
	s->arrived = 0;
	s->round++;
	pthread_cond_broadcast(&s->next_round);
}

uint64_t syncround_contribute(syncround *s, float a, const float *g)
{
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++)
		s->sum[i] += a * g[i];
	uint64_t mine = s->round;
	if (++s->arrived == s->members)
		round_finish(s);
	else
		while (s->round == mine)
			pthread_cond_wait(&s->next_round, &s->mu);
	pthread_mutex_unlock(&s->mu);
	return mine;
}

void syncround_leave(syncround *s)
{
	pthread_mutex_lock(&s->mu);
	s->members--;
	if (s->arrived > 0 && s->arrived == s->members)
		round_finish(s);
	pthread_mutex_unlock(&s->mu);
}

uint64_t syncround_rounds(syncround *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t r = s->round;
	pthread_mutex_unlock(&s->mu);
	return r;
}

void syncround_copy(syncround *s, float *out)
{
	pthread_mutex_lock(&s->mu);
	memcpy(out, s->theta, s->n * sizeof(float));
	pthread_mutex_unlock(&s->mu);
}
