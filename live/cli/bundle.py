"""`python -m live bundle new`: a bundle around your own StyleGAN2 checkpoint.

The new bundle takes the generator from --network (an NVlabs .pkl, a rosinality .pt or
our .safetensors) and the shared VA space (E_I, E_M and their heads) from another bundle;
its predictor starts as the identity (w_m = w_o) until `train predictor` fits it to the
new generator.
"""
from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path

from live.cli.types import input_path, output_path, plain_name
from live.errors import UserError, note, one_line
from live.files import check_folder, real_path

CARD_FILE = "MODEL_CARD.md"
SAMPLES_FILE = "samples.png"  # the default bundle's sample grid of its generator
CARD_STUB = """# Bundle `{name}`

Made by `python -m live bundle new`: {made}.

To fill in, as the default bundle's card does: the generator's training data and
command, the predictor's `train predictor` command, its wall time, seeds and held-out
L_transfer (the run folder's log.jsonl), and what the pictures do for music of each
valence-arousal quadrant.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bundle", help="make bundles (models/NAME)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("new", help="a bundle from a StyleGAN2 checkpoint and another bundle's space",
                           description=__doc__.splitlines()[0])
    p.add_argument("--network", required=True, type=input_path, metavar="CKPT",
                   help="generator checkpoint: NVlabs .pkl, rosinality .pt or our .safetensors")
    p.add_argument("--space", required=True, metavar="BUNDLE", help="bundle whose space to use (name or folder), or a `train space` run folder")
    p.add_argument("--name", required=True, type=plain_name, help="the new bundle's name (its folder under --models-dir)")
    p.add_argument("--models-dir", type=output_path,
                   help="where bundles live, the new one and a --space named (default: the project's models/)")
    p.add_argument("--force", action="store_true", help="replace an existing bundle of that name")
    p.set_defaults(func=run_new)


def run_new(args: argparse.Namespace) -> int:
    import torch

    from live.bundle import Bundle, BundleConfig, predictor_config
    from live.models import BUNDLE_FILE, SHIPPED_BUNDLE, bundle_names, models_dir
    from live.nets.checkpoints import keeping_w_avg, load_generator
    from live.nets.predictor import LatentPredictor
    from live.space.load import load_space

    target = (args.models_dir or models_dir()) / args.name
    # Replaced, a link's target lost its files to the new bundle, and a file was moved aside.
    if target.is_symlink():
        raise UserError(f"{target} is a link to {real_path(target)}; give that bundle's own name, or remove the link")
    if target.exists() and not target.is_dir():
        raise UserError(f"{target} is a file, not a bundle's folder; choose another --name or --models-dir")
    if (target / BUNDLE_FILE).exists() and real_path(target) == real_path(models_dir() / SHIPPED_BUNDLE):
        # --force or not: its untrained replacement left every shipped preset's picture still (review 98).
        raise UserError(f"{target} is the bundle live ships, which its presets and `make run` play; give yours "
                        "another --name (or --models-dir)")
    if (target / BUNDLE_FILE).exists() and not args.force:
        raise UserError(f"{target} already holds a bundle; choose another --name or pass --force")
    if not (target / BUNDLE_FILE).exists() and target.is_dir() and any(target.iterdir()):
        # e.g. a training run's folder: its weights would be overwritten, --force or not
        raise UserError(f"{target} holds files and no bundle; choose another --name or --models-dir")
    try:
        check_folder(target.parent)
    except UserError as e:
        if args.models_dir is not None:
            raise
        # An installed live's models folder is its package's, often read-only.
        raise UserError(f"{e} (--models-dir DIR keeps bundles in a folder of yours; --bundle DIR/NAME plays one)") \
            from None
    space_from = args.space
    if args.models_dir and (args.models_dir / args.space / BUNDLE_FILE).is_file():  # a name there, as --name is
        space_from = args.models_dir / args.space
    elif args.models_dir and Path(args.space).name == args.space and not Path(args.space).exists() \
            and not (models_dir() / args.space / BUNDLE_FILE).is_file():
        # Said by bundle_dir, the models folder given went unnamed and its bundles unlisted (review 98).
        raise UserError(f"--space {args.space}: no bundle of that name in {args.models_dir} (bundles there: "
                        f"{', '.join(bundle_names(args.models_dir)) or 'none'}) or the project's models/ "
                        f"({', '.join(bundle_names(models_dir())) or 'none'}), and no folder {args.space} here")
    G, info = load_generator(args.network)
    if G.c_dim:
        raise UserError(f"{args.network} is a conditional generator (c_dim {G.c_dim}); "
                        "transfers need an unconditional one")
    if G.img_channels != 3:
        raise UserError(f"{args.network} draws {G.img_channels}-channel pictures; a bundle's image encoder reads "
                        "RGB: give a generator with img_channels 3")
    for said in info.notes:
        note(str(args.network), said)
    G, estimated = keeping_w_avg(G, str(args.network))
    space, spec = load_space(space_from)  # a bundle, or a space training run's folder
    config = BundleConfig(name=args.name, description=as_text(f"{args.network.name} with the space of {args.space}"),
                          generator_weights="generator.safetensors", space=spec.config,
                          space_weights="space.safetensors", image_size=spec.image_size,
                          predictor={}, predictor_weights="predictor.safetensors")
    with torch.random.fork_rng(devices=[]):  # the same command writes the same bundle
        torch.manual_seed(0)
        predictor = LatentPredictor(predictor_config(config, G))
    predictor.reset_to_identity()
    made = as_text(f"{info.format} generator {real_path(args.network)}, {G.img_resolution} px, W+ {G.num_ws} x "
                   f"{G.w_dim}; space of {args.space}; predictor untrained (w_m = w_o)")
    replaced_samples = (target / SAMPLES_FILE).is_file()
    root = _replace_whole(target, Bundle(config, G, space, predictor.eval().requires_grad_(False)).save, args.force)
    card = root / CARD_FILE
    print(one_line(f"made {root}: {made}" + (f"; {estimated}" if estimated else "")))  # a file's name: no forged lines
    if replaced_samples:
        print(f"removed {SAMPLES_FILE}: it showed the replaced bundle's generator")
    if card.exists():  # written for the bundle this one replaces: the user's words, to update
        print(f"kept {card}: it describes the bundle this one replaces; update it")
    else:
        card.write_text(CARD_STUB.format(name=args.name, made=made))
    # The default run folder of `train predictor` may hold the replaced bundle's run, which it refuses.
    earlier, n = Path(f"runs/predictor-{args.name}"), 2
    while Path(f"{earlier}-{n}").exists():
        n += 1
    outdir = f" --outdir {shlex.quote(f'{earlier}-{n}')}" if earlier.exists() else ""
    bundle = shlex.quote(str(root if args.models_dir else args.name))
    print(f"next: python -m live train predictor --bundle {bundle}{outdir}; "
          f"then fill in {card}")
    return 0


def as_text(text: str) -> str:
    """`text` with a file name's bytes that are not UTF-8 (a Latin-1 name from a zip) written as
    escapes: bundle.toml and the model card are UTF-8, and writing them ended in a traceback."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _replace_whole(target: Path, write: Callable[[Path], None], force: bool) -> Path:
    """`write` the bundle into a folder beside `target`, then put it in `target`'s place: a
    failure part-way (a full disk) left the new generator beside the old bundle's trained
    predictor, a mix that loaded without a word. Files of the old bundle the new one does
    not write (its model card, notes) move into the new one, but for its generator's sample
    grid (SAMPLES_FILE), which would show another network's pictures."""
    import os
    import shutil

    from live.models import BUNDLE_FILE

    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        write(partial)
        # Checked at the start too, but another command may have made one while this one loaded.
        made_meanwhile = not force and (target / BUNDLE_FILE).exists()
        if not made_meanwhile:
            if target.exists():
                os.replace(target, old)
            try:
                os.replace(partial, target)
            except OSError:
                if old.exists():
                    os.replace(old, target)
                raise
    except (OSError, UserError) as e:
        reason = (e.strerror or e) if isinstance(e, OSError) else e
        raise UserError(f"cannot write the bundle {target} ({reason}); it is as it was") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if made_meanwhile:
        raise UserError(f"{target} holds a bundle another command made while this one ran, which is kept; "
                        "choose another --name or pass --force")
    if old.exists():
        for entry in old.iterdir():
            if entry.name != SAMPLES_FILE and not (target / entry.name).exists():
                os.replace(entry, target / entry.name)
        shutil.rmtree(old)
    return target
