"""`python -m live preset list|show|new`: the looks a performer switches between."""
from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

from live.cli.types import add_device, given, number, plain_name, seed, threads
from live.errors import UserError, one_line
from live.files import real_path
from live.settings import as_typed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preset", help="list, show or create presets")
    p.add_argument("--presets-dir", type=given, help="folder of presets (default: the project's presets/)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="the presets, with their hotkeys and descriptions")
    listing.set_defaults(func=_list)
    show = verbs.add_parser("show", help="one preset, resolved and validated")
    show.add_argument("name")
    show.set_defaults(func=_show)
    new = verbs.add_parser("new", help="write a new preset (from another one's settings and CC map)")
    new.add_argument("name", type=_new_name)
    source = new.add_mutually_exclusive_group(required=True)
    source.add_argument("--seed", type=seed, help="source picture from this seed")
    source.add_argument("--w", type=given, metavar="FILE.npy", help="source picture from a saved latent")
    source.add_argument("--image", type=given, metavar="FILE", help="source picture projected from an image")
    new.add_argument("--truncation", type=number(0, 2),
                     help="truncation psi of a --seed source, 0..2 (default 0.7)")
    new.add_argument("--like", type=given, help="copy settings and CC map from this preset (default: the folder's "
                                    "'default', else the project's)")
    new.add_argument("--bundle", type=given, help="the bundle it plays on, a name under models/ or a folder (default: "
                                      "--like's); a --w latent is for its generator, an --image is projected into it")
    new.add_argument("--description", default="", help="one line that preset list shows beside its name")
    new.add_argument("--force", action="store_true", help="overwrite an existing preset")
    new.add_argument("--threads", type=threads(), help="torch CPU threads projecting an --image (default: every "
                                                       "core; other threads give another projection)")
    add_device(new, what="projecting an --image")
    new.set_defaults(func=_new)
    for verb in (listing, show, new):  # after the verb too (`preset list --presets-dir DIR`)
        verb.add_argument("--presets-dir", type=given, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _new_name(text: str) -> str:
    name = plain_name(text)
    if name.lower().endswith(".toml"):  # it wrote NAME.toml.toml, which no command could select
        raise argparse.ArgumentTypeError(f"{text!r}: give the preset's name without .toml (the file is NAME.toml)")
    return name


def _list(args: argparse.Namespace) -> int:
    from live.presets import PresetLibrary

    library = PresetLibrary(args.presets_dir)
    library.check_folder()
    presets = library.load_all()
    if not presets:
        print(f"no presets in {library.directory}; make one with: {library.new_preset_command()}")
    for i, (name, preset) in enumerate(presets.items()):
        key = str(i + 1) if i < 9 else " "
        name = one_line(name)  # a file's name: a newline in it split the listing's line
        if isinstance(preset, UserError):
            print(f"{key}  {name:12s} cannot be played: {one_line(str(preset))}")
        else:
            print(f"{key}  {name:12s} {preset.source.describe():28s} {_one_line(preset.description)}")
    return 0


def _one_line(text: str) -> str:
    """A description as one line of the listing: a newline (or an escape code) in it broke
    the listing's lines."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _show(args: argparse.Namespace) -> int:
    from live.presets import PresetLibrary, check_playable

    preset = PresetLibrary(args.presets_dir).load(args.name)
    try:
        check_playable(preset, bundle_config=True)  # as `preset list` checks it, and its bundle.toml
        bundle = f"{preset.bundle} ({preset.bundle_folder()})"
    except UserError as e:  # the rest is still worth seeing, to mend the file
        bundle = f"{preset.bundle}: cannot be played: {e}"
    print(f"{preset.name}: {_one_line(preset.description)}" if preset.description else preset.name)
    print(f"  file     {preset.path}")
    print(f"  bundle   {bundle}")
    print(f"  source   {preset.source.describe()}")
    for name, value in preset.settings.as_dict().items():
        print(f"  {name:16s} {as_typed(value)}")  # as a preset spells it: true, not True
    for b in preset.cc:
        print(f"  {b.describe()}")
    return 0


def _new(args: argparse.Namespace) -> int:
    from live.models import bundle_dir
    from live.files import check_writable, write_whole
    from live.presets import PresetLibrary, PresetSource, parse_preset
    from live.tables import to_toml

    library = PresetLibrary(args.presets_dir)
    path = library.directory / f"{args.name}.toml"
    if path.exists() and not args.force:
        raise UserError(f"preset {path} exists; pick another name or pass --force")
    try:
        check_writable(path)  # before a projection's minutes
    except UserError as e:
        if args.presets_dir is not None:
            raise
        # An installed live's presets folder is its package's, often read-only.
        raise UserError(f"{e} (--presets-dir DIR keeps presets in a folder of yours; shows take it too)") from None
    template = _template(library, args.like)
    # Found now: a copy of a preset on a missing bundle could not be played either.
    if args.bundle:
        bundle = _bundle_reference(args.bundle, bundle_dir(args.bundle), library.directory)
    else:
        bundle = _bundle_reference(template.bundle, template.bundle_folder(), library.directory)
    body = copied_tables(template.path.read_text(encoding="utf-8-sig"))
    if args.truncation is not None and args.seed is None:
        raise UserError("--truncation applies to a --seed source; a --w or --image source is used as it is")
    if args.threads is not None and args.image is None:
        raise UserError("--threads applies to projecting an --image; a --seed or --w source needs no computing")
    if args.seed is not None:
        truncation = PresetSource.truncation if args.truncation is None else args.truncation
        source: dict[str, object] = {"seed": args.seed, "truncation": truncation}
    else:
        kind, file = ("w", args.w) if args.w else ("image", args.image)
        if not Path(file).is_file():  # else named as a fault of the preset file, never written
            raise UserError(f"--{kind} {file}: " + ("a folder; give a file in it" if Path(file).is_dir() else
                                                   "no such file"))
        source = {kind: _file_reference(Path(file), library.directory)}
    header = to_toml({"description": args.description, "bundle": bundle, "source": source})
    # Checked before it replaces anything: a --force that fails must leave the old preset.
    text = header + "\n" + body
    try:  # and before a projection's minutes: a preset is UTF-8 text
        text.encode()
    except UnicodeEncodeError:
        raise UserError("a preset is UTF-8 text, and a path or the description given holds a byte that is not "
                        "(a file name from another encoding?); rename the file or retype the description") from None
    preset = parse_preset(text, path)
    if preset.source.image is not None:
        _project_ahead(preset, args.device, args.threads)
        if path.exists() and not args.force:  # saved meanwhile, by another command or by hand (review 66)
            raise UserError(f"preset {path} was saved by another command while the picture was projected; the "
                            "projection is kept: run this command again with another name (at once), or --force")
    if preset.source.w is not None:
        _check_latent_shape(preset)
    write_whole(path, text.encode())
    print(f"wrote {path}")
    return 0


def _bundle_reference(name: str, found: Path, presets: Path) -> str:
    """How a new preset in folder `presets` names the bundle `name`, found at `found`: by its
    name if it is under models/, else as _file_reference does."""
    from live.models import models_dir

    named = Path(name).name == name  # not a path, which models_dir() / PATH would be too
    return name if named and found == models_dir() / name else _file_reference(found, presets)


def _file_reference(found: Path, presets: Path) -> str:
    """How a new preset in folder `presets` names a file or folder: relative to that folder
    when inside it, so the folder plays wherever it is copied with what it holds (a stick, the
    venue's machine); else absolute (a path relative to here, or to the template's folder,
    would be read from the new preset's folder)."""
    real = real_path(found)
    try:
        return real.relative_to(real_path(presets)).as_posix()
    except ValueError:
        return str(real)


def _template(library, like: str | None):
    """The preset a new one copies: --like (default: 'default') from the folder, else from
    the project's presets (a new presets folder holds none)."""
    from live.presets import DEFAULT_PRESET, PresetLibrary

    name = like or DEFAULT_PRESET
    project = PresetLibrary()
    # Its settings and control map are copied, not its source: a latent or picture moved away is no matter.
    if name not in library.names() and name in project.names():
        return project.load(name, source_files=False)
    try:
        return library.load(name, source_files=False)
    except UserError:
        if name in library.names():  # its file is wrong: that is the error
            raise
        known = sorted(set(library.names()) | set(project.names()))  # the folder's said "presets: none"
        raise UserError(f"--like {name}: no preset of that name in {library.directory} or the project's presets "
                        f"({', '.join(known)})") from None


COPIED_TABLES = ("settings", "cc")
_HEADER = re.compile(r"\[\[?\s*([A-Za-z0-9_-]+)[^\]]*\]\]?\s*(#.*)?")


def copied_tables(text: str) -> str:
    """A preset's [settings] and [[cc]] tables as TOML: verbatim with their comments where
    the template's own lines say exactly that, else rewritten from the parsed values."""
    from live.tables import to_toml

    kept, loose, keep = [], [], False  # loose: comments and blank lines, which go with the next table
    for line in text.splitlines(keepends=True):
        header = _HEADER.fullmatch(line.strip())
        if header:
            keep = header.group(1) in COPIED_TABLES
        if not header and (not line.strip() or line.lstrip().startswith("#")):
            loose.append(line)
            continue
        if keep:
            kept += loose + [line]
        loose = []
    verbatim = "".join(kept + (loose if keep else [])).lstrip("\n")
    wanted = {key: value for key, value in tomllib.loads(text).items() if key in COPIED_TABLES}
    try:
        if tomllib.loads(verbatim) == wanted:
            return verbatim
    except tomllib.TOMLDecodeError:
        pass  # a header-like line inside a multi-line string, or dotted keys outside the tables
    return to_toml(wanted)


def _check_latent_shape(preset) -> None:
    """A saved latent fits the generator it is for: now, not when a show switches to it."""
    from live.bundle import BundleConfig
    from live.models import BUNDLE_FILE
    from live.nets.checkpoints import load_generator
    from live.transfer.source import file_latent

    root = preset.bundle_folder()
    G, _ = load_generator(root / BundleConfig.read(root / BUNDLE_FILE).generator_weights)
    file_latent(G, preset.source.w, f"the generator of bundle {preset.bundle!r} (choose the preset's with --bundle)")


def _project_ahead(preset, device: str, threads: int | None) -> None:
    """Project the picture now, into the cache the show reads, so that a switch to the preset
    during a show is instant."""
    import torch

    from live.bundle import Bundle
    from live.engine.show import source_latent
    from live.nets.device import checked_device
    from live.space.data.images import ImageFile

    # What can fail is said before the wait is announced, and the cheap checks before the
    # bundle's seconds of loading: the device and the picture.
    device = checked_device(device)
    if threads:
        torch.set_num_threads(threads)
    ImageFile(preset.source.image).load(min_side=1)  # whether it reads, shrunk as it is
    source_latent(preset, Bundle.load(preset.bundle_folder(), device=device))
