/*
 * edgedepth_cli - depth for one image with the edgedepth C runtime.
 *
 *   edgedepth_cli [-d DEVICE] [-t THREADS] [-n RUNS] [-s HxW] MODEL INPUT.ppm OUTPUT.pfm
 *
 * Reads a binary PPM (P6, 8-bit RGB), runs the model RUNS times (default 1), writes the depth map of the
 * last run as a PFM (metres, one float per pixel, at the image size unless -s gives another) and prints
 * one JSON line: the image and output sizes, the min/median/max depth, the latency of ed_infer_rgb8 (the
 * first run includes OpenVINO's one-off set-up) and the program's peak resident memory (Linux; else null).
 * A bad option or input gets one line naming it and the problem, and a non-zero exit (2 for the command
 * line, 1 otherwise).
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edgedepth.h"

/* The largest PPM width or height read: far beyond any camera, and width * 3 stays far below INT_MAX, the
 * limit of ed_infer_rgb8's int row stride. */
#define PPM_MAX_SIDE (1 << 20)
#define CONVERT_HINT "convert it, e.g. `convert in.png -depth 8 out.ppm`"

typedef struct {
    int width, height;
    unsigned char *pixels; /* rows back to back, 3 bytes a pixel */
} image;

static int usage(const char *program)
{
    fprintf(stderr, "usage: %s [-d DEVICE] [-t THREADS] [-n RUNS] [-s HxW] MODEL INPUT.ppm OUTPUT.pfm\n", program);
    return 2;
}

/* A whole decimal number in [min, max]: "12" yes; "12x", "" and (for min 0) "-1" no. */
static int parse_int(const char *text, long min, long max, int *value)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || v < min || v > max)
        return 0;
    *value = (int)v;
    return 1;
}

/* -s HxW: two positive integers, height first as everywhere in edgedepth. Says what is wrong on one line;
 * returns 0 then. */
static int parse_size(const char *text, int *width, int *height)
{
    char h[32], w[32];
    const char *x = strchr(text, 'x');
    size_t hn = x ? (size_t)(x - text) : 0;
    if (!x || hn >= sizeof h || strlen(x + 1) >= sizeof w) {
        fprintf(stderr, "error: -s %s: expected HEIGHTxWIDTH in pixels, e.g. -s 480x640\n", text);
        return 0;
    }
    memcpy(h, text, hn);
    h[hn] = '\0';
    strcpy(w, x + 1);
    if (!parse_int(h, 1, INT_MAX, height) || !parse_int(w, 1, INT_MAX, width)) {
        fprintf(stderr, "error: -s %s: height and width must be positive integers, e.g. -s 480x640\n", text);
        return 0;
    }
    return 1;
}

/* Skip whitespace and '#' comments between PPM header fields, then read one decimal field and the single
 * whitespace byte that ends it. Says what is wrong with field `what` on one line; returns 0 then. */
static int read_header_int(FILE *file, const char *path, const char *what, int *value)
{
    int c;
    while ((c = fgetc(file)) != EOF) {
        if (c == '#') {
            while ((c = fgetc(file)) != EOF && c != '\n')
                ;
        } else if (!isspace(c)) {
            break;
        }
    }
    long v = 0;
    int digits = 0;
    for (; c >= '0' && c <= '9' && v <= PPM_MAX_SIDE; c = fgetc(file), ++digits)
        v = v * 10 + (c - '0');
    if (v > PPM_MAX_SIDE) {
        fprintf(stderr, "error: %s: the header's %s is larger than %d; is this a PPM image?\n", path, what,
                PPM_MAX_SIDE);
        return 0;
    }
    if (digits == 0 || !isspace(c)) {
        fprintf(stderr, "error: %s: the P6 header has no valid %s (expected \"P6 WIDTH HEIGHT 255\", then the "
                        "pixels); %s\n", path, what, CONVERT_HINT);
        return 0;
    }
    *value = (int)v;
    return 1;
}

/* The P6 magic, size and maxval; each problem gets its own one-line message. */
static int read_ppm_header(FILE *file, const char *path, image *out)
{
    int magic[2] = {fgetc(file), fgetc(file)}, maxval = 0;
    if (magic[0] == EOF) {
        fprintf(stderr, "error: %s is empty\n", path);
        return 0;
    }
    if (magic[0] != 'P' || magic[1] != '6') {
        if (magic[0] == 'P' && magic[1] >= '1' && magic[1] <= '7')
            fprintf(stderr, "error: %s is a P%c file, not a binary RGB PPM (P6); %s\n", path, magic[1], CONVERT_HINT);
        else
            fprintf(stderr, "error: %s does not start with P6: not a binary RGB PPM; %s\n", path, CONVERT_HINT);
        return 0;
    }
    if (!read_header_int(file, path, "width", &out->width) || !read_header_int(file, path, "height", &out->height) ||
        !read_header_int(file, path, "maxval", &maxval))
        return 0;
    if (out->width == 0 || out->height == 0) {
        fprintf(stderr, "error: %s is %dx%d pixels; an image needs a positive width and height\n", path, out->width,
                out->height);
        return 0;
    }
    if (maxval != 255) {
        fprintf(stderr, "error: %s has maxval %d; edgedepth_cli reads 8-bit PPM (maxval 255): %s\n", path, maxval,
                CONVERT_HINT);
        return 0;
    }
    return 1;
}

/* Reads the pixels straight into the one buffer handed to ed_infer_rgb8: 3 bytes a pixel, no other copy. */
static int read_ppm(const char *path, image *out)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "error: cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    int ok = read_ppm_header(file, path, out);
    size_t size = ok ? (size_t)out->width * (size_t)out->height * 3 : 0, got = 0;
    if (ok && !(out->pixels = malloc(size))) {
        fprintf(stderr, "error: out of memory for a %dx%d image (%zu MB)\n", out->width, out->height, size >> 20);
        ok = 0;
    }
    if (ok && (got = fread(out->pixels, 1, size, file)) != size) {
        fprintf(stderr, "error: %s is truncated: the header says %dx%d pixels (%zu bytes) but %zu bytes follow it\n",
                path, out->width, out->height, size, got);
        ok = 0;
    }
    fclose(file);
    return ok;
}

/* PFM: "Pf", size, a negative scale for little-endian floats, then rows from the bottom up. Written to a
 * temporary file renamed into place, so a failed write never leaves a depth map that looks complete. */
static int write_pfm(const char *path, const float *depth, int width, int height)
{
    const unsigned one = 1;
    int little_endian = *(const unsigned char *)&one == 1;
    char tmp[4096];
    FILE *file = snprintf(tmp, sizeof tmp, "%s.tmp", path) < (int)sizeof tmp ? fopen(tmp, "wb") : NULL;
    if (!file) {
        fprintf(stderr, "error: cannot write %s\n", path);
        return 0;
    }
    int ok = fprintf(file, "Pf\n%d %d\n%s\n", width, height, little_endian ? "-1.0" : "1.0") > 0;
    for (int y = height - 1; ok && y >= 0; --y)
        ok = fwrite(depth + (size_t)y * (size_t)width, sizeof *depth, (size_t)width, file) == (size_t)width;
    ok = fclose(file) == 0 && ok && rename(tmp, path) == 0;
    if (!ok) {
        remove(tmp);
        fprintf(stderr, "error: writing %s failed\n", path);
    }
    return ok;
}

/* The k-th smallest of a[0..n) (Wirth's selection: O(n) on average, equal values split evenly); reorders a. */
static float select_kth(float *a, ptrdiff_t n, ptrdiff_t k)
{
    ptrdiff_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = a[k];
        ptrdiff_t i = lo, j = hi;
        do {
            while (a[i] < pivot)
                ++i;
            while (pivot < a[j])
                --j;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        } while (i <= j);
        if (j < k)
            lo = i;
        if (k < i)
            hi = j;
    }
    return a[k];
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Peak resident memory of this program so far, in KiB, or -1 where unknown: Linux's VmHWM, the high-water
 * mark of this process image. (getrusage's ru_maxrss would not do: Linux carries it across exec, so it would
 * report the peak of whatever process started this one, if that was larger.) */
static long peak_rss_kib(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (status && fgets(line, sizeof line, status) && sscanf(line, "VmHWM: %ld kB", &kib) != 1)
        ;
    if (status)
        fclose(status);
    return kib;
}

/* One JSON line. The depth statistics are taken in place (the PFM is already written), so the report needs
 * no second depth-sized buffer. */
static void print_report(const image *img, float *depth, int out_w, int out_h, double *latency_ms, int runs)
{
    size_t count = (size_t)out_w * (size_t)out_h;
    float lowest = depth[0], highest = depth[0];
    for (size_t i = 1; i < count; ++i) {
        lowest = depth[i] < lowest ? depth[i] : lowest;
        highest = depth[i] > highest ? depth[i] : highest;
    }
    float median = select_kth(depth, (ptrdiff_t)count, (ptrdiff_t)(count / 2));
    double first = latency_ms[0];
    qsort(latency_ms, (size_t)runs, sizeof *latency_ms, compare_doubles);
    long peak_kib = peak_rss_kib();
    char peak[32] = "null";
    if (peak_kib >= 0)
        snprintf(peak, sizeof peak, "%.1f", (double)peak_kib / 1024.0);
    printf("{\"image_hw\": [%d, %d], \"output_hw\": [%d, %d], \"depth_m\": {\"min\": %.6g, \"median\": %.6g, "
           "\"max\": %.6g}, \"latency_ms\": {\"first\": %.3f, \"median\": %.3f, \"runs\": %d}, "
           "\"peak_rss_mib\": %s, \"edgedepth\": \"%s\"}\n",
           img->height, img->width, out_h, out_w, lowest, median, highest, first, latency_ms[runs / 2], runs, peak,
           ed_version());
}

int main(int argc, char **argv)
{
    ed_options options = ED_OPTIONS_INIT;
    int runs = 1, out_w = 0, out_h = 0, opt;
    opterr = 0; /* every bad option gets one line of our own, naming it and the problem */
    while ((opt = getopt(argc, argv, ":d:t:n:s:")) != -1) {
        switch (opt) {
        case 'd':
            options.device = optarg;
            break;
        case 't':
            if (!parse_int(optarg, 0, INT_MAX, &options.num_threads)) {
                fprintf(stderr, "error: -t %s: THREADS must be a whole number >= 0 (0 = all cores)\n", optarg);
                return usage(argv[0]);
            }
            break;
        case 'n':
            if (!parse_int(optarg, 1, INT_MAX, &runs)) {
                fprintf(stderr, "error: -n %s: RUNS must be a whole number >= 1\n", optarg);
                return usage(argv[0]);
            }
            break;
        case 's':
            if (!parse_size(optarg, &out_w, &out_h))
                return usage(argv[0]);
            break;
        case ':':
            fprintf(stderr, "error: -%c needs a value\n", optopt);
            return usage(argv[0]);
        default:
            fprintf(stderr, "error: unknown option -%c\n", optopt);
            return usage(argv[0]);
        }
    }
    if (argc - optind != 3) {
        fprintf(stderr, "error: expected 3 arguments (MODEL INPUT.ppm OUTPUT.pfm), got %d\n", argc - optind);
        return usage(argv[0]);
    }

    image img = {0, 0, NULL};
    ed_runner *runner = NULL;
    float *depth = NULL;
    double *latency_ms = NULL;
    int status = 1;
    if (!read_ppm(argv[optind + 1], &img))
        goto done;
    if (ed_create(argv[optind], &options, &runner) != ED_OK) {
        fprintf(stderr, "error: %s\n", ed_last_error());
        goto done;
    }
    out_w = out_w ? out_w : img.width;
    out_h = out_h ? out_h : img.height;
    depth = malloc((size_t)out_w * (size_t)out_h * sizeof *depth);
    latency_ms = malloc((size_t)runs * sizeof *latency_ms);
    if (!depth || !latency_ms) {
        fprintf(stderr, "error: out of memory for a %dx%d depth map and %d latencies\n", out_w, out_h, runs);
        goto done;
    }
    for (int i = 0; i < runs; ++i) {
        double start = now_ms();
        if (ed_infer_rgb8(runner, img.pixels, img.width, img.height, img.width * 3, depth, out_w, out_h) != ED_OK) {
            fprintf(stderr, "error: %s\n", ed_last_error());
            goto done;
        }
        latency_ms[i] = now_ms() - start;
    }
    if (!write_pfm(argv[optind + 2], depth, out_w, out_h))
        goto done;
    print_report(&img, depth, out_w, out_h, latency_ms, runs);
    status = 0;
done:
    free(latency_ms);
    free(depth);
    ed_destroy(runner);
    free(img.pixels);
    return status;
}
