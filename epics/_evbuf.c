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
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#  include <windows.h>
#  define EVBUF_API __declspec(dllexport)
typedef SRWLOCK evbuf_mutex;
typedef CONDITION_VARIABLE evbuf_cond;
#  define MUTEX_INIT(m) InitializeSRWLock(m)
#  define MUTEX_LOCK(m) AcquireSRWLockExclusive(m)
#  define MUTEX_UNLOCK(m) ReleaseSRWLockExclusive(m)
#  define COND_INIT(c) InitializeConditionVariable(c)
#  define COND_SIGNAL(c) WakeConditionVariable(c)
#else
#  include <errno.h>
#  include <pthread.h>
#  include <sys/time.h>
#  include <time.h>
#  define EVBUF_API __attribute__((visibility("default")))
typedef pthread_mutex_t evbuf_mutex;
typedef pthread_cond_t evbuf_cond;
#  define MUTEX_INIT(m) pthread_mutex_init((m), NULL)
#  define MUTEX_LOCK(m) pthread_mutex_lock(m)
#  define MUTEX_UNLOCK(m) pthread_mutex_unlock(m)
#  define COND_INIT(c) pthread_cond_init((c), NULL)
#  define COND_SIGNAL(c) pthread_cond_signal(c)
#endif

/* struct event_handler_args of cadef.h */
struct event_handler_args {
    void *usr;
    void *chid;
    long type;
    long count;
    const void *dbr;
    int status;
};

/* What precedes each event's DBR copy in the buffer (32 bytes, 8-aligned). */
typedef struct {
    uint64_t usr;       /* the subscription's handle */
    int32_t type;       /* DBR type of the data */
    int32_t count;      /* element count of the data */
    int32_t status;     /* ECA status of the update */
    uint32_t nbytes;    /* bytes of DBR data that follow */
    uint64_t reserved;
} evbuf_header;

#define NTYPES 39

static evbuf_mutex lock;
static evbuf_cond ready;
static char *filling = NULL;          /* the buffer libca's threads append to */
static size_t filled = 0, capacity = 0;
static int sleeping = 0;              /* the consumer waits in evbuf_wait */
static int woken = 0;                 /* evbuf_wake was called: the consumer has other work */
static int initialised = 0;
static int stopped = 0;
static const unsigned short *size_table = NULL;        /* libca's dbr_size[] */
static const unsigned short *value_size_table = NULL;  /* libca's dbr_value_size[] */
static uint64_t events_total = 0, bytes_peak = 0, failed = 0;

EVBUF_API int evbuf_init(const unsigned short *dbr_size, const unsigned short *dbr_value_size)
{
    if (!initialised) {
        MUTEX_INIT(&lock);
        COND_INIT(&ready);
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

static int reserve(size_t more)
{
    size_t wanted = filled + more;
    if (wanted <= capacity)
        return 1;
    size_t grown = capacity ? capacity : 65536;
    while (grown < wanted)
        grown *= 2;
    char *bigger = (char *)realloc(filling, grown);
    if (!bigger)
        return 0;
    filling = bigger;
    capacity = grown;
    return 1;
}

/* The subscription callback given to ca_create_subscription (libca's threads). */
EVBUF_API void evbuf_event_callback(struct event_handler_args args)
{
    size_t nbytes = (args.dbr && args.status == 1) ? dbr_bytes(args.type, args.count) : 0;
    size_t record = sizeof(evbuf_header) + ((nbytes + 7u) & ~(size_t)7u);
    MUTEX_LOCK(&lock);
    if (stopped) {
        MUTEX_UNLOCK(&lock);
        return;
    }
    if (!reserve(record)) {
        failed++;
        MUTEX_UNLOCK(&lock);
        return;
    }
    evbuf_header *header = (evbuf_header *)(filling + filled);
    header->usr = (uint64_t)(uintptr_t)args.usr;
    header->type = (int32_t)args.type;
    header->count = (int32_t)args.count;
    header->status = (int32_t)args.status;
    header->nbytes = (uint32_t)nbytes;
    header->reserved = 0;
    if (nbytes)
        memcpy(filling + filled + sizeof(evbuf_header), args.dbr, nbytes);
    filled += record;
    events_total++;
    if (filled > bytes_peak)
        bytes_peak = filled;
    if (sleeping) {
        sleeping = 0;
        COND_SIGNAL(&ready);
    }
    MUTEX_UNLOCK(&lock);
}

/*
 * Hand the filled buffer to the consumer and give libca's threads `spare` (a buffer the consumer
 * is done with, or NULL) to fill next. Returns the filled buffer (NULL if empty) and its length.
 */
EVBUF_API char *evbuf_take(char *spare, size_t spare_capacity, size_t *length, size_t *taken_capacity)
{
    char *taken;
    MUTEX_LOCK(&lock);
    if (filled == 0) {
        MUTEX_UNLOCK(&lock);
        *length = 0;
        *taken_capacity = 0;
        return spare;   /* nothing to take: the consumer keeps its spare */
    }
    taken = filling;
    *length = filled;
    *taken_capacity = capacity;
    filling = spare;
    capacity = spare ? spare_capacity : 0;
    filled = 0;
    MUTEX_UNLOCK(&lock);
    return taken;
}

/* Block (without the GIL: ctypes releases it) until events are waiting or timeout seconds pass.
   Returns 1 when events are waiting, 0 on timeout or after evbuf_stop. */
EVBUF_API int evbuf_wait(double timeout)
{
    int result;
    MUTEX_LOCK(&lock);
    if (filled == 0 && !stopped && !woken) {
        sleeping = 1;
#ifdef _WIN32
        SleepConditionVariableSRW(&ready, &lock, (DWORD)(timeout * 1000.0), 0);
#else
        struct timeval now;
        struct timespec until;
        gettimeofday(&now, NULL);
        double seconds = (double)now.tv_sec + now.tv_usec * 1e-6 + timeout;
        until.tv_sec = (time_t)seconds;
        until.tv_nsec = (long)((seconds - (double)until.tv_sec) * 1e9);
        pthread_cond_timedwait(&ready, &lock, &until);
#endif
        sleeping = 0;
    }
    result = filled != 0 || woken;
    woken = 0;
    MUTEX_UNLOCK(&lock);
    return result;
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
    filled = 0;
    sleeping = 0;
    woken = 0;
}

/* Wake the consumer and make further events no-ops (shutdown). */
EVBUF_API void evbuf_stop(void)
{
    MUTEX_LOCK(&lock);
    stopped = 1;
    filled = 0;
    COND_SIGNAL(&ready);
    MUTEX_UNLOCK(&lock);
}

EVBUF_API void evbuf_free(char *buffer)
{
    free(buffer);
}

/* Counters for diagnostics and the bench: events seen, peak buffered bytes, events lost to a
   failed allocation (should stay 0). */
EVBUF_API void evbuf_stats(uint64_t *events, uint64_t *peak_bytes, uint64_t *lost)
{
    MUTEX_LOCK(&lock);
    *events = events_total;
    *peak_bytes = bytes_peak;
    *lost = failed;
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
