"""Beat tracking F-measure (+-70 ms) on synthesized drum tracks at several tempos.

Each track runs through the live path (AudioAnalyzer fed in callback-sized blocks); the
first seconds are the tracker's warm-up and are left out of the scores. Target: F >= 0.9
on each steady track (80-160 bpm), two minutes long by default, as a show's songs are (on
such a loop aubio's own beats, 1.5 % fast, drift and sit on the off-beat for 20-30 s after
about a minute; the beat clock's accents hold them, which 30 s tracks did not show). Also
scored: swing, fills and busier patterns; drum and bass tempos (174, 180 bpm), which
aubio's tempo prior hears at half tempo; 160 and 174 bpm with four taps on the beat; and
the demo track, whose tempo changes three times. And, where fluidsynth and a General MIDI
soundfont are installed, band arrangements (band.py: house, trance, rock, funk, reggae,
hip-hop, a piano ballad, each with breakdowns) played by fluidsynth, whose loudest or most
numerous hits are not all on the beat.
"""
from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from live.cli.types import count, number, seed

if TYPE_CHECKING:
    from live.audio.beats import BeatConfig

STEADY_BPMS = (80, 90, 100, 110, 120, 130, 140, 150, 160)
VARIED = (("swing", 100), ("swing", 130), ("fills", 90), ("fills", 120), ("busy", 110), ("fast", 174), ("fast", 180))
TAPPED_BPMS = (160, 174)
FLUIDSYNTH_MAX_RATE = 96000
BAND = (("house", 124), ("trance", 138), ("rock", 110), ("funk", 100), ("reggae", 76), ("hiphop", 90),
        ("ballad", 72), ("rock", 150), ("house", 120))


@dataclass(frozen=True)
class Case:
    name: str
    style: str
    samples: np.ndarray         # mono float32
    beats: np.ndarray           # true beat times
    final_bpm: float            # the tempo at the end, for the bpm error
    taps: tuple[float, ...] = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Bounded: every track is made whole in memory (1e9 s asked for 160 TiB).
    # At least 5 s: the tapped tracks' taps are their beats 8-11 (4.1 s at 160 bpm); a shorter
    # track was scored under that name with fewer taps or none.
    parser.add_argument("--seconds", type=number(5, 3600), default=120.0,
                        help="length of each drum track, 5 s or more (default 120)")
    parser.add_argument("--warmup", type=number(0), default=3.0, help="seconds left out at the start (default 3)")
    parser.add_argument("--sample-rate", type=count(8000, 192000), default=44100,
                        help="sample rate of the drum tracks (default 44100)")
    parser.add_argument("--block", type=count(1), default=512,
                        help="frames per feed, like an audio callback (default 512)")
    from live.audio.beats import ACCENT_METHODS, TEMPO_METHODS, BeatConfig

    parser.add_argument("--method", default=BeatConfig.tempo_method, choices=TEMPO_METHODS,
                        help=f"aubio tempo method (default: the engine's, {BeatConfig.tempo_method!r}; the choice "
                             "'default' is aubio's own, its specflux)")
    parser.add_argument("--accents", default=BeatConfig.accent_method, choices=ACCENT_METHODS,
                        help="aubio descriptor whose rises hold the beat's phase, 'none' for the tracker's own "
                             f"phase (default: the engine's, {BeatConfig.accent_method!r}; the choice 'default' is "
                             "aubio's own, its hfc)")
    parser.add_argument("--tracker", choices=("live", "lookahead"), default="live",
                        help="live: the show's beats, found as the audio arrives (default); lookahead: a render's, "
                             "found with the whole track in view (beatmap.py; --method, --accents, --block and "
                             "the taps do not apply)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the drum tracks' hits (default 0)")
    parser.add_argument("--no-band", dest="band", action="store_false",
                        help="leave out the band arrangements played by fluidsynth (about 1 s each to render)")


def drum_cases(args: argparse.Namespace) -> Iterator[Case]:
    """The synthesized tracks, made one at a time: all at once, an hour each, took 50 GB."""
    from live.audio.synth import BUSY, FILLS, STEADY, SWUNG, drum_track

    styles = {"steady": STEADY, "swing": SWUNG, "fills": FILLS, "busy": BUSY, "fast": STEADY}
    for i, (style, bpm) in enumerate([("steady", b) for b in STEADY_BPMS] + list(VARIED)):
        track = drum_track(bpm, args.seconds, args.sample_rate, styles[style], seed=args.seed + i)
        yield Case(f"{style} {bpm}", style, track.samples, track.beats, bpm)
    for bpm in TAPPED_BPMS:
        track = drum_track(bpm, args.seconds, args.sample_rate, STEADY, seed=args.seed)
        yield Case(f"steady {bpm} + 4 taps", "tapped", track.samples, track.beats, bpm, taps=tuple(track.beats[8:12]))


def band_cases(args: argparse.Namespace) -> Iterator[Case]:
    """The band arrangements as fluidsynth plays them, made one at a time; none, with a note,
    where fluidsynth or its soundfont is missing."""
    import soundfile as sf

    from live.bench.band import arrangement
    from live.errors import UserError, first_line, note
    from live.space.data.midi import MidiRenderer

    if args.sample_rate > FLUIDSYNTH_MAX_RATE:
        note("bench beats", f"band arrangements left out: fluidsynth plays at most {FLUIDSYNTH_MAX_RATE} Hz")
        return
    renderer = MidiRenderer(sample_rate=args.sample_rate)
    try:
        renderer.executable()
    except UserError as e:
        note("bench beats", f"band arrangements left out: {first_line(e)}")
        return
    with tempfile.TemporaryDirectory(prefix="live-band-") as scratch:
        midi, audio = Path(scratch) / "band.mid", Path(scratch) / "band.flac"
        for i, (style, bpm) in enumerate(BAND):
            song = arrangement(style, bpm, args.seconds, seed=args.seed + i)
            midi.write_bytes(song.midi)
            renderer.render(midi, audio)
            samples, _ = sf.read(audio, dtype="float32")
            yield Case(f"band {style} {bpm}", "band", samples, song.beats, bpm)


def demo_case(args: argparse.Namespace) -> Case:
    """The demo track, of its own length whatever --seconds says."""
    from live.audio.demo import render_demo

    demo = render_demo(args.seed, args.sample_rate)
    return Case("demo " + "/".join(f"{s.bpm:.0f}" for s in demo.sections), "demo", demo.samples,
                demo.beats, demo.sections[-1].bpm)


def tracked(case: Case, sample_rate: int, block: int, config: BeatConfig) -> tuple[np.ndarray, float]:
    """The beats the live path finds in `case` fed `block` frames at a time, each tap given
    once the audio reaches it, and its tempo at the end."""
    from live.audio.analyzer import AudioAnalyzer

    analyzer = AudioAnalyzer(sample_rate, beat=config)
    beats: list[float] = []
    taps = list(case.taps)
    for start in range(0, len(case.samples), block):
        beats += analyzer.feed(case.samples[start:start + block]).beats
        while taps and taps[0] <= analyzer.time:
            analyzer.tap(taps.pop(0))  # stamped by the input's clock, as a show's are
    return np.array(beats), analyzer.features.bpm


def mapped(case: Case, sample_rate: int) -> tuple[np.ndarray, float, np.ndarray]:
    """The beats a render finds in `case`, its tempo at the end (the median of the last
    eight intervals of the last run of beats) and its downbeats."""
    from live.audio.beatmap import beat_map

    found = beat_map([case.samples], sample_rate)
    last = found.runs[-1] if found.runs else np.zeros(0)
    bpm = 60.0 / float(np.median(np.diff(last[-9:]))) if len(last) > 1 else math.nan
    return found.beats, bpm, found.beats[found.beat_places == 1]


def main(args: argparse.Namespace) -> int:
    from live.bench.beat_metrics import downbeat_shares, score_beats
    from live.audio.beats import BeatConfig
    from live.bench.report import report
    from live.errors import UserError

    config = BeatConfig(tempo_method=args.method, accent_method=args.accents)
    if args.warmup >= args.seconds:
        raise UserError(f"--warmup {args.warmup:g} s leaves nothing of the {args.seconds:g} s tracks to score; "
                        "give a shorter --warmup or longer --seconds")
    demo = demo_case(args)
    if args.warmup >= demo.beats[-1]:
        raise UserError(f"--warmup {args.warmup:g} s leaves none of the demo track's beats (to "
                        f"{demo.beats[-1]:.1f} s) to score; give a shorter --warmup")
    rows = []
    lookahead = args.tracker == "lookahead"
    for case in chain(drum_cases(args), [demo], band_cases(args) if args.band else ()):
        if lookahead:
            beats, estimated, downbeats = mapped(case, args.sample_rate)
        else:
            beats, estimated = tracked(case, args.sample_rate, args.block, config)
        score = score_beats(beats, case.beats, tolerance=0.07, skip=args.warmup)
        rows.append({"track": case.name, "style": case.style, "f_measure": score.f_measure,
                     "precision": score.precision, "recall": score.recall, "bpm_estimate": estimated,
                     "bpm_error_pct": 100 * (estimated - case.final_bpm) / case.final_bpm})
        if lookahead:
            on_1, on_1_or_3 = downbeat_shares(downbeats, case.beats) or (None, None)
            rows[-1].update(downbeats_on_1=on_1, downbeats_on_1_or_3=on_1_or_3)
    steady = [r["f_measure"] for r in rows if r["style"] == "steady"]
    band = [r["f_measure"] for r in rows if r["style"] == "band"]
    tracker = ("lookahead (the whole track in view)" if args.tracker == "lookahead"
               else f"live, aubio tempo '{args.method}', accents '{args.accents}'")
    bars = [r["downbeats_on_1"] for r in rows if r["style"] in ("band", "demo") and r.get("downbeats_on_1") is not None]
    columns = ["track", "f_measure", "precision", "recall", "bpm_estimate", "bpm_error_pct"]
    report(f"beat tracking, {tracker}, {args.sample_rate} Hz, "
           f"{args.seconds:.0f} s tracks, first {args.warmup:.0f} s left out",
           rows, columns + (["downbeats_on_1", "downbeats_on_1_or_3"] if lookahead else []), args.json, None,
           mean_f_steady=float(np.mean(steady)), min_f_steady=float(np.min(steady)),
           steady_tracks_at_target=f"{sum(f >= 0.9 for f in steady)}/{len(steady)}",
           mean_f_all=float(np.mean([r["f_measure"] for r in rows])),
           mean_f_band=float(np.mean(band)) if band else None,
           mean_downbeats_on_1_band_and_demo=float(np.mean(bars)) if bars else None,
           target_met=bool(np.min(steady) >= 0.9))
    return 0
