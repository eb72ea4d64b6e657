"""The closed-form cost model against the published numbers and against the real module."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from bench.code import ArchCode
from bench.cost import BENCHMARK_SPEC, COST_HEADS, CostSpec, cost, cost_batch
from bench.count import measure
from bench.errors import BenchError
from bench.nn import HEADS, build_network
from bench.space import sample_codes
from tests.reference import reference_rows

# Published (code, params in M, GFLOPs) triples from the authors' seg.pkl, spread over the FLOPs range,
# embedded so the convention is checked on machines without ../shared.
PUBLISHED = [
    ("8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8", 0.021322, 0.010842562),
    ("16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16", 0.082658, 0.040917842),
    ("16_8-2_1_1_8-1_2_1_2_48_48-2_3_1_1_1_40_8_8-2_4_1_1_1_1_48_8_8_16-64", 0.423746, 0.303641522),
    ("48_48-1_1_3_16-1_2_2_2_48_16-2_3_3_4_1_16_96_16-1_4_3_2_1_2_32_64_16_80-48", 2.265826, 0.68864245),
    ("48_64-2_1_2_64-3_2_2_2_16_80-3_3_3_4_4_16_16_32-4_4_2_2_1_4_80_96_32_32-96", 5.22909, 2.386691826),
    ("48_32-1_1_3_32-1_2_2_2_112_112-1_3_1_4_2_80_64_48-2_4_4_3_4_3_96_112_128_48-128", 8.319522, 3.193932594),
    ("32_48-2_1_2_112-2_2_4_1_112_112-3_3_4_1_2_32_80_16-1_4_3_4_1_2_16_80_80_112-80", 6.255122, 4.039126994),
    ("48_64-4_1_2_16-4_2_4_1_80_16-1_3_3_2_2_80_112_96-4_4_1_2_3_4_112_128_128_96-48", 16.524258, 5.376791442),
    ("48_48-1_1_2_128-2_2_4_4_128_48-3_3_4_4_3_96_48_16-2_4_4_2_3_3_64_112_64_128-96", 11.487938, 7.136227058),
    ("128_128-2_1_4_128-2_2_4_4_128_128-2_3_4_4_4_128_128_128-2_4_4_4_4_4_128_128_128_128-128", 28.290994, 13.727426866),
    ("64_16-1_1_1_16-3_2_3_3_64_64-1_3_2_4_4_80_64_112-4_4_2_4_4_4_112_80_112_48-16", 13.244306, 4.65001301),
    ("32_32-1_1_1_24-1_2_1_1_8_56-1_3_1_2_1_32_64_48-1_4_2_1_2_1_32_48_64_24-40", 0.748818, 0.20709837),
]


def assert_matches_published(code: ArchCode, params_m: float, gflops: float) -> None:
    c = cost(code)
    assert abs(c.params_m - params_m) <= 1e-6, (code.to_string(), c.params_m, params_m)
    assert abs(c.gflops - gflops) <= 1e-9 * gflops, (code.to_string(), c.gflops, gflops)


@pytest.mark.parametrize("text, params_m, gflops", PUBLISHED)
def test_closed_form_equals_embedded_published_values(text, params_m, gflops):
    assert_matches_published(ArchCode.from_string(text), params_m, gflops)


@pytest.mark.parametrize("text, params_m, gflops", PUBLISHED[:6])
def test_measured_module_equals_embedded_published_values(text, params_m, gflops):
    measured = measure(build_network(text, "cls", 50), torch.zeros(1, 3, 128, 128))
    assert measured == cost(text)


def test_closed_form_equals_every_published_architecture():
    rows = reference_rows("seg.pkl")
    for row in rows:
        assert_matches_published(ArchCode.from_row(row), row["params"], row["flops"])
    batch_params, batch_flops = cost_batch(np.array([row["embedding"] for row in rows]))
    assert np.allclose(batch_params / 1e6, [row["params"] for row in rows], rtol=0, atol=1e-6)
    assert np.allclose(batch_flops / 1e9, [row["flops"] for row in rows], rtol=1e-9, atol=0)


def test_measured_module_equals_published_for_a_sample_of_50():
    rows = random.Random(0).sample(reference_rows("seg.pkl"), 50)
    torch.manual_seed(0)
    for row in rows:
        code = ArchCode.from_row(row)
        measured = measure(build_network(code, "cls", 50), torch.zeros(1, 3, 128, 128))
        assert measured == cost(code)
        assert_matches_published(code, row["params"], row["flops"])


SPECS = [
    CostSpec("cls", (96, 80), 10),
    CostSpec("seg", (64, 96), 19),
    CostSpec("seg", (37, 51), 7),  # odd sizes: stride-2 convs round up
    CostSpec("video", (56, 56), 51, frames=3),
    CostSpec("det", (62, 54), 1, in_channels=64),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.head}-{s.input_hw[0]}x{s.input_hw[1]}")
def test_closed_form_equals_measured_for_every_head(spec):
    shape = (1, spec.in_channels, spec.frames, *spec.input_hw) if spec.head == "video" else (1, spec.in_channels, *spec.input_hw)
    for code in sample_codes(3, seed=11):
        classes = spec.num_classes if HEADS.get(spec.head).has_classifier else None
        net = build_network(code, spec.head, classes, in_channels=spec.in_channels)
        assert measure(net, torch.zeros(shape)) == cost(code, spec)


def test_every_network_head_has_a_closed_form_cost():
    assert set(HEADS.names()) <= set(COST_HEADS) and {s.head for s in SPECS} == set(HEADS.names())


def test_cost_batch_equals_scalar_cost_for_other_specs():
    codes = sample_codes(20, seed=5)
    for spec in SPECS:
        params, flops = cost_batch(np.array([c.to_list() for c in codes]), spec)
        assert [(int(p), int(f)) for p, f in zip(params, flops)] == [(cost(c, spec).params, cost(c, spec).flops) for c in codes]


@pytest.mark.parametrize("kwargs", [{"head": "lstm"}, {"input_hw": (0, 128)}, {"num_classes": 0}, {"frames": -1}])
def test_bad_cost_specs_are_refused(kwargs):
    with pytest.raises(BenchError):
        CostSpec(**kwargs)


def run_cli(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "bench.cost", *args], input=stdin, capture_output=True, text=True)


def test_cli_prints_exact_csv():
    proc = run_cli("-", stdin="\n".join(t for t, _, _ in PUBLISHED) + "\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "code,params_m,gflops"
    for line, (text, params_m, gflops) in zip(lines[1:], PUBLISHED):
        code, p, f = line.split(",")
        assert code == text and float(p) == pytest.approx(params_m, abs=1e-9) and float(f) == pytest.approx(gflops, rel=1e-12)


def test_cli_options_change_the_network(tmp_path):
    path = tmp_path / "codes.txt"
    path.write_text(PUBLISHED[3][0] + "\n")
    proc = run_cli(str(path), "--input", "64", "96", "--classes", "19", "--head", "seg")
    spec = CostSpec("seg", (64, 96), 19)
    expected = cost(PUBLISHED[3][0], spec)
    assert proc.stdout.splitlines()[1] == f"{PUBLISHED[3][0]},{expected.params / 1e6:.6f},{expected.flops / 1e9:.9f}"


def test_cli_reports_bad_lines_and_fails():
    proc = run_cli("-", stdin=f"{PUBLISHED[0][0]}\n8_8-oops\n")
    assert proc.returncode != 0
    assert "line 2" in proc.stderr
    assert proc.stdout.splitlines() == ["code,params_m,gflops", f"{PUBLISHED[0][0]},0.021322,0.010842562"]


def test_cli_reports_a_missing_file():
    proc = run_cli("no/such/file.txt")
    assert proc.returncode != 0 and "no/such/file.txt" in proc.stderr


def test_benchmark_default_is_the_published_convention():
    assert BENCHMARK_SPEC == CostSpec("cls", (128, 128), 50, 3)
