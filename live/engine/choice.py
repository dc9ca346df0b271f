"""The preset a live show's performer chose, and the settings each part of the show reads.

The controls (`set`, `cc`, hotkeys) act on the chosen preset's settings at once, so a change
sent after a switch is not undone when its show opens. The show on screen draws with its own
settings until then (a picture preset's projection takes a minute or two, and the chosen
preset's settings drove the old picture meanwhile); the performer's freeze, blackout and HUD
act on the screen at once. Written by the control thread and hotkeys, read by every thread.
"""
from __future__ import annotations

import threading

from live.engine.slots import LatestSlot
from live.presets import Preset
from live.settings import Settings, SettingsSlot


class PresetChoice:
    def __init__(self, preset: Preset):
        self.preset = preset  # the chosen one: the controls act on its settings and control map
        self.settings = SettingsSlot(preset.settings)
        self.requests: LatestSlot[Preset] = LatestSlot()  # shows to open, for the inference thread
        # A change of preset and of the settings lands whole for every reader that takes it.
        self.lock = threading.Lock()
        self._held: Settings | None = None  # the show on screen's, while the chosen one's is not open

    def choose(self, preset: Preset) -> None:
        """Its settings, but for the performer's SHOW_STATE, and its control map, for the
        controls at once; its show for the inference thread to open."""
        with self.lock:
            if self._held is None:
                self._held = self.settings.get()
            self.preset = preset
            self.settings.update(preset.settings.keeping_show_state)
            self.requests.put(preset)

    def in_force(self) -> Settings:
        """What the show on screen draws with."""
        chosen, held = self.settings.get(), self._held
        return chosen if held is None else held.keeping_show_state(chosen)

    def is_chosen(self, preset: Preset) -> bool:
        with self.lock:
            return preset is self.preset

    def opened(self, preset: Preset) -> None:
        """`preset`'s show is on screen: its settings draw; a preset chosen since holds them
        until its own show opens."""
        with self.lock:
            self._held = None if self.preset is preset else preset.settings.keeping_show_state(self.settings.get())

    def give_back(self, preset: Preset, on_screen: Preset) -> bool:
        """`preset`'s show could not open: if nothing was chosen since, the preset on screen takes
        the controls back, with the settings it was drawn with. Objects are compared: a copy
        chosen again (the file mended) keeps the controls while it loads."""
        with self.lock:
            back = self.preset is preset
            if back:
                self.preset = on_screen
                held, self._held = self._held or on_screen.settings, None
                self.settings.update(held.keeping_show_state)
            return back

    def latest_copy(self, preset: Preset) -> Preset:
        """The copy of `preset` chosen last, if one was chosen since (its file loaded again)."""
        with self.lock:
            return self.preset if self.preset.name == preset.name else preset

    def request_again(self, preset: Preset) -> None:
        """Ask for `preset`'s show again (its picture is projected now), if it is still the one
        chosen, as its latest loaded copy."""
        with self.lock:
            if self.preset.name == preset.name:
                self.requests.put(self.preset)

    def snapshot(self) -> tuple[Preset, Settings]:
        """The chosen preset and its settings, together: a failed switch gives back both."""
        with self.lock:
            return self.preset, self.settings.get()
