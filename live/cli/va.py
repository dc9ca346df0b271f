"""`python -m live va PATH...`: valence and arousal of audio and image files, one JSON line each."""
from __future__ import annotations

import argparse

from live.cli.types import add_device, given, threads, use_threads


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("va", help="print the valence and arousal the space gives audio or image files",
                       description="One JSON line per file: {\"path\", \"valence\", \"arousal\"} in [0, 1]. "
                                   "Audio: the mean over the windows of its sound (silence past 0.25 s left "
                                   "out, as a show leaves it; a silent file is an error); images: the image VA "
                                   "head. A file that "
                                   "cannot be read gets a one-line error on stderr; the others go on, and the "
                                   "command then exits with code 2.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio (wav, flac, mp3, ...) or image files")
    p.add_argument("--bundle", type=given, default="default",
                   help="bundle name or folder, or a training run folder (default: default)")
    p.add_argument("--threads", type=threads(), help="torch CPU threads (default: every core)")
    add_device(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import sys

    from live.audio.bandwidth import Bandwidth, band_note
    from live.audio.decode import declared_frames, scan_audio
    from live.errors import UserError, note, one_line
    from live.space.load import load_space
    from live.space.probe import SpaceProbe

    use_threads(args.threads)
    net, spec = load_space(args.bundle, args.device)
    probe = SpaceProbe(net, spec)
    failed = 0
    mel = spec.config.mel
    for path in args.paths:
        try:
            band = Bandwidth()
            valence, arousal = probe.file_va(path, band)
            if note_text := band_note(path, band.top_hz(), mel.top_hz):
                note("audio", note_text)
            # Only a WAV's or FLAC's header states a length, and these decode fast: read again to compare.
            if declared_frames(path) is not None and (shortfall := scan_audio(path).shortfall()):
                note("audio", shortfall)
        except UserError as error:  # each message names its file
            print(f"live: error: {one_line(str(error))}", file=sys.stderr)
            failed += 1
            continue
        print(json.dumps({"path": path, "valence": round(valence, 4), "arousal": round(arousal, 4)}), flush=True)
    return 2 if failed else 0  # bad input's code, as every command's: a script tells it from a crash (1)
