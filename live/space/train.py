"""Training the shared VA space: `python -m live train space --outdir RUN`.

One step: draw a mixed batch of image-music pairs (batches.py), encode both sides, and
minimize the seed's total loss (losses.py): L_CFR both directions over paired triples,
L_CFM over the pairs, L_SFR per modality, L_SIM on the pairs plus as many random
image-music combinations, and the two VA regressions weighted per item.

Reproducible and resumable: the batch, the triples and the augmentation of step s on
rank r come from a generator seeded by (seed, r, s) alone, and the learning rate is a
function of s, so a run resumed from a checkpoint continues exactly as an uninterrupted
one would. The checkpoint holds the networks, the optimizer, the step and the wall time.

Data-parallel under torchrun (`torchrun --nproc_per_node=2 -m live train space ...`):
each rank draws its own batches, DistributedDataParallel averages the gradients (gloo on
CPU, nccl on CUDA), so the parameters stay identical; BatchNorm running statistics are
rank 0's (DDP broadcasts them at every forward, and once more at the end). Rank 0 builds
the data cache first, then the others read it; only rank 0 writes files.

Continuing a trained space (`init`, a bundle or run folder): its weights start the run.
With `freeze_image` E_I and its VA head stay as they are (eval mode, no gradients), so a
bundle's predictor and refinement, built on f_I, stay valid while the music side trains on.

RUN holds config.toml (resolved), data.json (item counts and label statistics),
log.jsonl, checkpoint.pt and, at the end, space.safetensors + space.toml and summary.json.
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from live.errors import PATH_LIMIT, UserError, differing, note, printable
from live.nets.device import checked_device
from live.files import SPACE_STATE, file_stamp, keep_log_until, log_line, training_in, write_json, write_state
from live.nets.weights import load_weights
from live.space.batches import Batch, MixedBatches
from live.space.cache import ArrayCache
from live.space.config import LossConfig, OptimConfig, SpaceTrainConfig
from live.space.data.records import describe
from live.space.load import SPACE_FILE, SpaceSpec, export_space, space_folder
from live.space.losses import (cfm_loss, cfr_loss, draw_cross_modal_triples, draw_pairs, draw_single_modal_triples,
                               sfr_loss, total, va_sigma, va_similarity, weighted_mse)
from live.space.model import SpaceNet, check_record
from live.space.pools import ImagePool, MusicPool, build_image_pool, build_music_pool, listed_pairs
from live.space.sources import Sources, read_sources
from live.tables import flat_table
from live.torch_files import read_state
from live.workers import cores

CONFIG_FILE, CHECKPOINT_FILE, LOG_FILE = "config.toml", SPACE_STATE, "log.jsonl"
DATA_FILE, SUMMARY_FILE = "data.json", "summary.json"


def learning_rate(step: int, optim: OptimConfig, steps: int) -> float:
    """Linear warm-up to optim.lr, then a cosine decay to final_lr_fraction * lr at `steps`."""
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    progress = min(1.0, (step - optim.warmup_steps) / max(1, steps - optim.warmup_steps))
    floor = optim.final_lr_fraction
    return optim.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The generator of one step on one rank: independent of every other (seed, rank, step)."""
    state = np.random.SeedSequence([seed, rank, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class SpaceForward(nn.Module):
    """All networks of the space in one forward, so DDP sees every parameter used each step."""

    def __init__(self, net: SpaceNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor, mels: torch.Tensor, sim_images: torch.Tensor,
                sim_music: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """-> f_I [B, F], f_M [B, F], VA_I [B, 2], VA_M [B, 2], S_hat [P] of pairs (sim_images, sim_music)."""
        f_image = self.net.image_encoder(images)
        f_music = self.net.music_encoder(mels)
        s_hat = self.net.similarity(f_image[sim_images], f_music[sim_music])
        return f_image, f_music, self.net.image_va(f_image), self.net.music_va(f_music), s_hat


def seed_losses(forward: nn.Module, batch: Batch, config: LossConfig, sigma: float,
                generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The seed's loss parts on one batch (unweighted)."""
    n = len(batch.image_va)
    extra_images, extra_music = draw_pairs(n, n, n, generator)
    sim_images = torch.cat([torch.arange(n), extra_images])
    sim_music = torch.cat([torch.arange(n), extra_music])
    f_i, f_m, va_i, va_m, s_hat = forward(batch.images, batch.mels, sim_images, sim_music)
    y_i, y_m = batch.image_va, batch.music_va
    per = config.triples_per_anchor
    image_triples = draw_cross_modal_triples(n, per, generator)
    music_triples = draw_cross_modal_triples(n, per, generator)
    return {
        "cfr": cfr_loss(f_i, y_i, f_m, y_m, image_triples, music_triples, sigma, config.eps),
        "cfm": cfm_loss(f_i, f_m, config.alpha),
        "sfr_image": sfr_loss(f_i, y_i, draw_single_modal_triples(n, per, generator), config.eps),
        "sfr_music": sfr_loss(f_m, y_m, draw_single_modal_triples(n, per, generator), config.eps),
        "sim": weighted_mse(s_hat, va_similarity(y_i[sim_images], y_m[sim_music], sigma)),
        "va_image": weighted_mse(va_i, y_i, batch.image_weight),
        "va_music": weighted_mse(va_m, y_m, batch.music_weight),
    }


@dataclass
class RunState:
    step: int = 0
    wall_seconds: float = 0.0


@dataclass(frozen=True)
class Replicas:
    """This process's place in a data-parallel run (rank 0 of 1 without torchrun), and the
    device it trains on: under torchrun on CUDA each process takes its own GPU (LOCAL_RANK);
    "cuda" alone put every rank on the first one, which NCCL refuses."""
    rank: int
    world: int
    device: torch.device

    @classmethod
    def join(cls, device: torch.device) -> Replicas:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1 and device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if world > 1 and not dist.is_initialized():
            # gloo beside nccl: the logged means are reduced on the host.
            dist.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank() if world > 1 else 0, world, device)

    @property
    def lead(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            values = values.clone()
            dist.all_reduce(values)
            values /= self.world
        return values

    def leave(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def state_checksum(module: nn.Module) -> str:
    """A digest of every parameter and buffer, to compare replicas."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def image_side(net: SpaceNet) -> tuple[nn.Module, ...]:
    return net.image_encoder, net.image_va


def init_space(config: SpaceTrainConfig) -> Path:
    """The weights of the space `config.init` names, refused unless its architecture is this
    run's; checked before the data loads (tens of seconds)."""
    folder = space_folder(config.init)
    spec = SpaceSpec.read(folder)
    if spec.config != config.net or spec.image_size != config.image_size:
        there = flat_table({"net": asdict(spec.config), "image_size": spec.image_size})
        here = flat_table({"net": asdict(config.net), "image_size": config.image_size})
        names = sorted(k for k in there.keys() | here.keys() if there.get(k) != here.get(k))
        raise UserError(f"init: the space in {folder} has other settings than this run "
                        f"({differing(names, there, here)}); copy them from its space.toml or bundle.toml")
    check_record(folder / spec.weights, spec.config, spec.image_size)
    return folder / spec.weights


class SpaceTrainer:
    def __init__(self, config: SpaceTrainConfig, outdir: Path | str, progress: bool = True) -> None:
        config = config.with_absolute_paths()
        self.config, self.outdir, self.progress = config, Path(outdir), progress
        self.notes: list[str] = []  # for the user, before the run starts
        self.lead = True  # this process speaks for the run (rank 0 of a data-parallel one)
        self._refuse_fewer_steps()
        stored = self.outdir / CONFIG_FILE
        if stored.is_file() and (self.outdir / CHECKPOINT_FILE).is_file():  # settings bind once a step is saved
            before = SpaceTrainConfig.read(stored)
            changed = before.differences(config)
            if changed:
                raise UserError(f"{self.outdir} was trained with other settings "
                                f"({differing(changed, before.flat(), config.flat())}); "
                                "resume with the same config or choose a new --outdir")
            mine, theirs = before.flat(), config.flat()
            for name in before.moved():
                if not Path(theirs[name]).exists():
                    where = "--data" if name == "data.root" else f"--set {name}=PATH"
                    raise UserError(f"{self.outdir} was trained with {name} {printable(mine[name], PATH_LIMIT)}, which is gone; "
                                    f"give its new place with {where}")
                self.notes.append(f"note: {name} {printable(mine[name], PATH_LIMIT)} is gone; continuing on {theirs[name]} "
                                  "(the same training only if it holds the same files)")
            if before.optim.lr != config.optim.lr:
                self.notes.append(f"note: optim.lr changed from {before.optim.lr:g} to {config.optim.lr:g}: the "
                                  "steps from here learn at the new rate")
            if before.steps != config.steps:
                # The schedule is a function of the step and the total, so a new total moves it.
                self.notes.append(f"note: steps changed from {before.steps} to {config.steps}: the learning-rate "
                                  f"schedule decays over {config.steps} steps from here, so past its warm-up the rate "
                                  "changes where the run resumes")
        self.device = checked_device(config.device)
        # A resumed run has its own weights.
        self._state_stamp = file_stamp(self.outdir / CHECKPOINT_FILE)  # as read: see training_in
        resumed = self._state_stamp is not None
        if config.init and config.image_backbone_weights and not resumed:  # init's weights replace the backbone's
            raise UserError("image_backbone_weights and init both give E_I its starting weights: keep one (in the "
                            "config file, or --set image_backbone_weights='')")
        self._init = init_space(config) if config.init and not resumed else None

    def _refuse_fewer_steps(self) -> None:
        """Before the notes on a resume's changes and the data's tens of seconds, and before the
        run's config.toml takes the new count: a --steps below the steps already trained."""
        path = self.outdir / CHECKPOINT_FILE
        trained = read_state(path, "`train space`", lambda saved: int(saved["step"])) if path.is_file() else 0
        if trained > self.config.steps:
            raise UserError(f"{self.outdir} has trained {trained} steps, past --steps {self.config.steps}: nothing "
                            "to train; give at least its steps")

    # --- data --------------------------------------------------------------------------
    def _data(self, replicas: Replicas) -> tuple[Sources, ImagePool, MusicPool, torch.Tensor]:
        sources = read_sources(self.config.data, self.config.net.mel.sample_rate, held_out=False)
        cache = ArrayCache(self.config.cache)

        def build() -> tuple[ImagePool, MusicPool]:
            show = self.progress and replicas.lead
            return (build_image_pool(sources, self.config.image_size, cache, show),
                    build_music_pool(sources, self.config.net.mel, cache, show))

        if replicas.lead:
            try:
                images, music = build()
            finally:  # refused: the others build too, and refuse in the same line, not in the barrier's traceback
                replicas.barrier()
        else:
            replicas.barrier()
            images, music = build()
        return sources, images, music, listed_pairs(sources, images, music)

    def _write_data_report(self, sources: Sources, images: ImagePool, music: MusicPool, sigma: float) -> None:
        records = {name: describe(items) for name, items in {**sources.images, **sources.music}.items()}
        pools = {name: stop - start for name, (start, stop) in {**images.ranges, **music.ranges}.items()}
        report = {"train_items": pools, "label_stats": records, "va_sigma": sigma,
                  "listed_pairs": len(sources.pairs), "test_fraction": self.config.data.test_fraction}
        write_json(self.outdir / DATA_FILE, report)

    # --- checkpoints -------------------------------------------------------------------
    def _save_checkpoint(self, net: SpaceNet, optimizer: torch.optim.Optimizer, state: RunState,
                         replicas: int) -> None:
        write_state(self.outdir / CHECKPOINT_FILE, {"step": state.step, "wall_seconds": state.wall_seconds,
                                                    "net": net.state_dict(), "optimizer": optimizer.state_dict(),
                                                    "replicas": replicas})

    def _check_finite(self, net: SpaceNet, step: int, saved: int | None) -> int:
        """`step`, if the weights are finite; else the run stops, keeping its last good state
        (`saved`): a diverged run wrote NaN over it at each checkpoint until its end."""
        if all(t.isfinite().all() for t in net.state_dict().values() if t.is_floating_point()):
            return step
        kept = (f"{self.outdir / CHECKPOINT_FILE} keeps step {saved}; lower optim.lr (--set optim.lr=...) and run "
                "again to go on from there" if saved is not None else "no step was saved; start again with a lower "
                "optim.lr (--set optim.lr=...)")
        raise UserError(f"the training diverged before step {step} (weights not finite): {kept}")

    def _load_checkpoint(self, net: SpaceNet, optimizer: torch.optim.Optimizer, replicas: int) -> RunState:
        path = self.outdir / CHECKPOINT_FILE
        if not path.is_file():
            return RunState()

        def resume(saved: dict) -> tuple[RunState, int]:
            net.load_state_dict(saved["net"])
            optimizer.load_state_dict(saved["optimizer"])
            return RunState(int(saved["step"]), float(saved["wall_seconds"])), int(saved.get("replicas", replicas))

        state, trained_on = read_state(path, "`train space`", resume, self.device)
        # Each replica draws its own batches: on another count the run goes on as another run,
        # which its summary would call one (runs from before the count was kept: unknown).
        if trained_on != replicas:
            launch = (f"torchrun --nproc_per_node={trained_on} -m live train space ..." if trained_on > 1
                      else "python -m live train space ..., without torchrun")
            raise UserError(f"{self.outdir} trained on {trained_on} replica(s), this command runs {replicas}; "
                            f"resume it with {launch}, or start a new --outdir")
        return state

    # --- the loop ----------------------------------------------------------------------
    def run(self, stop_at: int | None = None,
            on_finish: Callable[[SpaceNet, SpaceSpec], None] | None = None) -> RunState:
        """Train (or resume) up to config.steps, or only up to step `stop_at` (a checkpoint is
        written there, and a later run continues from it). `on_finish` gets the final space."""
        config = self.config
        if config.threads > cores():  # a config written on a larger machine: more threads only contend
            note("train space", f"threads = {config.threads}, on {cores()} cores here: runs {cores()}")
        torch.set_num_threads(min(config.threads, cores()))
        replicas = Replicas.join(self.device)
        self.device, self.lead = replicas.device, replicas.lead
        try:
            with ExitStack() as folder:  # held by the lead from when it makes the folder
                result = self._run(replicas, config.steps if stop_at is None else min(config.steps, stop_at),
                                   on_finish, folder)
            # Every replica done with the group before any tears it down: a rank that left
            # first aborted the other in gloo's teardown ("terminate called without an active
            # exception", 2 of about 30 two-replica runs here).
            replicas.barrier()
            return result
        finally:
            replicas.leave()

    def _run(self, replicas: Replicas, end: int,
             on_finish: Callable[[SpaceNet, SpaceSpec], None] | None, folder: ExitStack) -> RunState:
        config = self.config
        sources, images, music, listed = self._data(replicas)
        if replicas.lead:  # only now: a run whose data is missing leaves no folder
            folder.enter_context(training_in(self.outdir, self.outdir / CHECKPOINT_FILE, self._state_stamp))
        sigma = va_sigma(images.va, music.va)
        if replicas.lead:
            self._write_data_report(sources, images, music, sigma)

        torch.manual_seed(config.seed)  # initialization; identical on every rank, and DDP broadcasts rank 0's
        # A starting point for a new run; a resumed one's weights are its checkpoint's.
        fresh = self._state_stamp is None
        weights = Path(config.image_backbone_weights) if config.image_backbone_weights and fresh else None
        net = SpaceNet(config.net, weights).to(self.device)
        if self._init is not None:
            load_weights(lambda: net, self._init)
        frozen = image_side(net) if config.freeze_image else ()
        for module in frozen:
            module.requires_grad_(False)
        forward: nn.Module = SpaceForward(net)
        trained = [p for p in net.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trained, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
        state = self._load_checkpoint(net, optimizer, replicas.world)
        if replicas.lead:
            config.write(self.outdir / CONFIG_FILE)
        if replicas.world > 1:
            forward = DistributedDataParallel(forward, device_ids=[self.device] if self.device.type == "cuda" else None)
        batches = MixedBatches(images, music, config.batch, config.image_size, config.net.mel.frames, listed)

        items_per_step = 2 * config.batch.pairs * replicas.world  # images and clips
        bar = tqdm(total=end, initial=state.step, desc="train space", unit="step",
                   disable=not (self.progress and replicas.lead))
        if replicas.lead:
            keep_log_until(self.outdir / LOG_FILE, state.step)
            if state.step < end:
                # A finished run trained on: the space it wrote at its earlier end would be taken
                # for this run's by `bundle new --space` and `eval space` until the new one is
                # written (found by review); without its space.toml the folder is an unfinished run.
                (self.outdir / SPACE_FILE).unlink(missing_ok=True)
        log = (self.outdir / LOG_FILE).open("a") if replicas.lead else None
        rate = None
        saved = state.step if self._state_stamp is not None else None
        try:
            net.train()
            for module in frozen:
                module.eval()  # BatchNorm statistics are weights too
            while state.step < end:
                started = time.perf_counter()
                generator = step_generator(config.seed, replicas.rank, state.step)
                batch = batches.draw(generator).to(self.device)
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(state.step, config.optim, config.steps)
                parts = seed_losses(forward, batch, config.loss, sigma, generator)
                loss, logged = total(parts, config.loss.weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(trained, config.optim.grad_clip)
                optimizer.step()
                state.step += 1
                elapsed = time.perf_counter() - started
                state.wall_seconds += elapsed
                rate = items_per_step / elapsed if rate is None else 0.9 * rate + 0.1 * items_per_step / elapsed
                if state.step % config.log_every == 0 or state.step == end:
                    names = sorted(logged)
                    means = replicas.mean(torch.stack([logged[k] for k in names] + [loss.detach()]).cpu())
                    row = {"step": state.step, "loss": float(means[-1]), **{k: float(v) for k, v in zip(names, means)},
                           "grad_norm": float(grad_norm), "lr": learning_rate(state.step - 1, config.optim, config.steps),
                           "items_per_s": rate, "wall_seconds": state.wall_seconds}
                    if log:
                        log.write(log_line(row))
                        log.flush()
                    bar.set_postfix({"loss": f"{row['loss']:.3f}", "cfr": f"{row['cfr']:.2f}",
                                     "va_i": f"{row['va_image']:.3f}", "va_m": f"{row['va_music']:.3f}",
                                     "items/s": f"{rate:.1f}"})
                bar.update(1)
                if state.step % config.checkpoint_every == 0 or state.step == end:
                    saved = self._check_finite(net, state.step, saved)  # on every replica: they hold one net
                    if replicas.lead:
                        self._save_checkpoint(net, optimizer, state, replicas.world)
        finally:
            bar.close()
            if log:
                log.close()
        if state.step >= config.steps:
            self._finish(net, replicas, state, sigma, on_finish)
        return state

    def _finish(self, net: SpaceNet, replicas: Replicas, state: RunState, sigma: float,
                on_finish: Callable[[SpaceNet, SpaceSpec], None] | None) -> None:
        if replicas.world > 1:
            for buffer in net.buffers():
                dist.broadcast(buffer, 0)
        checksums = [state_checksum(net)]
        if replicas.world > 1:
            gathered: list[str | None] = [None] * replicas.world
            dist.all_gather_object(gathered, checksums[0])
            checksums = [str(c) for c in gathered]
        if not replicas.lead:
            return
        net.eval()
        spec = SpaceSpec(self.config.net, self.config.image_size)
        export_space(net, spec, self.outdir)
        summary = {"steps": state.step, "wall_seconds": state.wall_seconds, "replicas": replicas.world,
                   "replica_checksums": checksums, "replicas_identical": len(set(checksums)) == 1,
                   "va_sigma": sigma, "seed": self.config.seed}
        write_json(self.outdir / SUMMARY_FILE, summary)
        if on_finish:
            on_finish(net, spec)
