/* The C side of edgedepth.data.transforms.PREPROCESSING: tests/test_capi.py checks these equal it. */
#ifndef ED_PREPROCESSING_H
#define ED_PREPROCESSING_H

/* ImageNet statistics of RGB in [0, 1]; the model sees (pixel / 255 - mean) / std, NCHW float32. */
#define ED_IMAGENET_MEAN {0.485f, 0.456f, 0.406f}
#define ED_IMAGENET_STD {0.229f, 0.224f, 0.225f}
#define ED_PIXEL_SCALE 255.0f

#endif
