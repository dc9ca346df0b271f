"""The preset a show's performer chose, and the settings the screen draws with meanwhile."""
from types import SimpleNamespace

from live.engine.choice import PresetChoice
from live.settings import Settings


def _preset(name: str, **values) -> SimpleNamespace:
    """Settings by field name (lambda_)."""
    return SimpleNamespace(name=name, settings=Settings(**values))


def test_the_screen_draws_with_its_own_settings_until_the_chosen_show_opens():
    shown, chosen = _preset("a", intensity=1.5), _preset("b", intensity=0.0)
    choice = PresetChoice(shown)
    choice.choose(chosen)
    choice.settings.set_value("blackout", True)  # the performer's state acts on the screen at once
    assert choice.settings.get().intensity == 0.0 and choice.requests.take(timeout=0) is chosen
    drawn = choice.in_force()
    assert drawn.intensity == 1.5 and drawn.blackout
    choice.opened(chosen)
    assert choice.in_force() == choice.settings.get() and choice.in_force().intensity == 0.0


def test_a_show_that_opens_after_another_was_chosen_holds_its_settings_for_the_next():
    first, second, third = _preset("a"), _preset("b", lambda_=0.2), _preset("c", lambda_=0.5)
    choice = PresetChoice(first)
    choice.choose(second)
    choice.choose(third)
    choice.opened(second)  # on screen now, the third still loading
    assert choice.in_force().lambda_ == 0.2 and choice.settings.get().lambda_ == 0.5


def test_a_failed_show_gives_back_the_settings_the_screen_had_unless_another_was_chosen():
    shown, chosen = _preset("a"), _preset("b", lambda_=0.3)
    choice = PresetChoice(shown)
    choice.settings.set_value("lambda", 0.07)  # set before the choice: kept
    choice.choose(chosen)
    choice.settings.set_value("lambda", 0.09)  # set for the chosen preset: goes with it
    assert choice.give_back(chosen, shown)
    preset, settings = choice.snapshot()
    assert preset is shown and settings.lambda_ == 0.07 and choice.in_force() == settings
    again, other = _preset("b"), _preset("c")
    choice.choose(again)
    choice.choose(other)
    assert not choice.give_back(again, shown) and choice.snapshot()[0] is other


def test_a_projection_serves_the_copy_of_its_preset_chosen_last():
    first_copy, second_copy = _preset("pic"), _preset("pic")
    choice = PresetChoice(_preset("a"))
    choice.choose(first_copy)
    choice.choose(second_copy)  # its file loaded again
    choice.requests.take(timeout=0)
    assert choice.latest_copy(first_copy) is second_copy and not choice.is_chosen(first_copy)
    choice.request_again(first_copy)
    assert choice.requests.take(timeout=0) is second_copy
    choice.choose(_preset("other"))
    choice.requests.take(timeout=0)
    choice.request_again(first_copy)  # no longer chosen: nothing to open
    assert choice.requests.take(timeout=0) is None
