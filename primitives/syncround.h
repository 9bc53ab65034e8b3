#ifndef SGDSYNC_PRIMITIVES_SYNCROUND_H
#define SGDSYNC_PRIMITIVES_SYNCROUND_H

/* The synchronous baseline: rounds separated by a barrier. In a round every member contributes
 * one scaled gradient; the last to arrive applies their mean to θ and opens the next round.
 * θ changes only while every member waits, so all members read the same θ with no copy.
 * Members may leave at any time; a round completes with those that remain. */

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "primitives/memory.h"

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t next_round;
	int members;   /* still taking part */
	int arrived;   /* contributions to the current round */
	uint64_t round;/* rounds completed = updates applied */
	size_t n;
	float *theta;
	float *sum;    /* sum of the current round's scaled gradients */
	const memory_ops *mem; /* θ and sum are shared memory of it */
} syncround;

/* mem: where θ and the sum live (NULL: memory_default); it must outlive s. */
int syncround_init(syncround *s, size_t n, const float *init, int members, const memory_ops *mem);
void syncround_destroy(syncround *s);
/* Adds a * g to the round and waits for it to end; returns the round it belonged to. */
uint64_t syncround_contribute(syncround *s, float a, const float *g);
/* Leaves; completes the current round if everyone else has arrived. */
void syncround_leave(syncround *s);
/* Rounds completed so far. */
uint64_t syncround_rounds(syncround *s);
void syncround_copy(syncround *s, float *out);

#endif
