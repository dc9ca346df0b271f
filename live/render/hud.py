"""HUD text to pixels: pygame.font rasterizes lines onto a translucent panel.

pygame.font needs no display, so this works headless and in tests.
"""
from __future__ import annotations

import pygame

_TEXT_COLOR = (255, 255, 255)
_PANEL_COLOR = (0, 0, 0, 150)  # dark enough to read white text over a bright frame


class HudText:
    """Turns multi-line text into an RGBA image, top row first, straight alpha."""

    def __init__(self, font_px: int):
        if font_px < 6:
            raise ValueError(f"HUD font size must be >= 6 px, got {font_px}")
        pygame.font.init()
        self._font = pygame.font.Font(None, font_px)  # pygame's bundled font: always there
        self._padding = max(font_px // 3, 2)

    def render(self, text: str) -> tuple[bytes, tuple[int, int]]:
        """RGBA bytes and (width, height) of the panel holding `text`."""
        lines = [self._font.render(line, True, _TEXT_COLOR) for line in text.splitlines() or [""]]
        step = self._font.get_linesize()
        width = max(line.get_width() for line in lines) + 2 * self._padding
        height = step * len(lines) + 2 * self._padding
        panel = pygame.Surface((width, height), pygame.SRCALPHA)
        panel.fill(_PANEL_COLOR)
        for i, line in enumerate(lines):
            panel.blit(line, (self._padding, self._padding + i * step))
        return pygame.image.tobytes(panel, "RGBA"), (width, height)
