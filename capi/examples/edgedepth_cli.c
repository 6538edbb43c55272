/*
 * edgedepth_cli - depth for one image with the edgedepth C runtime.
 *
 *   edgedepth_cli [-d DEVICE] [-t THREADS] [-n RUNS] [-s WxH] MODEL INPUT.ppm OUTPUT.pfm
 *
 * Reads a binary PPM (P6, 8-bit RGB), runs the model RUNS times (default 1), writes the depth map of the
 * last run as a PFM (metres, one float per pixel, at the image size unless -s gives another) and prints
 * one JSON line: the image and output sizes, the min/median/max depth and the latency of each run's
 * ed_infer_rgb8 (the first run includes OpenVINO's one-off set-up for a new image size).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edgedepth.h"

typedef struct {
    int width, height;
    unsigned char *pixels; /* rows back to back, 3 bytes a pixel */
} image;

static int usage(const char *program)
{
    fprintf(stderr, "usage: %s [-d DEVICE] [-t THREADS] [-n RUNS] [-s WxH] MODEL INPUT.ppm OUTPUT.pfm\n", program);
    return 2;
}

/* Skip whitespace and '#' comments between PPM header fields, then read one non-negative integer. */
static int read_header_int(FILE *file, int *value)
{
    int c;
    while ((c = fgetc(file)) != EOF) {
        if (c == '#') {
            while ((c = fgetc(file)) != EOF && c != '\n')
                ;
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            break;
        }
    }
    if (c == EOF || c < '0' || c > '9')
        return 0;
    long v = 0;
    for (; c >= '0' && c <= '9'; c = fgetc(file)) {
        v = v * 10 + (c - '0');
        if (v > 1 << 20)
            return 0;
    }
    *value = (int)v; /* `c` was the single whitespace that ends the field */
    return 1;
}

static int read_ppm(const char *path, image *out)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "error: cannot open %s\n", path);
        return 0;
    }
    int maxval = 0, ok = fgetc(file) == 'P' && fgetc(file) == '6' && read_header_int(file, &out->width) &&
                         read_header_int(file, &out->height) && read_header_int(file, &maxval) && maxval == 255 &&
                         out->width > 0 && out->height > 0;
    size_t size = ok ? (size_t)out->width * (size_t)out->height * 3 : 0;
    out->pixels = ok ? malloc(size) : NULL;
    ok = out->pixels && fread(out->pixels, 1, size, file) == size;
    fclose(file);
    if (!ok)
        fprintf(stderr, "error: %s is not a complete binary PPM (P6, maxval 255); convert it, e.g. with "
                        "`convert in.png -depth 8 out.ppm`\n", path);
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

static int compare_floats(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
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

static void print_report(const image *img, const float *depth, int out_w, int out_h, double *latency_ms, int runs)
{
    size_t count = (size_t)out_w * (size_t)out_h;
    float *sorted = malloc(count * sizeof *sorted);
    if (!sorted)
        return;
    memcpy(sorted, depth, count * sizeof *sorted);
    qsort(sorted, count, sizeof *sorted, compare_floats);
    double first = latency_ms[0];
    qsort(latency_ms, (size_t)runs, sizeof *latency_ms, compare_doubles);
    printf("{\"image_hw\": [%d, %d], \"output_hw\": [%d, %d], \"depth_m\": {\"min\": %.6g, \"median\": %.6g, "
           "\"max\": %.6g}, \"latency_ms\": {\"first\": %.3f, \"median\": %.3f, \"runs\": %d}, "
           "\"edgedepth\": \"%s\"}\n",
           img->height, img->width, out_h, out_w, sorted[0], sorted[count / 2], sorted[count - 1], first,
           latency_ms[runs / 2], runs, ed_version());
    free(sorted);
}

int main(int argc, char **argv)
{
    ed_options options = ED_OPTIONS_INIT;
    int runs = 1, out_w = 0, out_h = 0, opt;
    while ((opt = getopt(argc, argv, "d:t:n:s:")) != -1) {
        switch (opt) {
        case 'd':
            options.device = optarg;
            break;
        case 't':
            options.num_threads = atoi(optarg);
            break;
        case 'n':
            runs = atoi(optarg);
            break;
        case 's':
            if (sscanf(optarg, "%dx%d", &out_w, &out_h) != 2 || out_w <= 0 || out_h <= 0)
                return usage(argv[0]);
            break;
        default:
            return usage(argv[0]);
        }
    }
    if (argc - optind != 3 || runs < 1)
        return usage(argv[0]);

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
        fprintf(stderr, "error: out of memory\n");
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
