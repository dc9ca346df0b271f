"""EMOPIA (Hung, Ching, Doh, Kim, Nam & Yang 2021, ISMIR): 1,078 piano clips from 387
YouTube performances, each clip labelled with a Russell quadrant by the authors.

`midis.zip` holds `midis/Q{1-4}_{youtube id}_{clip}.mid`. The clips are heard through
their fluidsynth renderings (midi.py), so records point into the render cache. The
quadrant becomes the soft target of labels.QUADRANT_VA with weight 0.5 and is kept for
accuracy. Split key: `emopia/{youtube id}`, so the clips of one performance stay together
(a performance can hold clips of different quadrants).
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from live.errors import UserError
from live.space.data.audio import AudioSpan
from live.space.data.labels import QUADRANT_VA, SOFT_WEIGHT
from live.space.data.midi import midi_members, rendered_path
from live.space.data.records import LabelledClip
from live.space.data.tables import require_files

_NAME = re.compile(r"Q([1-4])_(.+)_(\d+)\.midi?", re.IGNORECASE)


def read_emopia(midis_zip: Path, cache_dir: Path, sample_rate: int) -> list[LabelledClip]:
    """One record per clip; its rendering must be in `cache_dir` (render_midi_corpus)."""
    records = []
    for member in midi_members(Path(midis_zip)):
        name = PurePosixPath(member).name
        match = _NAME.fullmatch(name)
        if not match:
            raise UserError(f"{midis_zip}: {name} does not follow EMOPIA's Q<n>_<id>_<clip>.mid naming")
        quadrant, performance = int(match.group(1)), match.group(2)
        records.append(LabelledClip(AudioSpan(rendered_path(cache_dir, sample_rate, member)),
                                    *QUADRANT_VA[quadrant], SOFT_WEIGHT, "emopia", f"emopia/{performance}", quadrant))
    require_files((r.audio.path for r in records), f"EMOPIA renderings at {sample_rate} Hz",
                  f"render them first: python -m live.space.data.midi {midis_zip} {cache_dir} "
                  f"--sample-rate {sample_rate} (or train without them: [data] emopia = false)")
    return records
