"""IMEMNet pair lists (Zhao et al. 2020, ACM MM): image-music pairs with a matching score.

Each line is `music_clip_id image_id matching_score`, separated by spaces, e.g.
`1967-11 COCO_train2014_000000318807 0.8757995366765425`:
- `music_clip_id` is `{DEAM song id}-{clip index}`;
- `image_id` is a file stem from EMOTIC (COCO_..., frame_..., sun_..., random ids), NAPS
  (`Animals_219_h`) or IAPS (numbers such as `2309`);
- `matching_score` in [0, 1], higher for closer VA.

Clip timing is not documented with the lists. In the shared lists the indices of 45 s
DEAM excerpts run from 9 to 21 and those of full songs up to 312, which fits consecutive
2 s clips counted from the start of the song; `ImemnetPair.music_span` therefore reads
[index * clip_seconds, (index + 1) * clip_seconds) with clip_seconds = 2 by default. This is
an inference from the data, not a published fact: keep it a parameter.

Split keys match the other readers (`deam/{song}`, `naps/{id}`, `emotic/{stem}`,
`iaps/{id}`); a pair is held out when its music or its image is, so no held-out item is
seen through a pair.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from live.errors import UserError
from live.space.data.audio import AudioSpan
from live.space.data.deam import song_audio, song_key
from live.space.data.emotic import emotic_key
from live.space.data.naps import naps_key
from live.space.data.split import DEFAULT_TEST_FRACTION, is_held_out

CLIP_SECONDS = 2.0
_CLIP_ID = re.compile(r"(\d+)-(\d+)")
_NAPS_ID = re.compile(r"(Animals|Faces|Landscapes|Objects|People)_\d+_[hv]")
_IAPS_ID = re.compile(r"\d+(\.\d+)?")


def image_key(image_id: str) -> str:
    """The split key of an IMEMNet image id, recognising its database by the id's shape."""
    if _NAPS_ID.fullmatch(image_id):
        return naps_key(image_id)
    if _IAPS_ID.fullmatch(image_id):
        return f"iaps/{image_id}"
    return emotic_key(image_id)


@dataclass(frozen=True)
class ImemnetPair:
    song_id: int  # DEAM song
    clip_index: int  # which clip of the song
    image_id: str  # file stem of the image
    score: float  # matching score in [0, 1]

    @property
    def clip_id(self) -> str:
        return f"{self.song_id}-{self.clip_index}"

    @property
    def music_key(self) -> str:
        return song_key(self.song_id)

    @property
    def image_key(self) -> str:
        return image_key(self.image_id)

    def music_span(self, audio_dir: Path, clip_seconds: float = CLIP_SECONDS) -> AudioSpan:
        """The clip's stretch of `MEMD_audio/{song}.mp3` (see the module note on timing)."""
        return AudioSpan(song_audio(Path(audio_dir), self.song_id), self.clip_index * clip_seconds, clip_seconds)


def read_imemnet_pairs(path: Path) -> list[ImemnetPair]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"IMEMNet pair list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read IMEMNet pair list {path} ({error})") from error
    pairs = []
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        clip = _CLIP_ID.fullmatch(fields[0]) if len(fields) == 3 else None
        score = _score(fields[2]) if clip else None
        if clip is None or score is None:
            raise UserError(f"{path.name} line {n}: {line.strip()!r} is not "
                            "'<song>-<clip> <image_id> <score in [0, 1]>'")
        pairs.append(ImemnetPair(int(clip.group(1)), int(clip.group(2)), fields[1], score))
    return pairs


def _score(text: str) -> float | None:
    """A matching score in [0, 1], or None."""
    try:
        score = float(text)
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 else None


def pair_held_out(pair: ImemnetPair, test_fraction: float = DEFAULT_TEST_FRACTION) -> bool:
    return is_held_out(pair.music_key, test_fraction) or is_held_out(pair.image_key, test_fraction)
