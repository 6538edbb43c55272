/* The model's preprocessing as its build recorded it: the "preprocessing" object of the sidecar beside the IR
 * (<model>.xml.json), written by edgedepth.data.transforms.Preprocessing.record(). The C runtime applies what
 * the model declares, never a default of its own: a model trained on other statistics, another value range or
 * BGR order would otherwise get wrong input silently. */
#ifndef ED_PREPROCESSING_H
#define ED_PREPROCESSING_H

#include "edgedepth.h"

/* The record says: channel c of the model's input is (pixel[c] * scale - mean[c]) / std[c], pixel being the
 * caller's R, G, B (0..255), reversed when color is BGR. Here that is (pixel[c] - pixel_mean[c]) / pixel_std[c],
 * with pixel_mean = mean / scale and pixel_std = std / scale: the form OpenVINO's mean and scale steps take. */
typedef struct {
    float pixel_mean[3], pixel_std[3];
    int bgr; /* the model takes B, G, R */
} ed_preprocessing;

/* Read and check a sidecar: ED_ERR_IO when it cannot be read, ED_ERR_MODEL (naming the field) when it is no
 * JSON or records a preprocessing this library does not implement. */
ed_status ed_read_preprocessing(const char *sidecar, ed_preprocessing *out);

#endif
