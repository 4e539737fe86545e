/*
 * _batchbuf: the ring arrays of a batch monitor set (epics.batch.MonitorSet).
 *
 * Which thread runs what: libca's threads call batchbuf_event_callback() for every update of a
 * set's subscriptions; it appends the update's index, value, timestamp, severity and status to
 * the set's preallocated arrays under the set's mutex, without touching Python. A Python thread
 * calls batchbuf_drain() (and batchbuf_wait(), with the GIL released by ctypes) to copy what was
 * appended into numpy arrays. No per-event Python object is ever made.
 *
 * Overflow policy: DROP NEWEST. When the arrays hold `capacity` events, a further update is not
 * stored and the dropped counter of its PV goes up by one; what is already buffered stays, so the
 * events a drain returns are always a gap-free, in-order prefix of each PV's updates since the
 * previous drain (the counters say how many followed and were lost).
 *
 * Plain C with no Python or EPICS headers, loaded with ctypes like _evbuf.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_helper.h"

#define BATCH_API HELPER_API
typedef helper_mutex batch_mutex;
typedef helper_cond batch_cond;

/* Value kinds, each with the DBR_TIME_xxx type the set subscribes with (db_access.h). */
enum { KIND_DOUBLE = 0, KIND_LONG = 1, KIND_STRING = 2 };
#define DBR_TIME_STRING 14
#define DBR_TIME_LONG 19
#define DBR_TIME_DOUBLE 20
/* Offsets in the DBR_TIME_xxx structs: status (int16), severity (int16), stamp (2 x uint32),
   then the value (after 4 bytes of padding for DOUBLE). */
#define OFFSET_STAMP 4
#define OFFSET_VALUE_SHORT 12
#define OFFSET_VALUE_DOUBLE 16
#define STRING_WIDTH 40
/* Seconds from 1970-01-01 (POSIX) to 1990-01-01 (the EPICS epoch). */
#define EPICS_EPOCH 631152000.0

typedef struct batch_set batch_set;

/* What libca passes back as `usr`: the set and the PV's index in it. */
typedef struct {
    batch_set *set;
    int32_t index;
} batch_slot;

struct batch_set {
    batch_mutex lock;
    batch_cond ready;
    int kind;
    size_t value_size;
    size_t capacity, filled;
    int32_t npvs;
    int closed;
    int32_t *index;
    char *values;
    double *stamps;
    int16_t *severity;
    int16_t *status;
    uint64_t *dropped;     /* per PV, since the last drain */
    uint64_t received, dropped_total;
    batch_slot *slots;
};

BATCH_API batch_set *batchbuf_new(int32_t npvs, size_t capacity, int kind)
{
    batch_set *set = (batch_set *)calloc(1, sizeof(batch_set));
    if (!set || npvs < 0 || capacity == 0 || kind < KIND_DOUBLE || kind > KIND_STRING) {
        free(set);
        return NULL;
    }
    MUTEX_INIT(&set->lock);
    COND_INIT(&set->ready);
    set->kind = kind;
    set->value_size = kind == KIND_DOUBLE ? 8 : kind == KIND_LONG ? 4 : STRING_WIDTH;
    set->capacity = capacity;
    set->npvs = npvs;
    set->index = (int32_t *)malloc(capacity * sizeof(int32_t));
    set->values = (char *)malloc(capacity * set->value_size);
    set->stamps = (double *)malloc(capacity * sizeof(double));
    set->severity = (int16_t *)malloc(capacity * sizeof(int16_t));
    set->status = (int16_t *)malloc(capacity * sizeof(int16_t));
    set->dropped = (uint64_t *)calloc((size_t)npvs + 1, sizeof(uint64_t));
    set->slots = (batch_slot *)malloc(((size_t)npvs + 1) * sizeof(batch_slot));
    if (!set->index || !set->values || !set->stamps || !set->severity || !set->status ||
        !set->dropped || !set->slots) {
        free(set->index); free(set->values); free(set->stamps); free(set->severity);
        free(set->status); free(set->dropped); free(set->slots); free(set);
        return NULL;
    }
    for (int32_t i = 0; i < npvs; i++) {
        set->slots[i].set = set;
        set->slots[i].index = i;
    }
    return set;
}

/* The `usr` to give ca_create_subscription for PV `index` of the set. */
BATCH_API void *batchbuf_slot(batch_set *set, int32_t index)
{
    if (index < 0 || index >= set->npvs)
        return NULL;
    return &set->slots[index];
}

/* Append one event (lock held). */
static void append_locked(batch_set *set, int32_t index, const void *value, double stamp,
                          int16_t severity, int16_t status)
{
    if (set->closed)
        return;
    set->received++;
    if (set->filled >= set->capacity) {
        set->dropped[index]++;
        set->dropped_total++;
        return;
    }
    size_t at = set->filled++;
    set->index[at] = index;
    memcpy(set->values + at * set->value_size, value, set->value_size);
    set->stamps[at] = stamp;
    set->severity[at] = severity;
    set->status[at] = status;
    if (at == 0)
        COND_BROADCAST(&set->ready);
}

/* The subscription callback given to ca_create_subscription (libca's threads). */
BATCH_API void batchbuf_event_callback(struct event_handler_args args)
{
    const batch_slot *slot = (const batch_slot *)args.usr;
    if (!slot || !args.dbr || args.status != 1)
        return;   /* e.g. read access lost: the connection/access state says so */
    batch_set *set = slot->set;
    const char *dbr = (const char *)args.dbr;
    int16_t status, severity;
    uint32_t stamp[2];
    char value[STRING_WIDTH];
    memcpy(&status, dbr, 2);
    memcpy(&severity, dbr + 2, 2);
    memcpy(stamp, dbr + OFFSET_STAMP, 8);
    if (args.type == DBR_TIME_DOUBLE && set->kind == KIND_DOUBLE)
        memcpy(value, dbr + OFFSET_VALUE_DOUBLE, 8);
    else if (args.type == DBR_TIME_LONG && set->kind == KIND_LONG)
        memcpy(value, dbr + OFFSET_VALUE_SHORT, 4);
    else if (args.type == DBR_TIME_STRING && set->kind == KIND_STRING) {
        memcpy(value, dbr + OFFSET_VALUE_SHORT, STRING_WIDTH);
        value[STRING_WIDTH - 1] = 0;
    } else
        return;   /* not a type this set asked for */
    double seconds = ((double)stamp[0] + EPICS_EPOCH) + stamp[1] / 1e9;   /* as dbr.py does */
    MUTEX_LOCK(&set->lock);
    append_locked(set, slot->index, value, seconds, severity, status);
    MUTEX_UNLOCK(&set->lock);
}

/* Append an event made by the library (a connection loss): value NaN / 0 / "". */
BATCH_API void batchbuf_mark(batch_set *set, int32_t index, double stamp, int16_t severity,
                             int16_t status)
{
    char value[STRING_WIDTH];
    double nan_value = NAN;
    memset(value, 0, sizeof(value));
    if (set->kind == KIND_DOUBLE)
        memcpy(value, &nan_value, 8);
    if (index < 0 || index >= set->npvs)
        return;
    MUTEX_LOCK(&set->lock);
    append_locked(set, index, value, stamp, severity, status);
    MUTEX_UNLOCK(&set->lock);
}

/* Events waiting now. */
BATCH_API size_t batchbuf_pending(batch_set *set)
{
    MUTEX_LOCK(&set->lock);
    size_t filled = set->filled;
    MUTEX_UNLOCK(&set->lock);
    return filled;
}

/* Block (GIL released by ctypes) until an event waits, the set closes or timeout seconds
   pass. Returns the events waiting. */
BATCH_API size_t batchbuf_wait(batch_set *set, double timeout)
{
    MUTEX_LOCK(&set->lock);
    if (set->filled == 0 && !set->closed && timeout > 0)
        helper_timed_wait(&set->ready, &set->lock, timeout);
    size_t filled = set->filled;
    MUTEX_UNLOCK(&set->lock);
    return filled;
}

/* Move up to `most` of the oldest events into the caller's arrays, and the per-PV dropped
   counters into `dropped` (npvs entries; the set's counters restart at 0). Returns the count. */
BATCH_API size_t batchbuf_drain(batch_set *set, size_t most, int32_t *index, void *values,
                                double *stamps, int16_t *severity, int16_t *status,
                                uint64_t *dropped)
{
    MUTEX_LOCK(&set->lock);
    size_t n = set->filled < most ? set->filled : most;
    size_t rest = set->filled - n;
    memcpy(index, set->index, n * sizeof(int32_t));
    memcpy(values, set->values, n * set->value_size);
    memcpy(stamps, set->stamps, n * sizeof(double));
    memcpy(severity, set->severity, n * sizeof(int16_t));
    memcpy(status, set->status, n * sizeof(int16_t));
    if (rest) {   /* events that came after the caller sized its arrays */
        memmove(set->index, set->index + n, rest * sizeof(int32_t));
        memmove(set->values, set->values + n * set->value_size, rest * set->value_size);
        memmove(set->stamps, set->stamps + n, rest * sizeof(double));
        memmove(set->severity, set->severity + n, rest * sizeof(int16_t));
        memmove(set->status, set->status + n, rest * sizeof(int16_t));
    }
    set->filled = rest;
    if (dropped) {
        memcpy(dropped, set->dropped, (size_t)set->npvs * sizeof(uint64_t));
        memset(set->dropped, 0, (size_t)set->npvs * sizeof(uint64_t));
    }
    MUTEX_UNLOCK(&set->lock);
    return n;
}

/* Totals since the set was made: events libca delivered, and of those, dropped. */
BATCH_API void batchbuf_totals(batch_set *set, uint64_t *received, uint64_t *dropped)
{
    MUTEX_LOCK(&set->lock);
    *received = set->received;
    *dropped = set->dropped_total;
    MUTEX_UNLOCK(&set->lock);
}

/* Stop taking events and wake a waiting drain. The set stays valid until batchbuf_free. */
BATCH_API void batchbuf_close(batch_set *set)
{
    MUTEX_LOCK(&set->lock);
    set->closed = 1;
    set->filled = 0;
    COND_BROADCAST(&set->ready);
    MUTEX_UNLOCK(&set->lock);
}

/* Free a closed set, once no libca callback can still be running for it. */
BATCH_API void batchbuf_free(batch_set *set)
{
    if (!set)
        return;
    free(set->index); free(set->values); free(set->stamps); free(set->severity);
    free(set->status); free(set->dropped); free(set->slots); free(set);
}

#ifdef _WIN32
/* setuptools builds this file as an extension module: give the linker the symbol. The file is
   loaded with ctypes, never imported. */
BATCH_API void *PyInit__batchbuf(void)
{
    return NULL;
}
#endif
