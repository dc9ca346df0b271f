"""`python -m live eval gan`: the distances it is built on, and a tiny run."""
import json
import warnings

import numpy as np
import pytest
import torch

from ckpt_factory import tiny_generator
from live.__main__ import main
from live.nets.checkpoints import save_generator
from live.gan.evaluate import fine_energy, frechet_distance


def test_frechet_distance_of_gaussians_is_their_mean_shift_plus_covariance_term():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 3))
    assert frechet_distance(a, a) < 1e-6
    shifted = a + np.array([1.0, 2.0, 0.0])
    assert abs(frechet_distance(a, shifted) - 5.0) < 1e-6  # same covariance: |mu_a - mu_b|^2
    # N(0, I) against N(0, 4 I) in 3-d: 3 * (1 + 4 - 2 * 2) = 3
    assert abs(frechet_distance(a, 2 * rng.standard_normal((20000, 3))) - 3.0) < 0.1


def test_fine_energy_tells_speckle_from_a_wash():
    wash = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    speckle = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert float(fine_energy(wash)) < 1e-6 < float(fine_energy(speckle))


def test_the_fine_energy_ratio_is_the_generator_s_over_the_reference_s():
    # Inverted, a generator drawing speckle read as one drawing washes, and every test passed (review 49).
    from live.gan.evaluate import COLOUR_STATS, _compare, _Set

    def pictures(fine):
        rng = np.random.default_rng(len(fine))
        return _Set(rng.standard_normal((4, 3)), {name: rng.random(4) for name in COLOUR_STATS}, np.array(fine))

    assert _compare(pictures([4.0, 4.0, 4.0, 4.0]), pictures([1.0, 1.0, 1.0, 1.0]))["fine_energy_ratio"] == 4.0
    # Flat reference pictures: no ratio, not inf or nan under a numpy warning (review 64).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _compare(pictures([1.0] * 4), pictures([0.0] * 4))["fine_energy_ratio"] is None


def test_a_random_generator_is_farther_from_the_corpus_than_the_corpus_floor(random_bundle_dir, tmp_path, capsys):
    out = tmp_path / "gan.json"
    network = random_bundle_dir / "generator.safetensors"
    assert main(["eval", "gan", "--network", str(network), "--space", str(random_bundle_dir), "--count", "24",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    g, floor = report["generator"], report["corpus_floor"]
    assert g["frechet_f_I"] > floor["frechet_f_I"] >= 0
    assert sum(g["colour_wasserstein"].values()) > sum(floor["colour_wasserstein"].values())
    assert "Frechet distance" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # a covariance needs two pictures
        main(["eval", "gan", "--network", str(network), "--count", "1", "--json", str(out)])
    sidecar = network.with_suffix(".json")
    before = sidecar.read_text(), network.read_bytes()
    for report in (sidecar, network):  # its config, or not named .json: refused as the command line is read
        with pytest.raises(SystemExit):
            main(["eval", "gan", "--network", str(network), "--count", "8", "--json", str(report)])
    assert (sidecar.read_text(), network.read_bytes()) == before


@pytest.mark.parametrize("options, trunc, words", [
    ({"c_dim": 4}, "1", "conditional generator (c_dim 4)"),
    ({"img_channels": 1}, "1", "draws 1-channel pictures; eval gan scores RGB ones"),
    ({"mapping_kwargs": {"num_layers": 2, "w_avg_beta": None}}, "0.7", "truncation needs one; use --trunc 1"),
    # Not "procedural resolution 16 is not a power of two >= 32", of a resolution no one gave.
    ({"img_resolution": 16}, "1", "draws 16 px pictures; eval gan compares them with the procedural corpus, "
                                  "painted at 32 px or more"),
])
def test_a_generator_eval_gan_cannot_score_is_refused_in_one_line(random_bundle_dir, tmp_path, capsys, monkeypatch,
                                                                  options, trunc, words):
    import live.space.load

    network = save_generator(tiny_generator(2, **options), tmp_path / "theirs.safetensors")
    monkeypatch.setattr(live.space.load, "load_space", lambda *a: pytest.fail("the space was loaded first"))
    assert main(["eval", "gan", "--network", str(network), "--space", str(random_bundle_dir), "--count", "4",
                 "--trunc", trunc, "--json", str(tmp_path / "gan.json")]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_each_set_is_described_a_batch_at_a_time_with_the_numbers_of_a_whole_set(random_bundle_dir, monkeypatch):
    """Held whole with its float32 copies, a set of 1024 pictures took 40-55 GB at 512 px: the
    default count was killed without a line (found by review)."""
    from live.bundle import Bundle
    from live.gan.config import GanEvalConfig
    from live.gan.evaluate import evaluate_generator
    from live.space.load import load_space
    from live.space.probe import SpaceProbe

    G = Bundle.load(random_bundle_dir).G
    probe = SpaceProbe(*load_space(str(random_bundle_dir), "cpu"))
    whole = evaluate_generator(G, probe, GanEvalConfig(count=12, batch=12))
    seen = []
    images = probe.images
    monkeypatch.setattr(probe, "images", lambda batch: (seen.append(len(batch)), images(batch))[1])
    batched = evaluate_generator(G, probe, GanEvalConfig(count=12, batch=5))
    assert max(seen) <= 5 and sum(seen) == 36  # three sets of 12
    assert batched["generator"]["frechet_f_I"] == pytest.approx(whole["generator"]["frechet_f_I"], rel=1e-4)
    assert batched["corpus_floor"]["colour_wasserstein"] == pytest.approx(whole["corpus_floor"]["colour_wasserstein"],
                                                                          rel=1e-4)


def test_a_generator_trained_on_a_folder_is_scored_against_that_folder_s_pictures(random_bundle_dir, tmp_path,
                                                                                  capsys):
    # It was scored against the procedural paintings, with no word of it: far off on colour
    # while close to the photos it learned from.
    import numpy as np
    from PIL import Image

    from live.bundle import Bundle
    from live.gan.config import GanEvalConfig
    from live.gan.data import FolderImages
    from live.gan.evaluate import evaluate_generator, format_report
    from live.space.load import load_space
    from live.space.probe import SpaceProbe

    G = Bundle.load(random_bundle_dir).G
    for k in range(5):
        Image.fromarray(np.full((40, 40, 3), (20 + 10 * k, 30, 40), np.uint8)).save(tmp_path / f"dark{k}.png")
    probe = SpaceProbe(*load_space(str(random_bundle_dir), "cpu"))
    config = GanEvalConfig(count=8, batch=8)
    folder = evaluate_generator(G, probe, config, FolderImages(tmp_path, G.img_resolution, 0, mirror=False))
    corpus = evaluate_generator(G, probe, config)
    assert folder["reference"] == f"pictures of {tmp_path}" and "procedural corpus" in corpus["reference"]
    assert folder["means"]["lightness"]["corpus"] < 15 < corpus["means"]["lightness"]["corpus"]
    assert format_report(folder).splitlines()[0] == f"against pictures of {tmp_path}"
    # Flat pictures have no fine detail to compare with (review 64).
    assert folder["generator"]["fine_energy_ratio"] is None
    (fine,) = [line for line in format_report(folder).splitlines() if "fine-detail" in line]
    assert fine.split()[-2:] == ["n/a", "n/a"]
    # Two disjoint sets of the 5 pictures, 2 each: drawn with replacement, they shared most pictures and
    # the floor fell toward 0 (review 53).
    assert folder["count"] == 2 and folder["corpus_floor"]["colour_wasserstein"]["lightness"] > 1
    assert "holds 5 pictures: the generator and two disjoint sets" in capsys.readouterr().err
