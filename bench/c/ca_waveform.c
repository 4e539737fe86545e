/*
 * C baseline: read a large DOUBLE waveform R times.
 *
 *   ca_waveform --pv NAME [--reads R] [--timeout S]      read R times, report time per read
 *   ca_waveform --pv NAME --fill                          write 0, 1, 2, ... to every element
 *
 * Each read is one ca_array_get(DBR_DOUBLE, element_count) followed by ca_pend_io: the
 * whole round trip of one 8 MB read. The --fill mode exists because a waveform record starts
 * with no elements; the harness fills it once after the IOC starts, so every client reads the
 * full array.
 */
#include <pthread.h>
#include "bench_common.h"

static pthread_mutex_t put_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t put_cond = PTHREAD_COND_INITIALIZER;
static int put_done = 0;
static int put_status = 0;

static void put_callback(struct event_handler_args args)
{
    pthread_mutex_lock(&put_lock);
    put_status = args.status;
    put_done = 1;
    pthread_cond_signal(&put_cond);
    pthread_mutex_unlock(&put_lock);
}

static int fill(chid ch, unsigned long count, double *buf, double timeout)
{
    unsigned long i;
    struct timespec deadline;
    int status, rc = 0;

    for (i = 0; i < count; i++)
        buf[i] = (double)i;
    status = ca_array_put_callback(DBR_DOUBLE, count, ch, buf, put_callback, NULL);
    if (status != ECA_NORMAL)
        bench_fail("waveform", "ca_array_put_callback", status);
    ca_flush_io();
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)timeout;
    pthread_mutex_lock(&put_lock);
    while (!put_done && rc == 0)
        rc = pthread_cond_timedwait(&put_cond, &put_lock, &deadline);
    pthread_mutex_unlock(&put_lock);
    if (!put_done)
        bench_fail("waveform", "put callback timed out", 0);
    if (put_status != ECA_NORMAL)
        bench_fail("waveform", "put", put_status);
    printf("{\"tool\": \"c\", \"workload\": \"waveform_fill\", \"count\": %lu}\n", count);
    return 0;
}

int main(int argc, char **argv)
{
    const char *pv = bench_arg(argc, argv, "--pv", "");
    int reads = atoi(bench_arg(argc, argv, "--reads", "20"));
    double timeout = atof(bench_arg(argc, argv, "--timeout", "30"));
    chid ch;
    unsigned long count;
    double *buf, *times, best, median, mb;
    int r, status, ok = 1;

    if (reads <= 0 || reads > 10000)
        bench_fail("waveform", "--reads must be in 1..10000", 0);
    status = ca_context_create(ca_enable_preemptive_callback);
    if (status != ECA_NORMAL)
        bench_fail("waveform", "ca_context_create", status);
    status = ca_create_channel(pv, NULL, NULL, CA_PRIORITY_DEFAULT, &ch);
    if (status != ECA_NORMAL)
        bench_fail("waveform", "ca_create_channel", status);
    status = ca_pend_io(timeout);
    if (status != ECA_NORMAL)
        bench_fail("waveform", "connect", status);
    count = ca_element_count(ch);
    buf = calloc(count, sizeof(double));
    if (bench_flag(argc, argv, "--fill")) {
        fill(ch, count, buf, timeout);
        ca_clear_channel(ch);
        ca_context_destroy();
        return 0;
    }

    times = calloc((size_t)reads, sizeof(double));
    for (r = 0; r < reads; r++) {
        double t0 = bench_now();
        buf[count - 1] = -1.0;
        status = ca_array_get(DBR_DOUBLE, count, ch, buf);
        if (status != ECA_NORMAL)
            bench_fail("waveform", "ca_array_get", status);
        status = ca_pend_io(timeout);
        if (status != ECA_NORMAL)
            bench_fail("waveform", "ca_pend_io", status);
        times[r] = bench_now() - t0;
        if (buf[count - 1] != (double)(count - 1))
            ok = 0;  /* not filled, or a short read */
    }
    best = times[0];
    for (r = 1; r < reads; r++)
        if (times[r] < best)
            best = times[r];
    median = bench_median(times, reads);
    mb = (double)count * sizeof(double) / 1e6;
    printf("{\"tool\": \"c\", \"workload\": \"waveform\", \"count\": %lu, \"reads\": %d, "
           "\"data_ok\": %s, \"read_best_s\": %.6f, \"read_median_s\": %.6f, "
           "\"mb_per_s\": %.1f}\n", count, reads, ok ? "true" : "false", best, median,
           mb / median);
    fflush(stdout);
    ca_clear_channel(ch);
    ca_context_destroy();
    free(buf);
    free(times);
    return ok ? 0 : 1;
}
