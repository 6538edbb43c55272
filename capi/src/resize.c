#include "resize.h"

#include <stddef.h>

typedef struct {
    int lo, hi;   /* the two source samples */
    float weight; /* of `hi`; `lo` gets 1 - weight */
} ed_tap;

static ed_tap source_tap(int dst, int dst_len, int src_len)
{
    float scale = (float)src_len / (float)dst_len;
    float src = scale * ((float)dst + 0.5f) - 0.5f;
    if (src < 0.0f)
        src = 0.0f;
    ed_tap tap;
    tap.lo = (int)src;
    tap.hi = tap.lo < src_len - 1 ? tap.lo + 1 : tap.lo;
    tap.weight = src - (float)tap.lo;
    return tap;
}

/* The order of operations of torch's CPU kernel: each row's pair first, then the two rows. */
static float blend(float top_lo, float top_hi, float bottom_lo, float bottom_hi, ed_tap tx, ed_tap ty)
{
    float top = (1.0f - tx.weight) * top_lo + tx.weight * top_hi;
    float bottom = (1.0f - tx.weight) * bottom_lo + tx.weight * bottom_hi;
    return (1.0f - ty.weight) * top + ty.weight * bottom;
}

void ed_resize_bilinear(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w)
{
    for (int y = 0; y < dst_h; ++y) {
        ed_tap ty = source_tap(y, dst_h, src_h);
        const float *row_lo = src + (ptrdiff_t)ty.lo * src_w;
        const float *row_hi = src + (ptrdiff_t)ty.hi * src_w;
        float *out = dst + (ptrdiff_t)y * dst_w;
        for (int x = 0; x < dst_w; ++x) {
            ed_tap tx = source_tap(x, dst_w, src_w);
            out[x] = blend(row_lo[tx.lo], row_lo[tx.hi], row_hi[tx.lo], row_hi[tx.hi], tx, ty);
        }
    }
}

void ed_resize_rgb8(const unsigned char *src, int src_h, int src_w, int src_stride, float *dst, int dst_h, int dst_w)
{
    for (int y = 0; y < dst_h; ++y) {
        ed_tap ty = source_tap(y, dst_h, src_h);
        const unsigned char *row_lo = src + (ptrdiff_t)ty.lo * src_stride;
        const unsigned char *row_hi = src + (ptrdiff_t)ty.hi * src_stride;
        float *out = dst + (ptrdiff_t)y * dst_w * 3;
        for (int x = 0; x < dst_w; ++x) {
            ed_tap tx = source_tap(x, dst_w, src_w);
            const unsigned char *a = row_lo + tx.lo * 3, *b = row_lo + tx.hi * 3;
            const unsigned char *c = row_hi + tx.lo * 3, *d = row_hi + tx.hi * 3;
            for (int ch = 0; ch < 3; ++ch)
                out[x * 3 + ch] = blend(a[ch], b[ch], c[ch], d[ch], tx, ty);
        }
    }
}
