/*
 * pagebench: what one 4 KiB page costs each compressor, by content class,
 * measured with the real userspace libraries (lz4, lz4hc, zstd level 3,
 * lzo1x-1, zlib deflate), plus the cost of copying a page and the idle
 * memory latency. Pages come from the same generator as usemem, so the
 * sizes match what the lab workload hands the kernel.
 *
 *   pagebench [--pages N] [--reps R]
 *
 * Output, one JSON object per line:
 *   @@BENCH {"compressor":..,"class":..,"pages":..,"compress_ns":..,
 *            "decompress_ns":..,"size_p10":..,"size_p50":..,"size_p90":..,
 *            "size_min":..,"size_max":..,"size_mean":..}
 *   @@MEM {"page_copy_ns":..,"copy_mbps":..,"latency_ns":..}
 * Times are per page, the best of R repetitions over N pages. A page that
 * does not compress below 4096 bytes fails in the kernel; its decompress
 * time is reported as a page copy, which is what the kernel pays instead.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>
#include <lz4hc.h>
#include <lzo/lzo1x.h>
#include <zlib.h>
#include <zstd.h>

#include "pagegen.h"

#define DST (2 * PAGE)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

enum { K_LZ4, K_LZ4HC, K_ZSTD, K_LZO, K_DEFLATE, NKIND };
static const char *kind_names[NKIND] = {"lz4", "lz4hc", "zstd", "lzo", "deflate"};

static ZSTD_CCtx *zc;
static ZSTD_DCtx *zd;
static unsigned char lzo_wrk[LZO1X_1_MEM_COMPRESS];
static z_stream zs_c, zs_d;

static size_t compress_one(int k, const uint8_t *src, uint8_t *dst)
{
    switch (k) {
    case K_LZ4:
        return (size_t)LZ4_compress_default((const char *)src, (char *)dst, PAGE, DST);
    case K_LZ4HC:
        return (size_t)LZ4_compress_HC((const char *)src, (char *)dst, PAGE, DST, LZ4HC_CLEVEL_DEFAULT);
    case K_ZSTD:
        return ZSTD_compressCCtx(zc, dst, DST, src, PAGE, 3);
    case K_LZO: {
        lzo_uint out = DST;
        lzo1x_1_compress(src, PAGE, dst, &out, lzo_wrk);
        return out;
    }
    default: {
        /* crypto/deflate.c: raw deflate, window 2^11, default level. */
        deflateReset(&zs_c);
        zs_c.next_in = (Bytef *)src;
        zs_c.avail_in = PAGE;
        zs_c.next_out = dst;
        zs_c.avail_out = DST;
        deflate(&zs_c, Z_FINISH);
        return DST - zs_c.avail_out;
    }
    }
}

static void decompress_one(int k, const uint8_t *src, size_t n, uint8_t *dst)
{
    switch (k) {
    case K_LZ4:
    case K_LZ4HC:
        LZ4_decompress_safe((const char *)src, (char *)dst, (int)n, PAGE);
        break;
    case K_ZSTD:
        ZSTD_decompressDCtx(zd, dst, PAGE, src, n);
        break;
    case K_LZO: {
        lzo_uint out = PAGE;
        lzo1x_decompress_safe(src, n, dst, &out, NULL);
        break;
    }
    default:
        inflateReset(&zs_d);
        zs_d.next_in = (Bytef *)src;
        zs_d.avail_in = (uInt)n;
        zs_d.next_out = dst;
        zs_d.avail_out = PAGE;
        inflate(&zs_d, Z_FINISH);
    }
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int npages = 2000, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pages") && i + 1 < argc) npages = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else { fprintf(stderr, "usage: pagebench [--pages N] [--reps R]\n"); return 2; }
    }
    build_vocab();
    zc = ZSTD_createCCtx();
    zd = ZSTD_createDCtx();
    deflateInit2(&zs_c, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -11, 8, Z_DEFAULT_STRATEGY);
    inflateInit2(&zs_d, -11);
    lzo_init();

    uint8_t *src = malloc((size_t)npages * PAGE);
    uint8_t *cmp = malloc((size_t)npages * DST);
    uint8_t *out = malloc(PAGE);
    size_t *len = malloc(npages * sizeof(size_t));
    size_t *sorted = malloc(npages * sizeof(size_t));
    if (!src || !cmp || !out || !len || !sorted) return 1;

    static const int classes[] = {C_SAME, C_TEXT, C_BINARY, C_INCOMP};
    for (unsigned ci = 0; ci < sizeof(classes) / sizeof(classes[0]); ci++) {
        int cls = classes[ci];
        for (int p = 0; p < npages; p++)
            fill_page(src + (size_t)p * PAGE, cls, hash3(7, cls, p));
        for (int k = 0; k < NKIND; k++) {
            double best_c = 1e18, best_d = 1e18;
            for (int r = 0; r < reps; r++) {
                double t0 = now_ns();
                for (int p = 0; p < npages; p++)
                    len[p] = compress_one(k, src + (size_t)p * PAGE, cmp + (size_t)p * DST);
                double t1 = now_ns();
                for (int p = 0; p < npages; p++) {
                    if (len[p] < PAGE)
                        decompress_one(k, cmp + (size_t)p * DST, len[p], out);
                    else
                        memcpy(out, src + (size_t)p * PAGE, PAGE);
                }
                double t2 = now_ns();
                if (t1 - t0 < best_c) best_c = t1 - t0;
                if (t2 - t1 < best_d) best_d = t2 - t1;
            }
            double sum = 0;
            for (int p = 0; p < npages; p++) { sorted[p] = len[p]; sum += len[p]; }
            qsort(sorted, npages, sizeof(size_t), cmp_size);
            printf("@@BENCH {\"compressor\":\"%s\",\"class\":\"%s\",\"pages\":%d,"
                   "\"compress_ns\":%.1f,\"decompress_ns\":%.1f,\"size_p10\":%zu,"
                   "\"size_p50\":%zu,\"size_p90\":%zu,\"size_min\":%zu,\"size_max\":%zu,"
                   "\"size_mean\":%.1f}\n",
                   kind_names[k], class_names[cls], npages, best_c / npages, best_d / npages,
                   sorted[npages / 10], sorted[npages / 2], sorted[npages * 9 / 10], sorted[0],
                   sorted[npages - 1], sum / npages);
            fflush(stdout);
        }
    }

    /* Page copy over a buffer larger than the caches. */
    size_t big = 64u << 20, np = big / PAGE;
    uint8_t *a = malloc(big), *b = malloc(big);
    if (!a || !b) return 1;
    memset(a, 1, big);
    memset(b, 2, big);
    double best = 1e18;
    for (int r = 0; r < reps; r++) {
        double t0 = now_ns();
        for (size_t p = 0; p < np; p++) memcpy(b + p * PAGE, a + p * PAGE, PAGE);
        double t = now_ns() - t0;
        if (t < best) best = t;
    }
    double copy_ns = best / np;
    /* Idle latency: a dependent pointer chase through a random cycle. */
    size_t nl = big / sizeof(size_t);
    size_t *chain = (size_t *)a;
    for (size_t i = 0; i < nl; i++) chain[i] = i;
    uint64_t s = 12345;
    for (size_t i = nl - 1; i > 0; i--) {
        size_t j = xorshift(&s) % i; /* Sattolo: one cycle through every slot */
        size_t t = chain[i]; chain[i] = chain[j]; chain[j] = t;
    }
    size_t idx = 0, steps = 2000000;
    double t0 = now_ns();
    for (size_t i = 0; i < steps; i++) idx = chain[idx];
    double lat = (now_ns() - t0) / steps;
    /* What writing a page of each class costs the workload (usemem's fill pass). */
    double fill[NCLASS];
    for (int c = 0; c < NCLASS; c++) {
        fill[c] = 1e18;
        for (int r = 0; r < reps; r++) {
            double t1 = now_ns();
            for (int p = 0; p < npages; p++) fill_page(src + (size_t)p * PAGE, c, hash3(11, c, p));
            double t = (now_ns() - t1) / npages;
            if (t < fill[c]) fill[c] = t;
        }
    }
    printf("@@MEM {\"page_copy_ns\":%.1f,\"copy_mbps\":%.0f,\"latency_ns\":%.1f,\"sink\":%zu,"
           "\"fill_ns\":{", copy_ns, PAGE / copy_ns * 1e3, lat, idx & 1);
    for (int c = 0; c < NCLASS; c++)
        printf("%s\"%s\":%.1f", c ? "," : "", class_names[c], fill[c]);
    printf("}}\n");
    return 0;
}
