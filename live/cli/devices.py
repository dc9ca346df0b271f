"""`python -m live devices`: the audio inputs and outputs PortAudio sees."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("devices", help="list audio input and output devices")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from live.audio.devices import default_device_index, list_devices

    devices = list_devices()
    if not devices:
        print("PortAudio finds no audio devices; use --source file:PATH or --source demo")
        return 0
    for direction in ("input", "output"):
        default = default_device_index(direction)
        chosen = [d for d in devices if d.channels(direction) > 0]
        print(f"{direction} devices:" if chosen else f"{direction} devices: none")
        for d in chosen:
            mark = "*" if d.index == default else " "
            print(f" {mark}{d.index:3d}  {d.name}  ({d.host_api}, {d.channels(direction)} ch, "
                  f"{d.default_sample_rate:.0f} Hz)")
    print("* default; choose a device by index or by part of its name: --source mic:NAME")
    return 0
