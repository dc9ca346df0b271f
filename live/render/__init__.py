"""Rendering: keyframes -> crossfaded, upscaled picture -> window, video file or PNG frames.

ModernGL draws with GLSL files from the project's `shaders/` directory (reloaded when
edited); pygame provides the window and the HUD font; PyAV writes videos.
"""
from __future__ import annotations

import importlib
import os
import warnings

# pygame prints a banner on import; a performance console and test logs have no use for it.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# pygame 2.6 imports pkg_resources, which warns in two lines on setuptools >= 81 (the test extras' pin installs
# it), before every show's first line; pygame falls back by itself where pkg_resources is gone.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    importlib.import_module("pygame")
