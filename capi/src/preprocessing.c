#define _POSIX_C_SOURCE 200809L /* fileno */
#include "preprocessing.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "json.h"

/* A sidecar is a few KiB (an LR-ASPP build's is 23 KiB, most of it the fusion report); this bound refuses a wrong
 * file (a .bin renamed, say) before reading it whole into memory. */
#define ED_SIDECAR_MAX_BYTES (16L << 20)
#define ED_REBUILD_HINT "rebuild the IR with `edgedepth build --backend openvino` from an ONNX edgedepth exported"

/* The recorded strings this library implements (Preprocessing.record() writes them); which one a sidecar gives
 * is what the field means here (color: 0 RGB, 1 BGR). */
enum { INPUT_DTYPE, LAYOUT, DTYPE, RESIZE, COLOR, CHOICES };
static const struct {
    const char *field, *accepted[2];
} choices[CHOICES] = {
    [INPUT_DTYPE] = {"input_dtype", {"uint8"}},
    [LAYOUT] = {"layout", {"NCHW"}},
    [DTYPE] = {"dtype", {"float32"}},
    [RESIZE] = {"resize", {"bilinear, half-pixel centres, no antialias"}}, /* what resize.c does */
    [COLOR] = {"color", {"RGB", "BGR"}},
};

static ed_status read_text(const char *path, char **text, size_t *length)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return ed_fail(ED_ERR_IO, "cannot read the sidecar %s: %s; it records the model's preprocessing: copy it with "
                       "the .xml and .bin (`edgedepth build --backend openvino` writes all three)", path, strerror(errno));
    struct stat info;
    ed_status status = ED_OK;
    if (fstat(fileno(file), &info) != 0)
        status = ed_fail(ED_ERR_IO, "cannot read the sidecar %s: %s", path, strerror(errno));
    else if (!S_ISREG(info.st_mode))
        status = ed_fail(ED_ERR_IO, "cannot read the sidecar %s: %s", path,
                         S_ISDIR(info.st_mode) ? strerror(EISDIR) : "not a regular file");
    else if (info.st_size > ED_SIDECAR_MAX_BYTES)
        status = ed_fail(ED_ERR_MODEL, "the sidecar %s is %lld bytes, not an edgedepth sidecar (a few KiB); %s", path,
                         (long long)info.st_size, ED_REBUILD_HINT);
    else if (!(*text = malloc((size_t)info.st_size + 1)))
        status = ed_fail(ED_ERR_NOMEM, "ed_create: out of memory reading the sidecar %s", path);
    if (status == ED_OK) {
        *length = fread(*text, 1, (size_t)info.st_size, file);
        (*text)[*length] = '\0';
        if (ferror(file)) {
            status = ed_fail(ED_ERR_IO, "cannot read the sidecar %s: %s", path, strerror(errno));
            free(*text);
            *text = NULL;
        }
    }
    fclose(file);
    return status;
}

/* A recorded string for a message: printable ASCII, at most 40 characters. */
static void shown(const char *text, size_t length, char out[48])
{
    size_t n = length < 40 ? length : 40;
    for (size_t i = 0; i < n; ++i)
        out[i] = text[i] >= ' ' && text[i] < 0x7f ? text[i] : '?';
    strcpy(out + n, length > n ? "..." : "");
}

static ed_status member(const char *sidecar, ed_json preprocessing, const char *field, ed_json *value)
{
    if (ed_json_member(preprocessing, field, value))
        return ED_OK;
    return ed_fail(ED_ERR_MODEL, "the sidecar %s records no preprocessing.%s; %s", sidecar, field, ED_REBUILD_HINT);
}

static ed_status read_choice(const char *sidecar, ed_json preprocessing, int i, int *index)
{
    const char *field = choices[i].field;
    ed_json value;
    char text[64], quoted[48], accepted[96] = "";
    size_t length;
    ed_status status = member(sidecar, preprocessing, field, &value);
    if (status != ED_OK)
        return status;
    if (!ed_json_string(value, text, sizeof text, &length))
        return ed_fail(ED_ERR_MODEL, "the sidecar %s: preprocessing.%s is %s, not a string; %s", sidecar, field,
                       ed_json_kind(value), ED_REBUILD_HINT);
    for (int k = 0; k < 2 && choices[i].accepted[k]; ++k) {
        const char *choice = choices[i].accepted[k];
        if (length == strlen(choice) && memcmp(text, choice, length) == 0) {
            *index = k;
            return ED_OK;
        }
        size_t used = strlen(accepted);
        snprintf(accepted + used, sizeof accepted - used, "%s\"%s\"", k ? " or " : "", choice);
    }
    shown(text, length, quoted);
    return ed_fail(ED_ERR_MODEL, "the sidecar %s: preprocessing.%s is \"%s\"; this C runtime implements %s", sidecar,
                   field, quoted, accepted);
}

/* `count` numbers (1: a number, else an array), finite, and > 0 where `positive`. */
static ed_status read_numbers(const char *sidecar, ed_json preprocessing, const char *field, double *out, int count,
                              int positive)
{
    ed_json value;
    ed_status status = member(sidecar, preprocessing, field, &value);
    if (status != ED_OK)
        return status;
    if (!(count == 1 ? ed_json_number(value, out) : ed_json_numbers(value, out, count)))
        return ed_fail(ED_ERR_MODEL, "the sidecar %s: preprocessing.%s is %s; it must be %s", sidecar, field,
                       ed_json_kind(value), count == 1 ? "a number" : "an array of 3 numbers, one per channel");
    for (int c = 0; c < count; ++c) {
        if (isfinite(out[c]) && (!positive || out[c] > 0))
            continue;
        char name[32];
        if (count == 1)
            snprintf(name, sizeof name, "%s", field);
        else
            snprintf(name, sizeof name, "%s[%d]", field, c);
        return ed_fail(ED_ERR_MODEL, "the sidecar %s: preprocessing.%s is %g; it must be a %s number", sidecar, name,
                       out[c], positive ? "positive" : "finite");
    }
    return ED_OK;
}

ed_status ed_read_preprocessing(const char *sidecar, ed_preprocessing *out)
{
    char *text = NULL, where[192];
    size_t length = 0;
    ed_status status = read_text(sidecar, &text, &length);
    if (status != ED_OK)
        return status;
    ed_json root, preprocessing;
    int index[CHOICES];
    double scale = 0, mean[3], std[3];
    if (!ed_json_parse(text, length, &root, where, sizeof where))
        status = ed_fail(ED_ERR_MODEL, "the sidecar %s is not valid JSON: %s; %s", sidecar, where, ED_REBUILD_HINT);
    else if (!ed_json_member(root, "preprocessing", &preprocessing))
        status = ed_fail(ED_ERR_MODEL, "the sidecar %s records no preprocessing (no \"preprocessing\" object); %s",
                         sidecar, ED_REBUILD_HINT);
    else if (*preprocessing.at != '{')
        status = ed_fail(ED_ERR_MODEL, "the sidecar %s: preprocessing is %s, not an object; %s", sidecar,
                         ed_json_kind(preprocessing), ED_REBUILD_HINT);
    for (int i = 0; status == ED_OK && i < CHOICES; ++i)
        status = read_choice(sidecar, preprocessing, i, &index[i]);
    if (status == ED_OK)
        status = read_numbers(sidecar, preprocessing, "scale", &scale, 1, 1);
    if (status == ED_OK)
        status = read_numbers(sidecar, preprocessing, "mean", mean, 3, 0);
    if (status == ED_OK)
        status = read_numbers(sidecar, preprocessing, "std", std, 3, 1);
    free(text);
    if (status != ED_OK)
        return status;
    for (int c = 0; c < 3; ++c) {
        out->pixel_mean[c] = (float)(mean[c] / scale);
        out->pixel_std[c] = (float)(std[c] / scale);
        if (!isfinite(out->pixel_mean[c]) || !isfinite(out->pixel_std[c]) || !(out->pixel_std[c] > 0))
            return ed_fail(ED_ERR_MODEL, "the sidecar %s: preprocessing mean %g, std %g over scale %g leave the float "
                           "range", sidecar, mean[c], std[c], scale);
    }
    out->bgr = index[COLOR];
    return ED_OK;
}
