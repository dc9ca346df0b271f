"""HUD text to pixels: pygame.font rasterizes lines onto a translucent panel.

pygame.font needs no display, so this works headless and in tests.
"""
from __future__ import annotations

import pygame

_TEXT_COLOR = (255, 255, 255)
_PANEL_COLOR = (0, 0, 0, 150)  # dark enough to read white text over a bright frame
FIELD_GAP = "  "  # between the fields of a HUD line: where a line too wide for the frame breaks


class HudText:
    """Turns multi-line text into an RGBA image, top row first, straight alpha."""

    def __init__(self, font_px: int):
        if font_px < 6:
            raise ValueError(f"HUD font size must be >= 6 px, got {font_px}")
        pygame.font.init()
        self._font = pygame.font.Font(None, font_px)  # pygame's bundled font: always there
        self._padding = max(font_px // 3, 2)

    def render(self, text: str, max_width: int | None = None) -> tuple[bytes, tuple[int, int]]:
        """RGBA bytes and (width, height) of the panel holding `text`; a line wider than
        `max_width` breaks between its fields (runs of two spaces), as often as it must."""
        rows = [row for line in text.splitlines() or [""] for row in self._wrapped(line, max_width)]
        lines = [self._font.render(row, True, _TEXT_COLOR) for row in rows]
        step = self._font.get_linesize()
        width = max(line.get_width() for line in lines) + 2 * self._padding
        height = step * len(lines) + 2 * self._padding
        panel = pygame.Surface((width, height), pygame.SRCALPHA)
        panel.fill(_PANEL_COLOR)
        for i, line in enumerate(lines):
            panel.blit(line, (self._padding, self._padding + i * step))
        return pygame.image.tobytes(panel, "RGBA"), (width, height)

    def _wrapped(self, line: str, max_width: int | None) -> list[str]:
        room = None if max_width is None else max_width - 2 * self._padding
        rows: list[str] = []
        for field in line.split(FIELD_GAP):
            joined = f"{rows[-1]}{FIELD_GAP}{field}" if rows else field
            if rows and room is not None and self._font.size(joined)[0] > room:
                rows.append(field)
            else:
                rows[-1:] = [joined]
        return rows
