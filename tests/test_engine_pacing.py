"""Frame pacing: sleep for the cap unless vsync already holds the loop near it."""
from live.engine.pacing import MEASURE_FRAMES, RECHECK_S, FramePacer


def run(pacer: FramePacer, interval: float, frames: int = MEASURE_FRAMES + 1) -> None:
    for i in range(frames):
        pacer.shown(i * interval)


def test_without_vsync_the_cap_is_always_slept_for():
    assert FramePacer(60, vsync=False).sleeps


def test_with_vsync_a_display_at_the_cap_is_left_to_pace_the_loop():
    pacer = FramePacer(60, vsync=True)
    assert not pacer.sleeps
    run(pacer, 1 / 60)
    assert not pacer.sleeps


def test_with_vsync_a_faster_display_is_capped_after_measuring_it():
    pacer = FramePacer(60, vsync=True)
    run(pacer, 1 / 144, frames=MEASURE_FRAMES)
    assert not pacer.sleeps                              # still measuring
    pacer.shown(MEASURE_FRAMES / 144)
    assert pacer.sleeps
    pacer.remeasure(vsync=True)                          # a fullscreen switch: measure again
    assert not pacer.sleeps
    run(pacer, 1 / 60)
    assert not pacer.sleeps
    pacer.remeasure(vsync=False)                         # onto a display that gives none
    assert pacer.sleeps


def test_with_vsync_a_flip_that_stops_waiting_later_is_capped():
    pacer = FramePacer(60, vsync=True)
    run(pacer, 1 / 60, frames=10 * MEASURE_FRAMES)       # minutes at the display's rate
    assert not pacer.sleeps
    start = 10 * MEASURE_FRAMES / 60
    for i in range(MEASURE_FRAMES + 1):                 # the window is hidden: flips return at once
        pacer.shown(start + i * 0.001)
    assert pacer.sleeps
    shown_again = start + 1.0                           # the window is back: flips wait for 60 Hz again
    for i in range(round(RECHECK_S * 60) + MEASURE_FRAMES + 1):
        pacer.shown(shown_again + i / 60)
    assert not pacer.sleeps                             # measured again, and left to the flips
