"""Training the amortized predictor P(w_o, f_I(G(w_o)), f_M, lambda) -> w_m.

Each step draws a batch of source latents (z ~ N(0, I) through the mapping network at
truncation 0.7, the middle of the shipped presets' 0.5-0.9), music embeddings from the training
music bank and lambdas log-uniform over the predictor's range, and minimizes the seed's
L_transfer of the predicted w_m through the frozen G and E_I: the optimization of
live.transfer.optimize, learned once for all inputs instead of run for each. A sample's
loss is divided by (1 + lambda): a positive weight per sample moves no sample's optimum,
and it keeps the large-lambda samples, whose L_O term is largest, from drowning the rest.

The run folder holds the music banks (encoded once), the training state (predictor, Adam,
step, random state: re-running resumes), the resolved config and a log; the predictor
is written into the bundle at every checkpoint, so a stopped run leaves a usable one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from tqdm import tqdm

from live.bundle import Bundle, BundleConfig
from live.models import BUNDLE_FILE
from live.errors import UserError, differing
from live.files import (PREDICTOR_STATE, file_stamp, keep_log_until, lock_alone, log_line, real_path, refuse_other_run,
                        training_in, write_json, write_state)
from live.nets.predictor import LatentPredictor
from live.nets.digest import digest_weights
from live.nets.weights import stored_weights, write_safetensors
from live.torch_files import read_state
from live.transfer.config import HEADS_WAIT, PredictorTraining
from live.transfer.embed import latent_features, true_transfer_loss
from live.transfer.objective import transfer_loss
from live.transfer.music import MusicBank, encode_clips, music_records, reads_synthetic
from live.transfer.pairs import TransferPairs, held_out_pairs

STATE_FILE, CONFIG_FILE, LOG_FILE = PREDICTOR_STATE, "config.json", "log.jsonl"
# Settings that may change when a run resumes; any other change starts a different run.
# (The held-out pairs only score it.)
RESUMABLE = {"steps", "checkpoint_every", "bf16", "held_out_pairs"}


def music_bank(bundle: Bundle, config: PredictorTraining, run_dir: Path, held_out: bool,
               progress: bool = True) -> MusicBank:
    """The run's training or held-out music bank, encoded on first use and kept in the run
    folder under a name that says what made it: the music asked for and the bundle's
    music encoder (its weights file), so a changed setting never meets an old bank."""
    space = bundle.root / bundle.config.space_weights if bundle.root is not None else None
    stamp = (space.stat().st_size, space.stat().st_mtime_ns) if space is not None and space.is_file() else None
    clips = config.synthetic_clips if reads_synthetic(config.music, config.data_root) else 0
    made_of = repr((sorted(config.music), str(real_path(config.data_root)), clips, config.windows_per_clip, stamp))
    digest = hashlib.sha256(made_of.encode()).hexdigest()[:12]
    path = run_dir / f"music-{'test' if held_out else 'train'}-{digest}.safetensors"
    if path.is_file():
        return MusicBank.load(path)
    count = max(1, config.synthetic_clips // 4) if held_out else config.synthetic_clips
    clips = music_records(config.music, Path(config.data_root), count, held_out, noting=not held_out)
    bank = encode_clips(bundle, clips, config.windows_per_clip, progress=progress)
    bank.save(path)
    return bank


def evaluation_lambdas(bundle: Bundle, count: int = 4) -> list[float]:
    """A log-spaced grid over the lower half of the predictor's lambda range, where transfers move."""
    cfg = bundle.predictor.cfg
    low, high = math.log(cfg.lambda_min), (math.log(cfg.lambda_min) + math.log(cfg.lambda_max)) / 2
    return [math.exp(low + (high - low) * i / (count - 1)) for i in range(count)]


def _checked_state(state: dict) -> dict:
    """A predictor run's state, if it holds what a resume reads."""
    missing = {"config", "predictor", "adam", "rng", "step"} - state.keys()
    if missing or not isinstance(state["config"], dict):
        raise KeyError(f"it lacks {', '.join(sorted(missing)) or 'a config table'}")
    return state


def _flag(name: str) -> str:
    """A training setting as `train predictor` takes it (two have no flag: the code's defaults)."""
    if name in ("truncation", "windows_per_clip"):
        return name
    return {"data_root": "--data", "held_out_pairs": "--held-out"}.get(name, "--" + name.replace("_", "-"))


def _stored(config: dict) -> dict:
    """A config as the state file keeps it (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def _file_digest(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def networks_digest(bundle: Bundle) -> str:
    """What a predictor is trained through: the generator's and the space's weights."""
    digest = hashlib.sha256()
    for module in (bundle.G, bundle.space):
        digest_weights(digest, module)
    return digest.hexdigest()[:16]


class PredictorTrainer:
    """`replace`: a new run from the identity may replace a trained predictor the bundle holds
    (at its first checkpoint); without it, such a run is refused before anything is made."""

    def __init__(self, bundle: Bundle, config: PredictorTraining, run_dir: str | Path, progress: bool = True,
                 replace: bool = False):
        if bundle.root is None:
            raise UserError("the bundle has no folder to write its predictor into; load it with Bundle.load")
        self.bundle, self.config, self.run_dir, self.progress = bundle, config, Path(run_dir), progress
        self.trained_with = bundle.network_digests()  # as loaded: a space exported during the run is not learned
        self._network_stamps = self._network_files()
        cfg = bundle.predictor.cfg
        if config.lambda_high is not None and not cfg.lambda_min < config.lambda_high <= cfg.lambda_max:
            raise UserError(f"the training lambdas' upper end must lie in ({cfg.lambda_min}, {cfg.lambda_max}], "
                            f"the range this predictor reads; got {config.lambda_high}")
        state = self._settled_state()  # before the music banks: a refused resume refuses at once
        if state is None and not config.from_bundle and not replace and self._holds_trained():
            # A 1-step run replaced the shipped 4,000-step predictor unasked (review 98).
            raise UserError(f"{bundle.root} holds a trained predictor, which a new run from the identity would "
                            "replace at its first checkpoint: give --from-bundle to train on from it, --force to "
                            "replace it, or train a copy of the bundle (bundle new ... --name NEW)")
        with self._holding_bundle():  # so does a bundle another run trains (held for the run by `run`)
            pass
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.train_bank = music_bank(bundle, config, self.run_dir, held_out=False, progress=progress)
        test_bank = music_bank(bundle, config, self.run_dir, held_out=True, progress=progress)
        self.pairs = held_out_pairs(bundle, test_bank, config.held_out_pairs, evaluation_lambdas(bundle))
        if config.layer_heads and not bundle.predictor.cfg.layer_heads:
            bundle.predictor = bundle.predictor.with_layer_heads()  # bundle.toml says so at the first checkpoint
        self.predictor = bundle.predictor
        self.heads = self.predictor.layer_head_parameters()
        self.adam = torch.optim.Adam(self.predictor.parameters(), lr=config.lr, betas=(0.9, 0.99))
        self.rng = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.wrote = False  # the predictor into the bundle, by this object
        self.superseded = False  # the run had finished, and the bundle holds a predictor written since
        self._resume_or_start(state)

    def _settled_state(self) -> dict | None:
        """The run folder's state, if any, once its settings are found to be this run's; and
        this run's settings as the state keeps them (`_resolved`)."""
        state_path = self.run_dir / STATE_FILE
        refuse_other_run(self.run_dir, STATE_FILE)  # before the music banks are made in it
        self._state_stamp = file_stamp(state_path)
        state = None
        if state_path.is_file():
            state = read_state(state_path, "predictor training", _checked_state)
        self.heads_from = self.config.layer_heads_from
        if self.heads_from is None and state is not None:  # runs from before the setting waited HEADS_WAIT
            self.heads_from = state["config"].get("layer_heads_from", HEADS_WAIT)
        elif self.heads_from is None:
            self.heads_from = 0 if self.config.from_bundle else HEADS_WAIT
        # Folders as the paths they name, not as typed: `--data ..` names another folder from
        # another working folder, and the music banks are made of the folder.
        resolved = {**dataclasses.asdict(self.config), "layer_heads_from": self.heads_from,
                    "bundle": str(real_path(self.bundle.root)), "data_root": str(real_path(self.config.data_root)),
                    "networks": networks_digest(self.bundle)}
        if state is not None:
            # Another bundle of the folder name (two models folders) has the same default run folder:
            # "remade since" sent its user to delete the other bundle's run (review 66).
            if state["config"].get("bundle", resolved["bundle"]) != resolved["bundle"]:
                if state["config"].get("networks") == resolved["networks"]:  # the same networks: moved (review 68)
                    raise UserError(f"{self.run_dir} trained the bundle at {state['config']['bundle']} (moved since?): "
                                    "put it back there to resume, or give this one its own --outdir")
                raise UserError(f"{self.run_dir} is the run of another bundle, {state['config']['bundle']}; give "
                                "this one its own --outdir")
            # A bundle remade under its name (`bundle new --force`) keeps its folder; its run
            # trained a predictor for other networks. (Runs from before the digest was kept: unknown.)
            if state["config"].get("networks", resolved["networks"]) != resolved["networks"]:
                raise UserError(f"{self.run_dir} trained the predictor of another generator or space (the bundle "
                                "was remade since); delete that folder or choose another --outdir")
            # A setting newer than the run's config counts as the default it ran with. Older
            # runs kept data_root as typed: it is read from here, as they read it.
            typed = state["config"].get("data_root", PredictorTraining.data_root)
            saved = state["config"] | {"data_root": str(real_path(typed)),
                                       "music": sorted(set(state["config"].get("music", PredictorTraining.music)))}
            defaults = _stored(dataclasses.asdict(PredictorTraining())) | {"layer_heads_from": HEADS_WAIT}
            there, here = defaults | saved, _stored(resolved)
            # Synthetic music needs no folder, and 4Q clips alone no synthetic ones.
            unread = ({"data_root"} if "4q" not in self.config.music else set()) | (
                set() if reads_synthetic(self.config.music, self.config.data_root) else {"synthetic_clips"})
            changed = sorted(k for k, v in here.items()
                             if k not in RESUMABLE | unread | {"networks"} and there.get(k) != v)
            if changed:
                flags = [_flag(k) for k in changed]
                there, here = ({_flag(k): v[k] for k in changed} for v in (there, here))
                raise UserError(f"{self.run_dir} holds a run with other settings ({differing(flags, there, here)}); "
                                "use the same settings to resume or another --outdir")
        self._resolved = resolved
        return state

    def _resume_or_start(self, state: dict | None) -> None:
        # A state from before the record (False): the write it may have missed is made, as then.
        self._bundle_before = None if state is None else state.get("bundle_before", False)
        self._losses: list[float] = [] if state is None else list(state.get("losses", []))
        if state is not None:
            self.predictor.load_state_dict(state["predictor"])
            self.adam.load_state_dict(state["adam"])
            self.rng.set_state(state["rng"])
            self.step = state["step"]
        elif not self.config.from_bundle:
            # From the seed, not from the hidden layers the bundle's predictor holds (`bundle
            # new`'s, or an earlier training's): the same settings, the same run.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.config.seed)
                self.predictor.load_state_dict(LatentPredictor(self.predictor.cfg).state_dict())
            self.predictor.reset_to_identity()

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Source latents [B, num_ws, w_dim], music f_M [B, D] and lambdas [B]."""
        cfg, device, G = self.predictor.cfg, self.bundle.device, self.bundle.G
        b = self.config.batch
        z = torch.randn(b, G.z_dim, generator=self.rng).to(device)
        rows = torch.randint(len(self.train_bank), (b,), generator=self.rng)
        high = cfg.lambda_max if self.config.lambda_high is None else self.config.lambda_high
        span = math.log(high) - math.log(cfg.lambda_min)
        lam = torch.exp(math.log(cfg.lambda_min) + span * torch.rand(b, generator=self.rng))
        with torch.no_grad():
            w_o = G.mapping(z, truncation_psi=self.config.truncation)
        return w_o, self.train_bank.features[rows].to(device), lam.to(device)

    def train_step(self) -> float:
        w_o, f_m, lam = self.batch()
        with torch.no_grad():
            f_o = latent_features(self.bundle, w_o)
        w_m = self.predictor(w_o, f_o, f_m, lam)
        with torch.autocast(self.bundle.device.type, dtype=torch.bfloat16, enabled=self.config.bf16):
            f_i = latent_features(self.bundle, w_m)
        loss = (transfer_loss(f_i.float(), f_m, w_m, w_o, lam).total / (1 + lam)).mean()
        self.adam.zero_grad(set_to_none=True)
        loss.backward()
        if self.step < self.heads_from:
            for p in self.heads:
                p.grad = None  # Adam leaves them where they are
        self.adam.step()
        self.step += 1
        return loss.item()

    @torch.no_grad()
    def evaluate(self, pairs: TransferPairs | None = None) -> dict[str, float]:
        """Mean true L_transfer on held-out pairs: at the source and at the prediction."""
        p = pairs or self.pairs
        self.predictor.eval()
        w_m = self.predictor(p.w_source, p.f_source, p.f_music, p.lam)
        self.predictor.train()
        # At the source, L_transfer needs no pass through G and E_I: the pairs hold f_I there.
        source = transfer_loss(p.f_source, p.f_music, p.w_source, p.w_source, p.lam).total
        predicted = true_transfer_loss(self.bundle, w_m, p.w_source, p.f_music, p.lam).total
        return {"heldout_source": float(source.mean()), "heldout_predicted": float(predicted.mean())}

    def checkpoint(self, record: dict[str, float] | None) -> None:
        # The bundle's weights are checked first (a predictor not finite in float16 must not
        # become the state a run resumes from) and written last: a run killed before its
        # first state is saved starts again, a fine-tune from the bundle's predictor, which
        # must still be the one it started from. The log's row before the state: a resume
        # drops rows past its step, where a row after a finished run's last state was lost.
        weights_path = self.bundle.root / self.bundle.config.predictor_weights
        weights = stored_weights(self.predictor, weights_path)
        # What the bundle holds before this write: a finished run writes into it again only
        # if it still does (the write was cut short), not over a predictor trained since.
        # With the losses since the last logged checkpoint: a run stopped between two logs the
        # next row as a straight run does (`record` None: a stop's state, no row of its own).
        state = {"predictor": self.predictor.state_dict(), "adam": self.adam.state_dict(), "step": self.step,
                 "rng": self.rng.get_state(), "bundle_before": _file_digest(weights_path),
                 "config": _stored(self._resolved), "losses": list(self._losses)}
        if record is not None:
            with (self.run_dir / LOG_FILE).open("a") as log:
                # The pairs' count: a resume may score a run with more or fewer of them.
                log.write(log_line({"step": self.step, "heldout_pairs": len(self.pairs), **record}))
        write_state(self.run_dir / STATE_FILE, state)
        self._write_into_bundle(weights, weights_path)

    def _holds_trained(self) -> bool:
        """Whether the bundle holds a predictor some run trained (not `bundle new`'s identity)."""
        weights = self.bundle.root / self.bundle.config.predictor_weights
        return weights.is_file() and bool(BundleConfig.read(self.bundle.root / BUNDLE_FILE).trained_with)

    def _bundle_holds(self) -> str:
        """What the bundle's predictor file is to this run: "this run's" (its state's weights),
        "missing" (absent, what the bundle held before the run's last write: that write was
        missed, or untrained: the bundle was made again by `bundle new`, a refusal saying another
        run wrote it sent its user to start over, review 66) or "another run's" (written there since)."""
        weights_path = self.bundle.root / self.bundle.config.predictor_weights
        weights = stored_weights(self.predictor, weights_path)
        try:
            held = load_file(weights_path)
        except (OSError, SafetensorError):
            return "missing"
        if held.keys() == weights.keys() and all(torch.equal(held[k], v) for k, v in weights.items()):
            return "this run's"
        if self._bundle_before is False or _file_digest(weights_path) == self._bundle_before:
            return "missing"
        return "another run's" if BundleConfig.read(self.bundle.root / BUNDLE_FILE).trained_with else "missing"

    def _write_if_missing(self) -> None:
        """A run stopped between its last state and the bundle's write (a Ctrl-C, a full
        disk) has finished, and its predictor is not in the bundle: write it now. A predictor
        written there since (another run's fine-tune) stays: `superseded`."""
        holds = self._bundle_holds()
        if holds == "missing":
            weights_path = self.bundle.root / self.bundle.config.predictor_weights
            self._write_into_bundle(stored_weights(self.predictor, weights_path), weights_path)
        self.superseded = holds == "another run's"

    def _write_into_bundle(self, weights: dict[str, torch.Tensor], path: Path) -> None:
        # A bundle remade meanwhile (`bundle new --force`, a space exported into it) got a
        # predictor trained for the networks it replaced, or one that did not fit them.
        stamps = self._network_files()
        if stamps != self._network_stamps:  # written since: the same networks (a re-save), or others?
            try:
                same = Bundle.load(self.bundle.root).network_digests() == self.trained_with
            except UserError:
                same = False
            if not same:
                raise UserError(f"{self.bundle.root} holds another generator or space than this run trains through "
                                f"(made again since it started); its predictor is left as it is, and this run's "
                                f"stays in {self.run_dir}; train the new one in a new run folder")
            self._network_stamps = stamps
        write_safetensors(weights, path)
        self.bundle.write_predictor_table(self.trained_with)
        self.wrote = True

    def _network_files(self) -> tuple[tuple[int, int] | None, ...]:
        root, config = self.bundle.root, self.bundle.config
        return file_stamp(root / config.generator_weights), file_stamp(root / config.space_weights)

    def run(self, stop: threading.Event | None = None) -> dict[str, float]:
        """Train to `steps`; returns the last held-out evaluation. `stop`, once set, ends the
        run after the step under way, checkpointed (its predictor in the bundle too), and
        returns no evaluation."""
        self.predictor.train().requires_grad_(True)
        if self.step >= self.config.steps:
            self._write_if_missing()
            return self.evaluate()
        # Nothing is written into the folder before its lock: a second command, refused,
        # rewrote the running run's config.json, or, started as the first ended, resumed
        # from the state it had read and trained over the finished run.
        with training_in(self.run_dir, self.run_dir / STATE_FILE, self._state_stamp), self._holding_bundle():
            resumed = self._bundle_before is not None
            if resumed and self._bundle_holds() == "another run's":  # its checkpoints would replace it unsaid
                raise UserError(f"{self.bundle.root} holds a predictor another run wrote since this run's last "
                                f"checkpoint (step {self.step}); training on in {self.run_dir} would replace it: to "
                                "train on from it, give --from-bundle and a new --outdir")
            keep_log_until(self.run_dir / LOG_FILE, self.step)
            write_json(self.run_dir / CONFIG_FILE, self._resolved)
            return self._train(stop or threading.Event())

    @contextmanager
    def _holding_bundle(self) -> Iterator[None]:
        """The bundle to this run alone: two runs on one bundle wrote its predictor in turns, and the
        first to end said it wrote what the other then replaced (review 66)."""
        if real_path(self.bundle.root) == real_path(self.run_dir):  # held already, as the run's folder
            yield
            return
        held = lock_alone(self.bundle.root)
        if held is None:
            raise UserError(f"another `train predictor` run is training the predictor of {self.bundle.root}; wait "
                            "for it to end (or stop it: its state is saved), then run this command again")
        try:
            yield
        finally:
            os.close(held)

    def _train(self, stop: threading.Event) -> dict[str, float]:
        bar = tqdm(total=self.config.steps, initial=self.step, unit="step", desc="predictor", disable=not self.progress)
        losses = self._losses
        checkpointed = self.step
        try:
            while self.step < self.config.steps:
                if stop.is_set():  # Ctrl-C lost every step since the last checkpoint (found by review)
                    if self.step > checkpointed:
                        bar.set_description("predictor (stopping: saving)")
                        self.checkpoint(None)  # unscored: minutes of a large generator, for no row
                    record = {}
                    break
                losses.append(self.train_step())
                bar.update(1)
                if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                    # A pass through G and E_I for every held-out pair: minutes for a large generator.
                    bar.set_description(f"predictor (scoring {len(self.pairs)} held-out pairs)")
                    record = {"loss": sum(losses) / len(losses), **self.evaluate()}
                    bar.set_description("predictor")
                    losses.clear()
                    self.checkpoint(record)
                    checkpointed = self.step
                    bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()})
        finally:
            bar.close()
            self.predictor.eval().requires_grad_(False)
        return record
