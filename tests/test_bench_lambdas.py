"""`python -m live bench lambdas`: the optimization's movement per lambda, and where lambda pins the source."""
import argparse
import json

from live.cli import bench as bench_cli


def test_lambda_sweep_pins_the_source_above_the_gradient_at_it(random_bundle_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    bench_cli.register(parser.add_subparsers())
    out = tmp_path / "lambdas.json"
    args = parser.parse_args(["bench", "lambdas", "--bundle", str(random_bundle_dir), "--lambdas", "0", "100",
                              "--pairs", "2", "--steps", "12", "--data", str(tmp_path / "no-data"),
                              "--json", str(out)])
    assert args.func(args) == 0
    report = json.loads(out.read_text())
    free, pinned = report["rows"]
    kink = report["grad_L_S_at_source"]
    assert 0 < kink["min"] <= kink["max"] < 100
    assert (free["pinned_sources"], pinned["pinned_sources"]) == (0, 2)
    assert free["L_S"] < report["source_L_S"]                  # lambda 0 lowers L_S ...
    assert pinned["w_distance"] < 0.1 * free["w_distance"]     # ... lambda 100 keeps to the source
    assert pinned["pixel_change"] < free["pixel_change"]
    assert "Lambda sweep" in capsys.readouterr().out
