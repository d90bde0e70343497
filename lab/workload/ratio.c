/* Host check of page compressibility: reads 4 KiB pages on stdin (e.g. from
 * `usemem --emit text --pages 2000`) and prints the mean lz4 and zstd-3
 * compression ratio per page, as zswap would compress them one by one. */
#include <lz4.h>
#include <stdio.h>
#include <zstd.h>

int main(void)
{
    static char in[4096], out[8192];
    double lz4 = 0, zstd = 0;
    long n = 0;
    while (fread(in, 1, sizeof(in), stdin) == sizeof(in)) {
        int a = LZ4_compress_default(in, out, sizeof(in), sizeof(out));
        size_t b = ZSTD_compress(out, sizeof(out), in, sizeof(in), 3);
        lz4 += a;
        zstd += (double)b;
        n++;
    }
    if (!n) return 1;
    printf("pages %ld lz4 %.3f zstd %.3f\n", n, 4096.0 * n / lz4, 4096.0 * n / zstd);
    return 0;
}
