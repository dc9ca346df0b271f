"""Which labelled data the space trains and is evaluated on, read and split.

Real data comes from the readers in live.space.data and is divided by split.py's stable
hash: training reads the train side only, evaluation the held-out side only. Synthetic
corpora are endless, so their held-out side is another seed, `HELDOUT_SEED`, which
training refuses to use. Colour-labelled images (the procedural corpus and, optionally,
G's own images) are labelled from their pixels by the Valdez-Mehrabian rule, so they are
generated here rather than read as records.

Source names (used by the batch mix): oasis, naps, emotic, procedural, generator (images);
4q, emopia, vgmidi, synth-music, deam (music).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from live.corpus.procedural import ProceduralConfig
from live.errors import MissingFile, UserError
from live.space.data.deam import DeamDynamic, DeamFiles, read_deam_static
from live.space.data.emopia import read_emopia
from live.space.data.emotic import read_emotic
from live.space.data.fourq import read_4q
from live.space.data.imemnet import pair_held_out, read_imemnet_pairs
from live.space.data.labels import HARD_WEIGHT
from live.space.data.naps import read_naps
from live.space.data.oasis import read_oasis
from live.space.data.procedural_va import ProceduralVAImages
from live.space.data.records import LabelledClip, LabelledImage
from live.space.data.split import split
from live.space.data.synth_music import SynthMusicConfig, synthetic_music
from live.space.data.vgmidi import read_vgmidi

HELDOUT_SEED = 1000  # seed of the held-out synthetic corpora (procedural images, synthetic music)
HELDOUT_SYNTHETIC = 200  # held-out synthetic images and clips each
PROCEDURAL, GENERATOR = "procedural", "generator"
IMAGE_SOURCES = ("oasis", "naps", "emotic", PROCEDURAL, GENERATOR)
MUSIC_SOURCES = ("4q", "emopia", "vgmidi", "synth-music", "deam")


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how much synthetic data to make. Empty paths mean "not used"."""
    root: str = "../shared/data"          # folder holding oasis/, 4q/, emopia/, vgmidi/
    midi_renders: str = "runs/midi-cache"  # fluidsynth renderings: {midi_renders}/emopia, /vgmidi
    oasis: bool = True
    fourq: bool = True
    emopia: bool = True                  # needs renderings (python -m live.space.data.midi)
    vgmidi: bool = True                  # needs renderings
    procedural_images: int = 4000        # Valdez-Mehrabian-labelled procedural paintings
    procedural_seed: int = 0
    procedural_resolution: int = 128     # painted at this size, then resized for the encoder
    synth_music: int = 2000              # clips with cue-rule labels
    synth_seed: int = 0
    synth_seconds: float = 4.0
    generator: str = ""                  # a G checkpoint whose images join the colour-labelled set
    generator_images: int = 0
    generator_seed: int = 0
    deam: str = ""                       # DEAM folder (static labels, MEMD_audio/)
    naps_sheet: str = ""                 # NAPS ratings exported as CSV
    naps_images: str = ""
    emotic_annotations: str = ""         # EMOTIC Annotations.mat
    emotic_images: str = ""
    imemnet: str = ""                    # IMEMNet pair list: pairs come from it (needs deam and naps/emotic)
    imemnet_clip_seconds: float = 2.0    # length of an IMEMNet music clip (see live.space.data.imemnet)
    test_fraction: float = 0.15

    def __post_init__(self) -> None:
        if HELDOUT_SEED in (self.procedural_seed, self.synth_seed):
            raise UserError(f"seed {HELDOUT_SEED} names the held-out synthetic corpora; train on another seed")
        if min(self.procedural_images, self.synth_music, self.generator_images) < 0:
            raise UserError("data: counts of synthetic items must be >= 0")
        if self.generator_images and not self.generator:
            raise UserError("data: generator_images > 0 needs data.generator, the path of a G checkpoint")
        if self.imemnet and not (self.deam and (self.naps_sheet or self.emotic_annotations)):
            raise UserError("data: an IMEMNet list needs data.deam and data.naps_sheet or data.emotic_annotations")


@dataclass(frozen=True)
class ColourLabelledImages:
    """Synthetic images whose labels come from their colour (color_emotion.valdez_mehrabian_va)."""
    source: str            # PROCEDURAL or GENERATOR
    count: int
    seed: int
    resolution: int = 128  # procedural only
    checkpoint: str = ""   # generator only

    def identity(self) -> str:
        return repr(self)

    def batches(self, chunk: int = 64) -> Iterator[torch.Tensor]:
        """[n, 3, R, R] in [0, 1], `count` images in all; a pure function of the fields."""
        if self.source == PROCEDURAL:
            corpus = ProceduralVAImages(ProceduralConfig(resolution=self.resolution, seed=self.seed))
            for start in range(0, self.count, chunk):
                yield corpus.batch(min(chunk, self.count - start), start).images
            return
        from live.nets.checkpoints import load_generator  # only runs that use G pay for it

        G, _ = load_generator(Path(self.checkpoint))
        latents = torch.Generator().manual_seed(self.seed)
        for start in range(0, self.count, chunk):
            z = torch.randn(min(chunk, self.count - start), G.z_dim, generator=latents)
            label = torch.zeros(len(z), G.c_dim) if G.c_dim else None
            with torch.no_grad():
                images = G(z, label, noise_mode="const")  # "random" noise would draw from the global RNG
            yield images.clamp(-1.0, 1.0).add(1.0).mul(0.5)


@dataclass
class Sources:
    """One side (train or held-out) of every configured data set."""
    images: dict[str, list[LabelledImage]] = field(default_factory=dict)
    colour_images: dict[str, ColourLabelledImages] = field(default_factory=dict)
    music: dict[str, list[LabelledClip]] = field(default_factory=dict)
    pairs: list[tuple[LabelledImage, LabelledClip]] = field(default_factory=list)  # IMEMNet


def _side(records: list, held_out: bool, test_fraction: float) -> list:
    parts = split(records, test_fraction)
    return parts.test if held_out else parts.train


@contextmanager
def _or_without(flag: str) -> Iterator[None]:
    """A data set of the defaults that is not under --data: say how to train without it."""
    try:
        yield
    except MissingFile as e:
        raise UserError(f"{e} (or train without it: --set data.{flag}=false)") from None


def read_sources(config: DataConfig, sample_rate: int, held_out: bool) -> Sources:
    """The train side (`held_out` False) or the held-out side of every configured data set.

    `sample_rate` names the MIDI renderings to use (the encoder's rate).
    """
    root, renders, q = Path(config.root), Path(config.midi_renders), config.test_fraction
    if (config.oasis or config.fourq or config.emopia or config.vgmidi) and not root.is_dir():
        # Before any data set's own "not found": turning each off would train on no labels at all.
        raise UserError(f"data folder {root} does not exist; give the folder that holds the data sets with --data")
    out = Sources()
    with _or_without("oasis"):
        if config.oasis:
            out.images["oasis"] = _side(read_oasis(root / "oasis"), held_out, q)
    if config.naps_sheet:
        out.images["naps"] = _side(read_naps(Path(config.naps_sheet), Path(config.naps_images)), held_out, q)
    if config.emotic_annotations:
        out.images["emotic"] = _side(read_emotic(Path(config.emotic_annotations), Path(config.emotic_images)),
                                     held_out, q)
    with _or_without("fourq"):
        if config.fourq:
            out.music["4q"] = _side(read_4q(root / "4q"), held_out, q)
    with _or_without("emopia"):
        if config.emopia:
            out.music["emopia"] = _side(read_emopia(root / "emopia" / "midis.zip", renders / "emopia", sample_rate),
                                        held_out, q)
    with _or_without("vgmidi"):
        if config.vgmidi:
            out.music["vgmidi"] = _side(read_vgmidi(root / "vgmidi" / "vgmidi_labelled.csv",
                                                    root / "vgmidi" / "phrases.zip", renders / "vgmidi", sample_rate),
                                        held_out, q)
    if config.deam:
        files = DeamFiles.find(Path(config.deam))
        out.music["deam"] = _side(read_deam_static(files.static, files.audio_dir), held_out, q)
    _add_synthetic(out, config, held_out)
    if config.imemnet and not held_out:
        out.pairs = _imemnet_pairs(config, out)
    return out


def _add_synthetic(out: Sources, config: DataConfig, held_out: bool) -> None:
    procedural = HELDOUT_SYNTHETIC if held_out else config.procedural_images
    synth = HELDOUT_SYNTHETIC if held_out else config.synth_music
    if procedural:
        out.colour_images[PROCEDURAL] = ColourLabelledImages(
            PROCEDURAL, procedural, HELDOUT_SEED if held_out else config.procedural_seed, config.procedural_resolution)
    if config.generator_images and not held_out:
        out.colour_images[GENERATOR] = ColourLabelledImages(GENERATOR, config.generator_images,
                                                            config.generator_seed, checkpoint=config.generator)
    if synth:
        seed = HELDOUT_SEED if held_out else config.synth_seed
        out.music["synth-music"] = synthetic_music(SynthMusicConfig(seed, config.synth_seconds), synth)


def _imemnet_pairs(config: DataConfig, sources: Sources) -> list[tuple[LabelledImage, LabelledClip]]:
    """Listed pairs whose image is among the train-side NAPS/EMOTIC records and whose song is
    a train-side DEAM song; each listed clip becomes a music record (source "deam") labelled
    with its song's static rating, or its dynamic annotation's mean when DEAM has one."""
    images: dict[str, LabelledImage] = {}
    for name in ("naps", "emotic"):
        for record in sources.images.get(name, []):
            images.setdefault(record.split_key, record)  # an EMOTIC picture: its first person
    files = DeamFiles.find(Path(config.deam))
    songs = {record.split_key: record for record in sources.music.get("deam", [])}
    dynamic = DeamDynamic.read(files.valence, files.arousal) if files.valence and files.arousal else None
    clips: dict[str, LabelledClip] = {}
    pairs = []
    for pair in read_imemnet_pairs(Path(config.imemnet)):
        if pair_held_out(pair, config.test_fraction) or pair.image_key not in images or pair.music_key not in songs:
            continue
        if pair.clip_id not in clips:
            span = pair.music_span(files.audio_dir, config.imemnet_clip_seconds)
            song = songs[pair.music_key]
            va = (song.valence, song.arousal)
            if dynamic and pair.song_id in dynamic.curves:
                try:
                    va = dynamic.mean_va(pair.song_id, span.start, config.imemnet_clip_seconds)
                except UserError:  # the clip lies outside the annotated stretch: keep the song's rating
                    pass
            clips[pair.clip_id] = LabelledClip(span, *va, HARD_WEIGHT, "deam", pair.music_key)
        pairs.append((images[pair.image_key], clips[pair.clip_id]))
    if not pairs:
        raise UserError(f"no pair of {config.imemnet} has both its image and its song among the train-side "
                        "records; check data.naps_sheet / data.emotic_annotations and data.deam")
    listed = list(clips.values())
    sources.music["deam"] = sources.music.get("deam", []) + listed
    return pairs
