import os
import re

import numpy as np
import pytest

from live.__main__ import main
from live.errors import UserError
from live.presets import PresetLibrary, default_presets_dir, load_preset
from live.settings import PARAMS


def test_shipped_presets_load_and_are_at_least_six():
    library = PresetLibrary()
    names = library.names()
    assert len(names) >= 6 and "default" in names
    for name in names:
        preset = library.load(name)
        assert preset.bundle == "default" and preset.source.seed is not None
        assert len(preset.cc) >= 4


def test_each_shipped_preset_s_knobs_span_its_own_settings():
    # A knob that cannot reach the preset's value takes it away for good once touched
    # (strobe's hard cuts under a crossfade knob of 1..8 beats).
    library = PresetLibrary()
    for name in library.names():
        preset = library.load(name)
        for binding in preset.cc:
            if PARAMS[binding.param].kind is not bool:
                value = preset.settings.value(binding.param)
                assert min(binding.low, binding.high) <= value <= max(binding.low, binding.high), (name, binding)


@pytest.mark.parametrize("text, words", [
    ('[source]\nseed = 1\n[settings]\nlambda = -1\n', "lambda"),
    ('[source]\nseed = 1\nw = "x.npy"\n', "exactly one"),
    ('[source]\n', "exactly one"),
    ('[source]\nseed = 1\ncolour = 3\n', "colour"),
    ('[source]\nseed = 1\n[settings]\nspeed = 3\n', "speed"),
    ('[source]\nseed = 1\n[[cc]]\nchannel = 1\ncontroller = 1\nparam = "nope"\n', "nope"),
    ('[source\n', "TOML"),
    ('[source]\nseed = 1' + '0' * 5000 + '\n', "not valid TOML"),  # Python reads no int of over 4,300 digits
    ('[source]\nimage = "missing.png"\n', "does not exist"),
    ('[source]\nimage = "."\n', "source image file .* is a folder"),
    ('setings = {}\n[source]\nseed = 1\n', "unknown key.*setings"),  # a typo is not ignored
    ('[source]\nseed = 4294967296\n', "seed must be a whole number in 0..2"),  # else it fails when switched to
    ('[source]\nseed = 1\ntruncation = 2.5\n', "truncation must be a number in 0..2"),
    ('x = ' + '[' * 3000 + ']' * 3000 + '\n[source]\nseed = 1\n', "not valid TOML: arrays or tables nested too"),
    ('[source]\nw = "a\\u0000b.npy"\n', "source w must be a file path string \\(with no NUL"),
    ('bundle = "a\\u0000b"\n[source]\nseed = 1\n', "bundle holds a NUL character"),
])
def test_bad_presets_name_the_problem(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=words):
        load_preset(path)


def test_a_latent_preset_copied_from_a_seed_one_keeps_loading_with_its_truncation(tmp_path):
    # Refused for a while, presets copied from a shipped one with `seed` swapped for `w` stopped
    # loading (review 59): it is ignored, as the format says.
    np.save(tmp_path / "w.npy", np.zeros(8, np.float32))
    path = tmp_path / "saved.toml"
    path.write_text('[source]\nw = "w.npy"\ntruncation = 0.5\n')
    assert load_preset(path).source.w == tmp_path / "w.npy"


def test_preset_new_copies_settings_and_cc(tmp_path, capsys):
    d = tmp_path / "p"
    d.mkdir()
    (d / "default.toml").write_text((PresetLibrary().path("storm")).read_text())
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--seed", "99", "--like", "default"]) == 0
    mine = PresetLibrary(d).load("mine")
    storm = PresetLibrary().load("storm")
    assert mine.source.seed == 99 and mine.settings == storm.settings and len(mine.cc) == len(storm.cc)
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--seed", "1"]) == 2  # exists
    assert main(["preset", "--presets-dir", str(d), "show", "mine"]) == 0
    out = capsys.readouterr().out
    assert "seed 99" in out
    assert re.search(r"^  beat_sync +(true|false)$", out, re.M)  # as a preset spells it, not True (review 48)


def test_preset_new_copies_a_preset_whose_latent_moved_away(tmp_path, random_bundle_dir):
    # Only its settings and control map are copied; it was refused for its missing latent.
    (tmp_path / "old.toml").write_text(f'bundle = "{random_bundle_dir}"\n[source]\nw = "gone.npy"\n'
                                       '[settings]\nlambda = 0.07\n')
    assert main(["preset", "--presets-dir", str(tmp_path), "new", "fresh", "--seed", "4", "--like", "old"]) == 0
    fresh = PresetLibrary(tmp_path).load("fresh")
    assert fresh.source.seed == 4 and fresh.settings.lambda_ == 0.07
    with pytest.raises(UserError, match="source w file .*gone.npy does not exist"):
        PresetLibrary(tmp_path).load("old")  # as a show reads it: its source is looked for


def test_preset_new_escapes_its_strings_and_stays_in_its_folder(tmp_path, capsys):
    d = tmp_path / "p"
    d.mkdir()
    (d / "default.toml").write_text((PresetLibrary().path("storm")).read_text())
    text = 'say "hi" \\ back\nslash, ünïcode 🎛 \x7f'  # DEL: TOML wants it escaped, JSON leaves it raw
    assert main(["preset", "--presets-dir", str(d), "new", "quoted", "--seed", "1", "--description", text]) == 0
    assert PresetLibrary(d).load("quoted").description == text
    capsys.readouterr()
    assert main(["preset", "--presets-dir", str(d), "list"]) == 0  # one line a preset, the newline a space
    assert capsys.readouterr().out.splitlines()[1].endswith('say "hi" \\ back slash, ünïcode 🎛')
    with pytest.raises(SystemExit):
        main(["preset", "--presets-dir", str(d), "new", "../escape", "--seed", "1"])
    assert not (tmp_path / "escape.toml").exists()
    # A Latin-1 byte, as Python reads it from a command line or a file name: a traceback, after
    # the generator had loaded (or a projection's minutes).
    assert main(["preset", "--presets-dir", str(d), "new", "latin", "--seed", "1", "--description", "caf\udce9"]) == 2
    assert not (d / "latin.toml").exists()


def test_a_preset_saved_as_utf_8_with_a_byte_order_mark_reads_and_is_copied(tmp_path, capsys):
    # Windows editors' "UTF-8 with BOM": "Invalid statement (at line 1, column 1)".
    (tmp_path / "bom.toml").write_bytes('\ufeffdescription = "brûlé"\n[source]\nseed = 1\n'.encode())
    assert PresetLibrary(tmp_path).load("bom").description == "brûlé"
    assert main(["preset", "--presets-dir", str(tmp_path), "new", "copy", "--seed", "2", "--like", "bom"]) == 0
    assert PresetLibrary(tmp_path).load("copy").source.seed == 2


def test_hidden_files_beside_the_presets_take_no_hotkey(tmp_path):
    # macOS writes `._NAME.toml` beside each file copied to a stick; Emacs links `.#NAME.toml` while editing.
    (tmp_path / "a.toml").write_text("[source]\nseed = 1\n")
    (tmp_path / "._a.toml").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (tmp_path / ".#a.toml").symlink_to("root@host.12345:1700000000")
    assert PresetLibrary(tmp_path).names() == ["a"] and list(PresetLibrary(tmp_path).load_all()) == ["a"]


def test_a_preset_whose_picture_does_not_open_cannot_be_played(tmp_path, random_bundle_dir):
    # Listed as playable, and a switch to it answered ok; the failure came on telemetry after.
    from live.presets import check_playable

    import io

    from PIL import Image

    (tmp_path / "fake.jpg").write_text("hello world")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:400])  # its header whole, its pixels cut short
    for name in ("fake.jpg", "cut.png"):
        (tmp_path / "p.toml").write_text(f'bundle = "{random_bundle_dir}"\n[source]\nimage = "{name}"\n')
        with pytest.raises(UserError, match=f"cannot read image .*{name}"):
            check_playable(PresetLibrary(tmp_path).load("p"))
        assert isinstance(PresetLibrary(tmp_path).load_all()["p"], UserError)


def test_preset_list_shows_the_presets_beside_a_broken_one(tmp_path, capsys):
    (tmp_path / "a.toml").write_text("[source]\nseed = 1\n")
    (tmp_path / "b.toml").write_text("[source\n")
    (tmp_path / "c.toml").write_text("[source]\nseed = 3\n")
    assert main(["preset", "--presets-dir", str(tmp_path), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["1", "a"], ["2", "b"], ["3", "c"]]  # it stopped at b
    assert "cannot be played: preset" in lines[1] and "is not valid TOML" in lines[1]


def test_names_longer_than_the_file_system_takes_are_presets_and_bundles_that_do_not_exist(tmp_path, capsys):
    (tmp_path / "a.toml").write_text("[source]\nseed = 1\n")
    (tmp_path / "b.toml").write_text(f'bundle = "{"b" * 300}"\n[source]\nseed = 1\n')
    (tmp_path / "c.toml").write_text(f'[source]\nimage = "{"c" * 300}.png"\n')
    assert main(["preset", "--presets-dir", str(tmp_path), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["1", "a"], ["2", "b"], ["3", "c"]]
    assert "no bundle 'bbb" in lines[1] and "does not exist" in lines[2]
    with pytest.raises(UserError, match="no preset named 'xxx"):
        PresetLibrary(tmp_path).path("x" * 251)  # the control protocol takes names of 256 characters


def test_a_link_to_a_preset_that_moved_is_listed_with_why(tmp_path, capsys):
    (tmp_path / "a.toml").write_text("[source]\nseed = 1\n")
    (tmp_path / "b.toml").symlink_to(tmp_path / "moved" / "b.toml")
    (tmp_path / "c.toml").write_text("[source]\nseed = 3\n")
    assert main(["preset", "--presets-dir", str(tmp_path), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["1", "a"], ["2", "b"], ["3", "c"]]  # the hotkeys stay put
    assert "links to" in lines[1] and "which cannot be opened" in lines[1]


def test_a_copied_preset_goes_by_its_own_file_name(tmp_path, capsys):
    (tmp_path / "mine.toml").write_text(PresetLibrary().path("ember").read_text())
    (tmp_path / "older.toml").write_text('name = "storm"\n[source]\nseed = 1\n')  # earlier versions wrote one
    library = PresetLibrary(tmp_path)
    assert library.load("mine").name == "mine" and library.load("older").name == "older"
    assert main(["preset", "--presets-dir", str(tmp_path), "show", "mine"]) == 0
    assert capsys.readouterr().out.startswith("mine: ")


def test_preset_list_of_a_missing_folder_says_so(tmp_path, capsys):
    assert main(["preset", "--presets-dir", str(tmp_path / "nope"), "list"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("values, words", [(np.array(["a", "b"]), "<U1 values"),
                                           (np.array([0.0, np.nan]), "NaN or infinite"),
                                           (np.full(4, 1e39), "far outside a StyleGAN W"),  # inf in float32
                                           (np.full(4, 0.5 + 2j, np.complex64), "complex64 values")])
def test_a_latent_source_with_values_no_generator_takes_is_refused_when_the_preset_loads(tmp_path, values, words):
    np.save(tmp_path / "w.npy", values)
    path = tmp_path / "p.toml"
    path.write_text('[source]\nw = "w.npy"\n')
    with pytest.raises(UserError, match=words):
        load_preset(path)


def test_a_folder_named_like_a_preset_is_not_one(tmp_path):
    (tmp_path / "folder.toml").mkdir()
    assert PresetLibrary(tmp_path).names() == []


def test_a_latent_whose_header_claims_terabytes_is_refused_in_a_line(tmp_path):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10000000000000,), }"
    (tmp_path / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header + " " * 9 + "\n").to_bytes(2, "little")
                                        + (header + " " * 9 + "\n").encode())
    (tmp_path / "huge.toml").write_text('[source]\nw = "huge.npy"\n')
    with pytest.raises(UserError, match="cannot read latent"):
        load_preset(tmp_path / "huge.toml")


@pytest.mark.parametrize("write", [lambda path: np.savez(path.open("wb"), w=np.zeros(4)),  # an archive
                                   lambda path: path.write_text("0.1 0.2 0.3"),  # numbers as text
                                   lambda path: path.write_bytes(b"")])
def test_a_latent_that_is_not_one_npy_array_is_refused_when_the_preset_loads(tmp_path, write):
    # numpy's own message for these was advice to unpickle the file (allow_pickle=True).
    write(tmp_path / "w.dat")
    path = tmp_path / "p.toml"
    path.write_text('[source]\nw = "w.dat"\n')
    with pytest.raises(UserError, match=r"w.dat is not a .npy file; save one with numpy.save$"):
        load_preset(path)


def test_a_presets_folder_that_is_missing_is_named(tmp_path):
    with pytest.raises(UserError, match=r"presets folder .*nowhere does not exist; check --presets-dir"):
        PresetLibrary(tmp_path / "nowhere").path("default")  # it said: no preset named 'default'


def test_a_preset_file_that_is_missing_is_named_as_a_file(tmp_path):
    (tmp_path / "ember.toml").write_text("")
    with pytest.raises(UserError, match=r"preset file .*gone.toml does not exist; give a preset name \(ember\)"):
        PresetLibrary(tmp_path).path(str(tmp_path / "gone.toml"))


def test_a_reader_that_goes_away_ends_a_command_quietly(monkeypatch, capsys):
    import argparse

    import live.__main__ as entry

    def closed_pipe(args):
        raise BrokenPipeError(32, "Broken pipe")

    parser = argparse.ArgumentParser()
    parser.add_subparsers().add_parser("listen").set_defaults(func=closed_pipe)
    monkeypatch.setattr(entry, "build_parser", lambda: parser)
    assert entry.main(["listen"]) == 0
    assert capsys.readouterr().err == ""


def test_a_preset_path_that_is_a_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "ember.toml").mkdir()
    with pytest.raises(UserError, match="cannot read preset file .*ember.toml"):
        load_preset(tmp_path / "ember.toml")


def test_preset_new_force_that_fails_keeps_the_old_preset(tmp_path, capsys):
    d = tmp_path / "p"
    d.mkdir()
    (d / "default.toml").write_text((PresetLibrary().path("storm")).read_text())
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--seed", "99"]) == 0
    before = (d / "mine.toml").read_text()
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--force", "--w", str(tmp_path / "none.npy")]) == 2
    err = capsys.readouterr().err
    assert f"--w {tmp_path / 'none.npy'}: no such file" in err and "partial" not in err
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--force", "--image", str(tmp_path)]) == 2
    assert f"--image {tmp_path}: a folder; give a file in it" in capsys.readouterr().err  # not "no such file"
    assert (d / "mine.toml").read_text() == before
    assert sorted(p.name for p in d.iterdir()) == ["default.toml", "mine.toml"]
    with pytest.raises(SystemExit):
        main(["preset", "--presets-dir", str(d), "new", "mine", "--force", "--seed", "5", "--truncation", "3"])
    assert (d / "mine.toml").read_text() == before
    capsys.readouterr()
    # Written without it, the value went nowhere (review 54).
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--force", "--w", "w.npy", "--truncation",
                 "0.3"]) == 2
    assert "--truncation applies to a --seed source" in capsys.readouterr().err
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--force", "--seed", "5", "--threads", "1"]) == 2
    assert "--threads applies to projecting an --image" in capsys.readouterr().err
    assert (d / "mine.toml").read_text() == before


def test_preset_new_in_a_new_folder_copies_the_project_default_and_checks_a_latent_s_shape(tmp_path, capsys):
    d = tmp_path / "new"  # no default.toml to copy: it said "no preset named 'default'"
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--seed", "4"]) == 0
    assert PresetLibrary(d).load("mine").settings == PresetLibrary().load("default").settings
    capsys.readouterr()
    assert main(["preset", "--presets-dir", str(d), "new", "other", "--seed", "4", "--like", "nope"]) == 2
    # The folder's list alone ("presets: mine") hid the project's, which --like takes too (review 61).
    assert "--like nope: no preset of that name in" in capsys.readouterr().err
    np.save(tmp_path / "w.npy", np.zeros((3, 7), np.float32))
    assert main(["preset", "--presets-dir", str(d), "new", "odd", "--w", str(tmp_path / "w.npy")]) == 2
    assert "has shape (3, 7); the generator of bundle 'default' (choose the preset's with --bundle) needs" in \
        capsys.readouterr().err  # not first at a show's switch
    assert sorted(p.name for p in d.iterdir()) == ["mine.toml"]


def test_preset_new_plays_on_the_bundle_given_and_checks_a_latent_against_its_generator(
        tmp_path, random_bundle_dir, monkeypatch, capsys):
    from live.bundle import Bundle

    G = Bundle.load(random_bundle_dir).G
    np.save(tmp_path / "w.npy", np.zeros((G.num_ws, G.w_dim), np.float32))
    d = tmp_path / "p"
    assert main(["preset", "--presets-dir", str(d), "new", "odd", "--w", str(tmp_path / "w.npy")]) == 2
    assert "the generator of bundle 'default'" in capsys.readouterr().err  # the template's: not this latent's
    monkeypatch.chdir(random_bundle_dir.parent)  # a folder typed relative to here is stored whole
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--w", str(tmp_path / "w.npy"),
                 "--bundle", random_bundle_dir.name]) == 0
    mine = PresetLibrary(d).load("mine")
    assert mine.bundle == str(random_bundle_dir.resolve())
    assert main(["preset", "--presets-dir", str(d), "new", "named", "--seed", "1", "--bundle", "default"]) == 0
    assert PresetLibrary(d).load("named").bundle == "default"
    assert main(["preset", "--presets-dir", str(d), "new", "typo", "--seed", "1", "--bundle", "no-such"]) == 2
    assert "no bundle 'no-such'" in capsys.readouterr().err


def test_preset_new_names_what_its_folder_holds_relative_to_it_so_the_folder_travels(tmp_path, random_bundle_dir):
    import shutil

    from live.bundle import Bundle

    d = tmp_path / "set"
    shutil.copytree(random_bundle_dir, d / "bundles" / "mine")
    G = Bundle.load(d / "bundles" / "mine").G
    (d / "latents").mkdir()
    np.save(d / "latents" / "w.npy", np.zeros((G.num_ws, G.w_dim), np.float32))
    np.save(tmp_path / "outside.npy", np.zeros((G.num_ws, G.w_dim), np.float32))
    for name, w in (("inside", d / "latents" / "w.npy"), ("outside", tmp_path / "outside.npy")):
        assert main(["preset", "--presets-dir", str(d), "new", name, "--w", str(w), "--bundle",
                     str(d / "bundles" / "mine")]) == 0
    assert 'bundle = "bundles/mine"' in (d / "inside.toml").read_text()
    assert 'w = "latents/w.npy"' in (d / "inside.toml").read_text()
    shutil.move(d, tmp_path / "stick")  # the folder carried to another machine
    inside = PresetLibrary(tmp_path / "stick").load("inside")  # its latent found, where it was copied
    assert inside.bundle_folder() == tmp_path / "stick" / "bundles" / "mine"
    assert PresetLibrary(tmp_path / "stick").load("outside").source.w == tmp_path / "outside.npy"


def test_preset_new_keeps_a_cc_map_written_before_the_settings(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "default.toml").write_text('name = "default"\n[source]\nseed = 1\n'
                                    '[[cc]]\nchannel = 1\ncontroller = 7\nparam = "lambda"\nmin = 0.0\nmax = 0.3\n'
                                    '[settings]\nkeyframe_rate = 12.0\n')
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--seed", "3"]) == 0
    mine = PresetLibrary(d).load("mine")
    assert [b.controller for b in mine.cc] == [7] and mine.settings.keyframe_rate == 12.0


@pytest.mark.parametrize("template", [
    # tables in any order around [source]: each copied once, with its comments
    '# knobs\n[[cc]]\nchannel = 1\ncontroller = 7\nparam = "lambda"\n[source]\nseed = 1\n'
    '[settings]  # start\nkeyframe_rate = 12.0\n',
    # dotted keys outside the tables, and a header-like line inside a string: rewritten from the values
    'settings.keyframe_rate = 12.0\ndescription = """\n[settings]\n"""\n[source]\nseed = 1\n'
    '[[cc]]\nchannel = 1\ncontroller = 7\nparam = "lambda"\n',
])
def test_preset_new_copies_the_templates_tables_whatever_their_layout(tmp_path, template):
    d = tmp_path / "p"
    d.mkdir()
    (d / "default.toml").write_text(template)
    assert main(["preset", "--presets-dir", str(d), "new", "mine", "--seed", "3"]) == 0
    mine = PresetLibrary(d).load("mine")
    assert [b.controller for b in mine.cc] == [7] and mine.settings.keyframe_rate == 12.0
    assert mine.source.seed == 3 and mine.description == ""
    text = (d / "mine.toml").read_text()
    assert text.count("[source]") == 1 and ("# knobs" in text) == ("# knobs" in template)


def test_preset_new_from_an_image_projects_it_ahead_of_the_show(tmp_path, random_bundle_dir, monkeypatch, capsys):
    from PIL import Image

    from live.bundle import Bundle
    from live.engine.show import source_latent

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    d = tmp_path / "p"
    d.mkdir()
    (d / "default.toml").write_text(f'name = "default"\nbundle = "{random_bundle_dir}"\n[source]\nseed = 1\n')
    picture = tmp_path / "sunset.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(picture)
    assert main(["preset", "--presets-dir", str(d), "new", "sunset", "--image", str(picture)]) == 0
    cached = list((tmp_path / "cache").rglob("*.npy"))
    assert len(cached) == 1
    # The show finds it there: no second projection.
    monkeypatch.setattr("live.transfer.project.project_image", lambda *a, **k: pytest.fail("projected again"))
    w = source_latent(PresetLibrary(d).load("sunset"), Bundle.load(random_bundle_dir))
    assert w.shape[0] > 0
    assert "projecting" in capsys.readouterr().out
    assert main(["preset", "--presets-dir", str(d), "new", "again", "--image", str(picture)]) == 0
    assert "projecting" not in capsys.readouterr().out  # it announced a minute's wait for a cached picture


def test_preset_new_keeps_a_preset_of_its_name_saved_while_it_projected(tmp_path, random_bundle_dir, monkeypatch,
                                                                        capsys):
    """The 'exists; pass --force' check ran only before the projection's minutes (review 66)."""
    from PIL import Image

    d = tmp_path / "p"
    d.mkdir()
    (d / "default.toml").write_text(f'bundle = "{random_bundle_dir}"\n[source]\nseed = 1\n')
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "face.png")
    mine = 'description = "saved meanwhile"\n[source]\nseed = 5\n'
    monkeypatch.setattr("live.cli.preset._project_ahead", lambda *a: (d / "face.toml").write_text(mine))
    assert main(["preset", "--presets-dir", str(d), "new", "face", "--image", str(tmp_path / "face.png")]) == 2
    assert "was saved by another command while the picture was projected" in capsys.readouterr().err
    assert (d / "face.toml").read_text() == mine
    assert main(["preset", "--presets-dir", str(d), "new", "face", "--image", str(tmp_path / "face.png"),
                 "--force"]) == 0
    assert "image = " in (d / "face.toml").read_text()


def test_a_preset_on_a_missing_bundle_is_shown_with_why_and_not_copied(tmp_path, capsys):
    (tmp_path / "x.toml").write_text('bundle = "no-such-bundle"\n[source]\nseed = 1\n')
    assert main(["preset", "--presets-dir", str(tmp_path), "show", "x"]) == 0
    assert "bundle   no-such-bundle: cannot be played: no bundle 'no-such-bundle'" in capsys.readouterr().out
    assert main(["preset", "--presets-dir", str(tmp_path), "new", "y", "--seed", "2", "--like", "x"]) == 2
    assert "no bundle 'no-such-bundle'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.toml"]  # it wrote y.toml, which could not play
    assert main(["preset", "--presets-dir", str(tmp_path), "list"]) == 0
    assert "x            cannot be played: no bundle 'no-such-bundle'" in capsys.readouterr().out


def test_a_missing_source_file_is_named_as_the_flag_s_and_a_bare_preset_shows_its_name(tmp_path, capsys):
    # It named "preset .../x3.toml", a file never written; and `show` printed "face: " (review 70).
    for flag in ("--image", "--w"):
        assert main(["preset", "--presets-dir", str(tmp_path), "new", "x3", flag, "missing.jpg"]) == 2
        assert capsys.readouterr().err == f"live: error: {flag} missing.jpg: no such file\n"
    (tmp_path / "face.toml").write_text("[source]\nseed = 3\n")
    assert main(["preset", "--presets-dir", str(tmp_path), "show", "face"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "face"


def test_preset_new_with_an_unreadable_picture_says_so_before_announcing_a_projection(tmp_path, capsys):
    (tmp_path / "face.jpg").write_text("not a picture")
    d = tmp_path / "p"
    assert main(["preset", "--presets-dir", str(d), "new", "face", "--image", str(tmp_path / "face.jpg")]) == 2
    out, err = capsys.readouterr()
    assert "projecting" not in out and "cannot read image" in err and not d.exists()


def test_preset_new_into_a_folder_it_cannot_write_says_so_before_projecting(tmp_path, capsys, monkeypatch):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "face.png")
    (tmp_path / "blocker").write_text("a file")
    monkeypatch.setattr("live.transfer.project.project_image", lambda *a, **k: pytest.fail("projected first"))
    assert main(["preset", "--presets-dir", str(tmp_path / "blocker" / "p"), "new", "face",
                 "--image", str(tmp_path / "face.png"), "--like", "ember"]) == 2
    assert "blocker is a file, not a folder" in capsys.readouterr().err


def test_preset_new_into_the_shipped_folder_it_cannot_write_names_the_flag(tmp_path, capsys, monkeypatch):
    """An installed live's presets folder is its package's, often read-only (review 63)."""
    (tmp_path / "blocker").write_text("a file")
    project = default_presets_dir()
    monkeypatch.setattr("live.presets.default_presets_dir", lambda: tmp_path / "blocker" / "presets")
    assert main(["preset", "new", "mine", "--seed", "3", "--like", str(project / "ember.toml")]) == 2
    err = capsys.readouterr().err
    assert "blocker is a file, not a folder" in err and "(--presets-dir DIR keeps presets" in err


def test_preset_new_refuses_a_name_with_the_file_s_suffix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["preset", "--presets-dir", str(tmp_path), "new", "y.toml", "--seed", "1"])
    assert "give the preset's name without .toml" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # it wrote y.toml.toml, which no command could select


def test_preset_new_in_a_new_folder_copies_any_of_the_project_s_presets(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    assert main(["preset", "--presets-dir", str(d), "new", "calm", "--seed", "5", "--like", "tide"]) == 0
    assert PresetLibrary(d).load("calm").settings == PresetLibrary().load("tide").settings


def test_preset_list_of_an_empty_folder_or_a_file_says_so(tmp_path, capsys):
    assert main(["preset", "--presets-dir", str(tmp_path), "list"]) == 0
    assert "no presets in" in capsys.readouterr().out
    (tmp_path / "x.wav").write_bytes(b"")
    assert main(["preset", "--presets-dir", str(tmp_path / "x.wav"), "list"]) == 2
    assert "x.wav is a file, not a folder" in capsys.readouterr().err


def test_a_bundle_beside_the_preset_is_found_from_any_working_folder(tmp_path, random_bundle_dir, monkeypatch):
    import shutil

    shutil.copytree(random_bundle_dir, tmp_path / "set" / "models" / "mine")
    (tmp_path / "set" / "presets").mkdir()
    (tmp_path / "set" / "presets" / "p.toml").write_text('bundle = "../models/mine"\n[source]\nseed = 1\n')
    monkeypatch.chdir(tmp_path)  # not the preset's folder: the path named another place from here
    assert not isinstance(PresetLibrary(tmp_path / "set" / "presets").load_all()["p"], UserError)


def test_the_presets_folder_may_follow_the_verb(tmp_path, capsys):
    (tmp_path / "only.toml").write_text("[source]\nseed = 1\n")
    for argv in (["preset", "--presets-dir", str(tmp_path), "list"], ["preset", "list", "--presets-dir", str(tmp_path)]):
        assert main(argv) == 0
        assert capsys.readouterr().out.split()[:2] == ["1", "only"]


def test_a_missing_bundle_names_the_folders_looked_in(tmp_path, monkeypatch):
    from live.models import bundle_dir, models_dir

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as relative:
        bundle_dir("mine")
    assert f"no bundle.toml in {models_dir() / 'mine'} or {tmp_path.resolve() / 'mine'})" in str(relative.value)
    with pytest.raises(UserError) as absolute:
        bundle_dir(tmp_path / "mine")
    assert f"no bundle.toml in {tmp_path.resolve() / 'mine'});" in str(absolute.value)


def test_a_preset_s_bundle_path_is_relative_to_the_preset_alone(tmp_path, monkeypatch, capsys, random_bundle_dir):
    """Also found from the working folder, a preset played when started from one folder and could not be from
    another (review 63)."""
    import shutil

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "x.toml").write_text('bundle = "../models/mine"\n[source]\nseed = 1\n')
    monkeypatch.chdir(tmp_path / "p")
    assert main(["preset", "--presets-dir", str(tmp_path / "p"), "show", "x"]) == 0
    # A path is not looked for under models/.
    assert f"no bundle.toml in {tmp_path / 'models' / 'mine'});" in capsys.readouterr().out
    (tmp_path / "elsewhere" / "p").mkdir(parents=True)
    shutil.copytree(random_bundle_dir, tmp_path / "elsewhere" / "models" / "mine", copy_function=os.link)
    monkeypatch.chdir(tmp_path / "elsewhere" / "p")  # ../models/mine from here is a bundle, not the preset's
    assert main(["preset", "--presets-dir", str(tmp_path / "p"), "list"]) == 0
    assert f"no bundle.toml in {tmp_path / 'models' / 'mine'});" in capsys.readouterr().out


def test_a_preset_beside_its_bundle_plays_from_anywhere_and_a_copy_of_it_too(tmp_path, random_bundle_dir,
                                                                             monkeypatch):
    import shutil

    p = tmp_path / "p"
    p.mkdir()
    shutil.copytree(random_bundle_dir, p / "mybundle")
    (p / "base.toml").write_text('bundle = "mybundle"\n[source]\nseed = 1\n')
    monkeypatch.chdir(tmp_path)  # the folder given relative to here, as a user types it
    assert main(["preset", "--presets-dir", "p", "new", "copy", "--seed", "2", "--like", "base"]) == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    for name in ("base", "copy"):  # the copy held "p/mybundle", read from p/ as p/p/mybundle
        assert PresetLibrary(p).load(name).bundle_folder().resolve() == (p / "mybundle").resolve()


def test_a_latent_of_another_generator_s_shape_is_listed_with_why(tmp_path, random_bundle_dir, capsys):
    """`preset list` and a show's start named what cannot be played but for a latent's shape,
    found first when the preset was switched to."""
    import json

    import torch

    from live.bundle import Bundle
    from live.models import latent_shape
    from live.nets.stylegan2 import Generator

    G = Bundle.load(random_bundle_dir).G
    assert latent_shape(random_bundle_dir) == (G.num_ws, G.w_dim)
    for resolution in (4, 8, 64, 1024):  # the count from the config alone, as the generator makes it
        folder = tmp_path / f"b{resolution}"
        folder.mkdir()
        (folder / "bundle.toml").write_text('[generator]\nweights = "g.safetensors"\n')
        kwargs = {**G.init_kwargs, "img_resolution": resolution}
        (folder / "g.json").write_text(json.dumps({"init_kwargs": kwargs}))
        with torch.device("meta"):
            assert latent_shape(folder) == (Generator(**kwargs).num_ws, G.w_dim)
    presets = tmp_path / "presets"
    presets.mkdir()
    np.save(presets / "good.npy", np.zeros((G.num_ws, G.w_dim), np.float32))
    np.save(presets / "bad.npy", np.zeros((3, 7), np.float32))
    for name in ("good", "bad"):
        (presets / f"{name}.toml").write_text(f'bundle = "{random_bundle_dir}"\n[source]\nw = "{name}.npy"\n')
    found = PresetLibrary(presets).load_all()
    assert not isinstance(found["good"], UserError)
    assert isinstance(found["bad"], UserError) and "has shape (3, 7)" in str(found["bad"])
    capsys.readouterr()
    assert main(["preset", "--presets-dir", str(presets), "show", "bad"]) == 0  # shown, to mend it
    assert "cannot be played" in capsys.readouterr().out  # as `preset list` says (found by review)


def test_a_seed_preset_s_truncation_sets_its_source(tmp_path):
    # Ignored, the source was the default truncation's: another picture than the preset asks for.
    import torch

    from live.bundle import random_bundle
    from live.engine.show import source_latent
    from live.presets import load_preset
    from live.transfer.source import seed_latent

    bundle = random_bundle()
    path = tmp_path / "t.toml"
    path.write_text('name = "t"\n[source]\nseed = 7\ntruncation = 0.2\n')
    w = source_latent(load_preset(path), bundle)
    assert torch.equal(w, seed_latent(bundle.G, 7, 0.2)) and not torch.equal(w, seed_latent(bundle.G, 7))


def test_a_preset_on_a_bundle_whose_bundle_toml_is_broken_cannot_be_played(tmp_path, random_bundle_dir, capsys):
    # Listed as playable and a switch to it answered ok; the bundle failed to load after (review 44).
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(random_bundle_dir, broken)
    config = broken / "bundle.toml"
    text = config.read_text()
    assert "\nimage_size = " in text
    config.write_text(re.sub(r"\nimage_size = \d+", '\nimage_size = "96"', text))
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "p.toml").write_text(f'bundle = "{broken}"\n[source]\nseed = 1\n')
    found = PresetLibrary(presets).load_all(bundle_config=True)["p"]   # as a show's start reads them
    assert isinstance(found, UserError) and "image_size must be a whole number" in str(found)
    assert main(["preset", "--presets-dir", str(presets), "show", "p"]) == 0
    assert "cannot be played:" in capsys.readouterr().out and "image_size" in str(found)


def test_a_newline_in_a_preset_s_file_name_stays_inside_its_line(tmp_path, capsys):
    # Names come from the folder: "a\nb.toml" split `preset list`'s line and an error's (review 44).
    (tmp_path / "a\nb.toml").write_text("[settings]\nlambda = nan\n")
    (tmp_path / "c.toml").write_text("[source]\nseed = 1\n")
    assert main(["preset", "--presets-dir", str(tmp_path), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("1  a\\nb ") and "cannot be played" in lines[0], lines
    assert main(["render", str(tmp_path / "no\nsuch.wav"), "-o", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no\\nsuch.wav" in err, err
    # Other characters stay as typed: escaped, a Japanese space or an emoji's joiner misquoted the file (review 46).
    assert main(["render", str(tmp_path / "夜の\u3000曲 👨\u200d👩.wav"), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "夜の\u3000曲 👨\u200d👩.wav" in capsys.readouterr().err


def test_a_preset_whose_file_or_bundle_is_a_symlink_loop_cannot_be_played_and_hides_no_other(tmp_path, capsys):
    # pathlib raised RuntimeError on the loop: a traceback, and the show would not start (review 43).
    (tmp_path / "loop.npy").symlink_to("loop.npy")
    (tmp_path / "bl").symlink_to("bl")
    (tmp_path / "w.toml").write_text(f'[source]\nw = "{tmp_path / "loop.npy"}"\n')
    (tmp_path / "b.toml").write_text('bundle = "bl"\n[source]\nseed = 1\n')
    (tmp_path / "ok.toml").write_text("[source]\nseed = 2\n")
    found = PresetLibrary(tmp_path).load_all()
    assert isinstance(found["w"], UserError) and "loop.npy does not exist" in str(found["w"])
    assert isinstance(found["b"], UserError) and "no bundle 'bl'" in str(found["b"])
    assert not isinstance(found["ok"], UserError)
    assert main(["preset", "--presets-dir", str(tmp_path), "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_a_preset_is_found_by_its_name_in_either_unicode_form(tmp_path):
    # A file copied from macOS is named decomposed (e + U+0301); a keyboard types it composed (review 43).
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "été")
    (tmp_path / f"{decomposed}.toml").write_text("[source]\nseed = 1\n")
    library = PresetLibrary(tmp_path)
    assert library.path("été") == library.path(decomposed) == tmp_path / f"{decomposed}.toml"
    with pytest.raises(UserError, match="no preset named 'ete'"):
        library.path("ete")


def test_a_bundle_s_plain_name_means_the_one_under_models_before_a_folder_of_that_name_here(tmp_path, monkeypatch,
                                                                                           random_bundle_dir):
    """A copy of a bundle named "default" in the working folder took the shipped presets' bundle
    without a word (review 48). A name found only here is still found, and a path is a path."""
    import shutil

    from live.models import bundle_dir, models_dir

    monkeypatch.chdir(tmp_path)
    shutil.copytree(random_bundle_dir, tmp_path / "default")
    shutil.copytree(random_bundle_dir, tmp_path / "mine")
    assert bundle_dir("default") == models_dir() / "default"
    assert bundle_dir("./default") == tmp_path / "default" and bundle_dir("mine") == tmp_path / "mine"
    # What it found is found again as itself: a Path("./default") read back as the plain name (review 51).
    assert bundle_dir(bundle_dir("./default")) == tmp_path / "default"
    preset = tmp_path / "mine.toml"
    preset.write_text('bundle = "./default"\n[source]\nseed = 1\n')
    from live.bundle import Bundle
    from live.presets import load_preset

    assert Bundle.load(load_preset(preset).bundle_folder()).root == tmp_path / "default"
    # The same in a preset's folder (review 54): its "default" beside it is ./default, its "mine" is found.
    elsewhere = tmp_path / "presets"
    shutil.copytree(random_bundle_dir, elsewhere / "default")
    shutil.copytree(random_bundle_dir, elsewhere / "mine")
    assert bundle_dir("default", relative_to=elsewhere) == models_dir() / "default"
    assert bundle_dir("mine", relative_to=elsewhere) == elsewhere / "mine"
    assert bundle_dir("./default", relative_to=elsewhere) == elsewhere / "default"


def test_a_cue_sheet_given_as_a_preset_says_which_option_takes_it(tmp_path):
    sheet = tmp_path / "set.toml"
    sheet.write_text("[[cue]]\nat = 1\ncut = true\n")
    with pytest.raises(UserError, match="is a cue sheet, not a preset; give it with --cues"):
        load_preset(sheet)
