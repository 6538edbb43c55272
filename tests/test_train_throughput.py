"""benchmarks/train_throughput.py runs `edgedepth train`'s step; a tiny CPU run keeps it working."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_training_throughput_benchmark_runs_on_cpu_and_reports_one_json_line():
    args = ["--device", "cpu", "--arch", "lraspp_mobilenet_v3_large", "--size", "32x32", "--batch-size", "2",
            "--scans", "4", "--seconds", "0.1"]
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "train_throughput.py"), *args], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["device"] == "cpu" and result["amp"] is None and result["input_size"] == [32, 32]
    assert result["images_per_s_loader"] > 0 and result["images_per_s_resident"] > 0
    assert "images/s, DataLoader" in done.stdout  # the table above the JSON line
