"""The bundles a show has drawn with, kept loaded for switching back.

A preset on another bundle loads that bundle's networks from disk (seconds) and its fast
synthesis package (built once per machine and kept on disk); the reference synthesis draws
meanwhile, at a fraction of the frame rate. A performer moving between the presets of two
bundles would pay that on every switch, so the most recent bundles stay loaded, each with
the synthesizer that draws it.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from live.bundle import Bundle, bundle_stamps
from live.engine.synthesizer import Synthesizer
from live.files import real_path


class RecentBundles:
    """The last `keep` bundles shown, by folder, with their synthesizers, while their files stay
    as they were: a show switched back to a bundle remade on disk drew the networks it had
    replaced, without a word (review 66)."""

    def __init__(self, keep: int = 2):
        assert keep >= 1, keep
        self.keep = keep
        self._recent: OrderedDict[Path, tuple[Bundle, Synthesizer]] = OrderedDict()  # oldest first

    def remember(self, bundle: Bundle, synthesizer: Synthesizer, shown: Bundle | None = None) -> None:
        """Keep `bundle` as the most recent; the oldest others go, never `shown` (the bundle
        on screen, which a switch that fails after loading another must not lose). A bundle
        made in memory (no folder) cannot be asked for again, so it is not kept."""
        if bundle.root is None:
            return
        key = real_path(bundle.root)
        self._recent[key] = (bundle, synthesizer)
        self._recent.move_to_end(key)
        for old in [k for k, (b, _) in self._recent.items() if k != key and b is not shown]:
            if len(self._recent) <= self.keep:
                break
            del self._recent[old]

    def find(self, folder: Path) -> tuple[Bundle, Synthesizer] | None:
        """The bundle kept for `folder` and its synthesizer; None if none is, or its files changed."""
        kept = self._recent.get(real_path(folder))
        if kept is None or bundle_stamps(kept[0].root, kept[0].config) != kept[0].as_read:
            return None
        return kept
