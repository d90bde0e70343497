/*
 * kbench: the kernel's own per-page cost of swapping out and in, timed in the
 * guest. MADV_PAGEOUT (5.4+) sends a range of private anonymous pages through
 * shrink_folio_list() and swap_writepage(), so with zswap enabled its time per
 * page is reclaim + zswap_store(); touching the pages again is one swap fault
 * and one zswap_load() each (with vm.page-cluster 0). Zero pages take the
 * zeromap (6.11+) or same-filled path and give reclaim and fault without
 * compression. /proc/vmstat deltas say where every page went.
 *
 * Output: one line per content class,
 *   @@KCOST {"class":..,"pages":N,"pageout_ns":..,"swapin_ns":..,"vmstat":{..}}
 * with times per page (best of the rounds), and with a cgroup directory a line
 * of class "lru" for reclaim under a memory.max (see lru()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pagegen.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static const char *counters[] = {"pswpout", "pswpin", "zswpout", "zswpin", "swpout_zero",
                                 "swpin_zero", "pgmajfault", "swap_ra", "pgfault",
                                 "pgscan_direct", "pgsteal_direct", "pgscan_kswapd",
                                 "pgsteal_kswapd"};
#define NCOUNT (sizeof(counters) / sizeof(counters[0]))

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void vmstat(long long *out)
{
    char name[64];
    long long v;
    FILE *f = fopen("/proc/vmstat", "r");
    for (size_t i = 0; i < NCOUNT; i++) out[i] = 0;
    if (!f) return;
    while (fscanf(f, "%63s %lld", name, &v) == 2)
        for (size_t i = 0; i < NCOUNT; i++)
            if (!strcmp(name, counters[i])) out[i] = v;
    fclose(f);
}

/* The vmstat deltas as a JSON object, closing the @@KCOST line. */
static void print_counts(const long long *delta)
{
    printf("\"vmstat\":{");
    for (size_t i = 0; i < NCOUNT; i++)
        printf("%s\"%s\":%lld", i ? "," : "", counters[i], delta[i]);
    printf("}}\n");
    fflush(stdout);
}

/* Private anonymous memory in 4 KiB pages (no THP); NULL after an @@ERROR line. */
static uint8_t *map_pages(size_t len)
{
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        printf("@@ERROR kbench: mmap: %s\n", strerror(errno));
        return NULL;
    }
    madvise(m, len, MADV_NOHUGEPAGE);
    return m;
}

/*
 * Pages of one class out with MADV_PAGEOUT and back in by touching them;
 * settle_s seconds in between let asynchronous writes finish.
 */
static int run(const char *label, int cls, size_t pages, int rounds, unsigned settle_s)
{
    size_t len = pages * PAGE;
    double best_out = 1e30, best_in = 1e30;
    long long before[NCOUNT], after[NCOUNT], delta[NCOUNT] = {0};
    for (int r = 0; r < rounds; r++) {
        uint8_t *m = map_pages(len);
        if (!m) return 1;
        for (size_t p = 0; p < pages; p++) fill_page(m + p * PAGE, cls, hash3(7, cls, p));
        vmstat(before);
        double t0 = now_ns();
        if (madvise(m, len, MADV_PAGEOUT) != 0) {
            printf("@@ERROR kbench: MADV_PAGEOUT: %s\n", strerror(errno));
            return 1;
        }
        double t_out = now_ns() - t0;
        if (settle_s) sleep(settle_s);
        volatile uint8_t sink = 0;
        t0 = now_ns();
        for (size_t p = 0; p < pages; p++) sink += m[p * PAGE];
        double t_in = now_ns() - t0;
        (void)sink;
        vmstat(after);
        if (t_out < best_out) best_out = t_out;
        if (t_in < best_in) best_in = t_in;
        for (size_t i = 0; i < NCOUNT; i++) delta[i] += after[i] - before[i];
        munmap(m, len);
    }
    printf("@@KCOST {\"class\":\"%s\",\"pages\":%zu,\"rounds\":%d,\"pageout_ns\":%.1f,"
           "\"swapin_ns\":%.1f,", label, pages, rounds, best_out / pages, best_in / pages);
    print_counts(delta);
    return 0;
}

/* pgscan and pgsteal of a cgroup: cgroup reclaim is not in /proc/vmstat's counts. */
static void memstat(const char *cg, long long *scan, long long *steal)
{
    char path[512], name[64];
    long long v;
    snprintf(path, sizeof path, "%s/memory.stat", cg);
    *scan = *steal = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fscanf(f, "%63s %lld", name, &v) == 2) {
        if (!strcmp(name, "pgscan")) *scan = v;
        if (!strcmp(name, "pgsteal")) *steal = v;
    }
    fclose(f);
}

static int put(const char *dir, const char *file, const char *val)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (!f || fputs(val, f) < 0 || fclose(f) != 0) {
        printf("@@ERROR kbench: cannot write %s to %s: %s\n", val, path, strerror(errno));
        return 1;
    }
    return 0;
}

/*
 * LRU reclaim as kswapd and direct reclaim do it (references checked, lists
 * scanned), which MADV_PAGEOUT skips: inside a memory cgroup capped at a few
 * MiB, write zero to every page of a larger region. Each page costs a first
 * touch and, once the cap is reached, the reclaim of another page to the swap
 * zeromap; the vmstat scan and steal counts say how much reclaim there was.
 */
static int lru(const char *cg, size_t pages, long cap_mib, int rounds)
{
    char buf[64];
    double best = 1e30;
    long long before[NCOUNT], after[NCOUNT], delta[NCOUNT] = {0};
    long long scan0, steal0, scan1, steal1, scanned = 0, stolen = 0;
    snprintf(buf, sizeof buf, "%ld", cap_mib << 20);
    if (put(cg, "memory.max", buf)) return 1;
    snprintf(buf, sizeof buf, "%d", (int)getpid());
    if (put(cg, "cgroup.procs", buf)) return 1;
    size_t len = pages * PAGE;
    for (int r = 0; r < rounds; r++) {
        uint8_t *m = map_pages(len);
        if (!m) return 1;
        vmstat(before);
        memstat(cg, &scan0, &steal0);
        double t0 = now_ns();
        for (size_t p = 0; p < pages; p++) ((volatile uint8_t *)m)[p * PAGE] = 0;
        double t = now_ns() - t0;
        vmstat(after);
        memstat(cg, &scan1, &steal1);
        scanned += scan1 - scan0;
        stolen += steal1 - steal0;
        if (t < best) best = t;
        for (size_t i = 0; i < NCOUNT; i++) delta[i] += after[i] - before[i];
        munmap(m, len);
    }
    printf("@@KCOST {\"class\":\"lru\",\"pages\":%zu,\"rounds\":%d,\"cap_mib\":%ld,"
           "\"touch_ns\":%.1f,\"pgscan\":%lld,\"pgsteal\":%lld,", pages, rounds, cap_mib,
           best / pages, scanned, stolen);
    print_counts(delta);
    return 0;
}

/*
 * The disk path with zswap off: text pages out with MADV_PAGEOUT (reclaim and
 * one write bio each, submitted asynchronously). Once the writes are done the
 * pages are still in the swap cache, unmapped, so touching them again is one
 * minor swap-cache fault each: what a readahead hit costs.
 */
static int disk(const char *zswap_params, size_t pages, int rounds)
{
    if (put(zswap_params, "enabled", "N")) return 1;
    return run("disk", C_TEXT, pages, rounds, 3);
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 32;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    const char *cg = argc > 3 ? argv[3] : NULL;
    const char *zp = argc > 4 ? argv[4] : NULL;
    if (mib <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: kbench [MIB [ROUNDS [CGROUP_DIR [ZSWAP_PARAMS_DIR]]]]\n");
        return 2;
    }
    build_vocab();
    size_t pages = (size_t)mib * 256;
    int rc = 0;
    rc |= run(class_names[C_ZERO], C_ZERO, pages, rounds, 0);
    rc |= run(class_names[C_TEXT], C_TEXT, pages, rounds, 0);
    if (zp) rc |= disk(zp, pages / 4, rounds);
    if (cg) rc |= lru(cg, pages, 8, rounds);
    return rc;
}
