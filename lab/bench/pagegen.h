/*
 * Page content generator shared by usemem (the lab workload) and pagebench
 * (the compressor microbenchmark), so that a profile measured with pagebench
 * describes exactly the pages the workload hands the kernel.
 */
#ifndef PAGEGEN_H
#define PAGEGEN_H
#include <stdint.h>
#include <string.h>

#define PAGE 4096
#define LINE 64

enum { C_ZERO, C_SAME, C_TEXT, C_BINARY, C_INCOMP, NCLASS };
static const char *class_names[NCLASS] = {
    "zero", "same_filled", "text", "binary", "incompressible"};

/* splitmix64: seeds and per-page hashes. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return mix(a ^ mix(b ^ mix(c)));
}

static inline uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ---- text content ---- */

#ifndef VOCAB
#define VOCAB 256
#endif
#define RAND_TOKEN_PER_MILLE 40
#ifndef ZIPF_S
#define ZIPF_S 2.2
#endif
static char vocab[VOCAB][12];
static uint8_t vocab_len[VOCAB];
static uint32_t zipf_cdf[VOCAB]; /* cumulative, scaled to 2^32 - 1 */

static double powd(double b, double e)
{
    /* b^e for b >= 1 without libm: exp(e * ln b) by series on a reduced range. */
    double ln = 0, x = b;
    while (x > 2.0) { x /= 2.0; ln += 0.6931471805599453; }
    /* ln(x) for x in [1, 2] with atanh series */
    double y = (x - 1) / (x + 1), y2 = y * y, term = y, sum = 0;
    for (int k = 1; k < 40; k += 2) { sum += term / k; term *= y2; }
    ln += 2 * sum;
    double z = e * ln, r = 1, t = 1;
    int halvings = 0;
    while (z > 0.5) { z /= 2; halvings++; }
    for (int k = 1; k < 30; k++) { t *= z / k; r += t; }
    while (halvings--) r *= r;
    return r;
}

static void build_vocab(void)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
    uint64_t s = 0x5eed5eedULL;
    double total = 0, w[VOCAB];
    for (int i = 0; i < VOCAB; i++) {
        int len = 2 + (int)(xorshift(&s) % 8);
        for (int j = 0; j < len; j++)
            vocab[i][j] = letters[xorshift(&s) % (sizeof(letters) - 1)];
        vocab_len[i] = (uint8_t)len;
        w[i] = 1.0 / powd(i + 1, ZIPF_S);
        total += w[i];
    }
    double acc = 0;
    for (int i = 0; i < VOCAB; i++) {
        acc += w[i];
        zipf_cdf[i] = (uint32_t)(acc / total * 4294967295.0);
    }
    zipf_cdf[VOCAB - 1] = 0xffffffffU;
}

static int pick_word(uint64_t *s)
{
    uint32_t u = (uint32_t)(xorshift(s) >> 32);
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static void fill_text(uint8_t *p, uint64_t seed)
{
    uint64_t s = seed | 1;
    size_t off = 0;
    while (off < PAGE) {
        /* A few random 6-byte tokens (ids, pointers) cost both compressors a
         * full byte each, which brings zstd/lz4 down to the ~1.5 of real data. */
        if ((xorshift(&s) % 1000) < RAND_TOKEN_PER_MILLE) {
            uint64_t v = xorshift(&s);
            size_t n = PAGE - off < 6 ? PAGE - off : 6;
            memcpy(p + off, &v, n);
            off += n;
            continue;
        }
        int w = pick_word(&s);
        size_t n = vocab_len[w];
        if (n > PAGE - off) n = PAGE - off;
        memcpy(p + off, vocab[w], n);
        off += n;
        if (off < PAGE) {
            uint64_t r = xorshift(&s) & 31;
            p[off++] = r == 0 ? '\n' : r == 1 ? ',' : ' ';
        }
    }
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = xorshift(&s);
        memcpy(p + i, &v, 8);
    }
}

static void fill_page(uint8_t *p, int cls, uint64_t seed)
{
    switch (cls) {
    case C_ZERO:
        memset(p, 0, PAGE);
        break;
    case C_SAME: {
        uint64_t v = mix(seed) | 1;
        for (size_t i = 0; i < PAGE; i += 8) memcpy(p + i, &v, 8);
        break;
    }
    case C_TEXT:
        fill_text(p, seed);
        break;
    case C_BINARY: {
        fill_text(p, seed);
        uint64_t s = mix(seed) | 1;
        for (size_t l = 0; l < PAGE; l += LINE)
            if ((xorshift(&s) & 1) == 0)
                fill_random(p + l + 8, 16, xorshift(&s));
        break;
    }
    default:
        fill_random(p, PAGE, seed);
    }
}


#endif
