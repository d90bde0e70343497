/*
 * iobench: what a swap disk costs, measured where the kernel sees it (inside
 * the lab guest), with O_DIRECT and page-aligned buffers so that the guest's
 * page cache is out of the way. Statically linked, like pagebench.
 *
 *   iobench [--samples N] [--seq-mib M] [--qd LIST] [--qd-ms T] [--label L] DEVICE
 *   iobench --faults MIB
 *
 * On DEVICE, in this order:
 *   1. M MiB of 1 MiB sequential writes from offset 0, then fdatasync: write
 *      bandwidth. On a fresh sparse image these writes allocate, as swap-out
 *      to the lab's fresh swap image does.
 *   2. The same M MiB read back in 1 MiB requests: read bandwidth.
 *   3. N random 4 KiB writes, one at a time (queue depth 1), each timed, at
 *      page offsets past the sequential region (not written before).
 *   4. N random 4 KiB reads at queue depth 1, each timed, inside the
 *      sequential region (data written in step 1, as swap-in reads).
 *   5. For each Q in LIST (default 1,4,16): Q threads issuing random 4 KiB
 *      reads for T ms, then the same with writes: IOPS and mean latency at
 *      queue depth Q.
 * Output, one line:
 *   @@IO {"label":..,"device":..,"size":..,"seq_mib":..,"read_mbps":..,
 *         "write_mbps":..,"read_lat_us":{..},"write_lat_us":{..},
 *         "read_stat":{"wall_us":..,"user":..,..},
 *         "qd":[{"qd":..,"read_iops":..,"read_lat_us":..,"write_iops":..,
 *                "write_lat_us":..},..]}
 * read_stat: /proc/stat's cpu-line ticks (user, nice, system, idle, iowait, irq,
 * softirq, steal) and the wall time of step 4's timed reads.
 * where a latency object holds n, mean, min, max, p50, p90, p99 and "pct",
 * the 0th to 100th percentiles (101 values, the q-th being sorted[q * n / 100]).
 * MB is 10^6 bytes.
 *
 * --faults MIB times first touches of anonymous memory: MIB of fresh
 * mmap()ed memory (MADV_NOHUGEPAGE, as usemem) written one byte per page, the
 * best of 3 rounds, then the same pages cleared again with memset once
 * mapped. Output:
 *   @@FAULT {"pages":..,"first_touch_ns":..,"memset_ns":..}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096
#define BIG (1 << 20)
#define MAXQD 16

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void die(const char *what)
{
    printf("@@ERROR iobench: %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(1);
}

static void *aligned(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, BLK, n) != 0) die("posix_memalign");
    uint64_t s = 88172645463325252ULL;
    for (size_t i = 0; i < n / 8; i++) ((uint64_t *)p)[i] = xorshift(&s);
    return p;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts xs; prints a latency object (microseconds). */
static void print_lat(const char *key, double *xs, int n)
{
    qsort(xs, n, sizeof(double), cmp_dbl);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += xs[i];
#define Q(p) xs[(int)((p) * n) < n ? (int)((p) * n) : n - 1]
    printf("\"%s\":{\"n\":%d,\"mean\":%.2f,\"min\":%.2f,\"max\":%.2f,\"p50\":%.2f,"
           "\"p90\":%.2f,\"p99\":%.2f,\"pct\":[",
           key, n, sum / n, xs[0], xs[n - 1], Q(0.5), Q(0.9), Q(0.99));
    for (int q = 0; q <= 100; q++) {
        int i = (int)((long)q * n / 100);
        printf("%s%.2f", q ? "," : "", xs[i < n ? i : n - 1]);
    }
    printf("]}");
#undef Q
}

static void rw(int fd, int write, void *buf, size_t len, off_t off)
{
    ssize_t r = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
    if (r != (ssize_t)len) die(write ? "pwrite" : "pread");
}

/* /proc/stat's aggregate cpu line: user nice system idle iowait irq softirq steal. */
#define NSTAT 8
static int read_stat(long long *t)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    int n = fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &t[0], &t[1], &t[2],
                   &t[3], &t[4], &t[5], &t[6], &t[7]);
    fclose(f);
    return n == NSTAT ? 0 : -1;
}

/* The ticks and wall time a loop took, so the host can split its latency into guest
 * CPU, idle wait and time the vCPU did not run. */
static void print_stat(const char *key, const long long *a, const long long *b, double wall_us)
{
    static const char *names[NSTAT] = {"user", "nice", "system", "idle", "iowait", "irq",
                                       "softirq", "steal"};
    printf("\"%s\":{\"wall_us\":%.1f", key, wall_us);
    for (int i = 0; i < NSTAT; i++) printf(",\"%s\":%lld", names[i], b[i] - a[i]);
    printf("}");
}

/* Random 4 KiB requests at queue depth 1; latencies in microseconds. */
static void qd1(int fd, int write, void *buf, off_t lo, off_t hi, int n, double *lat, uint64_t seed)
{
    uint64_t s = seed;
    off_t blocks = (hi - lo) / BLK;
    for (int i = 0; i < n; i++) {
        off_t off = lo + (off_t)(xorshift(&s) % (uint64_t)blocks) * BLK;
        double t0 = now_ns();
        rw(fd, write, buf, BLK, off);
        lat[i] = (now_ns() - t0) / 1e3;
    }
}

struct worker {
    pthread_t th;
    int fd, write;
    off_t lo, hi;
    double stop_ns;
    uint64_t seed;
    long ops;
    double busy_ns;
    double end_ns;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    void *buf = aligned(BLK);
    off_t blocks = (w->hi - w->lo) / BLK;
    uint64_t s = w->seed;
    for (;;) {
        double t0 = now_ns();
        if (t0 >= w->stop_ns) break;
        off_t off = w->lo + (off_t)(xorshift(&s) % (uint64_t)blocks) * BLK;
        rw(w->fd, w->write, buf, BLK, off);
        double t1 = now_ns();
        w->ops++;
        w->busy_ns += t1 - t0;
        w->end_ns = t1;
    }
    free(buf);
    return NULL;
}

/* q threads of random 4 KiB requests for ms milliseconds: IOPS and mean latency (us). */
static void at_depth(int fd, int write, int q, int ms, off_t lo, off_t hi, double *iops,
                     double *lat_us)
{
    struct worker w[MAXQD];
    double start = now_ns();
    for (int i = 0; i < q; i++) {
        w[i] = (struct worker){.fd = fd, .write = write, .lo = lo, .hi = hi,
                               .stop_ns = start + ms * 1e6, .seed = 0x9e3779b97f4a7c15ULL * (i + 1) + write,
                               .end_ns = start};
        if (pthread_create(&w[i].th, NULL, work, &w[i]) != 0) die("pthread_create");
    }
    long ops = 0;
    double busy = 0, end = start;
    for (int i = 0; i < q; i++) {
        pthread_join(w[i].th, NULL);
        ops += w[i].ops;
        busy += w[i].busy_ns;
        if (w[i].end_ns > end) end = w[i].end_ns;
    }
    *iops = ops / ((end - start) / 1e9);
    *lat_us = ops ? busy / ops / 1e3 : 0;
}

static int faults(long mib)
{
    size_t len = (size_t)mib << 20, pages = len / BLK;
    double best = 1e18, clear = 1e18, round_ns[3];
    for (int r = 0; r < 3; r++) {
        uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) die("mmap");
        madvise(m, len, MADV_NOHUGEPAGE);
        double t0 = now_ns();
        for (size_t p = 0; p < pages; p++) m[p * BLK] = 1;
        double t = now_ns() - t0;
        round_ns[r] = t / pages;
        if (t < best) best = t;
        t0 = now_ns();
        for (size_t p = 0; p < pages; p++) memset(m + p * BLK, 0, BLK);
        t = now_ns() - t0;
        if (t < clear) clear = t;
        munmap(m, len);
    }
    printf("@@FAULT {\"pages\":%zu,\"first_touch_ns\":%.1f,\"memset_ns\":%.1f,"
           "\"round_ns\":[%.1f,%.1f,%.1f]}\n", pages, best / pages, clear / pages,
           round_ns[0], round_ns[1], round_ns[2]);
    return 0;
}

int main(int argc, char **argv)
{
    int samples = 2000, seq_mib = 128, qd_ms = 1500, nq = 0, qds[8];
    const char *dev = NULL, *label = NULL, *qlist = "1,4,16";
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seq-mib") && i + 1 < argc) seq_mib = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--qd") && i + 1 < argc) qlist = argv[++i];
        else if (!strcmp(argv[i], "--qd-ms") && i + 1 < argc) qd_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
        else if (!strcmp(argv[i], "--faults") && i + 1 < argc) return faults(atol(argv[++i]));
        else if (argv[i][0] != '-' && !dev) dev = argv[i];
        else {
            fprintf(stderr, "usage: iobench [--samples N] [--seq-mib M] [--qd 1,4,16] "
                            "[--qd-ms T] [--label L] DEVICE | iobench --faults MIB\n");
            return 2;
        }
    }
    if (!dev || samples < 1 || seq_mib < 1 || qd_ms < 1) {
        fprintf(stderr, "iobench: need a DEVICE, positive counts\n");
        return 2;
    }
    for (const char *p = qlist; *p && nq < 8;) {
        int q = atoi(p);
        if (q < 1 || q > MAXQD) {
            fprintf(stderr, "iobench: queue depths must be 1..%d\n", MAXQD);
            return 2;
        }
        qds[nq++] = q;
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }

    int fd = open(dev, O_RDWR | O_DIRECT);
    if (fd < 0) die(dev);
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0) die("size");
        size = (uint64_t)end;
    }
    off_t seq = (off_t)seq_mib << 20;
    if ((uint64_t)seq * 2 > size) die("device smaller than twice --seq-mib");
    off_t top = (off_t)(size / BLK * BLK);
    uint8_t *big = aligned(BIG), *small = aligned(BLK);
    double *rlat = malloc(samples * sizeof(double)), *wlat = malloc(samples * sizeof(double));
    if (!rlat || !wlat) die("malloc");

    /* 1-2: sequential bandwidth. */
    double t0 = now_ns();
    for (off_t off = 0; off < seq; off += BIG) rw(fd, 1, big, BIG, off);
    if (fdatasync(fd) != 0) die("fdatasync");
    double wmbps = seq / ((now_ns() - t0) / 1e3);
    t0 = now_ns();
    for (off_t off = 0; off < seq; off += BIG) rw(fd, 0, big, BIG, off);
    double rmbps = seq / ((now_ns() - t0) / 1e3);

    /* 3-4: queue depth 1; a few untimed requests first. */
    qd1(fd, 1, small, seq, top, 16, wlat, 7);
    qd1(fd, 1, small, seq, top, samples, wlat, 11);
    qd1(fd, 0, small, 0, seq, 16, rlat, 13);
    long long st0[NSTAT], st1[NSTAT];
    int have_stat = read_stat(st0) == 0;
    double r0 = now_ns();
    qd1(fd, 0, small, 0, seq, samples, rlat, 17);
    double rwall = (now_ns() - r0) / 1e3;
    have_stat = have_stat && read_stat(st1) == 0;
    /* 5: queue depths; reads in the written region, writes past it. */
    double ri[8], rl[8], wi[8], wl[8];
    for (int i = 0; i < nq; i++) {
        at_depth(fd, 0, qds[i], qd_ms, 0, seq, &ri[i], &rl[i]);
        at_depth(fd, 1, qds[i], qd_ms, seq, top, &wi[i], &wl[i]);
    }

    /* One line, printed at the end so that nothing interleaves with it. */
    printf("@@IO {\"label\":\"%s\",\"device\":\"%s\",\"size\":%llu,\"seq_mib\":%d,"
           "\"read_mbps\":%.1f,\"write_mbps\":%.1f,",
           label ? label : dev, dev, (unsigned long long)size, seq_mib, rmbps, wmbps);
    print_lat("write_lat_us", wlat, samples);
    printf(",");
    print_lat("read_lat_us", rlat, samples);
    if (have_stat) {
        printf(",");
        print_stat("read_stat", st0, st1, rwall);
    }
    printf(",\"qd_ms\":%d,\"qd\":[", qd_ms);
    for (int i = 0; i < nq; i++)
        printf("%s{\"qd\":%d,\"read_iops\":%.1f,\"read_lat_us\":%.2f,\"write_iops\":%.1f,"
               "\"write_lat_us\":%.2f}",
               i ? "," : "", qds[i], ri[i], rl[i], wi[i], wl[i]);
    printf("]}\n");
    fflush(stdout);
    close(fd);
    return 0;
}
