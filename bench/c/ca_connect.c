/*
 * C baseline: connect N channels and read each once.
 *
 *   ca_connect --prefix P --n N [--timeout S]
 *
 * ca_create_channel for all N counter records, one ca_pend_io (connect), ca_array_get
 * DBR_DOUBLE for all, one ca_pend_io (read). Reports the wall time of the context creation,
 * of the connect phase, and of connect + read (the same job as epics.caget_many).
 */
#include "bench_common.h"

int main(int argc, char **argv)
{
    const char *prefix = bench_arg(argc, argv, "--prefix", "");
    long n = atol(bench_arg(argc, argv, "--n", "10000"));
    double timeout = atof(bench_arg(argc, argv, "--timeout", "30"));
    chid *chids;
    double *values;
    long i, connected = 0, nonzero = 0;
    double t0, t_ctx, t1, t_conn, t_read;
    int status;
    char name[128];

    if (n <= 0)
        bench_fail("connect", "--n must be positive", 0);
    chids = calloc((size_t)n, sizeof(chid));
    values = calloc((size_t)n, sizeof(double));

    t0 = bench_now();
    status = ca_context_create(ca_enable_preemptive_callback);
    if (status != ECA_NORMAL)
        bench_fail("connect", "ca_context_create", status);
    t_ctx = bench_now() - t0;

    t1 = bench_now();
    for (i = 0; i < n; i++) {
        bench_counter_name(name, sizeof name, prefix, i);
        status = ca_create_channel(name, NULL, NULL, CA_PRIORITY_DEFAULT, &chids[i]);
        if (status != ECA_NORMAL)
            bench_fail("connect", "ca_create_channel", status);
    }
    ca_pend_io(timeout);
    t_conn = bench_now() - t1;

    for (i = 0; i < n; i++) {
        if (ca_state(chids[i]) == cs_conn) {
            connected++;
            ca_array_get(DBR_DOUBLE, 1, chids[i], &values[i]);
        }
    }
    ca_pend_io(timeout);
    t_read = bench_now() - t1;
    for (i = 0; i < n; i++)
        nonzero += values[i] != 0.0;

    printf("{\"tool\": \"c\", \"workload\": \"connect\", \"n\": %ld, \"connected\": %ld, "
           "\"read_nonzero\": %ld, \"context_s\": %.6f, \"connect_s\": %.6f, "
           "\"connect_read_s\": %.6f}\n", n, connected, nonzero, t_ctx, t_conn, t_read);
    fflush(stdout);
    for (i = 0; i < n; i++)
        ca_clear_channel(chids[i]);
    ca_context_destroy();
    free(chids);
    free(values);
    return connected == n ? 0 : 1;
}
