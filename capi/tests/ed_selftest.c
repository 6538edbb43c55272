/*
 * ed_selftest MODEL SCRATCH_DIR - checks edgedepth.h from C: every bad call fails with the right status and
 * a message (and never crashes), the runner stays usable after a failure, strided images equal packed ones,
 * ed_last_error is per thread, and two runners on two threads give what they give one at a time.
 * Prints one line per check; exits 1 if any failed. Run by tests/test_capi.py.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edgedepth.h"

static int failures;

static void check(int ok, const char *name)
{
    printf("%s - %s\n", ok ? "ok" : "FAIL", name);
    failures += !ok;
}

/* A bad call: the expected status, and a one-line message on this thread. */
static void check_fails(ed_status got, ed_status want, const char *name)
{
    char label[512];
    snprintf(label, sizeof label, "%s -> status %d (got %d): %s", name, want, got, ed_last_error());
    check(got == want && ed_last_error()[0] != '\0' && !strchr(ed_last_error(), '\n'), label);
}

static void write_file(const char *dir, const char *name, const char *text, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/%s", dir, name);
    FILE *file = fopen(path, "w");
    if (file) {
        fputs(text, file);
        fclose(file);
    }
}

/* Options from a program built against a newer header: this library's fields, then one it does not know. */
typedef struct {
    ed_options known;
    int newer_option;
} newer_options;

static newer_options newer_header_options(int newer_option)
{
    newer_options options;
    memset(&options, 0, sizeof options);
    options.known.struct_size = sizeof options;
    options.newer_option = newer_option;
    return options;
}

/* ed_options that ed_create must refuse before it reads the model. */
static void check_options_errors(const char *model)
{
    ed_runner *r = NULL;
    ed_options unset = {0}, short_size = ED_OPTIONS_INIT, reserved = ED_OPTIONS_INIT;
    short_size.struct_size = sizeof(ed_options) - 1;
    reserved.reserved = 1;
    check_fails(ed_create(model, &unset, &r), ED_ERR_ARG, "ed_create(options.struct_size 0)");
    check(strstr(ed_last_error(), "struct_size = sizeof(ed_options)") != NULL,
          "the message says how to set struct_size");
    check_fails(ed_create(model, &short_size, &r), ED_ERR_ARG, "ed_create(options.struct_size sizeof - 1)");
    check_fails(ed_create(model, &reserved, &r), ED_ERR_ARG, "ed_create(options.reserved 1)");
    newer_options newer = newer_header_options(7);
    check_fails(ed_create(model, &newer.known, &r), ED_ERR_ARG, "ed_create(a newer header's option set)");
    /* A program built before struct_size: its first field, a pointer, lands where struct_size is read. */
    struct {
        const char *device;
        int num_threads;
    } before_struct_size = {"CPU", 0};
    check_fails(ed_create(model, (const ed_options *)(const void *)&before_struct_size, &r), ED_ERR_ARG,
                "ed_create(options laid out before struct_size)");
    check(r == NULL, "refused options leave *out NULL");
}

/* A sidecar as `edgedepth build --backend openvino` writes it (the parts ed_create reads), from its pieces. */
#define SIDECAR(color, resize, layout, mean, std, scale)                                                           \
    "{\"precision\": \"fp32\", \"preprocessing\": {\"color\": " color ", \"dtype\": \"float32\", "                   \
    "\"input_dtype\": \"uint8\", \"layout\": " layout ", \"mean\": " mean ", \"resize\": " resize ", " scale        \
    ", \"std\": " std "}}"
#define RGB "\"RGB\""
#define BILINEAR "\"bilinear, half-pixel centres, no antialias\""
#define NCHW "\"NCHW\""
#define MEAN "[0.485, 0.456, 0.406]"
#define STD "[0.229, 0.224, 0.225]"
#define SCALE "\"scale\": 0.00392156862745098"

/* A sidecar the library must refuse: ed_create fails with `status` and a message holding `message`. The IR
 * beside it is a stand-in: the sidecar is read first. */
static void check_sidecar_error(const char *scratch, const char *sidecar, ed_status status, const char *message)
{
    char xml[1024], bin[1024], json[1024 + sizeof ".json"], name[256];
    ed_runner *r = (ed_runner *)&failures;
    write_file(scratch, "sidecar.xml", "<net></net>", xml, sizeof xml);
    write_file(scratch, "sidecar.bin", "", bin, sizeof bin);
    snprintf(json, sizeof json, "%s.json", xml);
    remove(json); /* a file, or the folder of the case before */
    if (sidecar && !sidecar[0])
        mkdir(json, 0700);
    else if (sidecar)
        write_file(scratch, "sidecar.xml.json", sidecar, json, sizeof json);
    snprintf(name, sizeof name, "ed_create(sidecar %.80s)", !sidecar ? "missing" : sidecar[0] ? sidecar : "a folder");
    for (char *c = name; *c; ++c)
        *c = *c < ' ' ? ' ' : *c;
    check_fails(ed_create(xml, NULL, &r), status, name);
    check(r == NULL && strstr(ed_last_error(), message) != NULL, message);
}

static void check_sidecar_errors(const char *scratch)
{
    check_sidecar_error(scratch, NULL, ED_ERR_IO, "it records the model's preprocessing: copy it with the .xml and .bin");
    check_sidecar_error(scratch, "", ED_ERR_IO, "sidecar.xml.json: Is a directory"); /* "" stands for a folder */
    check_sidecar_error(scratch, "{\"preprocessing\": {\"color\": \"RGB\",}}", ED_ERR_MODEL,
                        "is not valid JSON: line 1, column 35: expected a member name in double quotes (found '}')");
    check_sidecar_error(scratch, " \n", ED_ERR_MODEL, "is not valid JSON: line 2, column 1: expected a value");
    check_sidecar_error(scratch, "{\"precision\": \"fp32\"}", ED_ERR_MODEL, "records no preprocessing");
    check_sidecar_error(scratch, "[{\"preprocessing\": {}}]", ED_ERR_MODEL, "records no preprocessing");
    check_sidecar_error(scratch, "{\"preprocessing\": null}", ED_ERR_MODEL, "preprocessing is null, not an object");
    check_sidecar_error(scratch, SIDECAR("\"BGRA\"", BILINEAR, NCHW, MEAN, STD, SCALE), ED_ERR_MODEL,
                        "preprocessing.color is \"BGRA\"; this C runtime implements \"RGB\" or \"BGR\"");
    check_sidecar_error(scratch, SIDECAR("\"R\\nG\\u0000B\"", BILINEAR, NCHW, MEAN, STD, SCALE), ED_ERR_MODEL,
                        "preprocessing.color is \"R?G?B\"");
    check_sidecar_error(scratch, SIDECAR("1", BILINEAR, NCHW, MEAN, STD, SCALE), ED_ERR_MODEL,
                        "preprocessing.color is a number, not a string");
    check_sidecar_error(scratch, SIDECAR(RGB, "\"nearest\"", NCHW, MEAN, STD, SCALE), ED_ERR_MODEL,
                        "preprocessing.resize is \"nearest\"; this C runtime implements \"bilinear, half-pixel centres");
    check_sidecar_error(scratch, SIDECAR(RGB, "\"bilinear, half-pixel centres, antialias\"", NCHW, MEAN, STD, SCALE),
                        ED_ERR_MODEL, "preprocessing.resize is \"bilinear, half-pixel centres, antialias\"");
    check_sidecar_error(scratch, SIDECAR(RGB, BILINEAR, "\"NHWC\"", MEAN, STD, SCALE), ED_ERR_MODEL,
                        "preprocessing.layout is \"NHWC\"; this C runtime implements \"NCHW\"");
    check_sidecar_error(scratch, SIDECAR(RGB, BILINEAR, NCHW, "[0.5, 0.5]", STD, SCALE), ED_ERR_MODEL,
                        "preprocessing.mean is an array; it must be an array of 3 numbers, one per channel");
    check_sidecar_error(scratch, SIDECAR(RGB, BILINEAR, NCHW, "[0.5, \"0.5\", 0.5]", STD, SCALE), ED_ERR_MODEL,
                        "preprocessing.mean is an array; it must be an array of 3 numbers");
    check_sidecar_error(scratch, SIDECAR(RGB, BILINEAR, NCHW, MEAN, "[0.2, 0, 0.2]", SCALE), ED_ERR_MODEL,
                        "preprocessing.std[1] is 0; it must be a positive number");
    check_sidecar_error(scratch, SIDECAR(RGB, BILINEAR, NCHW, MEAN, STD, "\"scale\": 1e999"), ED_ERR_MODEL,
                        "preprocessing.scale is inf; it must be a positive number");
    check_sidecar_error(scratch, SIDECAR(RGB, BILINEAR, NCHW, MEAN, STD, "\"scale\": 1e-300"), ED_ERR_MODEL,
                        "leave the float range");
    check_sidecar_error(scratch, SIDECAR(RGB, BILINEAR, NCHW, MEAN, STD, "\"pixel_scale\": 0.5"), ED_ERR_MODEL,
                        "records no preprocessing.scale");
}

static void check_create_errors(const char *model, const char *scratch)
{
    ed_runner *r = (ed_runner *)&failures; /* not NULL, so the checks see ed_create reset it */
    char path[1024], bin[1024];
    check_fails(ed_create(model, NULL, NULL), ED_ERR_ARG, "ed_create(out NULL)");
    check_fails(ed_create(NULL, NULL, &r), ED_ERR_ARG, "ed_create(path NULL)");
    check(r == NULL, "ed_create sets *out to NULL on failure");
    snprintf(path, sizeof path, "%s/no_such_model.xml", scratch);
    check_fails(ed_create(path, NULL, &r), ED_ERR_IO, "ed_create(missing file)");
    check_fails(ed_create(scratch, NULL, &r), ED_ERR_IO, "ed_create(folder without model.xml)");
    write_file(scratch, "notes.txt", "not a model\n", path, sizeof path);
    check_fails(ed_create(path, NULL, &r), ED_ERR_MODEL, "ed_create(.txt file)");
    write_file(scratch, "weightless.xml", "<net></net>", path, sizeof path);
    check_fails(ed_create(path, NULL, &r), ED_ERR_IO, "ed_create(.xml without .bin)");
    write_file(scratch, "garbage.xml", "<net><layers><oops", path, sizeof path);
    write_file(scratch, "garbage.bin", "0123456789", bin, sizeof bin);
    write_file(scratch, "garbage.xml.json", SIDECAR(RGB, BILINEAR, NCHW, MEAN, STD, SCALE), bin, sizeof bin);
    check_fails(ed_create(path, NULL, &r), ED_ERR_MODEL, "ed_create(.xml that is not an IR)");
    ed_options negative = ED_OPTIONS_INIT, unknown = ED_OPTIONS_INIT;
    negative.num_threads = -1;
    unknown.device = "NO_SUCH_DEVICE";
    check_fails(ed_create(model, &negative, &r), ED_ERR_ARG, "ed_create(num_threads -1)");
    check_fails(ed_create(model, &unknown, &r), ED_ERR_RUNTIME, "ed_create(unknown device)");
    check(r == NULL, "failed ed_create leaves *out NULL");
    check_options_errors(model);
    check_sidecar_errors(scratch);
}

/* A deterministic test card: gradients plus a hash, so a wrong channel order or stride shows in the depth. */
static unsigned char *test_image(int width, int height, int stride, unsigned seed)
{
    unsigned char *rgb = calloc((size_t)stride * (size_t)height, 1);
    for (int y = 0; rgb && y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            unsigned hash = (unsigned)(x * 73856093u) ^ (unsigned)(y * 19349663u) ^ seed * 83492791u;
            unsigned char *p = rgb + (size_t)y * (size_t)stride + (size_t)x * 3;
            p[0] = (unsigned char)(255 * x / width);
            p[1] = (unsigned char)(255 * y / height);
            p[2] = (unsigned char)(hash >> 8);
        }
    }
    return rgb;
}

static void check_infer_errors(ed_runner *r)
{
    int w = 40, h = 30, iw = 0, ih = 0;
    unsigned char *rgb = test_image(w, h, w * 3, 1);
    float depth[40 * 30];
    check_fails(ed_input_size(NULL, &iw, &ih), ED_ERR_ARG, "ed_input_size(runner NULL)");
    check_fails(ed_input_size(r, NULL, &ih), ED_ERR_ARG, "ed_input_size(width NULL)");
    check_fails(ed_input_size(r, &iw, NULL), ED_ERR_ARG, "ed_input_size(height NULL)");
    check(ed_input_size(r, &iw, &ih) == ED_OK && iw > 0 && ih > 0, "ed_input_size gives a positive size");
    check_fails(ed_infer_rgb8(NULL, rgb, w, h, w * 3, depth, w, h), ED_ERR_ARG, "ed_infer_rgb8(runner NULL)");
    check_fails(ed_infer_rgb8(r, NULL, w, h, w * 3, depth, w, h), ED_ERR_ARG, "ed_infer_rgb8(rgb NULL)");
    check_fails(ed_infer_rgb8(r, rgb, w, h, w * 3, NULL, w, h), ED_ERR_ARG, "ed_infer_rgb8(depth_out NULL)");
    check_fails(ed_infer_rgb8(r, rgb, 0, h, w * 3, depth, w, h), ED_ERR_ARG, "ed_infer_rgb8(width 0)");
    check_fails(ed_infer_rgb8(r, rgb, w, -1, w * 3, depth, w, h), ED_ERR_ARG, "ed_infer_rgb8(height -1)");
    check_fails(ed_infer_rgb8(r, rgb, w, h, w * 3 - 1, depth, w, h), ED_ERR_ARG, "ed_infer_rgb8(stride < width*3)");
    check_fails(ed_infer_rgb8(r, rgb, w, h, w * 3, depth, 0, h), ED_ERR_ARG, "ed_infer_rgb8(out_width 0)");
    check_fails(ed_infer_rgb8(r, rgb, w, h, w * 3, depth, w, 0), ED_ERR_ARG, "ed_infer_rgb8(out_height 0)");
    check(ed_infer_rgb8(r, rgb, w, h, w * 3, depth, w, h) == ED_OK, "the runner works after failed calls");
    free(rgb);
}

static void check_stride(ed_runner *r)
{
    enum { W = 45, H = 33, PAD = 7 };
    unsigned char *packed = test_image(W, H, W * 3, 2), *padded = test_image(W, H, W * 3 + PAD, 2);
    float a[W * H], b[W * H];
    int ok = ed_infer_rgb8(r, packed, W, H, W * 3, a, W, H) == ED_OK &&
             ed_infer_rgb8(r, padded, W, H, W * 3 + PAD, b, W, H) == ED_OK;
    check(ok && memcmp(a, b, sizeof a) == 0, "a padded row stride gives the packed image's depth");
    free(packed);
    free(padded);
}

static void *fail_on_this_thread(void *message_copy)
{
    char *copy = message_copy;
    int fresh = ed_last_error()[0] == '\0';
    ed_input_size(NULL, NULL, NULL);
    snprintf(copy, 256, "%s", fresh ? ed_last_error() : "");
    return NULL;
}

static void check_error_is_per_thread(void)
{
    char before[256], other[256] = "";
    ed_infer_rgb8(NULL, NULL, 0, 0, 0, NULL, 0, 0);
    snprintf(before, sizeof before, "%s", ed_last_error());
    pthread_t thread;
    pthread_create(&thread, NULL, fail_on_this_thread, other);
    pthread_join(thread, NULL);
    check(other[0] != '\0' && strcmp(before, ed_last_error()) == 0 && strcmp(before, other) != 0,
          "ed_last_error is per thread (a new thread starts empty; its failure leaves ours alone)");
}

typedef struct {
    ed_runner *runner;
    const unsigned char *rgb;
    int width, height, out_width, out_height, repeats;
    const float *expected; /* the result of the same call made alone */
    int mismatches;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    size_t count = (size_t)j->out_width * (size_t)j->out_height;
    float *depth = malloc(count * sizeof *depth);
    for (int i = 0; depth && i < j->repeats; ++i) {
        int ok = ed_infer_rgb8(j->runner, j->rgb, j->width, j->height, j->width * 3, depth, j->out_width,
                               j->out_height) == ED_OK;
        j->mismatches += !ok || memcmp(depth, j->expected, count * sizeof *depth) != 0;
    }
    j->mismatches += !depth;
    free(depth);
    return NULL;
}

/* Two runners, two images of different sizes: alone first, then both at once, repeatedly. */
static void check_two_threads(const char *model)
{
    enum { W1 = 96, H1 = 72, W2 = 50, H2 = 40, REPEATS = 4 };
    ed_runner *a = NULL, *b = NULL;
    unsigned char *rgb1 = test_image(W1, H1, W1 * 3, 3), *rgb2 = test_image(W2, H2, W2 * 3, 4);
    float *alone1 = malloc(sizeof(float) * W1 * H1), *alone2 = malloc(sizeof(float) * W2 * H2);
    ed_options one_thread = ED_OPTIONS_INIT;
    one_thread.num_threads = 1;
    newer_options newer = newer_header_options(0);
    check(ed_create(model, &one_thread, &a) == ED_OK, "ed_create(ED_OPTIONS_INIT, num_threads 1)");
    check(ed_create(model, &newer.known, &b) == ED_OK, "ed_create(a newer header's options, left at 0)");
    int ok = a && b && ed_infer_rgb8(a, rgb1, W1, H1, W1 * 3, alone1, W1, H1) == ED_OK &&
             ed_infer_rgb8(b, rgb2, W2, H2, W2 * 3, alone2, W2, H2) == ED_OK;
    check(ok, "two runners, one at a time");
    if (ok) {
        job jobs[2] = {{a, rgb1, W1, H1, W1, H1, REPEATS, alone1, 0}, {b, rgb2, W2, H2, W2, H2, REPEATS, alone2, 0}};
        pthread_t threads[2];
        for (int i = 0; i < 2; ++i)
            pthread_create(&threads[i], NULL, run_job, &jobs[i]);
        for (int i = 0; i < 2; ++i)
            pthread_join(threads[i], NULL);
        check(jobs[0].mismatches == 0 && jobs[1].mismatches == 0,
              "two runners on two threads at once give bit-identical depth to one at a time");
    }
    ed_destroy(a);
    ed_destroy(b);
    free(rgb1);
    free(rgb2);
    free(alone1);
    free(alone2);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    check(ed_version()[0] != '\0', "ed_version is not empty");
    check(ed_last_error() != NULL && ed_last_error()[0] == '\0', "ed_last_error starts empty, never NULL");
    ed_destroy(NULL);
    check(1, "ed_destroy(NULL) is a no-op");
    check_create_errors(argv[1], argv[2]);

    ed_runner *r = NULL;
    check(ed_create(argv[1], NULL, &r) == ED_OK && r != NULL, "ed_create with default options");
    if (r) {
        check_infer_errors(r);
        check_stride(r);
    }
    ed_destroy(r);
    check_error_is_per_thread();
    check_two_threads(argv[1]);
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
