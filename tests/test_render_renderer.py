"""The renderer on an EGL offscreen context: colours, upscaling, plates, fades, pulses, HUD."""
from __future__ import annotations

import moderngl
import numpy as np
import pytest

from live.render.headless import create_headless_context
from live.render.hud import HudText
from live.render.renderer import PLATE_DETAIL, FrameState, Renderer, fit_viewport, plate_size
from live.render.shaders import ShaderLibrary

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


@pytest.fixture(scope="module")
def ctx():
    ctx = create_headless_context()
    yield ctx
    ctx.release()


@pytest.fixture(scope="module")
def library(ctx):
    return ShaderLibrary(ctx)


@pytest.fixture(autouse=True)
def no_gl_errors(ctx):
    yield
    assert ctx.error == "GL_NO_ERROR"


def solid(color, side=16):
    return np.broadcast_to(np.array(color, np.uint8), (side, side, 3)).copy()


def render(renderer, **state):
    renderer.draw(FrameState(**state))
    return renderer.read().astype(int)


@pytest.fixture
def fade(ctx, library):
    """A renderer fading from red to blue at 64x36."""
    renderer = Renderer(ctx, (64, 36), library)
    renderer.upload_keyframe(solid(RED))
    renderer.draw(FrameState(mix=1.0))
    renderer.upload_keyframe(solid(BLUE, side=32))
    yield renderer
    renderer.release()


def test_mix_selects_previous_then_next(fade):
    assert np.all(render(fade, mix=0.0) == RED)
    assert np.all(render(fade, mix=1.0) == BLUE)
    half = render(fade, mix=0.5)
    assert np.all(np.abs(half - (127.5, 0, 127.5)) <= 1)


def test_blackout(fade):
    assert np.all(render(fade, mix=1.0, blackout=1.0) == 0)
    assert np.all(np.abs(render(fade, mix=1.0, blackout=0.5) - (0, 0, 127.5)) <= 1)


def test_first_frames_fade_in_from_black(ctx, library):
    renderer = Renderer(ctx, (32, 32), library)
    assert np.all(render(renderer, mix=1.0) == 0)
    renderer.upload_keyframe(solid(GREEN))
    assert np.all(render(renderer, mix=0.0) == 0)
    assert np.all(np.abs(render(renderer, mix=0.5) - (0, 127.5, 0)) <= 1)
    renderer.release()


def test_read_returns_top_row_first(ctx, library):
    renderer = Renderer(ctx, (40, 40), library)
    image = solid(RED, side=32)
    image[:16] = GREEN
    renderer.upload_keyframe(image)
    frame = render(renderer, mix=1.0)
    assert frame.shape == (40, 40, 3)
    assert np.all(frame[:15] == GREEN) and np.all(frame[-15:] == RED)
    renderer.release()


@pytest.mark.parametrize("fit", ["contain", "cover"])
def test_fit_of_the_square_keyframe(ctx, library, fit):
    renderer = Renderer(ctx, (160, 90), library, fit=fit)
    renderer.upload_keyframe(solid(GREEN))
    frame = render(renderer, mix=1.0)
    assert np.all(frame[:, 40:120] == GREEN)
    side_columns = np.concatenate([frame[:, :30], frame[:, -30:]])
    assert np.all(side_columns == (0 if fit == "contain" else GREEN))
    renderer.release()


def catmull_rom_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) resampling matrix: Catmull-Rom at output pixel centres, clamped edges."""
    pos = (np.arange(n_out) + 0.5) / n_out * n_in - 0.5
    base = np.floor(pos).astype(int)
    f = pos - base
    weights = [f * (-0.5 + f * (1 - 0.5 * f)), 1 + f * f * (-2.5 + 1.5 * f),
               f * (0.5 + f * (2 - 1.5 * f)), f * f * (-0.5 + 0.5 * f)]
    matrix = np.zeros((n_out, n_in))
    for k, w in enumerate(weights):
        np.add.at(matrix, (np.arange(n_out), np.clip(base + k - 1, 0, n_in - 1)), w)
    return matrix


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    pos = np.clip((np.arange(n_out) + 0.5) / n_out * n_in - 0.5, 0, n_in - 1)
    base = np.minimum(np.floor(pos).astype(int), n_in - 2)
    f = pos - base
    matrix = np.zeros((n_out, n_in))
    matrix[np.arange(n_out), base] += 1 - f
    matrix[np.arange(n_out), base + 1] += f
    return matrix


def test_upscaling_is_smooth_catmull_rom(ctx, library):
    side_in, side_out = 16, 16 * PLATE_DETAIL  # the most detail an output-sized plate holds
    cells = (np.indices((side_in, side_in)) // 4).sum(axis=0) % 2  # 4-texel checkerboard
    checker = np.repeat((cells * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    renderer = Renderer(ctx, (side_out, side_out), library)
    renderer.upload_keyframe(checker)
    frame = render(renderer, mix=1.0)[:, :, 0]
    renderer.release()

    m = catmull_rom_matrix(side_in, side_out)
    expected = np.clip(m @ cells.astype(float) @ m.T, 0.0, 1.0) * 255
    assert np.max(np.abs(frame - expected)) <= 3
    # Not plain bilinear, not nearest: a soft edge, a level on each of its pixels, no hard steps.
    b = bilinear_matrix(side_in, side_out)
    assert np.max(np.abs(frame - b @ cells.astype(float) @ b.T * 255)) > 10
    assert len(np.unique(frame[side_out // 2 + 1])) >= 6
    assert np.max(np.abs(np.diff(frame, axis=1))) < 100


def test_plates_hold_at_most_plate_detail_pixels_per_texel(ctx, library):
    assert PLATE_DETAIL == 4
    assert plate_size(128, (1280, 720), "cover") == (512, 288)  # the 128 px side spans 1280 px
    assert plate_size(128, (1280, 720), "contain") == (910, 512)  # ...or 720 px
    assert plate_size(1024, (1280, 720), "cover") == (1280, 720)  # never larger than the output
    renderer = Renderer(ctx, (1280, 720), library)
    renderer.upload_keyframe(solid(RED, side=128))
    assert renderer.plate_size == (512, 288)
    renderer.upload_keyframe(solid(RED, side=1024))
    assert renderer.plate_size == (1280, 720)
    renderer.resize((640, 360))
    assert renderer.plate_size == (640, 360)
    renderer.upload_keyframe(solid(RED, side=128))
    assert renderer.plate_size == (512, 288)
    renderer.release()


def test_a_still_frame_shows_an_output_sized_plate_exactly(ctx, library):
    # A keyframe as wide as the output at "cover": Catmull-Rom samples its texel centres
    # into the plate and the crossfade the plate's, so the frame is the keyframe, cropped.
    image = np.random.default_rng(1).integers(0, 256, (1280, 1280, 3), dtype=np.uint8)
    renderer = Renderer(ctx, (1280, 720), library)
    renderer.upload_keyframe(image)
    assert np.array_equal(render(renderer, mix=1.0), image[280:1000])
    renderer.release()


def test_small_plates_stay_close_to_full_catmull_rom(ctx, library):
    side_in, side_out = 16, 160  # 10 output pixels per texel: the plate is 64 px
    cells = (np.indices((side_in, side_in)) // 2).sum(axis=0) % 2  # 2-texel checkerboard
    checker = np.repeat((cells * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    renderer = Renderer(ctx, (side_out, side_out), library)
    renderer.upload_keyframe(checker)
    assert renderer.plate_size == (side_in * PLATE_DETAIL,) * 2
    frame = render(renderer, mix=1.0)[:, :, 0]
    renderer.release()
    m = catmull_rom_matrix(side_in, side_out)
    error = frame - np.clip(m @ cells.astype(float) @ m.T, 0.0, 1.0) * 255
    assert np.max(np.abs(error)) <= 16 and np.sqrt(np.mean(error ** 2)) <= 4  # measured 13, 3.4


# Output-sized plates; plates of half the output, whose rounded snapshot is then magnified.
@pytest.mark.parametrize(("side", "rounding"), [(24, 1), (12, 2)])
def test_keyframe_arriving_mid_fade_does_not_jump(ctx, library, side, rounding):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(3)]
    renderer = Renderer(ctx, (96, 64), library)
    renderer.upload_keyframe(images[0])
    render(renderer, mix=1.0)
    renderer.upload_keyframe(images[1])
    before = render(renderer, mix=0.3)
    renderer.upload_keyframe(images[2])
    after = render(renderer, mix=0.0)
    assert np.max(np.abs(after - before)) <= rounding
    # ...and the fade then heads to the newest keyframe.
    newest = Renderer(ctx, (96, 64), library)
    newest.upload_keyframe(images[2])
    assert np.array_equal(render(renderer, mix=1.0), render(newest, mix=1.0))
    renderer.release()
    newest.release()


def test_a_new_keyframe_side_mid_fade_does_not_jump(ctx, library):
    # A generator switch: the plates are sized anew and the picture carried over.
    rng = np.random.default_rng(2)
    renderer = Renderer(ctx, (160, 90), library)
    renderer.upload_keyframe(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    render(renderer, mix=1.0)
    renderer.upload_keyframe(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    before = render(renderer, mix=0.4)
    small = renderer.plate_size
    renderer.upload_keyframe(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert renderer.plate_size != small
    after = render(renderer, mix=0.0)
    assert np.max(np.abs(after - before)) <= 1
    renderer.release()


def test_keyframes_arriving_between_frames_are_skipped(fade):
    fade.draw(FrameState(mix=1.0))  # blue on screen
    fade.upload_keyframe(solid(RED))
    fade.upload_keyframe(solid(GREEN, side=8))  # red never drawn
    assert np.all(render(fade, mix=0.0) == BLUE)
    assert np.all(render(fade, mix=1.0) == GREEN)


def test_pulses_zoom_darken_corners_and_brighten(ctx, library):
    renderer = Renderer(ctx, (64, 64), library)
    grey = solid((128, 128, 128))
    grey[::2, ::2] = 100  # texture, so a zoom is visible
    renderer.upload_keyframe(grey)
    still = render(renderer, mix=1.0)
    beat = render(renderer, mix=1.0, beat_pulse=1.0)
    assert beat[0, 0].mean() < still[0, 0].mean() - 10  # vignette darkens the corners
    assert not np.array_equal(beat[24:40, 24:40], still[24:40, 24:40])  # zoom moves the centre
    onset = render(renderer, mix=1.0, onset_pulse=1.0)
    assert onset.mean() > still.mean() + 10
    renderer.release()


def test_a_full_beat_grows_the_picture_by_the_shader_s_zoom(ctx, library):
    # The test above passed with the zoom reversed: the picture shrank on every beat (review 49).
    renderer = Renderer(ctx, (256, 256), library)
    square = np.zeros((64, 64, 3), np.uint8)
    square[16:48, 16:48] = 255  # white, half the side

    def width(**state):
        return int((render(renderer, mix=1.0, **state)[128, :, 0] > 127).sum())

    renderer.upload_keyframe(square)
    still, beat = width(), width(beat_pulse=1.0)
    assert still == 128 and beat == pytest.approx(still * 1.035, abs=2)  # BEAT_ZOOM in shaders/crossfade.frag
    renderer.release()


def test_hud_is_drawn_and_rasterized_only_when_text_changes(ctx, library, monkeypatch):
    calls = []
    original = HudText.render

    def counting(self, text, max_width=None):
        calls.append(text)
        return original(self, text, max_width)

    monkeypatch.setattr(HudText, "render", counting)
    renderer = Renderer(ctx, (320, 180), library)
    renderer.upload_keyframe(solid(BLUE))
    plain = render(renderer, mix=1.0)
    with_hud = render(renderer, mix=1.0, hud="bpm 120.0\nfps 60")
    render(renderer, mix=1.0, hud="bpm 120.0\nfps 60")
    assert calls == ["bpm 120.0\nfps 60"]
    changed = np.any(with_hud != plain, axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.max() < 90 and cols.max() < 160  # a panel in the top-left corner only
    assert with_hud[changed].max() > 200  # white text on it
    render(renderer, mix=1.0, hud="bpm 121.0\nfps 60")
    assert len(calls) == 2
    renderer.release()


def test_a_hud_line_too_wide_for_a_small_frame_breaks_between_fields(ctx, library):
    renderer = Renderer(ctx, (128, 72), library)
    renderer.upload_keyframe(solid(BLUE))
    plain = render(renderer, mix=1.0)
    line = "  ".join(["30.0 fps", "20.1 kf/s", "latency 79 ms", "reference"])
    frame = render(renderer, mix=1.0, hud=line)
    rows, cols = np.nonzero(np.any(frame != plain, axis=2))
    one_row = HudText(font_px=12).render(line)[1][1]  # the renderer's font size at 72 px high
    assert cols.max() < 128 - 4 and rows.max() - rows.min() + 1 > one_row  # within the margin, on more rows
    renderer.release()


def test_a_hud_presented_on_the_screen_stays_out_of_the_frame_a_recording_reads(ctx, library):
    renderer = Renderer(ctx, (160, 90), library)
    renderer.upload_keyframe(solid(BLUE))
    plain = render(renderer, mix=1.0)
    screen = ctx.simple_framebuffer((320, 180))
    renderer.present(screen, (320, 180), hud="bpm 120.0\nfps 60")
    shown = np.frombuffer(screen.read(components=3, alignment=1), np.uint8).reshape(180, 320, 3)[::-1]
    rows, cols = np.nonzero(np.any(shown != BLUE, axis=2))
    assert rows.max() < 90 and cols.max() < 160 and shown[rows, cols].max() > 200  # on the screen, top left
    assert np.array_equal(renderer.read(), plain)  # not in the frame
    renderer.release()


def test_bad_keyframes_are_rejected(fade):
    with pytest.raises(ValueError, match="square"):
        fade.upload_keyframe(np.zeros((16, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        fade.upload_keyframe(np.zeros((16, 16, 3), np.float32))


def test_resize_and_present(ctx, library, fade):
    fade.resize((48, 30))
    frame = render(fade, mix=1.0)
    assert frame.shape == (30, 48, 3)
    assert np.all(frame == BLUE)
    assert np.all(render(fade, mix=0.0) == BLUE)  # the fade in progress ends at a resize
    screen = ctx.simple_framebuffer((48, 30))
    fade.present(screen, (48, 30))
    shown = np.frombuffer(screen.read(components=3), np.uint8).reshape(30, 48, 3)[::-1]
    assert np.array_equal(shown, frame)
    bigger = ctx.simple_framebuffer((96, 60))
    fade.present(bigger, (96, 60))
    assert np.all(np.frombuffer(bigger.read(components=3), np.uint8).reshape(60, 96, 3) == BLUE)
    # A 4:3 screen (a projector) shows the 48x30 frame whole between black bars, not stretched.
    projector = ctx.simple_framebuffer((64, 48))
    projector.clear(1.0, 1.0, 1.0, 1.0)  # the last frame of another size: the bars must cover it
    fade.present(projector, (64, 48))
    shown = np.frombuffer(projector.read(components=3), np.uint8).reshape(48, 64, 3)
    x, y, w, h = fit_viewport((48, 30), (64, 48))
    assert (x, y, w, h) == (0, 4, 64, 40)
    assert np.all(shown[y:y + h] == BLUE) and np.all(shown[:y] == 0) and np.all(shown[y + h:] == 0)
    ctx.detect_framebuffer(0).use()
    for fb in (screen, bigger, projector):
        fb.release()


@pytest.mark.parametrize("frame, screen, viewport", [
    ((1280, 720), (1280, 720), (0, 0, 1280, 720)),
    ((1280, 720), (1024, 768), (0, 96, 1024, 576)),    # 16:9 on 4:3: bars above and below
    ((720, 720), (1920, 1080), (420, 0, 1080, 1080)),  # square on 16:9: bars at the sides
])
def test_fit_viewport_keeps_the_frame_s_aspect(frame, screen, viewport):
    assert fit_viewport(frame, screen) == viewport


def test_a_gl_context_is_a_moderngl_context(ctx):
    assert isinstance(ctx, moderngl.Context) and ctx.version_code >= 330
