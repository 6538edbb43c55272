/* The edgedepth.h runner on the OpenVINO C API. A call is "resize the caller's pixels into the model's input,
 * infer (the channel order and normalisation the sidecar records are compiled into the model), resize the depth
 * map to the caller's size". Both resizes run here, reading only the source samples they need, so no buffer
 * grows with the caller's image: OpenVINO's own resize would first convert the whole image to float (measured:
 * 24 bytes a pixel, 4.3 GiB for a 16000x12000 image, before this library did the resize itself). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openvino/c/openvino.h>

#include "edgedepth.h"
#include "error.h"
#include "preprocessing.h"
#include "resize.h"

#define ED_PATH_MAX 4096
#define ED_BUILD_HINT "build one with `edgedepth build --backend openvino`"

/* sizeof(ed_options) in the first version with struct_size: {struct_size, device, num_threads, reserved}.
 * A smaller struct_size was never set (or is a layout from before struct_size existed). A later version
 * appends fields (or gives `reserved` a meaning) with 0 as their default and, like this one, leaves no
 * padding, so that every byte read_options checks is one the caller wrote. */
#define ED_OPTIONS_V1_SIZE (offsetof(ed_options, reserved) + sizeof(int))
/* The largest struct_size taken at its word (the Linux kernel's bound for its extensible structs: one page).
 * Anything larger is no options struct but, e.g., a pointer from a program built before struct_size. */
#define ED_OPTIONS_MAX_SIZE 4096
#define ED_OPTIONS_HINT "initialise the options with ED_OPTIONS_INIT (it sets struct_size = sizeof(ed_options))"

struct ed_runner {
    ov_core_t *core;
    ov_compiled_model_t *compiled;
    ov_infer_request_t *request;
    int input_height, input_width;   /* the model's own input size */
    int output_height, output_width; /* the depth map the model produces, before resizing to the caller's size */
};

const char *ed_version(void)
{
    return ED_VERSION;
}

static int has_suffix(const char *text, const char *suffix)
{
    size_t n = strlen(text), k = strlen(suffix);
    return n >= k && strcmp(text + n - k, suffix) == 0;
}

/* artifact (an IR .xml or a folder holding model.xml) -> the .xml and .bin paths, both readable, and the path of
 * the sidecar beside them (<model>.xml.json). */
static ed_status resolve_ir(const char *artifact, char xml[ED_PATH_MAX], char bin[ED_PATH_MAX],
                            char sidecar[ED_PATH_MAX])
{
    struct stat info;
    if (stat(artifact, &info) != 0)
        return ed_fail(ED_ERR_IO, "artifact %s: %s; give an OpenVINO IR .xml or its folder (%s)", artifact,
                       strerror(errno), ED_BUILD_HINT);
    int n = snprintf(xml, ED_PATH_MAX, S_ISDIR(info.st_mode) ? "%s/model.xml" : "%s", artifact);
    if (n < 0 || n >= ED_PATH_MAX - 5)
        return ed_fail(ED_ERR_ARG, "artifact path is longer than %d bytes; move the model to a shorter path", ED_PATH_MAX);
    if (!has_suffix(xml, ".xml"))
        return ed_fail(ED_ERR_MODEL, "%s is not an OpenVINO IR (expected a .xml file); %s", xml, ED_BUILD_HINT);
    if (access(xml, R_OK) != 0)
        return ed_fail(ED_ERR_IO, "cannot read %s: %s; %s", xml, strerror(errno), ED_BUILD_HINT);
    memcpy(bin, xml, (size_t)n - 4);
    memcpy(bin + n - 4, ".bin", 5);
    if (access(bin, R_OK) != 0)
        return ed_fail(ED_ERR_IO, "cannot read the weights %s beside %s: %s; copy the .bin with the .xml", bin, xml,
                       strerror(errno));
    memcpy(sidecar, xml, (size_t)n);
    memcpy(sidecar + n, ".json", 6);
    return ED_OK;
}

/* The 4 dimensions of the model's only input (or output); -1 for a dynamic one. */
static ed_status port_dims(const ov_model_t *model, int input, int64_t dims[4], const char *xml)
{
    ov_output_const_port_t *port = NULL;
    ov_partial_shape_t shape = {0};
    ov_status_e st = input ? ov_model_const_input(model, &port) : ov_model_const_output(model, &port);
    if (st == OK)
        st = ov_port_get_partial_shape(port, &shape);
    if (port)
        ov_output_const_port_free(port);
    if (st != OK)
        return ed_fail_ov(ED_ERR_MODEL, st, "reading the model's shapes");
    int four_d = shape.rank.min == 4 && shape.rank.max == 4;
    for (int i = 0; i < 4; ++i)
        dims[i] = four_d && shape.dims[i].min == shape.dims[i].max ? shape.dims[i].min : -1;
    ov_partial_shape_free(&shape);
    if (!four_d)
        return ed_fail(ED_ERR_MODEL, "%s: the %s is not 4-D; an edgedepth model maps N x 3 x H x W to N x 1 x H x W",
                       xml, input ? "input" : "output");
    return ED_OK;
}

/* Refuse what is not an edgedepth depth model; return its input size. */
static ed_status check_model(const ov_model_t *model, const char *xml, int *height, int *width)
{
    size_t inputs = 0, outputs = 0;
    ov_status_e st = ov_model_inputs_size(model, &inputs);
    if (st == OK)
        st = ov_model_outputs_size(model, &outputs);
    if (st != OK)
        return ed_fail_ov(ED_ERR_MODEL, st, "counting the model's inputs and outputs");
    if (inputs != 1 || outputs != 1)
        return ed_fail(ED_ERR_MODEL, "%s has %zu inputs and %zu outputs; an edgedepth model has one of each (rgb, depth)",
                       xml, inputs, outputs);
    int64_t in[4], out[4];
    ed_status status = port_dims(model, 1, in, xml);
    if (status == ED_OK)
        status = port_dims(model, 0, out, xml);
    if (status != ED_OK)
        return status;
    if (in[1] != 3 || out[1] != 1)
        return ed_fail(ED_ERR_MODEL, "%s maps %lld to %lld channels; an edgedepth model maps 3 (RGB) to 1 (depth)", xml,
                       (long long)in[1], (long long)out[1]);
    if (in[2] <= 0 || in[3] <= 0 || in[2] > INT_MAX || in[3] > INT_MAX)
        return ed_fail(ED_ERR_MODEL, "%s has a dynamic input height/width; export it with a fixed size "
                       "(edgedepth export --dynamic none or batch)", xml);
    *height = (int)in[2];
    *width = (int)in[3];
    return ED_OK;
}

static ov_status_e reshape_input(ov_model_t *model, ov_dimension_t d0, ov_dimension_t d1, ov_dimension_t d2,
                                 ov_dimension_t d3)
{
    ov_dimension_t dims[4] = {d0, d1, d2, d3};
    ov_partial_shape_t shape;
    ov_status_e st = ov_partial_shape_create(4, dims, &shape);
    if (st != OK)
        return st;
    st = ov_model_reshape_single_input(model, shape);
    ov_partial_shape_free(&shape);
    return st;
}

/* Build the rest of the model's recorded preprocessing into it: f32 NHWC RGB at the model's H x W (0..255, as
 * ed_resize_rgb8 leaves it) -> B, G, R if the model takes that order -> (x - pixel_mean) / pixel_std -> NCHW;
 * depth out as f32. */
static ed_status add_preprocessing(ov_model_t *model, int height, int width, const ed_preprocessing *spec,
                                   ov_model_t **prepared)
{
    const ov_dimension_t one = {1, 1}, rgb = {3, 3}, h = {height, height}, w = {width, width};
    ov_preprocess_prepostprocessor_t *ppp = NULL;
    ov_preprocess_input_info_t *input = NULL;
    ov_preprocess_input_tensor_info_t *tensor = NULL;
    ov_preprocess_preprocess_steps_t *steps = NULL;
    ov_preprocess_input_model_info_t *model_info = NULL;
    ov_preprocess_output_info_t *output = NULL;
    ov_preprocess_output_tensor_info_t *output_tensor = NULL;
    ov_layout_t *nhwc = NULL, *nchw = NULL;

    ov_status_e st = reshape_input(model, one, rgb, h, w); /* batch 1, also for a dynamic-batch export */
    if (st == OK)
        st = ov_layout_create("NHWC", &nhwc);
    if (st == OK)
        st = ov_layout_create("NCHW", &nchw);
    if (st == OK)
        st = ov_preprocess_prepostprocessor_create(model, &ppp);
    if (st == OK)
        st = ov_preprocess_prepostprocessor_get_input_info(ppp, &input);
    if (st == OK)
        st = ov_preprocess_input_info_get_tensor_info(input, &tensor);
    if (st == OK)
        st = ov_preprocess_input_tensor_info_set_element_type(tensor, F32);
    if (st == OK)
        st = ov_preprocess_input_tensor_info_set_layout(tensor, nhwc);
    if (st == OK)
        st = ov_preprocess_input_info_get_preprocess_steps(input, &steps);
    if (st == OK && spec->bgr)
        st = ov_preprocess_preprocess_steps_reverse_channels(steps);
    if (st == OK)
        st = ov_preprocess_preprocess_steps_mean_multi_channels(steps, spec->pixel_mean, 3);
    if (st == OK)
        st = ov_preprocess_preprocess_steps_scale_multi_channels(steps, spec->pixel_std, 3);
    if (st == OK)
        st = ov_preprocess_input_info_get_model_info(input, &model_info);
    if (st == OK)
        st = ov_preprocess_input_model_info_set_layout(model_info, nchw);
    if (st == OK)
        st = ov_preprocess_prepostprocessor_get_output_info(ppp, &output);
    if (st == OK)
        st = ov_preprocess_output_info_get_tensor_info(output, &output_tensor);
    if (st == OK)
        st = ov_preprocess_output_set_element_type(output_tensor, F32);
    if (st == OK)
        st = ov_preprocess_prepostprocessor_build(ppp, prepared);

    ov_preprocess_output_tensor_info_free(output_tensor);
    ov_preprocess_output_info_free(output);
    ov_preprocess_input_model_info_free(model_info);
    ov_preprocess_preprocess_steps_free(steps);
    ov_preprocess_input_tensor_info_free(tensor);
    ov_preprocess_input_info_free(input);
    ov_preprocess_prepostprocessor_free(ppp);
    ov_layout_free(nchw);
    ov_layout_free(nhwc);
    return st == OK ? ED_OK : ed_fail_ov(ED_ERR_MODEL, st, "adding the pre-processing to the model");
}

/* Compile for the device as edgedepth's Python OpenVINO backend does: latency hint, FP32 float math (the CPU
 * plugin may otherwise choose bf16); then create the runner's one inference request. */
static ed_status compile(ed_runner *r, const ov_model_t *model, const ed_options *options)
{
    const char *device = options->device ? options->device : "CPU";
    int threads = options->num_threads;
    char threads_text[16];
    snprintf(threads_text, sizeof threads_text, "%d", threads);
    ov_status_e st = threads > 0
                         ? ov_core_compile_model(r->core, model, device, 6, &r->compiled,
                                                 ov_property_key_hint_performance_mode, "LATENCY",
                                                 ov_property_key_hint_inference_precision, "f32",
                                                 ov_property_key_inference_num_threads, threads_text)
                         : ov_core_compile_model(r->core, model, device, 4, &r->compiled,
                                                 ov_property_key_hint_performance_mode, "LATENCY",
                                                 ov_property_key_hint_inference_precision, "f32");
    if (st != OK) {
        char what[128];
        snprintf(what, sizeof what, "compiling the model for device %.64s", device);
        return ed_fail_ov(ED_ERR_RUNTIME, st, what);
    }
    st = ov_compiled_model_create_infer_request(r->compiled, &r->request);
    return st == OK ? ED_OK : ed_fail_ov(ED_ERR_RUNTIME, st, "creating an inference request");
}

/* The depth map's size as the compiled model produces it (static, as the input size is). */
static ed_status read_output_size(ed_runner *r)
{
    ov_output_const_port_t *port = NULL;
    ov_shape_t shape = {0};
    ov_status_e st = ov_compiled_model_output(r->compiled, &port);
    if (st == OK)
        st = ov_const_port_get_shape(port, &shape);
    if (port)
        ov_output_const_port_free(port);
    if (st != OK)
        return ed_fail_ov(ED_ERR_MODEL, st, "reading the depth output's shape");
    int ok = shape.rank == 4 && shape.dims[2] > 0 && shape.dims[3] > 0 && shape.dims[2] <= INT_MAX &&
             shape.dims[3] <= INT_MAX;
    if (ok) {
        r->output_height = (int)shape.dims[2];
        r->output_width = (int)shape.dims[3];
    }
    ov_shape_free(&shape);
    return ok ? ED_OK : ed_fail(ED_ERR_MODEL, "the depth output has no fixed 1 x 1 x H x W shape");
}

/* The caller's options as this library knows them (the Linux kernel's copy_struct_from_user rule): fields the
 * caller's struct_size lacks take their defaults (0); bytes beyond this library's fields must be 0, since
 * they are options a newer header added and this library cannot honour. */
static ed_status read_options(const ed_options *given, ed_options *known)
{
    static const ed_options defaults = ED_OPTIONS_INIT;
    *known = defaults;
    if (!given)
        return ED_OK;
    size_t size = given->struct_size;
    if (size < ED_OPTIONS_V1_SIZE || size > ED_OPTIONS_MAX_SIZE)
        return ed_fail(ED_ERR_ARG, "ed_create: options->struct_size is %zu, not the size of an ed_options (this "
                       "library takes %zu to %d bytes); %s", size, (size_t)ED_OPTIONS_V1_SIZE, ED_OPTIONS_MAX_SIZE,
                       ED_OPTIONS_HINT);
    memcpy(known, given, size < sizeof *known ? size : sizeof *known);
    known->struct_size = sizeof *known;
    for (size_t i = sizeof *known; i < size; ++i) {
        if (((const unsigned char *)given)[i] != 0)
            return ed_fail(ED_ERR_ARG, "ed_create: options set byte %zu of %zu, beyond the %zu bytes of the options "
                           "this library (edgedepth %s) knows; leave newer options at 0 or use a newer libedgedepth",
                           i, size, sizeof *known, ED_VERSION);
    }
    if (known->reserved != 0)
        return ed_fail(ED_ERR_ARG, "ed_create: options->reserved is %d; it must be 0: %s", known->reserved,
                       ED_OPTIONS_HINT);
    if (known->num_threads < 0)
        return ed_fail(ED_ERR_ARG, "ed_create: num_threads is %d; use 0 for all cores or a positive count",
                       known->num_threads);
    return ED_OK;
}

ed_status ed_create(const char *artifact_path, const ed_options *options, ed_runner **out)
{
    if (!out)
        return ed_fail(ED_ERR_ARG, "ed_create: out is NULL; pass the address of an ed_runner pointer");
    *out = NULL;
    if (!artifact_path)
        return ed_fail(ED_ERR_ARG, "ed_create: artifact_path is NULL; pass an OpenVINO IR .xml or its folder");
    ed_options known;
    ed_status status = read_options(options, &known);
    if (status != ED_OK)
        return status;
    char xml[ED_PATH_MAX], bin[ED_PATH_MAX], sidecar[ED_PATH_MAX];
    ed_preprocessing preprocessing;
    status = resolve_ir(artifact_path, xml, bin, sidecar);
    if (status == ED_OK)
        status = ed_read_preprocessing(sidecar, &preprocessing);
    if (status != ED_OK)
        return status;

    ed_runner *r = calloc(1, sizeof *r);
    if (!r)
        return ed_fail(ED_ERR_NOMEM, "ed_create: out of memory allocating the runner");
    ov_model_t *model = NULL, *prepared = NULL;
    ov_status_e st = ov_core_create(&r->core);
    if (st != OK)
        status = ed_fail_ov(ED_ERR_RUNTIME, st, "starting OpenVINO");
    if (status == ED_OK && (st = ov_core_read_model(r->core, xml, bin, &model)) != OK)
        status = ed_fail_ov(ED_ERR_MODEL, st, "not a readable OpenVINO IR (" ED_BUILD_HINT ")");
    if (status == ED_OK)
        status = check_model(model, xml, &r->input_height, &r->input_width);
    if (status == ED_OK)
        status = add_preprocessing(model, r->input_height, r->input_width, &preprocessing, &prepared);
    if (status == ED_OK)
        status = compile(r, prepared, &known);
    if (status == ED_OK)
        status = read_output_size(r);
    if (prepared)
        ov_model_free(prepared);
    if (model)
        ov_model_free(model);
    if (status != ED_OK) {
        ed_destroy(r);
        return status;
    }
    *out = r;
    return ED_OK;
}

ed_status ed_input_size(const ed_runner *r, int *width, int *height)
{
    if (!r || !width || !height)
        return ed_fail(ED_ERR_ARG, "ed_input_size: %s is NULL", !r ? "the runner" : !width ? "width" : "height");
    *width = r->input_width;
    *height = r->input_height;
    return ED_OK;
}

static ed_status check_infer_args(const ed_runner *r, const unsigned char *rgb, int width, int height,
                                  int row_stride_bytes, const float *depth_out, int out_width, int out_height)
{
    if (!r || !rgb || !depth_out)
        return ed_fail(ED_ERR_ARG, "ed_infer_rgb8: %s is NULL", !r ? "the runner" : !rgb ? "rgb" : "depth_out");
    if (width <= 0 || height <= 0)
        return ed_fail(ED_ERR_ARG, "ed_infer_rgb8: image size %dx%d; width and height must be positive", width, height);
    if ((int64_t)width * 3 > INT_MAX || (int64_t)row_stride_bytes < (int64_t)width * 3)
        return ed_fail(ED_ERR_ARG, "ed_infer_rgb8: row_stride_bytes %d is less than width x 3 = %lld; pass the "
                       "distance in bytes between rows", row_stride_bytes, (long long)width * 3);
    if (out_width <= 0 || out_height <= 0)
        return ed_fail(ED_ERR_ARG, "ed_infer_rgb8: output size %dx%d; out_width and out_height must be positive "
                       "(the image size gives one depth per pixel)", out_width, out_height);
    return ED_OK;
}

ed_status ed_infer_rgb8(ed_runner *r, const unsigned char *rgb, int width, int height, int row_stride_bytes,
                        float *depth_out, int out_width, int out_height)
{
    ed_status status = check_infer_args(r, rgb, width, height, row_stride_bytes, depth_out, out_width, out_height);
    if (status != ED_OK)
        return status;
    ov_tensor_t *input = NULL, *depth = NULL;
    void *input_data = NULL, *depth_data = NULL;
    /* The request's own input tensor, f32 1 x H x W x 3 at the model's size: the resize writes straight into it. */
    ov_status_e st = ov_infer_request_get_input_tensor(r->request, &input);
    if (st == OK)
        st = ov_tensor_data(input, &input_data);
    if (st == OK) {
        ed_resize_rgb8(rgb, height, width, row_stride_bytes, input_data, r->input_height, r->input_width);
        st = ov_infer_request_infer(r->request);
    }
    if (st == OK)
        st = ov_infer_request_get_output_tensor_by_index(r->request, 0, &depth);
    if (st == OK)
        st = ov_tensor_data(depth, &depth_data);
    if (st == OK)
        ed_resize_bilinear(depth_data, r->output_height, r->output_width, depth_out, out_height, out_width);
    if (depth)
        ov_tensor_free(depth);
    if (input)
        ov_tensor_free(input);
    return st == OK ? ED_OK : ed_fail_ov(ED_ERR_RUNTIME, st, "ed_infer_rgb8: inference");
}

void ed_destroy(ed_runner *r)
{
    if (!r)
        return;
    if (r->request)
        ov_infer_request_free(r->request);
    if (r->compiled)
        ov_compiled_model_free(r->compiled);
    if (r->core)
        ov_core_free(r->core);
    free(r);
}
