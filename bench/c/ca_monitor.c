/*
 * C baseline: monitor N channels for T seconds.
 *
 *   ca_monitor --prefix P --n N [--seconds T] [--settle S] [--timeout S]
 *
 * One DBR_TIME_DOUBLE subscription (DBE_VALUE | DBE_ALARM) per counter record. The callback
 * counts the event and copies the value out into a per-channel slot. Over a window of T
 * seconds it reports the events delivered, events/s, process CPU seconds (getrusage, all
 * threads) per event, and the fraction delivered: each counter record adds 1 on every scan,
 * so the sum over channels of (last value - first value) in the window is the number of
 * updates the IOC produced. It also reports resident memory per connected, subscribed
 * channel (RSS after all N have their first event, minus RSS before creating them).
 *
 * Threads: libca's preemptive-callback threads run the callback; main only sleeps and samples.
 */
#include "bench_common.h"

static double *values;            /* last value seen per channel, written by the callback */
static unsigned long long events;  /* events delivered, atomic */
static long first_events;          /* channels that have had their first event, atomic */

static void event_callback(struct event_handler_args args)
{
    long i = (long)(size_t)args.usr;
    double v;
    if (args.status != ECA_NORMAL || !args.dbr)
        return;
    v = ((const struct dbr_time_double *)args.dbr)->value;
    if (values[i] != values[i])  /* still NaN: the first event of this channel */
        __atomic_fetch_add(&first_events, 1, __ATOMIC_RELAXED);
    __atomic_store(&values[i], &v, __ATOMIC_RELAXED);
    __atomic_fetch_add(&events, 1ULL, __ATOMIC_RELAXED);
}

/* Copy the current value of every channel (NaN where none yet) into out. */
static void snapshot(double *out, long n)
{
    long i;
    for (i = 0; i < n; i++)
        __atomic_load(&values[i], &out[i], __ATOMIC_RELAXED);
}

/* Updates produced between two snapshots: each counter adds 1 per update. Only channels with a
 * value in both count (one whose first event came in the window would add its whole value). */
static double produced_between(const double *before, const double *after, long n)
{
    double s = 0.0;
    long i;
    for (i = 0; i < n; i++)
        if (before[i] == before[i] && after[i] == after[i])
            s += after[i] - before[i];
    return s;
}

int main(int argc, char **argv)
{
    const char *prefix = bench_arg(argc, argv, "--prefix", "");
    long n = atol(bench_arg(argc, argv, "--n", "10000"));
    double seconds = atof(bench_arg(argc, argv, "--seconds", "10"));
    double settle = atof(bench_arg(argc, argv, "--settle", "1"));
    double timeout = atof(bench_arg(argc, argv, "--timeout", "30"));
    chid *chids;
    evid *evids;
    long i, connected = 0, first;
    double rss0, rss1, rss2, deadline, t0, t1, c0, c1, *snap0, *snap1;
    unsigned long long e0, e1;
    int status, rounds;
    char name[128];

    if (n <= 0 || seconds <= 0)
        bench_fail("monitor", "--n and --seconds must be positive", 0);
    chids = calloc((size_t)n, sizeof(chid));
    evids = calloc((size_t)n, sizeof(evid));
    values = malloc(sizeof(double) * (size_t)n);
    snap0 = malloc(sizeof(double) * (size_t)n);
    snap1 = malloc(sizeof(double) * (size_t)n);
    for (i = 0; i < n; i++)
        values[i] = 0.0 / 0.0;

    status = ca_context_create(ca_enable_preemptive_callback);
    if (status != ECA_NORMAL)
        bench_fail("monitor", "ca_context_create", status);
    rss0 = bench_rss_kb();
    for (i = 0; i < n; i++) {
        bench_counter_name(name, sizeof name, prefix, i);
        status = ca_create_channel(name, NULL, NULL, CA_PRIORITY_DEFAULT, &chids[i]);
        if (status != ECA_NORMAL)
            bench_fail("monitor", "ca_create_channel", status);
    }
    ca_pend_io(timeout);
    for (i = 0; i < n; i++) {
        if (ca_state(chids[i]) != cs_conn)
            continue;
        connected++;
        status = ca_create_subscription(DBR_TIME_DOUBLE, 1, chids[i], DBE_VALUE | DBE_ALARM,
                                        event_callback, (void *)(size_t)i, &evids[i]);
        if (status != ECA_NORMAL)
            bench_fail("monitor", "ca_create_subscription", status);
    }
    ca_flush_io();
    /* bounded wait for every subscribed channel's first event */
    deadline = bench_now() + timeout;
    for (rounds = 0; rounds < 100000 && bench_now() < deadline; rounds++) {
        __atomic_load(&first_events, &first, __ATOMIC_RELAXED);
        if (first >= connected)
            break;
        bench_sleep(0.01);
    }
    rss1 = bench_rss_kb();
    __atomic_load(&first_events, &first, __ATOMIC_RELAXED);

    bench_sleep(settle);
    snapshot(snap0, n);
    __atomic_load(&events, &e0, __ATOMIC_RELAXED);
    t0 = bench_now();
    c0 = bench_cpu();
    bench_sleep(seconds);
    t1 = bench_now();
    c1 = bench_cpu();
    __atomic_load(&events, &e1, __ATOMIC_RELAXED);
    snapshot(snap1, n);
    rss2 = bench_rss_kb();

    {
        double ev = (double)(e1 - e0), window = t1 - t0, cpu = c1 - c0;
        double produced = produced_between(snap0, snap1, n);
        printf("{\"tool\": \"c\", \"workload\": \"monitor\", \"n\": %ld, \"connected\": %ld, "
               "\"first_events\": %ld, \"window_s\": %.3f, \"events\": %.0f, "
               "\"events_per_s\": %.1f, \"cpu_s\": %.4f, \"cpu_us_per_event\": %.4f, "
               "\"produced\": %.0f, \"delivered_fraction\": %.4f, "
               "\"rss_kb_per_pv\": %.4f, \"rss_kb_per_pv_end\": %.4f}\n",
               n, connected, first, window, ev, ev / window, cpu,
               ev > 0 ? 1e6 * cpu / ev : -1.0, produced,
               produced > 0 ? ev / produced : -1.0, (rss1 - rss0) / (double)n,
               (rss2 - rss0) / (double)n);
    }
    fflush(stdout);
    for (i = 0; i < n; i++)
        if (evids[i])
            ca_clear_subscription(evids[i]);
    for (i = 0; i < n; i++)
        ca_clear_channel(chids[i]);
    ca_context_destroy();
    free(snap0);
    free(snap1);
    return connected == n ? 0 : 1;
}
