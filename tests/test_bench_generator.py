"""The generator benchmark: its FLOP count, its timing loop and its JSON contract."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ckpt_factory import one_torch_thread, tiny_generator  # noqa: F401 (fixture)
from live.bench import generator as bench
from live.errors import UserError
from live.nets.checkpoints import load_generator, save_generator
from live.nets.stylegan2 import Generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("overrides", [
    {},
    {"img_resolution": 16, "w_dim": 24, "synthesis_kwargs": {"channel_base": 256, "channel_max": 48}},
])
def test_flop_count_matches_torch_flop_counter(overrides):
    G = tiny_generator(**overrides).requires_grad_(False)
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    with FlopCounterMode(display=False) as counter:
        G.synthesis(ws, noise_mode="const")
    flops = bench.synthesis_flops(G.synthesis)
    assert flops.matmul_like == counter.get_total_flops()
    assert flops.total == flops.matmul_like + flops.modulation > flops.matmul_like


def test_flop_count_by_hand():
    # 8 px, 4 channels everywhere, w 8: b4 = conv1 + toRGB; b8 = up-conv + FIR, conv1, toRGB, image FIR.
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                  synthesis_kwargs={"channel_base": 32, "channel_max": 4})
    flops = bench.synthesis_flops(G.synthesis)
    c, k2 = 4, 9
    assert flops.conv == 2 * (16 * k2 * c * c + 16 * c * 3 + 16 * k2 * c * c + 64 * k2 * c * c + 64 * c * 3)
    assert flops.fir == 2 * (64 * c * 16 + 64 * 3 * 16)
    assert flops.affine == 2 * 8 * c * 5
    assert flops.modulation == 4 * 3 * k2 * c * c + 2 * 3 * c


def test_quantile_interpolates_order_statistics():
    assert bench.quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert bench.quantile([4.0, 1.0, 3.0, 2.0], 0.0) == 1.0
    assert bench.quantile([4.0, 1.0, 3.0, 2.0], 1.0) == 4.0
    assert bench.quantile([7.0], 0.9) == 7.0


def test_time_interleaved_takes_the_samples_asked_for():
    counts = {"a": 0, "b": 0}

    def call(name):
        def run():
            counts[name] += 1
        return run

    timings = bench.time_interleaved({name: call(name) for name in counts}, samples=5, seconds=60,
                                     burst_seconds=0)
    assert counts == {"a": 7, "b": 7}  # two warm-up calls each, then five timed
    assert all(len(t.wall) == len(t.cpu) == 5 and min(t.wall) >= 0 for t in timings.values())
    few = bench.time_interleaved({"a": call("a")}, samples=100, seconds=0, burst_seconds=0)
    assert len(few["a"].wall) == bench.MIN_REPEATS  # out of time, but never fewer than this
    bursts = bench.time_interleaved({"a": call("a")}, samples=5, seconds=60)  # fast calls, run in bursts
    assert len(bursts["a"].wall) == 5  # a burst stops at the count asked for


def run_main(tmp_path, *argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    bench.add_arguments(parser)
    args = parser.parse_args(["--json", str(tmp_path / "out.json"), "--dtypes", "float32", "--no-compile",
                              "--samples", "3", "--seconds", "0", "--gemm-size", "256", *argv])
    assert bench.main(args) == 0
    return json.loads((tmp_path / "out.json").read_text())


def test_writes_the_json_contract_for_a_checkpoint(tmp_path):
    path = save_generator(tiny_generator(), tmp_path / "tiny.safetensors", dtype=torch.float32)
    result = run_main(tmp_path, "--rows", "", "--network", str(path))
    assert result["gemm_gflops"] > 0 and result["threads"] == 1
    fp32_ways = {label: v for label, v in result["gemm_cpu_gflops_by_method"].items() if label.endswith("fp32")}
    assert len(fp32_ways) == len(bench.GEMM_METHODS)  # the bound is the fastest way, not the first
    assert result["gemm_cpu_gflops"] == max(fp32_ways.values())
    assert result["gemm_method"] == max(fp32_ways, key=fp32_ways.get)
    (row,) = result["rows"]
    assert row["name"] == str(path) and row["resolution"] == 32
    for key in ("gflop_per_frame", "ms_per_frame", "fps", "share_of_bound", "cpu_ms_per_frame"):
        assert row[key] > 0, key
    assert row["dtype"] == "fp32" and "eager" in row["path"]
    assert row["fps"] == pytest.approx(1e3 / row["ms_per_frame"])
    # Against the GEMM timed among the row's frames, not the one timed before them.
    assert row["bound_gflops"] > 0 and row["bound_gflops"] != result["gemm_gflops"]
    assert row["share_of_bound"] == pytest.approx(row["gflop_per_frame"] * row["fps"] / row["bound_gflops"])
    assert row["paths"]["fp32"]["max_abs_diff"] < 1e-4


def test_rows_are_named_by_their_paths_and_each_timed_once(tmp_path):
    """Two runs' files named alike made two rows of one name; a file given twice, two rows."""
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
    paths = [save_generator(tiny_generator(), tmp_path / run / "G.safetensors", dtype=torch.float32)
             for run in ("a", "b")]
    rows = run_main(tmp_path, "--rows", "", "--network", str(paths[0]), "--network", str(paths[1]),
                    "--network", str(paths[0]))["rows"]
    assert [row["name"] for row in rows] == [str(paths[0]), str(paths[1])]


def test_each_path_s_share_is_against_its_dtype_s_gemm_timed_beside_it(tmp_path):
    path = save_generator(tiny_generator(), tmp_path / "tiny.safetensors", dtype=torch.float32)
    (row,) = run_main(tmp_path, "--rows", "", "--network", str(path), "--dtypes", "float32,bfloat16")["rows"]
    beside = row["gemm_beside"]
    assert set(beside) == set(row["paths"]) == {"fp32", "bf16"} and beside["fp32"] != beside["bf16"]
    for short, path_row in row["paths"].items():
        assert path_row["bound"].endswith(short) and path_row["bound_gflops"] == beside[short]["gflops"]
        assert path_row["cpu_share_of_bound"] == pytest.approx(
            row["gflop_per_frame"] / path_row["cpu_ms_per_frame"] * 1e3 / beside[short]["cpu_gflops"])
        assert path_row["cpu_share_of_fp32_bound"] == pytest.approx(
            row["gflop_per_frame"] / path_row["cpu_ms_per_frame"] * 1e3 / beside["fp32"]["cpu_gflops"])


def test_default_rows_follow_the_shipped_default_generator(tmp_path):
    from live.models import models_dir

    shipped, _ = load_generator(models_dir() / "default" / "generator.safetensors")
    default, twice, four_times = bench.shapes()[:3]
    assert default.build().synthesis.channels == shipped.synthesis.channels
    assert (default.resolution, twice.resolution, four_times.resolution) == \
        (shipped.img_resolution, 2 * shipped.img_resolution, 4 * shipped.img_resolution)
    assert twice.name == f"default@{twice.resolution}"
    path = save_generator(tiny_generator(), tmp_path / "tiny.safetensors", dtype=torch.float32)
    tiny = bench.GeneratorShape.of_checkpoint("t", path).build()
    assert tiny.synthesis.channels == tiny_generator().synthesis.channels and tiny.w_dim == tiny_generator().w_dim
    config = path.with_suffix(".json").read_text()
    # Each with where the file comes from; 1e400 and 32.5 were tracebacks, a missing file lost it (review 51).
    for text in ("{}", config.replace('"img_resolution": 32', '"img_resolution": 1e400'),
                 config.replace('"img_resolution": 32', '"img_resolution": 32.5'), None):
        if text is None:
            path.with_suffix(".json").unlink()
        else:
            assert text != config
            path.with_suffix(".json").write_text(text)
        with pytest.raises(UserError, match="architecture.*restore it from the repository"):
            bench.GeneratorShape.of_checkpoint("t", path)


def test_unknown_rows_and_dtypes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown rows"):
        run_main(tmp_path, "--rows", "default,huge")
    with pytest.raises(UserError, match="--dtypes"):
        run_main(tmp_path, "--dtypes", "float64")


def test_bad_flags_are_one_line_before_the_bound_is_measured(capsys):
    from live.__main__ import main

    for flags in (["--gemm-size", "0"], ["--samples", "-3"], ["--seconds", "nan"], ["--device", "foo"]):
        with pytest.raises(SystemExit) as exit:
            main(["bench", "generator", *flags])
        assert exit.value.code == 2, flags
    assert main(["bench", "generator", "--rows", ","]) == 2
    err = capsys.readouterr().err
    assert "names no row" in err and "unknown device 'foo'" in err and "Traceback" not in err


def test_a_bad_network_file_is_refused_before_any_timing(tmp_path, monkeypatch):
    (tmp_path / "broken.safetensors").write_bytes(b"not weights")
    monkeypatch.setattr(bench, "gemm_bounds", lambda *a, **k: pytest.fail("the GEMM bound was timed first"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    bench.add_arguments(parser)
    with pytest.raises(UserError, match="broken.safetensors"):
        bench.main(parser.parse_args(["--rows", "", "--network", str(tmp_path / "broken.safetensors")]))
    # The report replaced the network's config, and the network no longer loaded.
    network = save_generator(tiny_generator(), tmp_path / "G.safetensors", dtype=torch.float32)
    config = network.with_suffix(".json").read_bytes()
    from live.__main__ import main

    with pytest.raises(SystemExit) as exit:  # any generator's config, as the command line is read
        main(["bench", "generator", "--rows", "", "--network", str(network), "--json", str(tmp_path / "G.json")])
    assert exit.value.code == 2 and network.with_suffix(".json").read_bytes() == config
