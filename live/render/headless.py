"""An OpenGL context without a display: EGL with Mesa (llvmpipe on a server, or a GPU)."""
from __future__ import annotations

import moderngl

from live.errors import UserError, first_line

GL_VERSION = 330  # what the shaders in shaders/ are written against


def create_headless_context() -> moderngl.Context:
    """A standalone EGL context; UserError naming the Debian packages when it cannot open."""
    try:
        return moderngl.create_standalone_context(backend="egl", require=GL_VERSION)
    # glcontext reports a missing libEGL or driver with plain Exceptions of several kinds.
    except Exception as e:  # noqa: BLE001
        detail = first_line(e)
        raise UserError(
            f"cannot create a headless OpenGL {GL_VERSION // 100}.{GL_VERSION // 10 % 10} context "
            f"through EGL ({detail}); install the Debian packages libegl1 libgl1-mesa-dri"
        ) from e
