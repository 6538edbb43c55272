"""edgedepth beside the tools a user would pick instead, on the same trained model, images and threads.

Per reference model (benchmarks/reference_models.py) at 512×512, in one run, one table:
    pytorch-fp32     PyTorch eager FP32: the float reference of every fidelity column
    openvino-fp32    OpenVINO FP32 (inference precision pinned to f32)
    nncf-default     `nncf.quantize(openvino_model, dataset)` with NNCF's defaults, run by OpenVINO
    ort-default      `onnxruntime.quantization.quantize_static(float_onnx, out, reader)` with its defaults, run by ORT
    pt2e-x86         PyTorch's x86 INT8 path: PT2E with torchao's X86InductorQuantizer, then torch.compile
    edgedepth-int8   `edgedepth quantize` (openvino target, default accuracy budget) + `edgedepth build`, OpenVINO
Every quantizer calibrates on the same images (the calibration pick of `edgedepth quantize`); every row is
scored on the same held-out images against ground truth and against pytorch-fp32 (fidelity). Timing is
interleaved: each round runs every row in turn, so drift in the machine's speed hits every row alike.

    pip install -e ".[benchmarks]"                # torchao, for the PT2E row
    python benchmarks/peers.py                    # every arch (ResNet50 is most of the time)
    python benchmarks/peers.py --archs lraspp_mobilenet_v3_large --images 8 --rounds 3

Writes runs/benchmarks/peers.json and the Pareto plot benchmarks/peers.png (latency vs fidelity per arch).
Run it on a quiet machine: how busy the machine was (benchmarks/machine.py) is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from machine import Quiet, machine_lines
from reference_models import BENCH_SIZE, RECIPES, data_folder, reference_checkpoint

from edgedepth.artifacts import is_finished, write_sidecar
from edgedepth.backends import BuildOptions, CpuOptions, LoadOptions, Runner, get_backend
from edgedepth.calibration import CalibrationSet
from edgedepth.measure.heldout import EvalSet, Window
from edgedepth.measure.timing import PeakMemory
from edgedepth.quantize import calibration_set
from edgedepth.quantize.transform import load_source
from edgedepth.sources import ModelSource

WORK = Path("runs/benchmarks/peers")
HERE = Path(__file__).resolve().parent
ROWS = ("pytorch-fp32", "openvino-fp32", "nncf-default", "ort-default", "pt2e-x86", "edgedepth-int8")
REFERENCE = "pytorch-fp32"
#: The seed's own figure for the ResNet50 model: 2 FPS on a 12-thread CPU, i.e. per thread:
SEED_FPS_PER_THREAD = 2 / 12


@dataclass
class Peer:
    name: str
    status: str = "ok"  # ok | skipped (the tool is absent or cannot run this model; reason says why)
    reason: str = ""
    note: str = ""  # where the row departs from the tool's defaults, and why
    runner: Runner | None = field(default=None, repr=False)
    calibration_s: float | None = None  # calibrate + write the INT8 model (edgedepth: its whole quantize step)
    compile_s: float | None = None  # a one-off at the first inference (torch.compile), outside the latency
    peak_mb: float | None = None
    predictions: list[np.ndarray] = field(default_factory=list, repr=False)
    metrics: dict[str, float] | None = None
    fidelity: dict[str, float] | None = None
    seconds: list[float] = field(default_factory=list, repr=False)

    @property
    def p50_ms(self) -> float:
        return 1000 * statistics.median(self.seconds)

    @property
    def p90_ms(self) -> float:
        return 1000 * float(np.percentile(self.seconds, 90))


@dataclass
class Setup:
    """What every row of one arch shares."""

    arch: str
    checkpoint: Path
    data: Path
    work: Path
    source: ModelSource  # the float ONNX's: its spec (depth range, preprocessing) and record
    cpu: CpuOptions
    calibration: CalibrationSet
    float_onnx: Path


def prepare(arch: str, samples: int, threads: int) -> Setup:
    from edgedepth.export import export_onnx

    checkpoint, data = reference_checkpoint(arch), data_folder()
    work = WORK / arch
    float_onnx = work / "model.onnx"
    if not is_finished(float_onnx):
        export_onnx(checkpoint, float_onnx, data=data)
    source = load_source(float_onnx)
    calibration = calibration_set(source, data, samples)
    return Setup(arch, checkpoint, data, work, source, CpuOptions(threads=threads), calibration, float_onnx)


def timed(make: Callable[[], Path]) -> tuple[Path, float]:
    started = time.perf_counter()
    path = make()
    return path, time.perf_counter() - started


def with_sidecar(artifact: Path, setup: Setup, producer: str) -> Path:
    """A peer's INT8 model carries the float model's record (input size, preprocessing) like ours, so the
    project's runners load it the same way."""
    write_sidecar(artifact, {**setup.source.facts().with_changes(precision="int8").to_record(), "producer": producer})
    return artifact


def load_pytorch(setup: Setup, peer: Peer) -> Runner:
    return get_backend("torch").load(setup.checkpoint, LoadOptions(cpu=setup.cpu))


def load_openvino_fp32(setup: Setup, peer: Peer) -> Runner:
    xml = get_backend("openvino").build(setup.float_onnx, setup.work / "openvino-fp32", BuildOptions(cpu=setup.cpu))
    return get_backend("openvino").load(xml, LoadOptions(cpu=setup.cpu))


def load_nncf(setup: Setup, peer: Peer) -> Runner:
    import nncf
    import openvino as ov

    def quantize() -> Path:
        model = nncf.quantize(ov.Core().read_model(str(setup.float_onnx)), setup.calibration.nncf_dataset())
        xml = setup.work / "nncf-default" / "model.xml"
        xml.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, str(xml), compress_to_fp16=False)
        return xml

    xml, peer.calibration_s = timed(quantize)
    return get_backend("openvino").load(with_sidecar(xml, setup, "nncf.quantize, defaults"), LoadOptions(cpu=setup.cpu))


def activation_bytes(onnx_path: Path) -> int:
    """Bytes of every float intermediate tensor of one inference (shape inference on the static float ONNX):
    what ONNX Runtime's MinMax calibrator keeps per calibration image, as its graph outputs every activation."""
    import onnx
    from onnx import shape_inference

    graph = shape_inference.infer_shapes(onnx.load(str(onnx_path))).graph
    sizes = [np.prod([d.dim_value for d in info.type.tensor_type.shape.dim]) for info in graph.value_info
             if info.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
    return int(sum(sizes)) * 4


def load_ort(setup: Setup, peer: Peer) -> Runner:
    """quantize_static with its defaults. Its MinMax calibrator holds every activation of every calibration image
    in memory at once (0.45 GiB per 512² LRASPP image, 2.5 GiB for ResNet50, from the graph), so where all the
    images would not fit in half the available memory, it calibrates on the first ones that do, and the row says
    so. Its CalibMaxIntermediateOutputs option is no way out: in onnxruntime ≤ 1.32 it discards each full chunk
    without computing its ranges (microsoft/onnxruntime#18893; the fix, PR #20226, was closed unmerged), so only
    the last partial chunk is calibrated, and none at all when the count divides evenly ("No data is collected")."""
    from onnxruntime.quantization import quantize_static

    from edgedepth.memory import available_bytes

    per_image, free = activation_bytes(setup.float_onnx), available_bytes() or 0
    count = min(len(setup.calibration), max(1, int(free / 2 // per_image)))
    if count < len(setup.calibration):
        peer.note = (f"calibrated on the first {count} of the {len(setup.calibration)} images: its calibrator holds "
                     f"{per_image / 2**30:.2f} GiB of activations per image, and more would pass half of the "
                     f"{free / 2**30:.0f} GiB available")

    def quantize() -> Path:
        out = setup.work / "ort-default" / "model.onnx"
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(setup.float_onnx), str(out), setup.calibration.data_reader(stop=count))
        return out

    onnx, peer.calibration_s = timed(quantize)
    return get_backend("onnxruntime").load(with_sidecar(onnx, setup, "onnxruntime quantize_static, defaults"),
                                           LoadOptions(cpu=setup.cpu))


class CompiledTorchRunner(Runner):
    """A torch.compile'd PT2E INT8 module; its first call compiles (timed apart as `compile_s`)."""

    def __init__(self, module, size: tuple[int, int]):
        self.module, self.input_size = module, size
        self.name, self.precision, self.device = "pt2e", "int8", "cpu"
        self.settings = {"compiler": "torch.compile (inductor, freezing)"}

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.module(torch.from_numpy(batch)).numpy()


def load_pt2e(setup: Setup, peer: Peer) -> Runner:
    import torch
    import torch._inductor.config as inductor_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    from edgedepth.models import load_checkpoint

    model, _ = load_checkpoint(setup.checkpoint)
    torch.set_num_threads(setup.cpu.thread_count)

    def quantize():
        example = (torch.from_numpy(setup.calibration.batch(0)),)
        exported = torch.export.export(model, example).module()
        quantizer = x86.X86InductorQuantizer()
        quantizer.set_global(x86.get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(exported, quantizer)
        with torch.no_grad():
            for batch in setup.calibration:
                prepared(torch.from_numpy(batch))
        return convert_pt2e(prepared)

    converted, peer.calibration_s = timed(quantize)
    inductor_config.freezing = True  # what the X86 Inductor quantization path needs to fold and pack the weights
    runner = CompiledTorchRunner(torch.compile(converted), BENCH_SIZE)
    started = time.perf_counter()
    runner.infer(setup.calibration.batch(0))
    peer.compile_s = time.perf_counter() - started
    return runner


def load_edgedepth(setup: Setup, peer: Peer) -> Runner:
    from edgedepth.quantize import Budget
    from edgedepth.quantize.judged import quantize_on_data

    out = setup.work / "edgedepth-int8" / "model.int8.onnx"
    onnx, peer.calibration_s = timed(lambda: quantize_on_data(
        setup.float_onnx, setup.data, out, target="openvino", samples=len(setup.calibration), budget=Budget())[0])
    xml = get_backend("openvino").build(onnx, setup.work / "edgedepth-int8" / "openvino", BuildOptions(cpu=setup.cpu))
    return get_backend("openvino").load(xml, LoadOptions(cpu=setup.cpu))


LOADERS: dict[str, Callable[[Setup, Peer], Runner]] = {
    "pytorch-fp32": load_pytorch, "openvino-fp32": load_openvino_fp32, "nncf-default": load_nncf,
    "ort-default": load_ort, "pt2e-x86": load_pt2e, "edgedepth-int8": load_edgedepth,
}


def measure(arch: str, args: argparse.Namespace) -> dict[str, Any]:
    setup = prepare(arch, args.calibration_samples, args.threads)
    spec = setup.source.spec
    evalset = EvalSet.held_out(setup.data, spec, Window.of(spec.depth), limit=args.images)
    peers = [Peer(name) for name in ROWS]
    for peer in peers:  # one at a time: calibration, loading and scoring; each runner stays loaded for the timing
        print(f"   {arch}: {peer.name}", flush=True)
        try:
            with PeakMemory("cpu") as memory:
                peer.runner = LOADERS[peer.name](setup, peer)
                peer.predictions = evalset.predict(peer.runner.infer)
            peer.peak_mb = memory.peak_mb
        except ImportError as exc:
            peer.status, peer.reason = "skipped", f"not installed here: {exc}"
        except Exception as exc:  # a peer tool failing on this model is a result to report, not a crash
            peer.status, peer.reason = "skipped", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"
    ok = [peer for peer in peers if peer.status == "ok"]
    reference = next(peer for peer in ok if peer.name == REFERENCE)
    for peer in ok:
        peer.metrics = evalset.score(peer.predictions)
        peer.fidelity = evalset.fidelity(reference.predictions, peer.predictions)
    batches = evalset.batches
    for peer in ok:
        for i in range(args.warmup):
            peer.runner.infer(batches[i % len(batches)])
    for round_ in range(args.rounds):  # interleaved: a slow spell of the machine hits every row
        for peer in ok[round_ % len(ok):] + ok[: round_ % len(ok)]:
            for i in range(args.runs_per_round):
                peer.seconds.append(peer.runner.timed_infer(batches[(round_ + i) % len(batches)])[1])
    for peer in ok:
        peer.runner.close()
    return {"arch": arch, "checkpoint": str(setup.checkpoint), "images": len(evalset), "held_out": evalset.describe(),
            "calibration_samples": len(setup.calibration), "threads": setup.cpu.thread_count,
            "rows": [row_record(peer, reference) for peer in peers]}


def row_record(peer: Peer, reference: Peer) -> dict[str, Any]:
    record = {"name": peer.name, "status": peer.status, "reason": peer.reason, "note": peer.note}
    if peer.status != "ok":
        return record
    return {**record, "p50_ms": peer.p50_ms, "p90_ms": peer.p90_ms, "fps": 1000 / peer.p50_ms,
            "speedup_vs_pytorch": reference.p50_ms / peer.p50_ms, "runs": len(peer.seconds),
            "abs_rel": peer.metrics["abs_rel"], "delta1": peer.metrics["delta1"],
            "rel_deviation": peer.fidelity["rel_deviation"], "rel_deviation_bound": peer.fidelity["rel_deviation_bound"],
            "delta1_vs_float": peer.fidelity["delta1_vs_float"], "calibration_s": peer.calibration_s,
            "compile_s": peer.compile_s, "peak_mb": peer.peak_mb}


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def table_lines(result: dict[str, Any]) -> list[str]:
    lines = ["| row | p50 ms | p90 ms | FPS | FPS/core | × PyTorch | AbsRel | δ1 | dev. from float (95 %) | δ1 vs float "
             "| calibration s | peak MB |", "|---|" + "---|" * 11]
    for row in result["rows"]:
        if row["status"] != "ok":
            lines.append(f"| {row['name']} | skipped: {row['reason']} |" + " |" * 10)
            continue
        calibration = _num(row["calibration_s"], ".0f") + (f" (+{row['compile_s']:.0f} compile)" if row["compile_s"] else "")
        lines.append(
            f"| {row['name']} | {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | {row['fps']:.1f} | "
            f"{row['fps'] / result['threads']:.2f} | {row['speedup_vs_pytorch']:.2f}× | {row['abs_rel']:.4f} | "
            f"{row['delta1']:.4f} | {row['rel_deviation']:.2%} ({row['rel_deviation_bound']:.2%}) | "
            f"{row['delta1_vs_float']:.4f} | {calibration} | {_num(row['peak_mb'], '.0f')} |")
    notes = [f"- {row['name']}: {row['note']}" for row in result["rows"] if row.get("note")]
    return lines + ([""] + notes if notes else [])


def target_lines(result: dict[str, Any]) -> list[str]:
    """The issue's targets, as ratios measured in this run (not unit tests)."""
    rows = {row["name"]: row for row in result["rows"] if row["status"] == "ok"}
    ours, nncf = rows.get("edgedepth-int8"), rows.get("nncf-default")

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    lines = []
    if ours and nncf:
        speed = nncf["p50_ms"] / ours["p50_ms"]
        lines.append(f"- edgedepth INT8 vs NNCF default: {speed:.2f}× the speed (target ≥ 0.95×: {verdict(speed >= 0.95)}), "
                     f"deviation from float {ours['rel_deviation']:.2%} vs {nncf['rel_deviation']:.2%} "
                     f"(target: at least as faithful: {verdict(ours['rel_deviation'] <= nncf['rel_deviation'])})")
    if ours and result["arch"] == "deeplabv3_resnet50":
        vs_torch = ours["speedup_vs_pytorch"]
        vs_ov = rows["openvino-fp32"]["p50_ms"] / ours["p50_ms"]
        lines.append(f"- edgedepth INT8 vs PyTorch eager: {vs_torch:.2f}× (target ≥ 2.5×: {verdict(vs_torch >= 2.5)}); "
                     f"vs OpenVINO FP32: {vs_ov:.2f}× (target ≥ 1.6×: {verdict(vs_ov >= 1.6)})")
        per_thread = ours["fps"] / result["threads"]
        lines.append(f"- per thread: {per_thread:.2f} FPS, {per_thread / SEED_FPS_PER_THREAD:.1f}× the seed's 2 FPS on "
                     f"12 threads ({SEED_FPS_PER_THREAD:.3f} FPS per thread; threads, not cores of the same CPU)")
    if ours and result["arch"] == "lraspp_mobilenet_v3_large":
        lines.append(f"- edgedepth INT8 {ours['fps']:.1f} FPS on {result['threads']} threads (target ≥ 30: "
                     f"{verdict(ours['fps'] >= 30)})")
    return lines


def pareto_plot(results: list[dict[str, Any]], path: Path) -> Path:
    """One panel per arch: p50 latency (log scale) against deviation from float, one labelled point per row,
    the rows no other row beats on both axes joined (the Pareto front)."""
    from PIL import Image, ImageDraw

    width, height = 460, 360
    canvas = Image.new("RGB", (width * len(results), height), "white")
    draw = ImageDraw.Draw(canvas)
    for panel, result in enumerate(results):
        _panel(draw, result, panel * width, width, height)
    canvas.save(path)
    return path


def _panel(draw, result: dict[str, Any], x0: int, width: int, height: int) -> None:
    from edgedepth.colormaps import COLORMAPS, label_font

    font = label_font(height)
    rows = [row for row in result["rows"] if row["status"] == "ok"]
    left, top, right, bottom = x0 + 64, 56, x0 + width - 20, height - 52
    lo = np.log10(min(r["p50_ms"] for r in rows) / 1.3)
    hi = np.log10(max(r["p50_ms"] for r in rows) * 1.3)
    y_hi = max(max(r["rel_deviation"] for r in rows) * 1.15, 0.01)

    def x_of(ms: float) -> float:
        return left + (np.log10(ms) - lo) / (hi - lo) * (right - left)

    def y_of(deviation: float) -> float:
        return bottom - deviation / y_hi * (bottom - top)

    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text((left, 6), f"{result['arch']} at 512x512", fill="black", font=font)
    draw.text((x0 + 4, top - 22), "deviation from float", fill="black", font=font)
    draw.text((left, bottom + 28), "p50 latency, ms (log scale)", fill="black", font=font)
    for fraction in (0.0, 0.5, 1.0):
        draw.text((x0 + 4, y_of(fraction * y_hi) - 8), f"{fraction * y_hi:.1%}", fill="black", font=font)
    decades = range(int(np.floor(lo)), int(np.ceil(hi)) + 1)
    for tick in sorted(m * 10.0**e for e in decades for m in (1, 2, 5)):
        if lo <= np.log10(tick) <= hi:
            draw.line([x_of(tick), bottom, x_of(tick), bottom + 4], fill="black")
            draw.text((x_of(tick) - 8, bottom + 8), f"{tick:g}", fill="black", font=font)
    front = [r for r in rows if not any(o is not r and o["p50_ms"] <= r["p50_ms"] and o["rel_deviation"] <= r["rel_deviation"]
                                        and (o["p50_ms"] < r["p50_ms"] or o["rel_deviation"] < r["rel_deviation"])
                                        for o in rows)]
    draw.line([(x_of(r["p50_ms"]), y_of(r["rel_deviation"])) for r in sorted(front, key=lambda r: r["p50_ms"])],
              fill=(160, 160, 160), width=2)
    placed: list[tuple[float, float, float, float]] = []
    for row in sorted(rows, key=lambda r: r["p50_ms"]):
        x, y = x_of(row["p50_ms"]), y_of(row["rel_deviation"])
        colour = tuple(COLORMAPS["turbo"][1 + ROWS.index(row["name"])])
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=colour, outline="black")
        _label(draw, row["name"], x, y, right, placed, font)


def _label(draw, text: str, x: float, y: float, right: float, placed: list, font) -> None:
    """The row's name beside its point: right of it, or left where it would leave the frame; moved up past
    labels already drawn, with a leader line."""
    box = draw.textbbox((0, 0), text, font=font)
    w, h = box[2] - box[0], box[3] - box[1] + 4
    lx = x + 8 if x + 8 + w <= right else x - 8 - w
    ly = y - h / 2 - 2
    while any(lx < px1 and px0 < lx + w and ly < py1 and py0 < ly + h for px0, py0, px1, py1 in placed):
        ly -= h
    placed.append((lx, ly, lx + w, ly + h))
    if ly + h < y - 6:  # moved: a leader from the point to the label
        draw.line([x, y - 5, lx + w / 2, ly + h], fill=(120, 120, 120))
    draw.text((lx, ly), text, fill="black", font=font)


def markdown(results: list[dict[str, Any]], quiet: Quiet | None, plot: Path) -> list[str]:
    """The section; with `quiet`, the machine lines under its intro (results.py prints them once, at the top)."""
    lines = ["## edgedepth beside its peers (`benchmarks/peers.py`)", "",
             "Same trained model, same held-out images, same threads; every quantizer calibrated on the same images; "
             "timing interleaved across rows. Fidelity is to the PyTorch FP32 row (mean relative deviation, its 95 % "
             "upper bound, and the share of pixels within 1.25× of float). Calibration seconds: the quantizer's own "
             "call (edgedepth: its whole `quantize` step, held-out scoring and accuracy-budget search included); "
             "torch.compile's one-off is shown apart. Peak MB: resident memory the row added while loading and "
             "scoring.", "", *(machine_lines(quiet) + [""] if quiet else []), f"![latency against fidelity]({plot.name})", ""]
    for result in results:
        lines += [f"### {result['arch']}", "", f"{result['images']} held-out images, {result['calibration_samples']} "
                  f"calibration images, {result['threads']} threads, {len(result['rows'])} rows.", "",
                  *table_lines(result), "", *target_lines(result), ""]
    return lines


def write_json(results: list[dict[str, Any]], quiet: Quiet) -> Path:
    path = WORK.parent / "peers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine_lines(quiet), "results": results}, indent=2) + "\n")
    return path


def run(archs, args: argparse.Namespace) -> list[dict[str, Any]]:
    return [measure(arch, args) for arch in archs]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archs", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--images", type=int, default=32, help="held-out images scored per row")
    parser.add_argument("--calibration-samples", type=int, default=64, help="the same calibration images for every quantizer")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every row")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per row before the rounds")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--runs-per-round", type=int, default=3, help="timed runs of each row per round")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args()
    quiet = Quiet()
    results = run(args.archs, args)
    quiet.end()
    write_json(results, quiet)
    plot = pareto_plot(results, HERE / "peers.png")
    print("\n".join(markdown(results, quiet, plot)))


if __name__ == "__main__":
    main()
