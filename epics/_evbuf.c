/*
 * _evbuf: the monitor-event buffer between libca's threads and Python.
 *
 * libca calls evbuf_event_callback() on its own threads for every subscription update. Calling
 * into Python there would take the GIL once per event, and a thread that wants the GIL while
 * another runs Python waits up to the interpreter's switch interval (5 ms): libca's receive
 * thread would stall, TCP would back up, and the IOC would drop updates. So this callback only
 * appends the event (header + a copy of libca's DBR buffer) to a growable byte buffer under a
 * mutex, and wakes the Python dispatcher if it sleeps. The dispatcher swaps the filled buffer for
 * an empty one (evbuf_take) and converts the whole batch with the GIL held once.
 *
 * Nothing is dropped: the buffer grows while Python is behind (evbuf_stats reports the peak).
 * Plain C with no Python or EPICS headers: the DBR size tables come from libca at evbuf_init.
 *
 * A second queue, CONTROL, takes what other threads wait for: connection and access-rights
 * changes (evbuf_connection_callback, evbuf_access_callback) and the answers of gets
 * (evbuf_get_callback). A thread of its own takes it (evbuf_wait with control_only), never
 * running user code, so nothing waits behind a backlog of monitor updates or a slow callback,
 * and none of it takes the GIL in libca's threads either (10,000 channels connect and answer
 * without 20,000 GIL hand-offs).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_helper.h"

#define EVBUF_API HELPER_API
typedef helper_mutex evbuf_mutex;
typedef helper_cond evbuf_cond;

/* struct connection_handler_args of cadef.h */
struct connection_handler_args {
    void *chid;
    long op;
};

/* struct access_rights_handler_args of cadef.h: caar is two one-bit fields of an unsigned. */
struct access_rights_handler_args {
    void *chid;
    unsigned ar;
};

/* What precedes each event's DBR copy in the buffer (32 bytes, 8-aligned). For the records of
   the control queue that are not get answers, `type` is one of these and `usr` is the chid. */
typedef struct {
    uint64_t usr;       /* the subscription's handle */
    int32_t type;       /* DBR type of the data */
    int32_t count;      /* element count of the data */
    int32_t status;     /* ECA status of the update */
    uint32_t nbytes;    /* bytes of DBR data that follow */
    uint64_t reserved;
} evbuf_header;

#define NTYPES 39
#define RECORD_CONNECTION (-1)   /* count: CA_OP_CONN_UP or CA_OP_CONN_DOWN */
#define RECORD_ACCESS (-2)       /* count: bit 0 read access, bit 1 write access */

enum { MONITORS = 0, CONTROL = 1, NQUEUES = 2 };

typedef struct {
    char *filling;        /* the buffer libca's threads append to */
    size_t filled, capacity;
} queue_t;

static evbuf_mutex lock;
static evbuf_cond ready;               /* the monitor consumer waits on it for updates */
static evbuf_cond ready_control;       /* the control consumer waits on it for records */
static evbuf_cond space;               /* libca's threads wait on it for a backlog to shrink */
/* Flow control: past this many bytes of monitor updates waiting, an update waits (up to
   BACKPRESSURE_WAIT seconds) for the consumer to take the queue. libca's receive thread then
   reads the socket more slowly and the server, as CA intends for a slow client, keeps only the
   latest value of each subscription in its queue: memory and latency stay bounded when updates
   come faster than Python can take them. 0: no limit. Not applied while the monitor consumer
   waits for a reply itself (consumer_waits): that reply may come through the held thread. */
static size_t high_water = 0;
static int consumer_waits = 0;
#define BACKPRESSURE_WAIT 1.0   /* a safety valve: the consumer takes the queue much sooner */
static queue_t queues[NQUEUES];
static int sleeping = 0;              /* the monitor consumer waits in evbuf_wait */
static int sleeping_control = 0;      /* the control consumer waits in evbuf_wait */
static int woken = 0;                 /* evbuf_wake was called: the consumer has other work */
static int initialised = 0;
static int stopped = 0;
static const unsigned short *size_table = NULL;        /* libca's dbr_size[] */
static const unsigned short *value_size_table = NULL;  /* libca's dbr_value_size[] */
static uint64_t events_total = 0, bytes_peak = 0, failed = 0, throttled = 0;

EVBUF_API int evbuf_init(const unsigned short *dbr_size, const unsigned short *dbr_value_size)
{
    if (!initialised) {
        MUTEX_INIT(&lock);
        COND_INIT(&ready);
        COND_INIT(&ready_control);
        COND_INIT(&space);
        initialised = 1;
    }
    size_table = dbr_size;
    value_size_table = dbr_value_size;
    stopped = 0;
    return 0;
}

static size_t dbr_bytes(long type, long count)
{
    if (type < 0 || type >= NTYPES || count < 0)
        return 0;
    if (count == 0)
        return size_table[type];
    return (size_t)size_table[type] + (size_t)(count - 1) * value_size_table[type];
}

/* Wait on `cond` (lock held) for at most `timeout` seconds. */
static void timed_wait(evbuf_cond *cond, double timeout)
{
    helper_timed_wait(cond, &lock, timeout);
}

/* Flow control of the monitor queue (lock held): see high_water. */
static void wait_for_space(queue_t *queue)
{
    if (!high_water || queue->filled < high_water || consumer_waits || stopped)
        return;
    throttled++;
    timed_wait(&space, BACKPRESSURE_WAIT);
}

static int reserve(queue_t *queue, size_t more)
{
    size_t wanted = queue->filled + more;
    if (wanted <= queue->capacity)
        return 1;
    size_t grown = queue->capacity ? queue->capacity : 65536;
    while (grown < wanted)
        grown *= 2;
    char *bigger = (char *)realloc(queue->filling, grown);
    if (!bigger)
        return 0;
    queue->filling = bigger;
    queue->capacity = grown;
    return 1;
}

/* Append one record to a queue and wake the consumer if it waits for it (libca's threads). */
static void append(int which, uint64_t usr, long type, long count, int status, const void *data,
                   size_t nbytes)
{
    queue_t *queue = &queues[which];
    size_t record = sizeof(evbuf_header) + ((nbytes + 7u) & ~(size_t)7u);
    MUTEX_LOCK(&lock);
    if (which == MONITORS)
        wait_for_space(queue);
    if (stopped) {
        MUTEX_UNLOCK(&lock);
        return;
    }
    if (!reserve(queue, record)) {
        failed++;
        MUTEX_UNLOCK(&lock);
        return;
    }
    evbuf_header *header = (evbuf_header *)(queue->filling + queue->filled);
    header->usr = usr;
    header->type = (int32_t)type;
    header->count = (int32_t)count;
    header->status = (int32_t)status;
    header->nbytes = (uint32_t)nbytes;
    header->reserved = 0;
    if (nbytes)
        memcpy(queue->filling + queue->filled + sizeof(evbuf_header), data, nbytes);
    queue->filled += record;
    if (which == MONITORS) {
        events_total++;
        if (queue->filled > bytes_peak)
            bytes_peak = queue->filled;
    }
    if (which == MONITORS && sleeping) {
        sleeping = 0;
        COND_SIGNAL(&ready);
    } else if (which == CONTROL && sleeping_control) {
        sleeping_control = 0;
        COND_SIGNAL(&ready_control);
    }
    MUTEX_UNLOCK(&lock);
}

static size_t data_bytes(struct event_handler_args *args)
{
    return (args->dbr && args->status == 1) ? dbr_bytes(args->type, args->count) : 0;
}

/* The subscription callback given to ca_create_subscription (libca's threads). */
EVBUF_API void evbuf_event_callback(struct event_handler_args args)
{
    append(MONITORS, (uint64_t)(uintptr_t)args.usr, args.type, args.count, args.status, args.dbr,
           data_bytes(&args));
}

/* The callback given to ca_array_get_callback: the answer goes to the control queue. */
EVBUF_API void evbuf_get_callback(struct event_handler_args args)
{
    append(CONTROL, (uint64_t)(uintptr_t)args.usr, args.type, args.count, args.status, args.dbr,
           data_bytes(&args));
}

/* The connection handler given to ca_create_channel. */
EVBUF_API void evbuf_connection_callback(struct connection_handler_args args)
{
    append(CONTROL, (uint64_t)(uintptr_t)args.chid, RECORD_CONNECTION, args.op, 1, NULL, 0);
}

/* The handler given to ca_replace_access_rights_event. */
EVBUF_API void evbuf_access_callback(struct access_rights_handler_args args)
{
    append(CONTROL, (uint64_t)(uintptr_t)args.chid, RECORD_ACCESS, (long)(args.ar & 3u), 1, NULL,
           0);
}

/*
 * Hand the filled buffer of queue `which` to the consumer and give libca's threads `spare` (a
 * buffer the consumer is done with, or NULL) to fill next. Returns the filled buffer (NULL if
 * empty) and its length.
 */
EVBUF_API char *evbuf_take(int which, char *spare, size_t spare_capacity, size_t *length,
                           size_t *taken_capacity)
{
    char *taken;
    queue_t *queue = &queues[which == CONTROL ? CONTROL : MONITORS];
    MUTEX_LOCK(&lock);
    if (queue->filled == 0) {
        MUTEX_UNLOCK(&lock);
        *length = 0;
        *taken_capacity = 0;
        return spare;   /* nothing to take: the consumer keeps its spare */
    }
    taken = queue->filling;
    *length = queue->filled;
    *taken_capacity = queue->capacity;
    queue->filling = spare;
    queue->capacity = spare ? spare_capacity : 0;
    queue->filled = 0;
    if (queue == &queues[MONITORS])
        COND_BROADCAST(&space);
    MUTEX_UNLOCK(&lock);
    return taken;
}

/* Block (without the GIL: ctypes releases it) until records are waiting or timeout seconds
   pass: monitor updates (or an evbuf_wake) for the monitor consumer, control records with
   control_only for the control consumer. Returns 1 when there is something to take, 0 on timeout
   or after evbuf_stop. */
EVBUF_API int evbuf_wait(double timeout, int control_only)
{
    int result;
    MUTEX_LOCK(&lock);
    if (control_only) {
        if (queues[CONTROL].filled == 0 && !stopped) {
            sleeping_control = 1;
            timed_wait(&ready_control, timeout);
            sleeping_control = 0;
        }
        result = queues[CONTROL].filled != 0;
    } else {
        if (queues[MONITORS].filled == 0 && !woken && !stopped) {
            sleeping = 1;
            timed_wait(&ready, timeout);
            sleeping = 0;
        }
        result = queues[MONITORS].filled != 0 || woken;
        woken = 0;
    }
    MUTEX_UNLOCK(&lock);
    return result;
}

/* The monitor consumer starts (1) or stops (0) waiting for a reply: flow control pauses. */
EVBUF_API void evbuf_consumer_waits(int waits)
{
    MUTEX_LOCK(&lock);
    consumer_waits = waits;
    if (waits)
        COND_BROADCAST(&space);
    MUTEX_UNLOCK(&lock);
}

/* Make the consumer's evbuf_wait return now (the dispatcher has Python work queued). */
EVBUF_API void evbuf_wake(void)
{
    MUTEX_LOCK(&lock);
    woken = 1;
    if (sleeping) {
        sleeping = 0;
        COND_SIGNAL(&ready);
    }
    MUTEX_UNLOCK(&lock);
}

/* In a forked child: libca's threads are gone and the lock may have been held by one of them at
   the fork; start over with a fresh lock and an empty buffer (the parent's events are not ours). */
EVBUF_API void evbuf_after_fork(void)
{
    MUTEX_INIT(&lock);
    COND_INIT(&ready);
    COND_INIT(&ready_control);
    COND_INIT(&space);
    queues[MONITORS].filled = 0;
    queues[CONTROL].filled = 0;
    sleeping = 0;
    sleeping_control = 0;
    consumer_waits = 0;
    woken = 0;
}

/* Wake the consumer and make further events no-ops (shutdown). */
EVBUF_API void evbuf_stop(void)
{
    MUTEX_LOCK(&lock);
    stopped = 1;
    queues[MONITORS].filled = 0;
    queues[CONTROL].filled = 0;
    COND_SIGNAL(&ready);
    COND_SIGNAL(&ready_control);
    COND_BROADCAST(&space);
    MUTEX_UNLOCK(&lock);
}

EVBUF_API void evbuf_free(char *buffer)
{
    free(buffer);
}

/* Counters for diagnostics and the bench: events seen, peak buffered bytes, events lost to a
   failed allocation (should stay 0), events held back by flow control. */
EVBUF_API void evbuf_stats(uint64_t *events, uint64_t *peak_bytes, uint64_t *lost,
                           uint64_t *held_back)
{
    MUTEX_LOCK(&lock);
    *events = events_total;
    *peak_bytes = bytes_peak;
    *lost = failed;
    *held_back = throttled;
    MUTEX_UNLOCK(&lock);
}

/* Set the flow-control limit of the monitor queue in bytes (0: none). */
EVBUF_API void evbuf_set_high_water(size_t bytes)
{
    MUTEX_LOCK(&lock);
    high_water = bytes;
    COND_BROADCAST(&space);
    MUTEX_UNLOCK(&lock);
}

#ifdef _WIN32
/* setuptools builds this file as an extension module and, on Windows, exports PyInit__evbuf:
   give the linker the symbol. The file is loaded with ctypes, never imported. */
EVBUF_API void *PyInit__evbuf(void)
{
    return NULL;
}
#endif
