"""Data-parallel space training: two CPU processes on gloo under torchrun stay identical."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from live.space.train import CHECKPOINT_FILE, LOG_FILE, SUMMARY_FILE
from tests.space_factory import tiny_config, write_data


GLOO = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                          reason="this torch build has no gloo backend")


def two_replicas(tmp_path, *options: str) -> subprocess.CompletedProcess:
    """`train space` on tiny data in two CPU processes under torchrun, into tmp_path/run."""
    data = write_data(tmp_path / "data")
    config_file = tmp_path / "tiny.toml"
    tiny_config(data, tmp_path / "cache", steps=3, checkpoint_every=3).write(config_file)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # torchelastic's folders (review 64)
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "live", "train", "space", "--outdir", str(tmp_path / "run"), "--config",
                           str(config_file), "--quiet", *options],
                          capture_output=True, text=True, timeout=300, env=env)


@GLOO
def test_two_replicas_train_in_step_and_end_identical(tmp_path):
    run = tmp_path / "run"
    done = two_replicas(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((run / SUMMARY_FILE).read_text())
    assert summary["replicas"] == 2 and summary["steps"] == 3
    first, second = summary["replica_checksums"]
    assert first == second and summary["replicas_identical"]
    log = [json.loads(line) for line in (run / LOG_FILE).read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3]
    assert torch.load(run / CHECKPOINT_FILE, weights_only=True)["step"] == 3
    assert (run / "space.safetensors").is_file()
    assert done.stdout.count("step 3/3 after") == 1, done.stdout  # each process said it (review 70)


@GLOO
def test_a_refusal_of_the_data_is_every_replica_s_one_line_not_a_traceback(tmp_path):
    # Rank 0 refused before the barrier the others waited in: they died in gloo's traceback.
    done = two_replicas(tmp_path, "--set", "data.oasis=false", "--set", "data.procedural_images=0")
    assert done.returncode != 0
    assert done.stderr.count("live: error: no training images") == 2 and "[rank1]" not in done.stderr
