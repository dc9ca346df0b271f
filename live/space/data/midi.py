"""MIDI corpora rendered to audio once, with fluidsynth and a General MIDI soundfont.

Each MIDI file becomes `{cache_dir}/{sample_rate}hz/{its path in the corpus}.flac`: mono,
16-bit FLAC at `sample_rate`. fluidsynth renders 32-bit float stereo (no clipping inside),
which is mixed to mono and scaled down only if it would clip, so the loudness the MIDI
velocities ask for survives. Files already rendered are skipped and each output is written
under a temporary name and renamed into place, so a render can be stopped and resumed, and
run in the background:

    nohup python -m live.space.data.midi ../shared/data/emopia/midis.zip cache/midi &

Rendering costs about 1 s per file, most of it fluidsynth loading the 148 MB soundfont.
Needs the Debian packages `fluidsynth` and `fluid-soundfont-gm`.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile as sf
from tqdm import tqdm

from live.cli.types import Parser, count, number, threads
from live.errors import MissingFile, UserError, one_line

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DEBIAN_PACKAGES = "fluidsynth fluid-soundfont-gm"
DEFAULT_GAIN = 0.5  # fluidsynth's own default (0.2) leaves solo piano peaking near -24 dBFS
_MIDI_SUFFIXES = (".mid", ".midi")
_SILENCE = 1e-4  # peak below -80 dBFS: fluidsynth's idle output is noise near 1e-8
_RENDER_TIMEOUT = 600.0  # seconds; a MIDI file with a runaway tempo map must not hang the batch


@dataclass(frozen=True)
class MidiRenderer:
    """How MIDI becomes audio."""

    sample_rate: int = 22050
    soundfont: Path = DEFAULT_SOUNDFONT
    gain: float = DEFAULT_GAIN  # fluidsynth master gain

    def __post_init__(self) -> None:
        if self.sample_rate < 8000:
            raise UserError(f"sample rate {self.sample_rate} Hz is too low for rendering; use e.g. 22050")

    def executable(self) -> str:
        found = shutil.which("fluidsynth")
        if not found:
            raise UserError(f"fluidsynth is not installed; install the Debian packages {DEBIAN_PACKAGES} "
                            f"(sudo apt-get install {DEBIAN_PACKAGES})")
        if not self.soundfont.is_file():
            raise UserError(f"soundfont not found: {self.soundfont}; install the Debian package "
                            "fluid-soundfont-gm or pass the path of another General MIDI .sf2")
        return found

    def render(self, midi: Path, out: Path) -> None:
        """Render one MIDI file to mono FLAC at `out` (written atomically)."""
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".render-") as scratch:
            raw = Path(scratch) / "raw.wav"
            command = [self.executable(), "-ni", "-q", "-g", str(self.gain), "-r", str(self.sample_rate),
                       "-O", "float", "-T", "wav", "-F", str(raw), str(self.soundfont), str(midi)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=_RENDER_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise UserError(f"fluidsynth took over {_RENDER_TIMEOUT:.0f} s on {midi}; skip this file") from None
            # fluidsynth exits with 0 even when it rejects the file; its errors go to stderr.
            errors = [line for line in (done.stderr or "").splitlines() if "error" in line.lower()]
            if done.returncode != 0 or errors or not raw.is_file():
                reason = (errors or (done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
                raise UserError(f"fluidsynth could not render {midi}: {reason}")
            stereo, rate = sf.read(raw, dtype="float32", always_2d=True)
            mono = stereo.mean(axis=1)
            if rate != self.sample_rate or not mono.size or np.abs(mono).max() < _SILENCE:
                raise UserError(f"fluidsynth rendered only silence from {midi}; is it a MIDI file with notes?")
            peak = float(np.abs(mono).max())
            if peak > 0.99:
                mono *= 0.99 / peak
            partial = Path(scratch) / "out.flac"
            sf.write(partial, mono, self.sample_rate, subtype="PCM_16", format="FLAC")
            partial.replace(out)


def rendered_path(cache_dir: Path, sample_rate: int, member: str) -> Path:
    """Where the rendering of corpus member `member` (a relative path) lives."""
    return Path(cache_dir) / f"{sample_rate}hz" / PurePosixPath(member).with_suffix(".flac")


def _is_midi(name: str) -> bool:
    parts = PurePosixPath(name).parts
    # macOS zips carry resource-fork twins under __MACOSX/ and ._name: not MIDI.
    return (name.lower().endswith(_MIDI_SUFFIXES) and "__MACOSX" not in parts
            and not parts[-1].startswith("."))


def midi_members(src: Path) -> list[str]:
    """Relative paths of the MIDI files in a zip archive or under a folder, sorted."""
    src = Path(src)
    if src.is_dir():
        return sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file() and _is_midi(p.name))
    try:
        with zipfile.ZipFile(src) as archive:
            return sorted(name for name in archive.namelist() if _is_midi(name))
    except FileNotFoundError:
        raise MissingFile(f"MIDI corpus not found: {src}") from None
    except zipfile.BadZipFile:
        raise UserError(f"{src} is neither a folder nor a zip archive of MIDI files") from None


@dataclass
class RenderReport:
    rendered: int = 0
    skipped: int = 0  # already in the cache
    failed: list[tuple[str, str]] = field(default_factory=list)  # (member, reason)


def _render_member(renderer: MidiRenderer, midi: Path, payload: bytes | None, scratch: Path, out: Path) -> None:
    """Render one corpus member; a zip member's bytes are first written to `scratch`."""
    if payload is not None:
        scratch.write_bytes(payload)
        midi = scratch
    renderer.render(midi, out)


def render_midi_corpus(src: Path, cache_dir: Path, sample_rate: int = 22050,
                       soundfont: Path = DEFAULT_SOUNDFONT, gain: float = DEFAULT_GAIN,
                       workers: int = 1, progress: bool = True) -> RenderReport:
    """Render every MIDI file of `src` (zip or folder) that is not rendered yet.

    A file that fails is reported and the rest go on; run again to retry failures.
    `workers` fluidsynth processes run at once (each uses one core).
    """
    renderer = MidiRenderer(sample_rate, Path(soundfont), gain)
    renderer.executable()
    src, cache_dir = Path(src), Path(cache_dir)
    members = midi_members(src)
    if not members:
        raise UserError(f"no MIDI files (.mid, .midi) in {src}")
    todo = [m for m in members if not rendered_path(cache_dir, sample_rate, m).is_file()]
    report = RenderReport(skipped=len(members) - len(todo))
    if src.is_dir():
        payloads: dict[str, bytes | None] = dict.fromkeys(todo)
    else:
        # MIDI files are small: read them all here, so the pool threads never share the archive.
        with zipfile.ZipFile(src) as archive:
            payloads = {m: archive.read(m) for m in todo}
    with tempfile.TemporaryDirectory(prefix="midi-") as scratch, ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(_render_member, renderer, src / m, payloads[m], Path(scratch) / f"{k}.mid",
                               rendered_path(cache_dir, sample_rate, m)): m
                   for k, m in enumerate(todo)}
        for future in tqdm(as_completed(futures), total=len(futures), desc="render MIDI", disable=not progress):
            try:
                future.result()
                report.rendered += 1
            except UserError as error:
                report.failed.append((futures[future], str(error)))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m live.space.data.midi",
                    description="Render a MIDI corpus (zip or folder) to FLAC, resumably.")
    parser.add_argument("src", type=Path, help="zip archive or folder of .mid files")
    parser.add_argument("cache_dir", type=Path, help="where the renderings go (a subfolder per sample rate)")
    parser.add_argument("--sample-rate", type=count(8000, 192000), default=22050,
                        help="Hz, the space's mel rate (default 22050)")
    parser.add_argument("--soundfont", type=Path, default=DEFAULT_SOUNDFONT,
                        help=f"General MIDI .sf2 (default {DEFAULT_SOUNDFONT})")
    parser.add_argument("--gain", type=number(0, 10), default=DEFAULT_GAIN,
                        help=f"fluidsynth's gain, 0..10 (default {DEFAULT_GAIN})")
    parser.add_argument("--workers", type=threads(), default=1,
                        help="fluidsynth processes at once, at most the cores (default 1)")
    args = parser.parse_args(argv)
    try:
        report = render_midi_corpus(args.src, args.cache_dir, args.sample_rate, args.soundfont, args.gain,
                                    args.workers)
    except UserError as error:
        print(f"live: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    print(f"rendered {report.rendered}, already there {report.skipped}, failed {len(report.failed)}")
    for member, reason in report.failed:
        print(one_line(f"failed: {member}: {reason}"), file=sys.stderr)  # a zip's member names are the zip's
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
