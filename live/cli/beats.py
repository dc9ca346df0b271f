"""`python -m live beats SONG`: the beats a render finds in an audio file, one time a line,
and each one's place in its bar."""
from __future__ import annotations

import argparse

from live.cli.types import json_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("beats", help="print the beats a render finds in an audio file (seconds, one a line)",
                       description="The beats `render` cuts and fades on, found with the whole file in view: "
                                   "one time in seconds a line on stdout, then the beat's place in its bar "
                                   "(1 on the downbeat; four beats a bar), to place cues by or to mark an "
                                   "edit with, or to correct and give back to `render --beats FILE`; the "
                                   "count and tempo on stderr. A blank line ends a run of beats: the music "
                                   "stops there (silence, a held sound).")
    p.add_argument("audio", help="audio file (wav, flac, mp3, ogg, m4a, ...)")
    p.add_argument("--json", type=json_file, metavar="PATH",
                   help='also write {"audio": ..., "runs": [[seconds, ...], ...], "places": [[1, 2, ...], ...]} '
                        'here (a place 0: a run too short to count bars in)')
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    import numpy as np

    from live.audio.beatfiles import beats_text, file_beats
    from live.audio.decode import scan_audio
    from live.errors import note
    from live.files import write_json

    audio = scan_audio(args.audio)
    if shortfall := audio.shortfall():
        note("audio", shortfall)
    found = file_beats(audio, progress=not args.quiet)
    sys.stdout.write(beats_text(found))
    if args.json:
        write_json(args.json, {"audio": str(args.audio), "runs": [run.tolist() for run in found.runs],
                               "places": [places.tolist() for places in found.places]})
    # A song's tempi, not their median (the demo's four read 132 bpm), each over 8 beats: the
    # beats are printed to the millisecond, and single intervals of 120 bpm read 119-121.
    intervals = [np.diff(run) for run in found.runs if len(run) > 1]
    tempi = np.concatenate([60.0 / np.median(np.lib.stride_tricks.sliding_window_view(d, min(8, len(d))), axis=1)
                            for d in intervals]) if intervals else np.zeros(0)
    span = sorted({f"{np.percentile(tempi, q):.0f}" for q in (5, 95)}, key=float) if len(tempi) else []
    tempo = f", {'-'.join(span)} bpm" if span else ""
    runs = f"{len(found.runs)} run{'s' if len(found.runs) != 1 else ''}"
    print(f"live: {len(found.beats)} beats in {runs}{tempo}", file=sys.stderr)
    return 0
