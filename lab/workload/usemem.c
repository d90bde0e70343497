/*
 * usemem: fill anonymous memory with pages of known content, then read it
 * back in passes, reporting pass times, sampled fault latencies and kernel
 * counter snapshots in a line format the host parses (perfmodel/lab/console.py).
 *
 *   usemem SIZE [--processes N] [--passes P] [--order seq|random]
 *          [--zero F] [--same-filled F] [--incompressible F] [--binary F]
 *          [--seed S] [--write-fraction W] [--sample-every K]
 *          [--snapshot] [--cgroup DIR] [--mempolicy MODE:NODES]
 *          [--emit CLASS --pages N]
 *
 * SIZE is per process, in bytes (K, M, G suffixes are powers of 1024).
 * Content classes (the rest of the pages are "text"):
 *   zero            all zero bytes
 *   same_filled     one non-zero 8-byte word repeated
 *   text            words from a fixed vocabulary, Zipf-skewed
 *                   (about 2.4x with lz4, 3.6x with zstd level 3)
 *   binary          text with half of its 64-byte lines carrying 16
 *                   random bytes each (about 1.9x lz4, 2.6x zstd)
 *   incompressible  xorshift random bytes
 * Classes are assigned to exact page counts and shuffled with the seed, so a
 * run is reproducible and the zero-page count is known exactly.
 *
 * Pass 0 (fill) writes every page in address order. Passes 1..P read one
 * 8-byte word in every 64-byte cache line of every page, in address order
 * (seq) or a new random permutation per pass (random). With
 * --write-fraction W, a page is also written with probability W per pass:
 * the first word of each line is stored back unchanged, which dirties the
 * page without changing its content class.
 * One page in K of an access pass, chosen by a hash of its position in the
 * pass (not every K-th page: in a sequential pass that stride locks onto the
 * phase of the swap readahead window, so that either nearly every sample is
 * a major fault or nearly none is, by where the mapping happens to start),
 * has its first touch timed (CLOCK_MONOTONIC), which is the fault latency
 * when the page is swapped out. The @@LAT line says "sampling":"hashed".
 * --mempolicy bind:1, preferred:1 or interleave:0-1 mbind()s each worker's
 * mapping before the fill (a VMA policy, as numactl --membind would give the
 * task). Each @@PASS line counts the pages touched on each CPU ("cpu_pages",
 * by sched_getcpu() every CPU_SAMPLE pages), which shows where an unpinned
 * worker ran.
 *
 * Output, one record per line, all lines starting with "@@":
 *   @@START {json}                    arguments and page counts per class
 *   @@SNAP {"label":..,"pass":..,"t_s":..}   then blocks of
 *   @@FILE <path>                     followed by the raw file text
 *   @@MISSING <what>: <why>
 *   @@ENDSNAP
 *   @@PASS {json}                     one per process and pass
 *   @@LAT {json} | @@LAT null        percentiles over all access passes
 *   @@DONE {"elapsed_s":..}
 *   @@ERROR <message>
 * --emit CLASS --pages N writes N raw pages of one class to stdout instead
 * (to check compression ratios on the host).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../bench/pagegen.h"

#define MAXPROC 64
#define MAXCPU 64
#define CPU_SAMPLE 16
/* include/uapi/linux/mempolicy.h */
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3

struct opts {
    uint64_t size;
    int processes;
    int passes;
    int random_order;
    double frac[NCLASS];
    uint64_t seed;
    double write_fraction;
    uint64_t sample_every;
    int snapshot;
    const char *cgroup;
    int mpol_mode;           /* 0: none (the task's default, local) */
    unsigned long mpol_nodes; /* node bitmask */
    int emit_class;
    uint64_t emit_pages;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *msg)
{
    printf("@@ERROR %s: %s\n", msg, strerror(errno));
    fflush(stdout);
    exit(2);
}

/* ---- snapshots ---- */

static void cat_file(const char *path)
{
    char buf[8192];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("@@MISSING %s: %s\n", path, strerror(errno));
        return;
    }
    printf("@@FILE %s\n", path);
    ssize_t n;
    int last = '\n';
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        last = buf[n - 1];
    }
    if (last != '\n') putchar('\n');
    close(fd);
}

/* The first line of /proc/stat: the CPU time split (user, system, irq, softirq, ...). */
static void cpu_times(void)
{
    char line[512];
    FILE *f = fopen("/proc/stat", "r");
    if (!f || !fgets(line, sizeof(line), f)) {
        printf("@@MISSING cpu_ticks: /proc/stat: %s\n", strerror(errno));
        if (f) fclose(f);
        return;
    }
    fclose(f);
    printf("@@FILE /proc/stat\n%s", line);
    if (line[strlen(line) - 1] != '\n') putchar('\n');
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular entry of dir whose name starts with prefix, sorted. */
static int list_dir(const char *dir, const char *prefix, char (*names)[64], int max)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        snprintf(names[n++], 64, "%.63s", e->d_name);
    }
    closedir(d);
    char *ptr[256];
    for (int i = 0; i < n; i++) ptr[i] = names[i];
    qsort(ptr, (size_t)n, sizeof(char *), name_cmp);
    char tmp[256][64];
    for (int i = 0; i < n; i++) memcpy(tmp[i], ptr[i], 64);
    memcpy(names, tmp, (size_t)n * 64);
    return n;
}

static void zspages_per_node(void)
{
    FILE *f = fopen("/proc/zoneinfo", "r");
    if (!f) {
        printf("@@MISSING nr_zspages: /proc/zoneinfo: %s\n", strerror(errno));
        return;
    }
    long long per[MAXPROC] = {0};
    int node = 0, maxnode = -1, seen = 0;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        int nd;
        long long v;
        if (sscanf(line, "Node %d,", &nd) == 1 && nd >= 0 && nd < MAXPROC) {
            node = nd;
            if (nd > maxnode) maxnode = nd;
        } else if (sscanf(line, " nr_zspages %lld", &v) == 1) {
            per[node] += v;
            seen = 1;
        }
    }
    fclose(f);
    if (!seen) {
        printf("@@MISSING nr_zspages: not in /proc/zoneinfo\n");
        return;
    }
    printf("@@FILE nr_zspages\n");
    for (int i = 0; i <= maxnode; i++) printf("node%d %lld\n", i, per[i]);
}

static void snapshot(const struct opts *o, const char *label, int pass, double t)
{
    char names[256][64], path[512];
    if (pass >= 0)
        printf("@@SNAP {\"label\":\"%s\",\"pass\":%d,\"t_s\":%.6f}\n", label, pass, t);
    else
        printf("@@SNAP {\"label\":\"%s\",\"pass\":null,\"t_s\":%.6f}\n", label, t);
    int n = list_dir("/sys/kernel/debug/zswap", "", names, 256);
    if (n < 0)
        printf("@@MISSING debugfs_zswap: /sys/kernel/debug/zswap: %s\n", strerror(errno));
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/sys/kernel/debug/zswap/%.63s", names[i]);
        cat_file(path);
    }
    cat_file("/proc/vmstat");
    cat_file("/proc/meminfo");
    cpu_times();
    n = list_dir("/sys/devices/system/node", "node", names, 256);
    if (n < 0)
        printf("@@MISSING numastat: /sys/devices/system/node: %s\n", strerror(errno));
    for (int i = 0; i < n; i++) {
        if (names[i][4] < '0' || names[i][4] > '9') continue;
        snprintf(path, sizeof(path), "/sys/devices/system/node/%.63s/numastat", names[i]);
        cat_file(path);
    }
    zspages_per_node();
    /* Whole, for the per-CPU lists' counts (pagesets), parsed on the host. */
    cat_file("/proc/zoneinfo");
    if (o->cgroup) {
        snprintf(path, sizeof(path), "%s/memory.stat", o->cgroup);
        cat_file(path);
    }
    printf("@@ENDSNAP\n");
    fflush(stdout);
}

/* ---- workers ---- */

/* The CPU this worker runs on now; ncpu grows to cover the highest seen. */
static void note_cpu(int *cpu, int *ncpu)
{
    int c = sched_getcpu();
    *cpu = c >= 0 && c < MAXCPU ? c : 0;
    if (*cpu + 1 > *ncpu) *ncpu = *cpu + 1;
}

struct shared {
    uint64_t nsamples[MAXPROC];
    float samples[]; /* MAXPROC regions of cap floats each, in microseconds */
};

static void worker(const struct opts *o, int proc, struct shared *sh, uint64_t cap,
                   int done_fd, int go_fd)
{
    uint64_t pages = o->size / PAGE;
    uint64_t seed = hash3(o->seed, (uint64_t)proc, 0x77);
    uint8_t *cls = malloc(pages);
    uint32_t *order = o->random_order ? malloc(pages * sizeof(uint32_t)) : NULL;
    if (!cls || (o->random_order && !order)) die("malloc");

    /* Exact class counts, shuffled: the same seed gives the same layout. */
    uint64_t at = 0;
    for (int c = 0; c < NCLASS; c++) {
        if (c == C_TEXT) continue;
        uint64_t n = (uint64_t)(o->frac[c] * (double)pages + 0.5);
        for (uint64_t i = 0; i < n && at < pages; i++) cls[at++] = (uint8_t)c;
    }
    while (at < pages) cls[at++] = C_TEXT;
    uint64_t s = seed | 1;
    for (uint64_t i = pages - 1; i > 0; i--) {
        uint64_t j = xorshift(&s) % (i + 1);
        uint8_t t = cls[i]; cls[i] = cls[j]; cls[j] = t;
    }

    uint8_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) die("mmap");
    /* Base pages only: the model reasons in 4 KiB pages. */
    madvise(mem, pages * PAGE, MADV_NOHUGEPAGE);
    if (o->mpol_mode) {
        unsigned long mask = o->mpol_nodes;
        /* maxnode counts one past the last bit, as libnuma passes it. */
        if (syscall(SYS_mbind, mem, pages * PAGE, o->mpol_mode, &mask,
                    8 * sizeof(mask) + 1, 0))
            die("mbind");
    }

    float *lat = sh->samples + (uint64_t)proc * cap;
    uint64_t nlat = 0;
    uint64_t wthresh = (uint64_t)(o->write_fraction * 18446744073709551615.0);
    volatile uint64_t sink = 0;
    char c;

    for (int pass = 0; pass <= o->passes; pass++) {
        double t0 = now_s();
        uint64_t accesses = 0;
        uint64_t on_cpu[MAXCPU] = {0};
        int cpu = 0, ncpu = 1;
        if (pass == 0) {
            for (uint64_t i = 0; i < pages; i++) {
                if (i % CPU_SAMPLE == 0) note_cpu(&cpu, &ncpu);
                on_cpu[cpu]++;
                fill_page(mem + i * PAGE, cls[i], hash3(seed, i, 1));
            }
            accesses = pages;
        } else {
            if (order) {
                for (uint64_t i = 0; i < pages; i++) order[i] = (uint32_t)i;
                uint64_t r = hash3(seed, (uint64_t)pass, 2) | 1;
                for (uint64_t i = pages - 1; i > 0; i--) {
                    uint64_t j = xorshift(&r) % (i + 1);
                    uint32_t t = order[i]; order[i] = order[j]; order[j] = t;
                }
            }
            uint64_t acc = 0;
            for (uint64_t k = 0; k < pages; k++) {
                uint64_t pg = order ? order[k] : k;
                volatile uint64_t *w = (volatile uint64_t *)(mem + pg * PAGE);
                if (k % CPU_SAMPLE == 0) note_cpu(&cpu, &ncpu);
                on_cpu[cpu]++;
                if (o->sample_every && hash3(seed, k, 0x5a + (uint64_t)pass) % o->sample_every == 0
                    && nlat < cap) {
                    double a = now_s();
                    acc += w[0];
                    lat[nlat++] = (float)((now_s() - a) * 1e6);
                } else {
                    acc += w[0];
                }
                for (size_t l = 1; l < PAGE / LINE; l++) acc += w[l * (LINE / 8)];
                if (wthresh && hash3(seed, pg, 3 + (uint64_t)pass) < wthresh)
                    for (size_t l = 0; l < PAGE / LINE; l++) w[l * (LINE / 8)] = w[l * (LINE / 8)];
                accesses++;
            }
            sink += acc;
        }
        double el = now_s() - t0;
        double bytes = (double)pages * PAGE;
        printf("@@PASS {\"proc\":%d,\"pass\":%d,\"kind\":\"%s\",\"elapsed_s\":%.6f,"
               "\"throughput_mbps\":%.3f,\"accesses\":%llu,\"bytes\":%.0f,\"cpu_pages\":[",
               proc, pass, pass == 0 ? "fill" : "access", el,
               el > 0 ? bytes / el / 1e6 : 0.0, (unsigned long long)accesses, bytes);
        for (int i = 0; i < ncpu; i++)
            printf("%s%llu", i ? "," : "", (unsigned long long)on_cpu[i]);
        printf("]}\n");
        fflush(stdout);
        sh->nsamples[proc] = nlat;
        /* Wait at the barrier so the parent can snapshot while memory is mapped. */
        if (write(done_fd, "x", 1) != 1) die("write barrier");
        if (read(go_fd, &c, 1) != 1) die("read barrier");
    }
    (void)sink;
    exit(0);
}

static int float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double pct(const float *v, uint64_t n, double q)
{
    /* nearest rank */
    uint64_t r = (uint64_t)(q * (double)n + 0.999999);
    if (r < 1) r = 1;
    if (r > n) r = n;
    return v[r - 1];
}

static uint64_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'k': case 'K': v *= 1024; break;
    case 'm': case 'M': v *= 1024 * 1024; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
    case 0: break;
    default:
        fprintf(stderr, "usemem: bad size %s\n", s);
        exit(2);
    }
    return (uint64_t)v;
}

static void usage(void)
{
    fprintf(stderr, "usage: usemem SIZE [--processes N] [--passes P] [--order seq|random]\n"
                    "  [--zero F] [--same-filled F] [--incompressible F] [--binary F]\n"
                    "  [--seed S] [--write-fraction W] [--sample-every K] [--snapshot]\n"
                    "  [--cgroup DIR] [--mempolicy bind|preferred|interleave:NODES]\n"
                    "  [--emit CLASS --pages N]\n");
    exit(2);
}

/* MODE:NODES with NODES a list like 1 or 0-1,3 (node numbers below 64). */
static void parse_mempolicy(const char *v, struct opts *o)
{
    const char *colon = strchr(v, ':');
    if (!colon) usage();
    size_t n = (size_t)(colon - v);
    if (n == 4 && !strncmp(v, "bind", 4)) o->mpol_mode = MPOL_BIND;
    else if (n == 9 && !strncmp(v, "preferred", 9)) o->mpol_mode = MPOL_PREFERRED;
    else if (n == 10 && !strncmp(v, "interleave", 10)) o->mpol_mode = MPOL_INTERLEAVE;
    else usage();
    const char *p = colon + 1;
    o->mpol_nodes = 0;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p) usage();
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
            if (end == p) usage();
        }
        if (a < 0 || b < a || b >= 64) usage();
        for (long i = a; i <= b; i++) o->mpol_nodes |= 1UL << i;
        p = end;
        if (*p == ',') p++;
        else if (*p) usage();
    }
    if (!o->mpol_nodes || (o->mpol_mode == MPOL_PREFERRED && (o->mpol_nodes & (o->mpol_nodes - 1))))
        usage();
}

int main(int argc, char **argv)
{
    struct opts o = {.processes = 1, .passes = 1, .seed = 1, .sample_every = 64,
                     .emit_class = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (++i, 1))
        if (ARG("--processes")) o.processes = atoi(v);
        else if (ARG("--passes")) o.passes = atoi(v);
        else if (ARG("--order")) {
            if (!strcmp(v, "random")) o.random_order = 1;
            else if (strcmp(v, "seq")) usage();
        }
        else if (ARG("--zero")) o.frac[C_ZERO] = strtod(v, NULL);
        else if (ARG("--same-filled")) o.frac[C_SAME] = strtod(v, NULL);
        else if (ARG("--incompressible")) o.frac[C_INCOMP] = strtod(v, NULL);
        else if (ARG("--binary")) o.frac[C_BINARY] = strtod(v, NULL);
        else if (ARG("--seed")) o.seed = strtoull(v, NULL, 0);
        else if (ARG("--write-fraction")) o.write_fraction = strtod(v, NULL);
        else if (ARG("--sample-every")) o.sample_every = strtoull(v, NULL, 0);
        else if (ARG("--cgroup")) o.cgroup = v;
        else if (ARG("--mempolicy")) parse_mempolicy(v, &o);
        else if (ARG("--pages")) o.emit_pages = strtoull(v, NULL, 0);
        else if (ARG("--emit")) {
            for (int c = 0; c < NCLASS; c++)
                if (!strcmp(v, class_names[c])) o.emit_class = c;
            if (o.emit_class < 0) usage();
        }
        else if (!strcmp(a, "--snapshot")) o.snapshot = 1;
        else if (a[0] != '-' && !o.size) o.size = parse_size(a);
        else usage();
#undef ARG
    }
    build_vocab();

    if (o.emit_class >= 0) {
        uint8_t page[PAGE];
        for (uint64_t i = 0; i < o.emit_pages; i++) {
            fill_page(page, o.emit_class, hash3(o.seed, i, 1));
            if (fwrite(page, 1, PAGE, stdout) != PAGE) return 1;
        }
        return 0;
    }

    double other = o.frac[C_ZERO] + o.frac[C_SAME] + o.frac[C_INCOMP] + o.frac[C_BINARY];
    if (o.size < PAGE || o.processes < 1 || o.processes > MAXPROC || o.passes < 0 ||
        other > 1.0 + 1e-9 || o.write_fraction < 0 || o.write_fraction > 1)
        usage();
    o.frac[C_TEXT] = other < 1.0 ? 1.0 - other : 0.0;

    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    uint64_t pages = o.size / PAGE;
    printf("@@START {\"size\":%llu,\"pages\":%llu,\"processes\":%d,\"passes\":%d,"
           "\"order\":\"%s\",\"seed\":%llu,\"write_fraction\":%g,\"sample_every\":%llu,"
           "\"fractions\":{",
           (unsigned long long)o.size, (unsigned long long)pages, o.processes, o.passes,
           o.random_order ? "random" : "seq", (unsigned long long)o.seed, o.write_fraction,
           (unsigned long long)o.sample_every);
    for (int c = 0; c < NCLASS; c++)
        printf("%s\"%s\":%g", c ? "," : "", class_names[c], o.frac[c]);
    printf("}}\n");

    /* Twice the expected count: the hashed choice is binomial, not exact. */
    uint64_t cap = o.sample_every ? 2 * (pages / o.sample_every + 1) * (uint64_t)o.passes : 0;
    size_t shsize = sizeof(struct shared) + (size_t)o.processes * cap * sizeof(float);
    struct shared *sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) die("mmap shared");

    double start = now_s();
    if (o.snapshot) snapshot(&o, "before", -1, 0.0);
    fflush(stdout);

    /* One shared "done" pipe, one "go" pipe per worker: a shared go pipe would
     * let a fast worker take a slower one's token and run a pass ahead. */
    int done[2], go[MAXPROC][2];
    if (pipe(done)) die("pipe");
    for (int p = 0; p < o.processes; p++)
        if (pipe(go[p])) die("pipe");
    pid_t pids[MAXPROC];
    for (int p = 0; p < o.processes; p++) {
        pids[p] = fork();
        if (pids[p] < 0) die("fork");
        if (pids[p] == 0) {
            close(done[0]);
            for (int q = 0; q < o.processes; q++) {
                close(go[q][1]);
                if (q != p) close(go[q][0]);
            }
            worker(&o, p, sh, cap, done[1], go[p][0]);
        }
    }
    close(done[1]);
    for (int p = 0; p < o.processes; p++) close(go[p][0]);

    int failed = 0;
    for (int pass = 0; pass <= o.passes && !failed; pass++) {
        int got = 0;
        while (got < o.processes) {
            struct pollfd pfd = {.fd = done[0], .events = POLLIN};
            int r = poll(&pfd, 1, 1000);
            if (r > 0) {
                char buf[MAXPROC];
                ssize_t n = read(done[0], buf, (size_t)(o.processes - got));
                if (n <= 0) { failed = 1; break; }
                got += (int)n;
                continue;
            }
            /* A worker that died (OOM kill) would leave the others waiting forever. */
            int st;
            pid_t dead = waitpid(-1, &st, WNOHANG);
            if (dead > 0) {
                printf("@@ERROR worker %d exited early (%s %d)\n", (int)dead,
                       WIFSIGNALED(st) ? "signal" : "status",
                       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
                failed = 1;
                break;
            }
        }
        if (failed) break;
        if (o.snapshot) snapshot(&o, "pass", pass, now_s() - start);
        for (int p = 0; p < o.processes; p++)
            if (write(go[p][1], "g", 1) != 1) die("write go");
    }
    if (failed)
        for (int p = 0; p < o.processes; p++) kill(pids[p], SIGKILL);
    for (int p = 0; p < o.processes; p++) close(go[p][1]);
    int bad = failed;
    for (int p = 0; p < o.processes; p++) {
        int st;
        if (waitpid(pids[p], &st, 0) == pids[p] && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            bad = 1;
    }
    double elapsed = now_s() - start;
    if (o.snapshot) snapshot(&o, "after", -1, elapsed);

    uint64_t total = 0;
    for (int p = 0; p < o.processes; p++) total += sh->nsamples[p];
    if (total) {
        float *all = malloc(total * sizeof(float));
        if (!all) die("malloc");
        uint64_t k = 0;
        for (int p = 0; p < o.processes; p++) {
            memcpy(all + k, sh->samples + (uint64_t)p * cap, sh->nsamples[p] * sizeof(float));
            k += sh->nsamples[p];
        }
        qsort(all, total, sizeof(float), float_cmp);
        printf("@@LAT {\"sampling\":\"hashed\",\"count\":%llu,\"p50\":%.3f,\"p90\":%.3f,"
               "\"p99\":%.3f,\"p999\":%.3f}\n",
               (unsigned long long)total, pct(all, total, 0.5), pct(all, total, 0.9),
               pct(all, total, 0.99), pct(all, total, 0.999));
    } else {
        printf("@@LAT null\n");
    }
    printf("@@DONE {\"elapsed_s\":%.6f,\"ok\":%s}\n", elapsed, bad ? "false" : "true");
    fflush(stdout);
    return bad ? 1 : 0;
}
