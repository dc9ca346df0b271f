"""Rendering: keyframes -> crossfaded, upscaled picture -> window, video file or PNG frames.

ModernGL draws with GLSL files from the project's `shaders/` directory (reloaded when
edited); pygame provides the window and the HUD font; PyAV writes videos.
"""
from __future__ import annotations

import os

# pygame prints a banner on import; a performance console and test logs have no use for it.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
