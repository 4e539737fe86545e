/*
 * _helper.h: what the compiled helpers (_evbuf.c, _batchbuf.c) share: the export marker, a
 * mutex and condition variable for Windows and POSIX, and the callback argument of cadef.h.
 * Plain C with no Python or EPICS headers.
 */
#ifndef EPICSCA_HELPER_H
#define EPICSCA_HELPER_H

#ifdef _WIN32
#  include <windows.h>
#  define HELPER_API __declspec(dllexport)
typedef SRWLOCK helper_mutex;
typedef CONDITION_VARIABLE helper_cond;
#  define MUTEX_INIT(m) InitializeSRWLock(m)
#  define MUTEX_LOCK(m) AcquireSRWLockExclusive(m)
#  define MUTEX_UNLOCK(m) ReleaseSRWLockExclusive(m)
#  define COND_INIT(c) InitializeConditionVariable(c)
#  define COND_SIGNAL(c) WakeConditionVariable(c)
#  define COND_BROADCAST(c) WakeAllConditionVariable(c)
#else
#  include <errno.h>
#  include <pthread.h>
#  include <sys/time.h>
#  include <time.h>
#  define HELPER_API __attribute__((visibility("default")))
typedef pthread_mutex_t helper_mutex;
typedef pthread_cond_t helper_cond;
#  define MUTEX_INIT(m) pthread_mutex_init((m), NULL)
#  define MUTEX_LOCK(m) pthread_mutex_lock(m)
#  define MUTEX_UNLOCK(m) pthread_mutex_unlock(m)
#  define COND_INIT(c) pthread_cond_init((c), NULL)
#  define COND_SIGNAL(c) pthread_cond_signal(c)
#  define COND_BROADCAST(c) pthread_cond_broadcast(c)
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

/* Wait on `cond` (`lock` held) for at most `timeout` seconds. */
static void helper_timed_wait(helper_cond *cond, helper_mutex *lock, double timeout)
{
#ifdef _WIN32
    SleepConditionVariableSRW(cond, lock, (DWORD)(timeout * 1000.0), 0);
#else
    struct timeval now;
    struct timespec until;
    gettimeofday(&now, NULL);
    double seconds = (double)now.tv_sec + now.tv_usec * 1e-6 + timeout;
    until.tv_sec = (time_t)seconds;
    until.tv_nsec = (long)((seconds - (double)until.tv_sec) * 1e9);
    pthread_cond_timedwait(cond, lock, &until);
#endif
}

#endif
