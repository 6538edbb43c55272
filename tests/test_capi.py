"""The C runtime (capi/): built with CMake through `edgedepth capi-build`, checked from C by its self-test and
against the Python OpenVINO runner on the same images."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import edgedepth
from edgedepth import __version__
from edgedepth.artifacts import read_sidecar, sidecar_path, write_sidecar
from edgedepth.backends import BuildOptions, LoadOptions
from edgedepth.backends import openvino as openvino_backend
from edgedepth.capi import SOURCE_DIR
from edgedepth.cli import main
from edgedepth.data.diode import find_samples, load_sample
from edgedepth.data.synthetic import generate
from edgedepth.data.transforms import IMAGENET, Preprocessing, preprocess, resize_bilinear
from edgedepth.spec import ModelSpec

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("cc") is None,
                                reason="the C runtime needs cmake and a C compiler (apt-get install cmake gcc)")

#: C vs Python on the same IR, as a fraction of the largest |depth|. Both run the same OpenVINO CPU kernels
#: with FP32 float math; they differ only in float rounding around the network: (x − 255·mean)/(255·std)
#: against (x/255 − mean)/std, and the C resizes of the image and of the depth map against torch's (same
#: formula, float rounding only). Measured ≤ 3e-7 on the float, INT8 and probe IRs here (printed with -s).
#: Preprocessing faults, measured in Python on an 80×96 synthetic image: BGR order 1.4e-2 (float model) /
#: 0.95 (probe), antialiased resize 1.4e-3 / 0.35, align_corners 1.1e-3 / 0.20, std left out 2.0e-2 / 0.77.
#: 1e-4 sits between the two with an order of magnitude or more each side. (An INT8 IR could in principle
#: differ by one quantisation step where rounding moves an activation across a step; not seen here.)
RTOL = 1e-4


@pytest.fixture(scope="module")
def capi(tmp_path_factory):
    """The library, example and self-test, built once through the CLI."""
    result = CliRunner().invoke(main, ["capi-build", "-o", str(tmp_path_factory.mktemp("capi")), "--json", "-"])
    assert result.exit_code == 0, result.output
    return {name: Path(path) for name, path in json.loads(result.stdout).items()}


@pytest.fixture(scope="module")
def probe_onnx(tmp_path_factory):
    """A 1×1 conv whose 'depth' is a fixed mix of the three normalised channels: any preprocessing fault
    (channel order, mean/std, resize) shows in its output undiluted, unlike in an untrained network's."""
    conv = torch.nn.Conv2d(3, 1, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -2.0, 3.0]).view(1, 3, 1, 1))
        conv.bias.fill_(10.0)
    path = tmp_path_factory.mktemp("probe") / "probe.onnx"
    torch.onnx.export(conv, torch.zeros(1, 3, 64, 64), path, input_names=["rgb"], output_names=["depth"],
                      opset_version=17, dynamo=False)
    write_sidecar(path, probe_sidecar(IMAGENET))
    return path


def probe_sidecar(preprocessing: Preprocessing) -> dict:
    return ModelSpec("probe", (64, 64), preprocessing).to_record()


@pytest.fixture(scope="module")
def irs(float_onnx, int8_onnx, probe_onnx, tmp_path_factory):
    """OpenVINO IR folders made by the OpenVINO backend's build, as `edgedepth build` makes them."""
    root = tmp_path_factory.mktemp("irs")
    sources = {"float": float_onnx, "int8": int8_onnx, "probe": probe_onnx}
    return {name: openvino_backend.build(onnx, root / name, BuildOptions()).parent for name, onnx in sources.items()}


def test_library_exports_exactly_the_header_api(capi):
    header = capi["header"].read_text()
    declared = set(re.findall(r"^ED_API [^(]*?\b(ed_\w+)\(", header, flags=re.MULTILINE))
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(capi["library"])], capture_output=True, text=True,
                             check=True).stdout
    exported = {line.split()[-1] for line in symbols.splitlines() if line.split()[1] == "T"}
    assert declared == exported == {"ed_create", "ed_input_size", "ed_infer_rgb8", "ed_last_error", "ed_destroy",
                                    "ed_version"}
    assert json.loads(Path(str(capi["library"]) + ".json").read_text())["openvino_dir"].endswith("cmake")


def test_statuses_are_only_ever_appended():
    """Compiled programs hold these numbers: a renumbered status would silently change their meaning."""
    header = (SOURCE_DIR / "include" / "edgedepth.h").read_text()
    statuses = {name: int(value) for name, value in re.findall(r"^\s*(ED_\w+) = (\d+),?", header, flags=re.MULTILINE)}
    assert statuses == {"ED_OK": 0, "ED_ERR_ARG": 1, "ED_ERR_IO": 2, "ED_ERR_MODEL": 3, "ED_ERR_RUNTIME": 4,
                        "ED_ERR_NOMEM": 5}


@pytest.mark.parametrize("compiler, language", [("cc", ["-x", "c", "-std=c99"]), ("c++", ["-x", "c++", "-std=c++11"])])
def test_header_is_strict_c99_and_includable_from_cxx(compiler, language, tmp_path):
    """The header, and a client that starts its options from ED_OPTIONS_INIT, compile warning-free."""
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    client = tmp_path / "client.c"
    client.write_text('#include "edgedepth.h"\nint main(void) {\n    ed_options options = ED_OPTIONS_INIT;\n'
                      '    options.num_threads = 1;\n    return options.struct_size == sizeof options ? 0 : 1;\n}\n')
    for source in (SOURCE_DIR / "include" / "edgedepth.h", client):
        done = subprocess.run([compiler, *language, "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                               "-I", str(SOURCE_DIR / "include"), str(source)], check=False, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr


def test_capi_build_without_cmake_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["capi-build", "-o", str(tmp_path / "capi")])
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0
    assert "cmake is not installed" in result.output and not (tmp_path / "capi").exists()


@pytest.mark.parametrize("model", ["float", "int8"])
def test_c_selftest_error_paths_and_threads(capi, irs, model, tmp_path):
    """Every bad call fails with its status and a message, strides, per-thread errors, two threads: from C."""
    done = subprocess.run([str(capi["selftest"]), str(irs[model]), str(tmp_path)], check=False, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok - ") >= 40 and done.stdout.rstrip().endswith("0 failed")


def write_ppm(path: Path, rgb: np.ndarray) -> Path:
    h, w, _ = rgb.shape
    path.write_bytes(b"P6\n# edgedepth test image\n%d %d\n255\n" % (w, h) + rgb.tobytes())
    return path


def read_pfm(path: Path) -> np.ndarray:
    with open(path, "rb") as fh:
        assert fh.readline().strip() == b"Pf"
        w, h = (int(v) for v in fh.readline().split())
        scale = float(fh.readline())
        data = np.fromfile(fh, dtype="<f4" if scale < 0 else ">f4", count=w * h)
    return np.flipud(data.reshape(h, w))  # PFM rows run bottom to top


def synthetic_rgb(folder: Path, image_hw: tuple[int, int]) -> np.ndarray:
    """The RGB of one scan from the synthetic DIODE generator, rendered at `image_hw` (not the model's size)."""
    return load_sample(find_samples(generate(folder / "diode", 1, seed=sum(image_hw), size=image_hw))[0])[0]


def example_depth(capi, ir: Path, rgb: np.ndarray, tmp_path: Path) -> np.ndarray:
    """edgedepth_cli's depth for the image, at the image's size."""
    done = subprocess.run([str(capi["example"]), str(ir), str(write_ppm(tmp_path / "image.ppm", rgb)),
                           str(tmp_path / "depth.pfm")], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return read_pfm(tmp_path / "depth.pfm")


def python_depth(ir: Path, rgb: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """The Python OpenVINO runner's depth for the image, brought to `out_hw` the way the Python side resizes."""
    with openvino_backend.load(ir, LoadOptions()) as runner:
        depth = runner.infer(preprocess(rgb, runner.input_size))
    return resize_bilinear(torch.from_numpy(depth), out_hw)[0, 0].numpy()


@pytest.mark.parametrize("model", ["float", "int8", "probe"])
@pytest.mark.parametrize("image_hw, out_hw", [((80, 96), None), ((53, 41), (30, 70))])
def test_example_matches_the_python_runner(capi, irs, model, image_hw, out_hw, tmp_path):
    rgb = synthetic_rgb(tmp_path, image_hw)
    ppm = write_ppm(tmp_path / "image.ppm", rgb)
    size_args = ["-s", f"{out_hw[0]}x{out_hw[1]}"] if out_hw else []
    done = subprocess.run([str(capi["example"]), *size_args, "-n", "2", str(irs[model]), str(ppm),
                           str(tmp_path / "depth.pfm")], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    c_depth = read_pfm(tmp_path / "depth.pfm")
    expected = python_depth(irs[model], rgb, out_hw or image_hw)
    assert c_depth.shape == expected.shape == tuple(report["output_hw"])
    error = np.abs(c_depth - expected).max() / np.abs(expected).max()
    print(f"{model} {image_hw}->{c_depth.shape}: max |C - Python| = {error:.2g} of max |depth|")
    assert error <= RTOL
    assert report["image_hw"] == list(image_hw) and report["edgedepth"] == __version__
    assert report["depth_m"]["min"] == pytest.approx(c_depth.min(), rel=1e-5)
    assert report["depth_m"]["max"] == pytest.approx(c_depth.max(), rel=1e-5)
    assert report["latency_ms"]["runs"] == 2 and report["latency_ms"]["median"] > 0


#: edgedepth.load(...).predict against the C runtime on the same photo, at the photo's size: the issue's bound
#: for "the Python API and the C runtime agree" (the reasoning about what separates them is beside RTOL).
API_RTOL = 1e-5


@pytest.mark.parametrize("model", ["float", "int8", "probe"])
@pytest.mark.parametrize("image_hw", [(80, 96), (53, 41)])
def test_python_api_matches_the_c_runtime(capi, irs, model, image_hw, tmp_path):
    """The same uint8 photo through `edgedepth.load(ir).predict(rgb)` and `edgedepth_cli`, depth at its size."""
    rgb = synthetic_rgb(tmp_path, image_hw)
    c_depth = example_depth(capi, irs[model], rgb, tmp_path)
    with edgedepth.load(irs[model]) as depth_model:
        python = depth_model.predict(rgb)
    assert python.shape == c_depth.shape == image_hw
    error = np.abs(python - c_depth).max() / np.abs(c_depth).max()
    print(f"{model} {image_hw}: max |edgedepth.load().predict - C| = {error:.2g} of max |depth|")
    assert error <= API_RTOL


#: A preprocessing unlike the default in every field the C runtime reads: values in [0, 2] instead of [0, 1], a
#: mean and std of their own, per-channel std, B, G, R order.
CUSTOM = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0), scale=1 / 127.5, color="BGR")


@pytest.fixture(scope="module")
def custom_ir(probe_onnx, tmp_path_factory):
    """The probe built as `edgedepth build` builds it, from an ONNX whose sidecar declares CUSTOM."""
    onnx = tmp_path_factory.mktemp("custom") / "probe.onnx"
    shutil.copyfile(probe_onnx, onnx)
    write_sidecar(onnx, probe_sidecar(CUSTOM))
    return openvino_backend.build(onnx, onnx.parent / "ir", BuildOptions()).parent


def test_c_runtime_applies_the_preprocessing_its_sidecar_records(capi, irs, custom_ir, tmp_path):
    """The probe declaring CUSTOM: C follows the sidecar as `predict` does, and ignoring it would show by far."""
    rgb = synthetic_rgb(tmp_path, (53, 41))
    assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2]).mean() > 10  # R and B differ: a wrong order shows
    c_depth = example_depth(capi, custom_ir, rgb, tmp_path)
    with edgedepth.load(custom_ir) as depth_model:
        assert depth_model.preprocessing == CUSTOM
        python = depth_model.predict(rgb)
    default = example_depth(capi, irs["probe"], rgb, tmp_path)  # the same weights, the ImageNet preprocessing
    error, ignored = (np.abs(other - c_depth).max() / np.abs(c_depth).max() for other in (python, default))
    print(f"max |predict - C| = {error:.2g} of max |depth| (the default preprocessing instead: {ignored:.2g})")
    assert error <= API_RTOL
    assert ignored > 1000 * API_RTOL


def test_c_runtime_reads_the_sidecar_in_any_json_formatting(capi, custom_ir, tmp_path):
    """Compact, other member order, escaped names and strings: the same preprocessing, the same depth."""
    rgb = synthetic_rgb(tmp_path, (40, 56))
    expected = example_depth(capi, custom_ir, rgb, tmp_path)
    ir = shutil.copytree(custom_ir, tmp_path / "ir")
    sidecar = read_sidecar(ir / "model.xml")
    sidecar["fusion"] = {"nested": [{"deeper": [1, {"x": None}]}, True, "\"}]"]}
    text = json.dumps(dict(reversed(sidecar.items())), separators=(",", ":"))
    text = text.replace('"preprocessing"', '"pre\\u0070rocessing"').replace('"BGR"', '"B\\u0047R"')
    assert '"preprocessing"' not in text
    sidecar_path(ir / "model.xml").write_text(text)
    assert json.loads(text)["preprocessing"] == CUSTOM.record()
    assert np.array_equal(example_depth(capi, ir, rgb, tmp_path), expected)


def test_example_refuses_a_model_without_its_sidecar(capi, irs, tmp_path):
    """The sidecar records the preprocessing: an IR copied without it is refused, never run on a default."""
    for suffix in (".xml", ".bin"):
        shutil.copyfile(irs["probe"] / f"model{suffix}", tmp_path / f"model{suffix}")
    ppm = write_ppm(tmp_path / "image.ppm", np.zeros((8, 8, 3), np.uint8))
    done = subprocess.run([str(capi["example"]), str(tmp_path), str(ppm), str(tmp_path / "out.pfm")], check=False,
                          capture_output=True, text=True)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "model.xml.json: No such file or directory; it records the model's preprocessing: copy it" in done.stderr
    assert not (tmp_path / "out.pfm").exists()


@pytest.mark.parametrize("preprocessing", [Preprocessing(resize="bicubic-antialias"),
                                           Preprocessing(fit="letterbox", pad=(114, 114, 114))], ids=["bicubic", "letterbox"])
def test_example_refuses_a_resize_it_does_not_implement(capi, irs, preprocessing, tmp_path):
    """The C runtime resizes bilinearly and stretches: any other recorded resize is refused, never run as that."""
    ir = shutil.copytree(irs["probe"], tmp_path / "ir")
    sidecar = read_sidecar(ir / "model.xml")
    sidecar_path(ir / "model.xml").write_text(json.dumps({**sidecar, "preprocessing": preprocessing.record()}))
    ppm = write_ppm(tmp_path / "image.ppm", np.zeros((8, 8, 3), np.uint8))
    done = subprocess.run([str(capi["example"]), str(ir), str(ppm), str(tmp_path / "out.pfm")], check=False,
                          capture_output=True, text=True)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert 'preprocessing.resize is "' in done.stderr and "this C runtime implements \"bilinear" in done.stderr
    assert not (tmp_path / "out.pfm").exists()


def comma_locale(folder: Path) -> dict[str, str] | None:
    """The environment of a locale that writes 0,5 (de_DE), compiled into `folder`; None where it cannot be."""
    if shutil.which("localedef") is None:
        return None
    done = subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", str(folder / "de_DE.UTF-8")], check=False,
                          capture_output=True)
    return {"LOCPATH": str(folder), "LC_ALL": "de_DE.UTF-8"} if done.returncode == 0 else None


@pytest.mark.parametrize("decimal_point", [".", ","])
def test_json_reader_takes_any_valid_json_and_names_the_fault_in_the_rest(capi, decimal_point, tmp_path):
    """capi/tests/ed_json_test.c: good and bad snippets, also under a locale whose decimal point is a comma."""
    env = dict(os.environ)
    if decimal_point == ",":
        locale = comma_locale(tmp_path)
        if locale is None:
            pytest.skip("no de_DE locale and no localedef to compile one")
        env.update(locale)
    done = subprocess.run([str(capi["build_dir"] / "ed_json_test")], check=False, capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"# LC_NUMERIC decimal point '{decimal_point}'" in done.stdout
    assert done.stdout.count("ok - ") >= 50 and done.stdout.rstrip().endswith("0 failed")


@pytest.mark.parametrize("name, content, message", [
    ("missing.ppm", None, "cannot open"),
    ("empty.ppm", b"", "is empty"),
    ("ascii.ppm", b"P3\n2 2\n255\n", "is a P3 file, not a binary RGB PPM (P6)"),
    ("photo.png", b"\x89PNG\r\n\x1a\n", "does not start with P6"),
    ("zero.ppm", b"P6\n0 0\n255\n", "is 0x0 pixels; an image needs a positive width and height"),
    ("no_height.ppm", b"P6\n4\n", "has no valid height"),
    ("deep.ppm", b"P6\n2 2\n65535\n" + bytes(24), "has maxval 65535; edgedepth_cli reads 8-bit PPM (maxval 255)"),
    ("cut.ppm", b"P6\n2 2\n255\n" + bytes(5), "is truncated: the header says 2x2 pixels (12 bytes) but 5 bytes follow"),
])
def test_example_names_what_is_wrong_with_the_image(capi, irs, name, content, message, tmp_path):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    done = subprocess.run([str(capi["example"]), str(irs["probe"]), str(tmp_path / name), str(tmp_path / "out.pfm")],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 1 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out.pfm").exists()


def test_example_fails_cleanly_on_a_missing_model(capi, tmp_path):
    ppm = write_ppm(tmp_path / "image.ppm", np.zeros((8, 8, 3), np.uint8))
    done = subprocess.run([str(capi["example"]), str(tmp_path / "nowhere.xml"), str(ppm), str(tmp_path / "out.pfm")],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 1 and "No such file" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.pfm").exists()


@pytest.mark.parametrize("args, message", [
    (["-s", "0x0"], "-s 0x0: height and width must be positive"),
    (["-s", "640"], "-s 640: expected HEIGHTxWIDTH"),
    (["-t", "-1"], "-t -1: THREADS must be a whole number >= 0"),
    (["-n", "0"], "-n 0: RUNS must be a whole number >= 1"),
    (["-n", "2x"], "-n 2x: RUNS must be a whole number >= 1"),
    (["-q"], "unknown option -q"),
    (["MODEL_ONLY"], "expected 3 arguments (MODEL INPUT.ppm OUTPUT.pfm), got 1"),
])
def test_example_names_the_bad_option(capi, args, message):
    """A bad option gets a line naming it and the problem, then the usage; exit 2 (nothing runs)."""
    args = ["model"] if args == ["MODEL_ONLY"] else [*args, "model", "in.ppm", "out.pfm"]
    done = subprocess.run([str(capi["example"]), *args], check=False, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 2, done.stderr
    assert lines[0] == f"error: {message}" or lines[0].startswith(f"error: {message}"), lines[0]
    assert lines[1].startswith("usage: ")


#: Peak resident memory of edgedepth_cli per megapixel of input, depth written at the input size. Its floor
#: is the caller's own buffers, 7 bytes a pixel (3 of RGB, 4 of float depth) = 6.7 MiB/MP, and that is what it
#: measures (6.7 at 4000×3000 and 16000×12000, see capi/README.md); the library adds nothing that grows with
#: the image. Before the image resize moved into C it was 37 MiB/MP (OpenVINO converted the whole image to
#: float first). 10 leaves ~40 MiB of noise at 12 MP and fails on any full-size float copy of the image
#: (11.4 MiB/MP).
PEAK_RSS_MIB_PER_MP = 10.0


def test_example_memory_grows_only_by_its_own_buffers(capi, irs, tmp_path):
    """Peak RSS at 4000×3000 minus the peak at 64×48, per megapixel, stays within PEAK_RSS_MIB_PER_MP (≈3 s)."""
    peaks = {}
    for h, w in ((48, 64), (3000, 4000)):
        rgb = np.broadcast_to((np.arange(w, dtype=np.uint32) * 7 % 256).astype(np.uint8)[None, :, None], (h, w, 3))
        ppm = write_ppm(tmp_path / "image.ppm", np.ascontiguousarray(rgb))
        done = subprocess.run([str(capi["example"]), str(irs["probe"]), str(ppm), str(tmp_path / "depth.pfm")],
                              check=False, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        peaks[h * w] = json.loads(done.stdout)["peak_rss_mib"]
    (small, base), (large, peak) = sorted(peaks.items())
    per_mp = (peak - base) / ((large - small) / 1e6)
    print(f"peak RSS {base:.1f} MiB at 64x48, {peak:.1f} MiB at 4000x3000: {per_mp:.2f} MiB per megapixel")
    assert per_mp <= PEAK_RSS_MIB_PER_MP


@pytest.mark.parametrize("model", ["probe", pytest.param("float", marks=pytest.mark.slow)])
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (apt-get install valgrind)")
def test_memcheck_finds_no_leaks_or_invalid_accesses(capi, irs, model, tmp_path):
    """benchmarks/capi_valgrind.sh: the example and the self-test under memcheck (≈15 s on the probe model,
    ≈70 s on the float LR-ASPP, 2 cores)."""
    ppm = write_ppm(tmp_path / "image.ppm", synthetic_rgb(tmp_path, (40, 56)))
    script = SOURCE_DIR.parent / "benchmarks" / "capi_valgrind.sh"
    done = subprocess.run([str(script), str(irs[model]), str(ppm), str(capi["build_dir"])], check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "no leaks, no invalid accesses" in done.stdout
