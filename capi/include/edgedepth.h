/*
 * edgedepth.h - run an edgedepth depth model from C, with no Python in the process.
 *
 * The caller hands raw camera pixels (8-bit RGB, any size, any row stride); resizing to the model's input
 * size, channel order and normalisation are done for it, as the model's sidecar records them and exactly as
 * edgedepth's Python runtime applies them.
 * Depth comes back in metres, resized to whatever size the caller asks for. The library keeps no buffer that
 * grows with the image or output size: its memory is the model's, whatever the caller passes.
 *
 * Thread safety:
 *   - Different runners may be used from different threads at the same time.
 *   - One runner must not be used by two threads at once: serialise calls on it yourself, or give each
 *     thread its own runner. ed_input_size may be called on a runner from any thread at any time.
 *   - ed_create, ed_destroy, ed_version and ed_last_error may be called from any thread.
 *   - ed_last_error is per thread: it describes the last failed call made by the calling thread.
 *
 * Every call that can fail returns an ed_status; a failure never crashes and leaves a one-line message
 * for ed_last_error. A failed ed_infer_rgb8 leaves the runner usable.
 *
 * ABI: statuses are only ever appended, never renumbered (treat any status but ED_OK as a failure: a newer
 * library may return one this header does not list); ed_options only ever grows at its end and carries
 * its own size (see ED_OPTIONS_INIT), so a program compiled against this header keeps working with a newer
 * library, and a newer program with this library as long as it leaves the options this library lacks at 0.
 *
 * C99; link with -ledgedepth.
 */
#ifndef EDGEDEPTH_H
#define EDGEDEPTH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ED_API __attribute__((visibility("default")))
#else
#define ED_API
#endif

/** A loaded, compiled model with its own inference state. Opaque. */
typedef struct ed_runner ed_runner;

typedef enum {
    ED_OK = 0,
    ED_ERR_ARG = 1,     /* a bad argument: NULL pointer, size <= 0, stride too small */
    ED_ERR_IO = 2,      /* a file is missing or unreadable: the IR, its weights or its sidecar */
    ED_ERR_MODEL = 3,   /* the file is not an OpenVINO IR of an edgedepth model (N x 3 x H x W -> N x 1 x h x w), or
                           its sidecar is malformed or records a preprocessing this library does not implement */
    ED_ERR_RUNTIME = 4, /* OpenVINO failed: unknown device, compilation or inference error */
    ED_ERR_NOMEM = 5    /* edgedepth could not allocate memory (OpenVINO's own allocation failures reach it as
                           an unknown exception, so they come back as ED_ERR_RUNTIME) */
} ed_status;

/**
 * Creation options. NULL options = defaults ("CPU", all cores). Start from ED_OPTIONS_INIT, then set fields:
 *     ed_options options = ED_OPTIONS_INIT;
 *     options.num_threads = 2;
 * Every field's zero means its default, so a field added in a later version is 0 (= default) for a
 * program that does not know it. struct_size tells the library which fields the program knows; a
 * struct_size it does not accept (not set, or a layout older than this one) fails with ED_ERR_ARG.
 */
typedef struct {
    size_t struct_size; /* sizeof(ed_options) as the calling program sees it; ED_OPTIONS_INIT sets it */
    const char *device; /* OpenVINO device name ("CPU", "GPU", ...); NULL = "CPU" */
    int num_threads;    /* inference threads; 0 = all cores; < 0 is an error */
    int reserved;       /* must be 0: fills what would be padding, so that every byte below sizeof is a field
                           (a later version may give it a meaning, with 0 as the default) */
} ed_options;

/* A macro, not a function: struct_size must be the size the *calling program* was compiled with, and only
 * the program's own compiler knows it (a library function would write its own, possibly larger, layout). */
#define ED_OPTIONS_INIT {sizeof(ed_options), NULL, 0, 0}

/**
 * Load and compile a model. artifact_path is the .xml of an OpenVINO IR or the folder `edgedepth build
 * --backend openvino` wrote (holding model.xml); beside the .xml must be its .bin and its sidecar .xml.json,
 * which records the model's preprocessing (mean, std, value range, channel order): without it the model would
 * get input it was not trained on, so a missing sidecar is ED_ERR_IO, not a default. Float parts of the model
 * run in FP32 (OpenVINO's CPU default may otherwise pick bf16), so results match edgedepth's Python runners.
 * options: NULL for the defaults, or an ed_options started from ED_OPTIONS_INIT.
 * On success *out owns the runner (free it with ed_destroy); on failure *out is NULL.
 */
ED_API ed_status ed_create(const char *artifact_path, const ed_options *options, ed_runner **out);

/** The model's input size in pixels (what every image is resized to before the network sees it). */
ED_API ed_status ed_input_size(const ed_runner *r, int *width, int *height);

/**
 * Depth for one image.
 * rgb: width x height pixels, 3 bytes each (R, G, B), rows row_stride_bytes apart (>= width * 3).
 * depth_out: out_width * out_height floats, row-major, filled with depth in metres (the model's output
 * resized bilinearly to out_width x out_height; pass the image size to get a depth value per pixel).
 */
ED_API ed_status ed_infer_rgb8(ed_runner *r, const unsigned char *rgb, int width, int height, int row_stride_bytes,
                               float *depth_out, int out_width, int out_height);

/** The message for the last failure on this thread ("" if none); never NULL. Successful calls keep it. */
ED_API const char *ed_last_error(void);

/** Release a runner and everything it holds. NULL is a no-op. */
ED_API void ed_destroy(ed_runner *r);

/** The edgedepth version this library was built from, e.g. "0.1.0". */
ED_API const char *ed_version(void);

#ifdef __cplusplus
}
#endif

#endif /* EDGEDEPTH_H */
