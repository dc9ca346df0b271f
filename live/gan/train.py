"""StyleGAN2 training: non-saturating logistic loss, lazy R1 and path length, EMA generator, resumable.

The loop follows the recipe of Karras et al. (2020) as stylegan2-ada-pytorch runs it
(Adam with betas (0, 0.99), R1 every 16 discriminator steps and path-length
regularization every 4 generator steps with the lazy-regularization learning-rate
correction, style mixing, G_ema), without augmentation: the procedural
corpus is endless, so the discriminator cannot memorize it.
"""
from __future__ import annotations

import copy
import inspect
import math
import threading
import time
import zipfile
from collections import deque
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tqdm import tqdm

from live.gan import loss
from live.errors import PATH_LIMIT, UserError, first_line, note, printable
from live.files import (GAN_STATE, file_stamp, gone, log_line, real_path, training_in, write_json, write_state,
                        write_whole)
from live.gan.config import GanConfig, flag
from live.gan.data import FolderImages, ImageSource, ProceduralStream
from live.imageio import save_grid
from live.nets.device import checked_device
from live.nets.discriminator import Discriminator
from live.nets.fast import CPP_EXTENSION_LOG, errors_only
from live.nets.stylegan2 import Generator, MappingNetwork, SynthesisBlock, SynthesisLayer, SynthesisNetwork
from live.torch_files import load_torch_file, read_state

CHECKPOINT = GAN_STATE
LOG = "log.jsonl"  # a line per snapshot: the checkpoint's history, readable without torch
# What a resumed run may change: how long and how often, and where and how it computes.
RATE_STEPS = 16  # steps the progress bar's kimg/min is taken over
RESUMABLE = ("total_kimg", "snapshot_kimg", "device", "threads", "bf16", "compile", "noise_max_res")


WIDTH_FLAGS = ("--channel-base", "--channel-max")  # what an --init may grow


def _architecture(generator_kwargs: dict) -> dict[str, object]:
    """A generator's shape in this command's options, and what it has no option for; what
    its kwargs leave to the networks' defaults filled in (a checkpoint's kwargs may list a
    default, or leave it out). Other settings (NVlabs' conv_clamp, fp16 layers) shape no
    weight: an --init may differ in them."""
    mapping, synthesis = _filled(generator_kwargs)
    return {"--res": generator_kwargs["img_resolution"], "--z-dim": generator_kwargs["z_dim"],
            "--w-dim": generator_kwargs["w_dim"], "--mapping-layers": mapping["num_layers"],
            "--channel-base": synthesis["channel_base"], "--channel-max": synthesis["channel_max"],
            "c_dim": generator_kwargs["c_dim"], "img_channels": generator_kwargs["img_channels"]}


def _function(generator_kwargs: dict) -> dict[str, object]:
    """What else decides a generator's pictures from its weights, defaults filled in: an
    --init that differs in it would be taken as another network's weights (its mapping's
    lr_multiplier scales every weight it holds)."""
    mapping, synthesis = _filled(generator_kwargs)
    return {**{f"mapping {k}": mapping[k] for k in ("activation", "lr_multiplier", "layer_features",
                                                    "embed_features")},
            "mapping keeps w_avg": mapping["w_avg_beta"] is not None,  # its decay only paces training
            **{f"synthesis {k}": synthesis[k] for k in ("activation", "use_noise", "architecture")},
            "synthesis resample_filter": [float(t) for t in synthesis["resample_filter"]]}


def _filled(generator_kwargs: dict) -> tuple[dict[str, object], dict[str, object]]:
    """The mapping's and the synthesis' settings, what the kwargs leave out at the networks'
    defaults (the synthesis' reach its blocks and layers)."""
    def defaults(network: type) -> dict[str, object]:
        return {name: p.default for name, p in inspect.signature(network).parameters.items()
                if p.default is not p.empty}

    return ({**defaults(MappingNetwork), **generator_kwargs["mapping_kwargs"]},
            {**defaults(SynthesisLayer), **defaults(SynthesisBlock), **defaults(SynthesisNetwork),
             **generator_kwargs["synthesis_kwargs"]})


def _as_flags(architecture: dict[str, object]) -> str:
    return " ".join(f"{name} {value}" for name, value in architecture.items() if name.startswith("--"))


def _read_run_state(path: str, device: torch.device) -> dict | None:
    """A GAN run's training state (its config as GanConfig), or None when `path` holds
    something else, a generator checkpoint for load_generator to read or refuse."""
    if not Path(path).is_file():
        raise UserError(f"--init {path}: no such file; give a generator checkpoint or a run's {CHECKPOINT}")
    if not zipfile.is_zipfile(path):  # torch.save writes zip archives; an NVlabs pickle made torch.load warn
        return None
    try:
        run = load_torch_file(Path(path), device)
    except UserError:  # the file's own refusal, not a sign of another format
        raise
    except Exception:  # noqa: BLE001 - not a plain torch file: a generator format, or not a checkpoint at all
        return None
    if not (isinstance(run, dict) and {"G", "D", "G_ema", "config", "state"} <= run.keys()):
        return None
    try:
        return {**run, "config": GanConfig(**run["config"])}
    except TypeError as e:
        raise UserError(f"--init {path}: a training state of another version of this trainer ({e})") from None


# Settings whose unset value means one computed from others (`--help` gives the rule).
AUTOMATIC = {"r1_gamma": GanConfig.resolved_r1_gamma, "ema_kimg": GanConfig.resolved_ema_kimg}


def _typed(name: str, value: object) -> str:
    """A setting as a command line gives it: `--mirror`, `--no-mirror`, `--init X`."""
    if isinstance(value, bool):
        return flag(name) if value else "--no-" + flag(name).removeprefix("--")
    if value is None or value == "":
        return f"{flag(name)} (unset)"
    return f"{flag(name)} {printable(str(value), PATH_LIMIT)}"  # a stored state's text is the file's


def _same_setting(name: str, saved_config: GanConfig, given_config: GanConfig) -> bool:
    saved, given = getattr(saved_config, name), getattr(given_config, name)
    if name == "init" and not given:  # a resumed run does not need to be told where it started
        return True
    if name == "mirror" and saved_config.data == given_config.data == "procedural":  # read by folders only
        return True
    if name == "data" and "procedural" not in (saved, given):
        # The same folder, however it is written; or the run's folder moved (it is gone).
        return real_path(str(saved)) == real_path(str(given)) or gone(str(saved))
    if name == "init" and saved:  # the same file, however it is written; or not there from here to compare
        return saved == given or real_path(str(saved)) == real_path(str(given)) or not Path(saved).exists()
    if name in AUTOMATIC:  # the automatic value, typed out (as printed: 6 digits), is the same setting
        return saved == given or math.isclose(AUTOMATIC[name](saved_config), AUTOMATIC[name](given_config),
                                              rel_tol=1e-5)
    return saved == given


def read_run(path: Path, device: torch.device | str = "cpu") -> tuple[dict, GanConfig, TrainState]:
    """A run's training state, with its config and counters as this trainer's."""
    return read_state(path, "`train gan`", lambda ckpt: (ckpt, GanConfig(**ckpt["config"]), TrainState(**ckpt["state"])),
                      device)


def _lazy_adam(net: torch.nn.Module, lr: float, interval: int) -> torch.optim.Adam:
    """Adam with betas (0, 0.99), corrected for a regularizer applied every `interval` steps (0: none)."""
    ratio = interval / (interval + 1) if interval else 1.0
    return torch.optim.Adam(net.parameters(), lr=lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)


@dataclass
class TrainState:
    images_seen: int = 0
    d_steps: int = 0
    data_position: int = 0
    wall_seconds: float = 0.0
    pl_mean: float = 0.0            # running mean path length
    history: list[dict] = field(default_factory=list)
    averages: dict[str, float] = field(default_factory=dict)  # the losses' moving averages, logged at snapshots


class GanTrainer:
    def __init__(self, config: GanConfig, outdir: str | Path, progress: bool = True):
        if config.data != "procedural":  # stored absolute: a resume from another folder finds the same one
            config = replace(config, data=str(real_path(config.data)))
        self.cfg = config
        self.outdir = Path(outdir)
        self.progress = progress
        self.device = checked_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        try:
            self.G = Generator(**config.generator_kwargs()).to(self.device).train()
            self.D = Discriminator(config.resolution, channel_base=config.channel_base,
                                   channel_max=config.channel_max,
                                   mbstd_group_size=min(4, config.batch)).to(self.device).train()
        except (RuntimeError, MemoryError) as e:  # a typo's extra zeros: terabytes of weights
            raise UserError(f"cannot build networks of these sizes on {self.device} ({first_line(e)}); check "
                            "--z-dim, --w-dim, --channel-base and --channel-max") from None
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        # Lazy regularization runs R1 (path length) every r1_interval (pl_interval) steps;
        # scaling lr and betas keeps the optimizer's effective dynamics as if it ran every step.
        self.opt_G = _lazy_adam(self.G, config.lr, config.pl_interval if config.pl_weight > 0 else 0)
        self.opt_D = _lazy_adam(self.D, config.lr, config.r1_interval)
        self.state = TrainState()
        self.grid_z = torch.randn(16, config.z_dim, generator=torch.Generator().manual_seed(config.seed + 1))
        from_generator = False
        self._state_stamp = file_stamp(self.outdir / CHECKPOINT)  # as read: see run
        resumed = self._load_if_present()
        if not resumed and config.init:
            from_generator = not self._start_from(config.init)
        self._silent_noise = self._silence_noise()
        if from_generator:
            self.state.pl_mean = self._measured_path_length()
        # Compiled views share the modules' parameters. The regularizers differentiate a
        # gradient (create_graph), which compiled graphs do not support: they call the modules.
        self._synthesis, self._discriminator = self.G.synthesis, self.D
        if config.compile:
            self._synthesis, self._discriminator = torch.compile(self.G.synthesis), torch.compile(self.D)
        # A run with nothing left to train (an export with --kimg 0) reads no data: its pictures may have moved.
        self.data: ImageSource | None = None
        if self.state.images_seen < int(config.total_kimg * 1000):
            if resumed and config.data != "procedural" and not Path(config.data).is_dir():
                raise UserError(f"{self.outdir} trained on {printable(config.data, PATH_LIMIT)}, which is gone; "
                                "give its new place with --data")
            self.data = self._make_source()
        self.outdir.mkdir(parents=True, exist_ok=True)  # only now: a run that cannot start leaves no folder

    def _silence_noise(self) -> list[torch.nn.Parameter]:
        """Zero the noise strengths of blocks above noise_max_res in G and G_ema, and return
        G's: they get no gradient, so the fine layers' structure has to come from W.

        A generator whose finest layers lean on per-pixel noise renders speckle, and loses
        its structure when the noise is off; coarse noise still varies the layout.
        """
        if not self.cfg.noise_max_res:
            return []
        silent = []
        for net in (self.G, self.G_ema):
            for layer in net.synthesis.modules():
                if isinstance(layer, SynthesisLayer) and layer.use_noise and layer.resolution > self.cfg.noise_max_res:
                    with torch.no_grad():
                        layer.noise_strength.zero_()
                    if net is self.G:
                        silent.append(layer.noise_strength)
        return silent

    def _make_source(self) -> ImageSource:
        if self.cfg.data == "procedural":
            if not self.cfg.mirror:
                note("train gan", "--no-mirror applies to a --data folder's pictures; the procedural corpus has "
                                  "no sides to keep and is drawn as it is")
            return ProceduralStream(self.cfg.resolution, self.cfg.seed, self.state.data_position)
        return FolderImages(self.cfg.data, self.cfg.resolution, self.cfg.seed, self.state.data_position,
                            mirror=self.cfg.mirror)

    # --- checkpoints --------------------------------------------------------------------
    def _start_from(self, path: str) -> bool:
        """Start from a trained network, grown to this run's width if it is narrower; True
        if `path` was a run's training state.

        A generator checkpoint gives G and G_ema, and D starts fresh. Another run's training
        state gives all three and its counters, so the run goes on where that one stopped
        (kimg, corpus position, schedules) with more channels.
        """
        from live.gan.grow import grow_discriminator, grow_generator
        from live.nets.checkpoints import load_generator

        run = _read_run_state(path, self.device)
        if run is not None:
            kwargs, G_state, G_ema_state = run["config"].generator_kwargs(), run["G"], run["G_ema"]
        else:
            init, _ = load_generator(path, device=self.device)
            kwargs, G_state = init.init_kwargs, init.state_dict()
            G_ema_state = G_state
        theirs, ours = _architecture(kwargs), _architecture(self.G.init_kwargs)
        mine = _function(self.G.init_kwargs)
        other = {k: v for k, v in _function(kwargs).items() if v != mine[k]}
        if other:
            raise UserError(f"--init {path}: its networks compute otherwise than this run's "
                            f"({', '.join(f'{k} {v!r}' for k, v in other.items())}); `train gan` builds its own "
                            "defaults, so it cannot go on from this checkpoint")
        try:
            if any(theirs[name] != ours[name] for name in ours if name not in WIDTH_FLAGS):
                # grow_state would take a larger z or w for a wider layer: only channels may grow.
                raise UserError("its resolution, latent sizes, mapping depth or conditioning differ from this run's")
            grow_generator(self.G, G_state)
            grow_generator(self.G_ema, G_ema_state, fresh=self.G.state_dict())
            if run is not None:
                grow_discriminator(self.D, run["D"])
        except UserError as e:
            raise UserError(f"--init {path}: its architecture does not fit this run ({e}): it has "
                            f"{_as_flags(theirs)}, this run {_as_flags(ours)}; pass its "
                            "--res/--z-dim/--w-dim/--mapping-layers and at least its channels") from None
        if run is not None:
            self.state = TrainState(**run["state"])
            if self.state.images_seen >= self.cfg.total_kimg * 1000:
                raise UserError(f"--init {path} has already seen {self.state.images_seen / 1000:g} kimg: "
                                f"--kimg {self.cfg.total_kimg:g} leaves nothing to train; raise --kimg")
        return run is not None

    def _load_if_present(self) -> bool:
        path = self.outdir / CHECKPOINT
        if not path.exists():
            return False
        ckpt, saved, state = read_run(path, self.device)
        changed = [name for name in asdict(self.cfg)
                   if name not in RESUMABLE and not _same_setting(name, saved, self.cfg)]
        if changed:
            def given(config: GanConfig) -> str:  # as typed: '--no-mirror', not '--mirror False'
                return ", ".join(_typed(name, getattr(config, name))
                                 + (f" (automatic: {AUTOMATIC[name](config):g})"
                                    if name in AUTOMATIC and getattr(config, name) is None else "")
                                 for name in changed)
            raise UserError(f"{self.outdir} was trained with {given(saved)}; this command gives {given(self.cfg)}. "
                            f"Resume with the run's values or choose a new --outdir (a run may change only "
                            f"{', '.join(flag(name) for name in RESUMABLE)})")
        for name in ("G", "D", "G_ema"):
            getattr(self, name).load_state_dict(ckpt[name])
        for name in ("opt_G", "opt_D"):
            # The moments resume; lr and betas stay this config's (a run from before
            # path-length regularization keeps G's uncorrected ones otherwise).
            opt = getattr(self, name)
            settings = [(g["lr"], g["betas"]) for g in opt.param_groups]
            opt.load_state_dict(ckpt[name])
            for group, (lr, betas) in zip(opt.param_groups, settings):
                group["lr"], group["betas"] = lr, betas
        self.state = state
        torch.set_rng_state(ckpt["rng"].cpu())  # read onto the run's device; generator states live on the CPU
        if self.device.type == "cuda" and "cuda_rng" in ckpt:  # latents and noise are drawn there
            torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), self.device)
        if saved.data != self.cfg.data and gone(saved.data):
            note("train gan", f"{path} was trained on {printable(saved.data, PATH_LIMIT)}, which is gone; continuing "
                              f"on {self.cfg.data} (the same pictures only if it holds the same files)")
        if saved.noise_max_res != self.cfg.noise_max_res:
            note("train gan", f"{path} was trained with --noise-max-res {saved.noise_max_res}; continuing with "
                              f"{self.cfg.noise_max_res}")
        return True

    def save(self) -> None:
        ckpt = {name: getattr(self, name).state_dict() for name in ("G", "D", "G_ema", "opt_G", "opt_D")}
        ckpt["config"] = asdict(self.cfg)
        self.state.data_position = getattr(self.data, "position", 0)
        ckpt["state"] = asdict(self.state)
        ckpt["rng"] = torch.get_rng_state()
        if self.device.type == "cuda":
            ckpt["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        # With the checkpoint, not before the first batch: a run that fails on its data
        # leaves no folder that looks like a run. The log before the state: stopped between
        # the two, the next snapshot rewrites the log from the state's history, where a log
        # written after a finished run's last state lost its row for good.
        write_json(self.outdir / "config.json", asdict(self.cfg))
        write_whole(self.outdir / LOG, "".join(map(log_line, self.state.history)).encode())
        write_state(self.outdir / CHECKPOINT, ckpt)  # a kill mid-write keeps the last good one

    def sample_grid(self, path: Path) -> None:
        with torch.no_grad():
            img = self.G_ema(self.grid_z.to(self.device), noise_mode="const")
        save_grid(img, path, nrow=4)

    # --- one iteration -----------------------------------------------------------------
    def _latents(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.cfg.z_dim, device=self.device)
        ws = self.G.mapping(z, update_w_avg=True)
        if self.cfg.style_mixing > 0 and torch.rand(()) < self.cfg.style_mixing:
            cutoff = int(torch.randint(1, ws.shape[1], ()))
            ws2 = self.G.mapping(torch.randn_like(z))
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16)

    def _generator_step(self, n: int) -> dict[str, float]:
        """Make D call fakes real; every pl_interval steps add the path-length penalty."""
        stats = {}
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        with self._autocast():
            fake = self._synthesis(self._latents(n))
            g_loss = loss.generator_loss(self._discriminator(fake).float())
        self.opt_G.zero_grad(set_to_none=True)
        g_loss.backward()
        if self.cfg.pl_weight > 0 and self.state.d_steps % self.cfg.pl_interval == 0:
            stats["pl"] = self._path_length_step()
        for p in self._silent_noise:
            p.grad = None  # Adam skips them: they stay zero
        self.opt_G.step()
        stats["loss_G"] = g_loss.item()
        return stats

    def step(self) -> dict[str, float]:
        cfg = self.cfg
        n = cfg.batch
        stats: dict[str, float] = {}

        if self.state.images_seen >= cfg.d_warmup_kimg * 1000:
            stats.update(self._generator_step(n))

        # Discriminator: tell reals from fakes; every r1_interval steps add R1 on reals.
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        assert self.data is not None, "a finished run draws no pictures"
        real = self.data.next_batch(n).to(self.device)
        do_r1 = self.state.d_steps % cfg.r1_interval == 0
        with torch.no_grad(), self._autocast():
            fake = self._synthesis(self._latents(n))
        real.requires_grad_(do_r1)
        with self._autocast():
            real_logits = (self.D if do_r1 else self._discriminator)(real).float()
            fake_logits = self._discriminator(fake.detach()).float()
        d_loss = loss.discriminator_loss(real_logits, fake_logits)
        total = d_loss
        if do_r1:
            r1 = loss.r1_penalty(real, real_logits)
            total = total + r1 * (cfg.resolved_r1_gamma() / 2) * cfg.r1_interval
            stats["r1"] = r1.item()
        self.opt_D.zero_grad(set_to_none=True)
        total.backward()
        self.opt_D.step()
        stats["loss_D"] = d_loss.item()
        stats["D_real"] = real_logits.mean().item()
        stats["D_fake"] = fake_logits.mean().item()

        self._update_ema(n)
        self.state.d_steps += 1
        self.state.images_seen += n
        return stats

    def _measured_path_length(self, batches: int = 8) -> float:
        """G's mean path length now, the penalty's target when a run starts from a trained G.

        The running mean starts at 0 in a fresh run, where G's lengths are small and grow with
        it. A trained G's lengths are far above 0, so the penalty would pull them down and with
        them W's hold on the picture: from the default G (lengths ~0.35) the restarted run's
        fell to 0.19-0.26 within 8 kimg while every sample took the same shape.
        """
        if self.cfg.pl_weight <= 0:
            return 0.0
        return sum(float(self._path_length_penalty(0.0, decay=1.0)[1]) for _ in range(batches)) / batches

    def _path_length_penalty(self, pl_mean: float, decay: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The penalty on a fresh batch of latents, and the running mean updated by its lengths."""
        ws = self._latents(max(1, self.cfg.batch // self.cfg.pl_batch_shrink))
        with self._autocast():
            img = self.G.synthesis(ws).float()
        return loss.path_length_penalty(img, ws, torch.randn_like(img), torch.tensor(pl_mean), decay)

    def _path_length_step(self) -> float:
        """Add the lazy path-length penalty's gradient to G's (before its optimizer step)."""
        penalty, mean = self._path_length_penalty(self.state.pl_mean, self.cfg.pl_decay)
        self.state.pl_mean = float(mean)
        (penalty * self.cfg.pl_weight * self.cfg.pl_interval).backward()
        return penalty.item()

    @torch.no_grad()
    def _update_ema(self, n: int) -> None:
        ema_nimg = self.cfg.resolved_ema_kimg() * 1000
        ema_nimg = min(ema_nimg, self.state.images_seen * self.cfg.ema_rampup) if self.cfg.ema_rampup else ema_nimg
        beta = 0.5 ** (n / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # --- the loop ----------------------------------------------------------------------
    def run(self, on_snapshot=None, stop: threading.Event | None = None) -> TrainState:
        """Train to the config's total; `stop`, once set, ends the run after the step under way,
        its state saved as at a snapshot (and `on_snapshot` called), so the same command goes on
        from there: a Ctrl-C kept only the last snapshot's, up to an hour back at the defaults."""
        if self.state.images_seen >= int(self.cfg.total_kimg * 1000):
            return self.state  # trained already: no progress bar to show
        # A compile for the CPU looks for a CUDA toolkit too, and its warning broke the bar's line.
        quiet = errors_only(CPP_EXTENSION_LOG) if self.cfg.compile else nullcontext()
        with training_in(self.outdir, self.outdir / CHECKPOINT, self._state_stamp), quiet:
            return self._train(on_snapshot, stop or threading.Event())

    def _train(self, on_snapshot, stop: threading.Event) -> TrainState:
        cfg = self.cfg
        total = int(cfg.total_kimg * 1000)
        next_snapshot = (self.state.images_seen // int(cfg.snapshot_kimg * 1000) + 1) * int(cfg.snapshot_kimg * 1000)
        bar = tqdm(total=max(total, self.state.images_seen) / 1000, initial=self.state.images_seen / 1000, unit="kimg",
                   bar_format="{l_bar}{bar}| {n:.6g}/{total:.6g} kimg [{elapsed}<{remaining}] {postfix}",
                   disable=not self.progress)
        # The rate over the last steps: one step's swung 0.09-1.72 kimg/min around a true 0.28.
        recent = deque([(time.perf_counter(), self.state.images_seen)], maxlen=RATE_STEPS + 1)
        avg = self.state.averages  # saved with the state: a resumed run logs what a straight one does
        try:  # an error or Ctrl-C then starts its own line, not one glued to the bar
            while self.state.images_seen < total:
                if stop.is_set():
                    self._check_finite()
                    self.save()  # no log row or grid: the run's folder stays a straight run's
                    if on_snapshot is not None:
                        on_snapshot(self)
                    break
                t0 = time.perf_counter()
                stats = self.step()
                self.state.wall_seconds += time.perf_counter() - t0
                for k, v in stats.items():
                    avg[k] = v if k not in avg or not math.isfinite(avg[k]) else 0.9 * avg[k] + 0.1 * v
                recent.append((time.perf_counter(), self.state.images_seen))
                kimg_s = (recent[-1][1] - recent[0][1]) / 1000 / max(recent[-1][0] - recent[0][0], 1e-9)
                # To the images seen, not by a sum of batches: float sums drift past the total.
                bar.update(min(self.state.images_seen, total) / 1000 - bar.n)
                bar.set_postfix_str(f"{kimg_s * 60:.2f} kimg/min " + " ".join(f"{k}={v:.3f}" for k, v in avg.items()))
                if self.state.images_seen >= next_snapshot or self.state.images_seen >= total:
                    next_snapshot += int(cfg.snapshot_kimg * 1000)
                    self._check_finite()
                    self.state.history.append({"kimg": self.state.images_seen / 1000,
                                               "wall_s": round(self.state.wall_seconds, 1), **avg})
                    self.sample_grid(self.outdir / f"samples-{self.state.images_seen / 1000:09.3f}kimg.png")
                    self.save()
                    if on_snapshot is not None:
                        on_snapshot(self)
        finally:
            bar.close()
        return self.state

    def _check_finite(self) -> None:
        """A diverged run must not replace its last good state with NaN: that state is all
        there is to go on from."""
        if all(t.isfinite().all() for net in (self.G, self.G_ema, self.D)
               for t in net.state_dict().values() if t.is_floating_point()):
            return
        kimg = self.state.images_seen / 1000
        if (self.outdir / CHECKPOINT).is_file() and self.state.history:
            kept = (f"{self.outdir / CHECKPOINT} keeps the state of {self.state.history[-1]['kimg']:g} kimg; "
                    f"go on from it at a lower --lr in a new run: --init {self.outdir / CHECKPOINT} --outdir NEW")
        else:
            kept = "no state was saved; start again with a lower --lr"
        raise UserError(f"the training diverged before {kimg:g} kimg (weights not finite): {kept}")
