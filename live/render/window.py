"""A pygame OpenGL window, its ModernGL context, and hotkeys turned into named actions.

The window only reports what the performer pressed; the caller decides what a key does
(a preset switch, a freeze, a fullscreen toggle through `set_fullscreen`).

A process uses either this window's context or a headless EGL one, not both: glvnd
refuses a GLX context on a thread that had an EGL context current (X error BadAccess,
on which Xlib ends the process).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from enum import Enum

import moderngl
import pygame
from pygame._sdl2 import video as sdl_video

from live.errors import UserError, first_line, note
from live.render.headless import GL_VERSION
from live.stderr import QuietStderr


class Action(Enum):
    PRESET = "preset"          # keys 1-9; KeyAction.preset holds the number
    FREEZE = "freeze"          # F
    BLACKOUT = "blackout"      # B
    FULLSCREEN = "fullscreen"  # F11 or Tab
    HUD = "hud"                # H
    QUIT = "quit"              # Esc, Q, or the window's close button
    TAP = "tap"                # T: tap tempo
    DOWNBEAT = "downbeat"      # D: the beat heard now is a bar's first
    CUT = "cut"                # C: the newest keyframe at once, no fade
    RESIZED = "resized"        # the window manager gave the window another size (a tiling one)


@dataclass(frozen=True)
class KeyAction:
    action: Action
    preset: int | None = None  # 1..9 for Action.PRESET


_KEYS: dict[int, Action] = {
    pygame.K_f: Action.FREEZE,
    pygame.K_b: Action.BLACKOUT,
    pygame.K_F11: Action.FULLSCREEN,
    pygame.K_TAB: Action.FULLSCREEN,
    pygame.K_h: Action.HUD,
    pygame.K_ESCAPE: Action.QUIT,
    pygame.K_q: Action.QUIT,
    pygame.K_t: Action.TAP,
    pygame.K_d: Action.DOWNBEAT,
    pygame.K_c: Action.CUT,
}
_PRESET_KEYS: dict[int, int] = {getattr(pygame, f"K_{n}"): n for n in range(1, 10)}
_PRESET_KEYS.update({getattr(pygame, f"K_KP{n}"): n for n in range(1, 10)})


def action_for_key(key: int) -> KeyAction | None:
    """The action bound to a pygame key code, or None for unbound keys."""
    if key in _PRESET_KEYS:
        return KeyAction(Action.PRESET, preset=_PRESET_KEYS[key])
    action = _KEYS.get(key)
    return KeyAction(action) if action is not None else None


@dataclass(frozen=True)
class WindowConfig:
    size: tuple[int, int] = (1280, 720)  # windowed size; fullscreen uses the display's size
    fullscreen: bool = False
    display: int = 0                     # which monitor (SDL display index)
    vsync: bool = True
    title: str = "live"


HIDDEN_DRIVERS = ("offscreen", "dummy")  # SDL video drivers that draw nowhere to be seen


def _reach_display(display: int) -> tuple[int, int]:
    """pygame's display started, and the desktop size of monitor `display`; UserError when
    there is none to reach or no such monitor (the display left closed)."""
    try:
        with QuietStderr():  # SDL's wayland probe printed "error: XDG_RUNTIME_DIR is invalid" before our line
            pygame.display.init()
    except pygame.error as e:
        raise UserError(f"no display to open a window on ({e}); set DISPLAY or run headless") from e
    driver = pygame.display.get_driver()
    if driver in HIDDEN_DRIVERS and os.environ.get("SDL_VIDEODRIVER") != driver:
        # SDL falls back to a window no one sees when the display cannot be reached (an X
        # server down, a wrong DISPLAY, a refused connection): a show played to nobody.
        pygame.display.quit()
        named = next((f"{var}={os.environ[var]}" for var in ("DISPLAY", "WAYLAND_DISPLAY") if os.environ.get(var)),
                     "DISPLAY and WAYLAND_DISPLAY unset")
        raise UserError(f"cannot reach the display ({named}; SDL fell back to its {driver!r} driver, which shows "
                        "nothing); check the variable and the display server, or run --headless")
    displays = pygame.display.get_num_displays()
    if not 0 <= display < displays:
        pygame.display.quit()
        raise UserError(f"display {display} does not exist; this machine has {displays} (0..{displays - 1})")
    return pygame.display.get_desktop_sizes()[display]


def check_display(display: int) -> None:
    """What `Window` would refuse about the display, said now: a show checks it before its
    networks load (seconds), and opens its window after them."""
    _reach_display(display)
    pygame.display.quit()


class Window:
    """An OpenGL 3.3 core window. One per process: pygame has a single display."""

    def __init__(self, config: WindowConfig):
        self.config = config
        # Where leaving fullscreen puts the window.
        self._windowed_position = (sdl_video.WINDOWPOS_CENTERED | config.display,) * 2
        # pygame's event queue reads the object `from_display_module` makes through a pointer the SDL
        # window keeps without a reference: freed, the next window event crashed the show (segfault).
        self._sdl_window: sdl_video.Window | None = None
        desktop = _reach_display(config.display)
        if config.size[0] > desktop[0] or config.size[1] > desktop[1]:
            # A 1280x720 window on a 1024x768 projector hung off both sides, without a word (found by review).
            scale = min(desktop[0] / config.size[0], desktop[1] / config.size[1])
            fitted = tuple(max(2, int(side * scale) // 2 * 2) for side in config.size)
            if not config.fullscreen:  # else only leaving fullscreen shows it
                note("window", f"{config.size[0]}x{config.size[1]} does not fit display {config.display} "
                               f"({desktop[0]}x{desktop[1]}); the window is {fitted[0]}x{fitted[1]}")
            self.config = config = replace(config, size=fitted)
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_MAJOR_VERSION, GL_VERSION // 100)
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_MINOR_VERSION, GL_VERSION // 10 % 10)
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_PROFILE_MASK, pygame.GL_CONTEXT_PROFILE_CORE)
        pygame.display.set_caption(config.title)
        try:
            self._set_mode(config.fullscreen)
            self.ctx = moderngl.create_context(require=GL_VERSION)
        # moderngl reports a window it finds no GL in, or too old a GL, with RuntimeError or ValueError.
        except (pygame.error, moderngl.Error, RuntimeError, ValueError) as e:
            pygame.display.quit()
            raise UserError(f"cannot open an OpenGL {GL_VERSION / 100:.1f} window ({first_line(e)}); "
                            "check the display's GL driver or run headless") from e
        pygame.key.set_repeat()  # a held key is one action, not a stream of them

    def _desktop_size(self) -> tuple[int, int]:
        return pygame.display.get_desktop_sizes()[self.config.display]

    def _set_mode(self, fullscreen: bool) -> None:
        # pygame 2 keeps the window's GL context across set_mode calls, so textures and
        # programs survive a fullscreen switch; toggle_fullscreen() left Mesa drawing
        # into the old-sized buffers on X11.
        config = self.config
        flags = pygame.OPENGL | pygame.DOUBLEBUF | (pygame.FULLSCREEN if fullscreen else 0)
        size = self._desktop_size() if fullscreen else config.size
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pygame.display.set_mode(size, flags, display=config.display, vsync=int(config.vsync))
            if not fullscreen and pygame.display.get_window_size() != tuple(size):
                # Out of fullscreen, SDL on X11 keeps the desktop's size the first time asked.
                pygame.display.set_mode(size, flags, display=config.display, vsync=int(config.vsync))
        # Where the driver gives no vsync (Xvfb, some Mesa setups) pygame warns and goes on
        # without: the frame pacer must then hold the cap itself.
        refused = [w for w in caught if "vsync" in str(w.message)]
        self.vsync = config.vsync and not refused
        pygame.mouse.set_visible(not fullscreen)  # the pointer stayed on the projected picture (review 99)
        for w in caught:
            if w not in refused:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    @property
    def size(self) -> tuple[int, int]:
        """The drawable size now (it changes with fullscreen)."""
        return pygame.display.get_window_size()

    @property
    def fullscreen(self) -> bool:
        return pygame.display.is_fullscreen()

    @property
    def screen(self) -> moderngl.Framebuffer:
        return self.ctx.screen

    def set_fullscreen(self, on: bool) -> None:
        """Switch mode; afterwards `size` is the new drawable size to resize the renderer to."""
        if on != self.fullscreen:
            window = self._sdl_window = sdl_video.Window.from_display_module()
            try:
                if on:
                    # X without a window manager leaves a window where it was: switched in place, it
                    # hung off the screen's right and bottom (found by review). Centred on the display at
                    # the display's size, it starts at the display's origin.
                    self._windowed_position = window.position
                    window.size = self._desktop_size()
                    window.position = (sdl_video.WINDOWPOS_CENTERED | self.config.display,) * 2
                self._set_mode(on)
                if not on:
                    window.position = self._windowed_position
            except pygame.error as e:
                raise UserError(f"cannot switch {'to' if on else 'out of'} fullscreen ({e})") from e

    def poll(self) -> list[KeyAction]:
        """Actions since the last call; never blocks."""
        actions = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                actions.append(KeyAction(Action.QUIT))
            elif event.type == pygame.KEYDOWN:
                action = action_for_key(event.key)
                if action is not None:
                    actions.append(action)
            elif event.type == pygame.WINDOWSIZECHANGED:
                actions.append(KeyAction(Action.RESIZED))
        return actions

    def flip(self) -> None:
        """Show what was drawn to `screen` (waits for vsync when it is on)."""
        pygame.display.flip()

    def close(self) -> None:
        self.ctx.release()
        pygame.display.quit()
