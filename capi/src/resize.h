/* Bilinear resize of the depth map to the caller's size. */
#ifndef ED_RESIZE_H
#define ED_RESIZE_H

/* Row-major float image src_h x src_w -> dst_h x dst_w, bilinear with half-pixel centres and no antialias:
 * the same as torch.nn.functional.interpolate(mode="bilinear", align_corners=False), which is how the
 * Python side brings depth to another size. */
void ed_resize_bilinear(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w);

#endif
