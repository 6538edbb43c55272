"""Named colour scales for depth maps, and the labelled bar that tells a reader what a colour means in metres.

Each scale is 9 anchor colours, linearly interpolated: every 32nd entry of matplotlib's 256-entry tables
(viridis, magma, inferno: CC0; turbo: Google, Apache-2.0), which is within a few levels of the full table and
needs neither matplotlib nor a data file.
"""

from __future__ import annotations

import numpy as np

COLORMAPS = {
    "viridis": [[68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140], [39, 173, 129],
                [92, 200, 99], [170, 220, 50], [253, 231, 37]],
    "magma": [[0, 0, 4], [29, 17, 71], [81, 18, 124], [131, 38, 129], [183, 55, 121], [229, 80, 100],
              [251, 135, 97], [254, 194, 135], [252, 253, 191]],
    "inferno": [[0, 0, 4], [33, 12, 74], [87, 16, 110], [138, 34, 106], [188, 55, 84], [227, 89, 51],
                [249, 140, 10], [249, 201, 50], [252, 255, 164]],
    "turbo": [[48, 18, 59], [70, 107, 227], [40, 188, 235], [50, 242, 152], [164, 252, 60], [236, 209, 58],
              [251, 129, 34], [210, 49, 5], [122, 4, 3]],
    "gray": [[0, 0, 0], [255, 255, 255]],
}
DEFAULT_COLORMAP = "viridis"
#: The bar's height in text lines between two labels, at least: fewer labels when the image is short.
LABEL_SPACING_LINES = 3


def colorize(values: np.ndarray, lo: float, hi: float, valid: np.ndarray | None = None,
             colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """H×W values → H×W×3 uint8 through the named scale on [lo, hi] (low values: the first anchor);
    invalid pixels black."""
    anchors = np.asarray(COLORMAPS[colormap], dtype=np.float64)
    t = np.clip((np.nan_to_num(values) - lo) / max(hi - lo, 1e-9), 0, 1) * (len(anchors) - 1)
    low = np.floor(t).astype(int).clip(0, len(anchors) - 2)
    frac = (t - low)[..., None]
    rgb = anchors[low] * (1 - frac) + anchors[low + 1] * frac
    if valid is not None:
        rgb[~valid.astype(bool)] = 0
    return rgb.astype(np.uint8)


def label_font(height: int):
    """Pillow's built-in font (Pillow 10.1+) at a size that suits a picture `height` pixels high: 9 to 16 px."""
    from PIL import ImageFont

    return ImageFont.load_default(size=max(9, min(16, height // 12)))


def nice_ticks(lo: float, hi: float, most: int) -> list[float]:
    """At most `most` round values (steps of 1, 2 or 5 × 10^k) inside [lo, hi]; lo and hi when none fit."""
    span = hi - lo
    if span <= 0 or most < 2:
        return [lo, hi] if span > 0 else [lo]
    for exponent in range(int(np.floor(np.log10(span / most))) - 1, 20):
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0**exponent
            ticks = np.arange(np.ceil(lo / step), np.floor(hi / step) + 1) * step
            if len(ticks) <= most:
                return [float(t) for t in ticks] if len(ticks) >= 2 else [lo, hi]
    return [lo, hi]


def _label(value: float, step: float) -> str:
    decimals = max(0, -int(np.floor(np.log10(step)))) if step > 0 else 2
    return f"{value:.{decimals}f}"


def with_scale_bar(image: np.ndarray, lo: float, hi: float, colormap: str = DEFAULT_COLORMAP,
                   unit: str = "m") -> np.ndarray:
    """`image` (H×W×3 uint8, colourised on [lo, hi]) with a bar on its right: the scale from lo (bottom) to
    hi (top), labelled with round values in `unit`, so the picture can be read in metres on its own."""
    from PIL import Image, ImageDraw

    h = image.shape[0]
    font = label_font(h)
    line = font.getbbox("0")[3]
    ticks = nice_ticks(lo, hi, max(2, h // (LABEL_SPACING_LINES * line)))
    step = ticks[1] - ticks[0] if len(ticks) > 1 else hi - lo
    labels = [_label(t, step) for t in ticks]
    labels[-1] += f" {unit}"
    strip = max(6, line)
    text_w = max(int(font.getlength(text)) for text in labels)
    width = strip + 4 + text_w + 4
    panel = Image.new("RGB", (width, h), (255, 255, 255))
    column = np.linspace(hi, lo, h)[:, None]
    panel.paste(Image.fromarray(colorize(np.repeat(column, strip, axis=1), lo, hi, colormap=colormap)), (0, 0))
    draw = ImageDraw.Draw(panel)
    for tick, text in zip(ticks, labels):
        y = (hi - tick) / max(hi - lo, 1e-9) * (h - 1)
        draw.line([(strip - 3, y), (strip + 1, y)], fill=(0, 0, 0))
        top = min(max(0.0, y - line / 2), h - line - 1)
        draw.text((strip + 4, top), text, fill=(0, 0, 0), font=font)
    return np.concatenate([image, np.asarray(panel)], axis=1)


def captioned(panels: list[tuple[str, np.ndarray]], gap: int = 8) -> np.ndarray:
    """H×W×3 uint8 images side by side on white, `gap` pixels apart, top-aligned, each with its caption above
    it (ASCII: the built-in font has no Δ)."""
    from PIL import Image, ImageDraw

    height = max(image.shape[0] for _, image in panels)
    font = label_font(height)
    caption = font.getbbox("Ag")[3] + 6
    width = sum(image.shape[1] for _, image in panels) + gap * (len(panels) - 1)
    canvas = Image.new("RGB", (width, height + caption), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for label, image in panels:
        canvas.paste(Image.fromarray(image), (x, caption))
        draw.text((x + 2, 2), label, fill=(0, 0, 0), font=font)
        x += image.shape[1] + gap
    return np.asarray(canvas)
