/*
 * Helpers shared by the C baseline programs of the epicsca benchmark suite.
 *
 * The C programs are the floor the Python libraries are measured against: they use libca
 * directly, in preemptive-callback mode (the mode both Python libraries use), and print one
 * JSON object on one line to stdout so bench/run.py can parse it. Diagnostics go to stderr.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <cadef.h>

/* Monotonic wall clock in seconds. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Process CPU time (user + system, all threads) in seconds, from getrusage. */
static inline double bench_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec
         + (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* Current resident set size in kB, from /proc/self/statm (0 if unreadable). */
static inline double bench_rss_kb(void)
{
    long pages_total = 0, pages_rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0.0;
    if (fscanf(f, "%ld %ld", &pages_total, &pages_rss) != 2)
        pages_rss = 0;
    fclose(f);
    return (double)pages_rss * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

/* Sleep for a number of seconds (nanosleep, restarted on EINTR up to the full time). */
static inline void bench_sleep(double seconds)
{
    double end = bench_now() + seconds;
    double left = seconds;
    int rounds = 0;
    while (left > 0 && rounds++ < 1000) {
        struct timespec ts;
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        nanosleep(&ts, NULL);
        left = end - bench_now();
    }
}

/* The name of the i-th counter record: the same pattern as bench/ioc.py's database. */
static inline void bench_counter_name(char *buf, size_t size, const char *prefix, long i)
{
    snprintf(buf, size, "%sc%05ld", prefix, i);
}

/* Print an error as a JSON line (so the harness reports it) and exit non-zero. */
static inline void bench_fail(const char *workload, const char *what, int status)
{
    printf("{\"tool\": \"c\", \"workload\": \"%s\", \"error\": \"%s: %s\"}\n",
           workload, what, status ? ca_message(status) : "failed");
    fflush(stdout);
    exit(2);
}

/* Return the value of "--name VALUE" in argv, or the default. */
static const char *bench_arg(int argc, char **argv, const char *name, const char *dflt)
{
    int i;
    for (i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

static inline int bench_flag(int argc, char **argv, const char *name)
{
    int i;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts a copy). */
static inline double bench_median(const double *values, int n)
{
    double *copy, m;
    if (n <= 0)
        return 0.0;
    copy = malloc(sizeof(double) * (size_t)n);
    memcpy(copy, values, sizeof(double) * (size_t)n);
    qsort(copy, (size_t)n, sizeof(double), bench_cmp_double);
    m = (n % 2) ? copy[n / 2] : 0.5 * (copy[n / 2 - 1] + copy[n / 2]);
    free(copy);
    return m;
}

#endif /* BENCH_COMMON_H */
