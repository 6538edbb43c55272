/* Bilinear resizes with half-pixel centres and no antialias: the same as
 * torch.nn.functional.interpolate(mode="bilinear", align_corners=False), which is how the Python side resizes
 * both the image (edgedepth.data.transforms.preprocess) and the depth map. Each output value reads 2 x 2 source
 * samples, so neither function needs memory beyond its output, whatever the source size. */
#ifndef ED_RESIZE_H
#define ED_RESIZE_H

/* Row-major float image src_h x src_w -> dst_h x dst_w. */
void ed_resize_bilinear(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w);

/* 8-bit RGB, src_h x src_w pixels with rows src_stride bytes apart -> dst_h x dst_w x 3 floats (HWC), the pixel
 * values resized as floats (0..255), as preprocess does before it normalises. */
void ed_resize_rgb8(const unsigned char *src, int src_h, int src_w, int src_stride, float *dst, int dst_h, int dst_w);

#endif
