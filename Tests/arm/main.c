/* ARM kernel test driver (scripts/test-arm): runs the Embedded Swift checks of Tests/arm/KernelChecks.swift,
 * linked statically for aarch64 Linux and run under qemu-aarch64. Each check compares the portable kernel
 * (NEON) against its reference twin on one shape and returns the number of mismatching outputs.
 * Prints one line per case and "N passed, M failed" last; exits 1 on any failure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int32_t nibble_arm_current_isa(void);
int32_t nibble_arm_fp32_conv(int32_t index, int32_t *shape, int32_t *exact, int32_t *count);
int32_t nibble_arm_fp32_fc(int32_t index, int32_t *shape, int32_t *exact, int32_t *count);
int32_t nibble_arm_int8_conv(int32_t index, int32_t *shape, int32_t *count);
int32_t nibble_arm_int8_fc(int32_t index, int32_t *shape, int32_t *count);
int32_t nibble_arm_ternary_conv(int32_t index, int32_t *shape, int32_t *count);
int32_t nibble_arm_binary_conv(int32_t index, int32_t *shape, int32_t *count);
int32_t nibble_arm_popcount_peak(int32_t iterations);

static int passed, failed;
static const char *binary_modes[] = {"w1a1", "w2a2", "w1a2", "w4a4", "w3a1", "w2a3u"};

static void conv_shape(char *buf, size_t n, const int32_t *s) {
    snprintf(buf, n, "%dx%dx%d -> %dx%dx%d k%dx%d s%dx%d p%d,%d d%dx%d g%d", s[0], s[1], s[2], s[3], s[4], s[5],
             s[6], s[7], s[8], s[9], s[10], s[11], s[12], s[13], s[14]);
}

static void report(const char *kernel, int index, const char *shape, int32_t bad, int32_t count, int32_t exact) {
    if (bad == 0) passed++; else failed++;
    printf("%-6s %-12s #%-3d %-48s ", bad == 0 ? "ok" : "FAIL", kernel, index, shape);
    if (bad != 0) printf("%d of %d outputs differ", bad, count);
    else if (exact >= 0) printf("%d outputs, %d bit-identical", count, exact);
    else printf("%d outputs bit-exact", count);
    printf("\n");
}

int main(int argc, char **argv) {
    /* Case counts mirror Tests/NibbleKernelsTests (random shapes + fixed edges); argv[1] scales them down. */
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;
    int32_t s[16], exact, count;
    char buf[128];

    int32_t isa = nibble_arm_current_isa();
    report("dispatch", 0, isa == 1 ? "KernelISA.current == portable" : "KernelISA.current != portable",
           isa == 1 ? 0 : 1, 1, -1);

    for (int i = 0; i < 158 / scale; i++) {
        int32_t bad = nibble_arm_fp32_conv(i, s, &exact, &count);
        conv_shape(buf, sizeof buf, s);
        report("fp32_conv", i, buf, bad, count, exact);
    }
    for (int i = 0; i < 60 / scale; i++) {
        int32_t bad = nibble_arm_fp32_fc(i, s, &exact, &count);
        snprintf(buf, sizeof buf, "in %d out %d batch %d", s[0], s[1], s[2]);
        report("fp32_fc", i, buf, bad, count, exact);
    }
    for (int i = 0; i < 158 / scale; i++) {
        int32_t bad = nibble_arm_int8_conv(i, s, &count);
        conv_shape(buf, sizeof buf, s);
        report("int8_conv", i, buf, bad, count, -1);
    }
    for (int i = 0; i < 60 / scale; i++) {
        int32_t bad = nibble_arm_int8_fc(i, s, &count);
        snprintf(buf, sizeof buf, "in %d out %d batch %d", s[0], s[1], s[2]);
        report("int8_fc", i, buf, bad, count, -1);
    }
    for (int i = 0; i < 60 / scale; i++) {
        int32_t bad = nibble_arm_ternary_conv(i, s, &count);
        char g[100];
        conv_shape(g, sizeof g, s);
        snprintf(buf, sizeof buf, "group size %d %s", s[15], g);
        report("ternary_conv", i, buf, bad, count, -1);
    }
    for (int i = 0; i < 132 / scale; i++) {
        int32_t bad = nibble_arm_binary_conv(i, s, &count);
        char g[100];
        conv_shape(g, sizeof g, s);
        snprintf(buf, sizeof buf, "%s %s", binary_modes[s[15] % 6], g);
        report("binary_conv", i, buf, bad, count, -1);
    }
    report("popcount", 0, "BinaryPopcountPeak.vector vs scalar chains", nibble_arm_popcount_peak(1000), 1, -1);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
