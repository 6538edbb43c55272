"""A quantize sidecar as the few lines a person reads (the CLI and the demo print the same)."""

from __future__ import annotations

from typing import Any


def summary_lines(output: str, info: dict[str, Any]) -> list[str]:
    kept = info["keep_float"]["all"]
    lines = [
        f"wrote {output} ({info['target']} flavour: {info['flavour']['activations']} activations; "
        f"{info['engine']} {info['method']}, {info['samples']} samples, manifest {info['calibration']['manifest']})",
        f"kept float: {len(kept)} layer(s)" + (f": {', '.join(kept[:6])}{' …' if len(kept) > 6 else ''}" if kept else ""),
    ]
    evaluation = info["evaluation"]
    if evaluation is None:
        return lines + [f"deltas not measured: {info['evaluation_skipped']}"]
    f, q, d, ms = evaluation["float"], evaluation["int8"], evaluation["deltas"], evaluation["latency_ms"]
    verdict = "met" if evaluation["meets_default_budget"] else "NOT met"
    lines.append(
        f"held-out ({evaluation['held_out_samples']} images, OpenVINO): δ1 {f['delta1']:.4f} → {q['delta1']:.4f} "
        f"(drop {d['delta1_drop']:+.4f}, ≤ {d['delta1_drop_bound']:+.4f} at 95 %), AbsRel {f['abs_rel']:.4f} → "
        f"{q['abs_rel']:.4f} ({d['abs_rel_increase']:+.2%}, ≤ {d['abs_rel_increase_bound']:+.2%} at 95 %); "
        f"default budget (δ1 drop ≤ 0.01, AbsRel +5 %) {verdict}"
    )
    before = f" (before the budget search {ms['int8_before_budget']:.2f} ms)" if info["keep_float"]["budget"] else ""
    lines.append(f"latency (median, batch 1, noisy shared CPU): float {ms['float']:.2f} ms → INT8 {ms['int8']:.2f} ms{before}")
    return lines
