"""The picture: keyframes upscaled once into plates, crossfaded every frame.

Keyframes are small square RGB images (the generator's output). Each is upscaled
(Catmull-Rom, shaders/upscale.frag) and fitted to the output once, when it arrives,
into a "plate"; every frame then crossfades two plates (shaders/crossfade.frag).
On a CPU rasterizer that is what makes 1280x720 affordable: per frame two plain
lookups per pixel instead of two 9-tap Catmull-Rom lookups. A plate holds at most
PLATE_DETAIL pixels per keyframe texel (see `plate_size`), so a small keyframe's plate
is smaller than the output and the crossfade magnifies it bilinearly.

The renderer never waits: without a new keyframe, `draw` keeps showing the fade or the
held picture. Shader files are reloaded by whoever runs the loop calling
`ShaderLibrary.reload_changed()`; the passes here pick up swapped programs by themselves.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Literal

import moderngl
import numpy as np

from live.render.hud import HudText
from live.render.shaders import ShaderLibrary, ShaderProgram

Fit = Literal["cover", "contain"]

_VERTEX = "fullscreen.vert"

# Plate pixels per keyframe texel, at most, along each axis. Catmull-Rom is smooth between
# texels, so sampling it 4 times per texel and interpolating linearly stays within 13 of
# 255 levels of the full-resolution picture on noise (2.5 rms; 17 and 6 rms on a
# one-texel checkerboard, the worst case), while a 128 px keyframe's plate at 1280x720
# has 1/6 of the output's pixels to upscale into.
PLATE_DETAIL = 4
SLOW_PASS_S = 1.0  # a reloaded program that draws one pass slower than this is put back (a frame: 16-60 ms)


@dataclass(frozen=True)
class FrameState:
    """What one drawn frame shows, computed by the caller from its clocks."""

    mix: float = 1.0          # 0 = previous keyframe .. 1 = next, already eased (see crossfade.py)
    beat_pulse: float = 0.0   # beat envelope in [0, 1]: zoom and vignette
    onset_pulse: float = 0.0  # onset envelope in [0, 1]: brightness
    blackout: float = 0.0     # 0 = picture .. 1 = black
    hud: str | None = None    # HUD text, or None for no HUD


class _FullscreenPass:
    """A program drawn as one fullscreen triangle, rebuilt after its program is swapped."""

    def __init__(self, ctx: moderngl.Context, shader: ShaderProgram):
        self._ctx = ctx
        self._shader = shader
        self._vao: moderngl.VertexArray | None = None
        self._generation = -1

    def draw(self, uniforms: dict[str, object]) -> None:
        trial = self._shader.on_trial
        started = time.perf_counter()
        try:
            self._draw(uniforms)
            if trial:
                self._ctx.finish()  # the pass's own time, which GL would otherwise spend later
        # struct.error: a value the edit's uniform type does not take (a float for an int or bool).
        except (TypeError, ValueError, KeyError, struct.error, moderngl.Error) as e:
            if not trial:  # no program before it to fall back on: a show's first
                raise self._shader.misfit(f"{type(e).__name__}: {e}") from None
            self._shader.reject(f"{type(e).__name__}: {e}")
            self._draw(uniforms)
            return
        if trial and (took := time.perf_counter() - started) > SLOW_PASS_S:
            # A loop that runs away held the whole show (its audio and keyframes too) for as
            # long as each frame took, with no word: the first frame is paid, not the rest.
            self._shader.reject(f"it took {took:.1f} s to draw a frame; a loop that runs away?")
            return
        self._shader.accept()

    def _draw(self, uniforms: dict[str, object]) -> None:
        program = self._shader.program
        if self._vao is None or self._generation != self._shader.generation:
            # A uniform no one sets reads 0: a typo, or one this renderer no longer sets (a
            # copy of shaders/ from before u_intensity went lost its pulses without a word).
            # One the shader gives a value of its own (`uniform float u_gain = 1.0;`) is its.
            unset = sorted(name for name in program if isinstance(program[name], moderngl.Uniform)
                           and name not in uniforms and not np.any(np.asarray(program[name].value)))
            if unset:
                raise ValueError(f"uniform {unset[0]} is not one the renderer sets (it would read 0; it sets "
                                 f"{', '.join(sorted(uniforms))}): remove or rename it")
            if self._vao is not None:
                self._vao.release()
            self._vao = self._ctx.vertex_array(program, [])
            self._generation = self._shader.generation
        for name, value in uniforms.items():
            member = program.get(name, None)
            # An edited shader may have dropped or optimized out a uniform: not an error.
            if member is not None:
                try:
                    member.value = value
                except (TypeError, ValueError, struct.error) as e:  # moderngl's own words name no uniform
                    raise TypeError(f"uniform {name} takes no {type(value).__name__} ({e})") from None
        self._vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        if self._vao is not None:
            self._vao.release()
            self._vao = None


def _sampled_texture(ctx: moderngl.Context, size: tuple[int, int], components: int) -> moderngl.Texture:
    # LINEAR, no mipmaps, clamped edges: what the 9-tap Catmull-Rom in bicubic.glsl needs.
    texture = ctx.texture(size, components, alignment=1)
    texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
    texture.repeat_x = False
    texture.repeat_y = False
    return texture


def plate_size(keyframe_side: int, output_size: tuple[int, int], fit: Fit) -> tuple[int, int]:
    """The plates' size for keyframes of `keyframe_side` pixels: the output's, or smaller.

    Output-sized while a keyframe texel covers at most PLATE_DETAIL output pixels, so a
    large keyframe comes through exactly; beyond that the output's aspect at PLATE_DETAIL
    pixels per texel.
    """
    width, height = output_size
    side_on_screen = max(width, height) if fit == "cover" else min(width, height)
    scale = min(1.0, PLATE_DETAIL * keyframe_side / side_on_screen)
    return max(1, round(width * scale)), max(1, round(height * scale))


class _Plate:
    """An RGBA8 texture with its framebuffer: one keyframe, or a blend."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int]):
        self.texture = _sampled_texture(ctx, size, components=4)
        self.framebuffer = ctx.framebuffer(color_attachments=[self.texture])

    def release(self) -> None:
        self.framebuffer.release()
        self.texture.release()


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size}")
    return width, height


def fit_viewport(frame: tuple[int, int], screen: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the largest picture of `frame`'s aspect centred on `screen`:
    a recording's 16:9 frames on a 4:3 projector get bars, not a stretch."""
    (fw, fh), (sw, sh) = frame, screen
    scale = min(sw / fw, sh / fh)
    w, h = max(1, round(fw * scale)), max(1, round(fh * scale))
    return (sw - w) // 2, (sh - h) // 2, w, h


class Renderer:
    """Owns the keyframe texture, the plates and the output framebuffer of one GL context."""

    def __init__(self, ctx: moderngl.Context, output_size: tuple[int, int],
                 library: ShaderLibrary, fit: Fit = "cover", presents: bool = False):
        """`presents`: frames go to a window too (`present`), whose pass is then tried with the others."""
        if fit not in ("cover", "contain"):
            raise ValueError(f"fit must be 'cover' or 'contain', got {fit!r}")
        self.ctx = ctx
        self.fit: Fit = fit
        self._upscale = _FullscreenPass(ctx, library.program(_VERTEX, "upscale.frag"))
        self._crossfade = _FullscreenPass(ctx, library.program(_VERTEX, "crossfade.frag"))
        self._blend = _FullscreenPass(ctx, library.program(_VERTEX, "blend.frag"))
        self._hud_pass = _FullscreenPass(ctx, library.program(_VERTEX, "hud.frag"))
        self._present = _FullscreenPass(ctx, library.program(_VERTEX, "present.frag"))
        # Before the first keyframe everything is black, so the show fades in from black.
        self._keyframe = _sampled_texture(ctx, (1, 1), components=3)
        self._keyframe.write(bytes(3))
        self._shown_mix = 0.0  # the mix of the last drawn frame of the current pair
        self._hud: HudText | None = None
        self._hud_texture: moderngl.Texture | None = None
        self._hud_key: tuple[str, int, int] | None = None  # text, font px, width: what the texture holds
        self._plates: list[_Plate] = []  # previous, next, spare (the snapshot target)
        self._output: _Plate | None = None
        self.resize(output_size)
        self._try_programs(presents)

    def _try_programs(self, presents: bool) -> None:
        """Draw every pass the frames will take once (`present` only for a window: a headless
        show or a render never draws it): a program that compiles but does not fit the
        renderer (an edited uniform's type) is named now, in one line, rather than failing
        every frame of a show that then draws nothing (a window never painted), or a render's
        first frame with a traceback."""
        self.draw(FrameState(mix=0.0))
        spare = self._plates[2]
        self._draw_pass(spare, self._blend, {"u_prev": 0, "u_next": 1, "u_mix": 0.0},
                        self._plates[0].texture, self._plates[1].texture)
        self._draw_pass(spare, self._hud_pass, {"u_text": 0}, self._keyframe)
        if presents:
            self._draw_pass(spare, self._present, {"u_frame": 0}, self._output.texture)
        self._output.framebuffer.use()
        self._output.framebuffer.clear(0.0, 0.0, 0.0, 1.0)

    @property
    def output_size(self) -> tuple[int, int]:
        assert self._output is not None
        return self._output.texture.size

    @property
    def plate_size(self) -> tuple[int, int]:
        return self._plates[0].texture.size

    def resize(self, output_size: tuple[int, int]) -> None:
        """Reallocate for a new output size (e.g. a window going fullscreen).

        The plates are rebuilt from the last keyframe, so a fade in progress ends at
        once: a cut at the moment the whole screen changes anyway.
        """
        size = _check_size(output_size)
        old = [*self._plates, self._output]
        self._output = _Plate(self.ctx, size)
        self._plates = self._new_plates()
        # Bind a new target before releasing the old: ModernGL would re-bind a deleted one.
        self._output.framebuffer.use()
        self._output.framebuffer.clear(0.0, 0.0, 0.0, 1.0)
        for plate in old:
            if plate is not None:
                plate.release()
        self._render_plate(self._plates[0])
        self._render_plate(self._plates[1])

    def upload_keyframe(self, image: np.ndarray) -> None:
        """Make `image` (HxWx3 uint8, square, any size) the next keyframe.

        What the screen showed last becomes the previous plate, so a keyframe arriving
        mid-fade does not make the picture jump; the caller then starts a new fade at
        mix 0 (see crossfade.py).
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
            raise ValueError(f"keyframe must be square HxWx3, got shape {image.shape}")
        if image.dtype != np.uint8:
            raise ValueError(f"keyframe must be uint8, got {image.dtype}")
        side = image.shape[0]
        if self._keyframe.width != side:
            self._keyframe.release()
            self._keyframe = _sampled_texture(self.ctx, (side, side), components=3)
        prev, nxt, spare = self._plates
        shown = {"u_prev": 0, "u_next": 1, "u_mix": self._shown_mix}
        if plate_size(side, self.output_size, self.fit) != self.plate_size:
            # Another keyframe side (another generator): what the screen showed, resampled
            # into new plates, becomes `prev`, so the switch does not jump either.
            self._plates = self._new_plates()
            self._draw_pass(self._plates[0], self._blend, shown, prev.texture, nxt.texture)
            for plate in (prev, nxt, spare):
                plate.release()
        elif self._shown_mix >= 1.0:  # the screen shows `next`: it becomes `prev` as is
            self._plates = [nxt, prev, spare]
        elif self._shown_mix > 0.0:  # mid-fade: `prev` becomes what the screen showed
            self._draw_pass(spare, self._blend, shown, prev.texture, nxt.texture)
            self._plates = [spare, nxt, prev]
        self._keyframe.write(np.ascontiguousarray(image))
        self._render_plate(self._plates[1])
        self._shown_mix = 0.0

    def _new_plates(self) -> list[_Plate]:
        size = plate_size(self._keyframe.width, self.output_size, self.fit)
        return [_Plate(self.ctx, size) for _ in range(3)]

    def _render_plate(self, plate: _Plate) -> None:
        # The fit is computed in output pixels whatever the plate's size: the plate covers
        # the same picture, just with fewer pixels.
        width, height = self.output_size
        self._draw_pass(plate, self._upscale, {
            "u_keyframe": 0,
            "u_resolution": (float(width), float(height)),
            "u_cover": int(self.fit == "cover"),
        }, self._keyframe)

    def _draw_pass(self, target: _Plate, gl_pass: _FullscreenPass, uniforms: dict[str, object],
                   *textures: moderngl.Texture) -> None:
        self.ctx.disable(moderngl.BLEND)
        target.framebuffer.use()
        self.ctx.viewport = (0, 0, *target.texture.size)
        for location, texture in enumerate(textures):
            texture.use(location=location)
        gl_pass.draw(uniforms)

    def draw(self, state: FrameState) -> None:
        """Render one frame into the output framebuffer."""
        assert self._output is not None
        prev, nxt, _ = self._plates
        self._draw_pass(self._output, self._crossfade, {
            "u_prev": 0,
            "u_next": 1,
            "u_mix": float(state.mix),
            "u_beat_pulse": float(state.beat_pulse),
            "u_onset_pulse": float(state.onset_pulse),
            "u_blackout": float(state.blackout),
        }, prev.texture, nxt.texture)
        if state.hud:
            self._draw_hud(state.hud, (0, 0, *self.output_size))
            self.ctx.viewport = (0, 0, *self.output_size)
        self._shown_mix = min(max(float(state.mix), 0.0), 1.0)

    def _draw_hud(self, text: str, area: tuple[int, int, int, int]) -> None:
        """The HUD panel in the top-left corner of `area` (x, y, width, height) of the bound
        framebuffer, its font sized to the area."""
        x, y, width, height = area
        margin = max(height // 60, 4)
        font_px = max(12, round(height / 40))
        if (text, font_px, width) != self._hud_key:
            if self._hud_key is None or self._hud_key[1] != font_px:
                self._hud = HudText(font_px)
            pixels, size = self._hud.render(text, max_width=width - 2 * margin)
            if self._hud_texture is None or self._hud_texture.size != size:
                if self._hud_texture is not None:
                    self._hud_texture.release()
                self._hud_texture = self.ctx.texture(size, 4)
                self._hud_texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._hud_texture.write(pixels)
            self._hud_key = (text, font_px, width)
        assert self._hud_texture is not None
        hud_width, hud_height = self._hud_texture.size
        # The fullscreen triangle drawn into a HUD-sized viewport covers just the panel.
        self.ctx.viewport = (x + margin, y + height - margin - hud_height, hud_width, hud_height)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self._hud_texture.use(location=0)
        self._hud_pass.draw({"u_text": 0})
        self.ctx.disable(moderngl.BLEND)

    def read(self) -> np.ndarray:
        """The last drawn frame as HxWx3 uint8, top row first: a read-only view of a new buffer
        each call, rows flipped by its strides (a copy here cost the render loop 2 ms a 720p frame;
        a sink makes its own as it encodes)."""
        assert self._output is not None
        width, height = self.output_size
        data = self._output.framebuffer.read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1]

    def present(self, screen: moderngl.Framebuffer, screen_size: tuple[int, int], hud: str | None = None) -> None:
        """Draw the last frame onto a window's framebuffer of `screen_size` pixels, as large
        as its aspect ratio lets it, on black, and `hud` over it: on the screen only, so a
        recording (`read`) of a show watched with its HUD on stays clean.

        The size is passed in because a context's record of its window size goes stale
        after a fullscreen switch. Call `resize` with the window size for a 1:1 copy.
        """
        assert self._output is not None
        self.ctx.disable(moderngl.BLEND)
        screen.use()
        size = _check_size(screen_size)
        viewport = fit_viewport(self._output.texture.size, size)
        if viewport[2:] != size:
            screen.clear(0.0, 0.0, 0.0, 1.0)  # the whole screen, whatever the viewport: the bars
        self.ctx.viewport = viewport
        self._output.texture.use(location=0)
        self._present.draw({"u_frame": 0})
        if hud:
            self._draw_hud(hud, viewport)

    def release(self) -> None:
        # Leave the default framebuffer bound: ModernGL would re-bind a deleted one later.
        self.ctx.detect_framebuffer(0).use()
        for gl_pass in (self._upscale, self._crossfade, self._blend, self._hud_pass, self._present):
            gl_pass.release()
        for plate in (*self._plates, self._output):
            if plate is not None:
                plate.release()
        self._keyframe.release()
        if self._hud_texture is not None:
            self._hud_texture.release()
