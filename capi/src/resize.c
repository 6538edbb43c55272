#include "resize.h"

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

void ed_resize_bilinear(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w)
{
    for (int y = 0; y < dst_h; ++y) {
        ed_tap ty = source_tap(y, dst_h, src_h);
        const float *row_lo = src + (long)ty.lo * src_w;
        const float *row_hi = src + (long)ty.hi * src_w;
        for (int x = 0; x < dst_w; ++x) {
            ed_tap tx = source_tap(x, dst_w, src_w);
            float top = (1.0f - tx.weight) * row_lo[tx.lo] + tx.weight * row_lo[tx.hi];
            float bottom = (1.0f - tx.weight) * row_hi[tx.lo] + tx.weight * row_hi[tx.hi];
            dst[(long)y * dst_w + x] = (1.0f - ty.weight) * top + ty.weight * bottom;
        }
    }
}
