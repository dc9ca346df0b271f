"""GLSL programs loaded by file name, recompiled when a file changes on disk.

A reload compiles the new program aside and swaps it in only if it compiles and links;
otherwise the last good program stays bound and the error is kept as one line for the
HUD and telemetry. Nothing here raises during a show: only the first load (before the
show starts, when there is no good program to fall back on) raises `UserError`.

Files may pull in shared code with `#include "name.glsl"` on a line of its own. Each
file's lines are numbered from its own multiple of FILE_LINES through `#line`, so compiler
errors name the file and line the performer actually edited.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import moderngl

from live.errors import UserError
from live.files import shipped

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$')
# Mesa: "0:12(3): error: ...", NVIDIA: "0(12) : error C0000: ..."; the first number is
# a source-string number, the second a line as `#line` numbered it.
_MESA_LOCATION = re.compile(r"^\s*(\d+):(\d+)\(\d+\):\s*(.*)$")
_NVIDIA_LOCATION = re.compile(r"^\s*(\d+)\((\d+)\)\s*:\s*(.*)$")


def default_shader_dir() -> Path:
    return shipped("shaders")


@dataclass(frozen=True)
class _Stamp:
    """What identifies one version of a file: editors may keep the size or the mtime."""

    mtime_ns: int
    size: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _Stamp(st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class _Source:
    """A preprocessed shader stage: the text for the compiler and the files it came from."""

    text: str
    files: tuple[str, ...]  # index = GLSL source-string number


FILE_LINES = 100_000  # each file's lines are numbered from its index times this, so errors name their file


def _preprocess(directory: Path, name: str, stamps: dict[str, _Stamp | None]) -> _Source:
    """Expand `#include` lines; raises OSError for unreadable files, ValueError for cycles.

    Records in `stamps` each file's stamp taken just before reading it, so an edit that
    races the read shows up as a change and triggers another reload.
    """
    files: list[str] = []
    lines: list[str] = []

    def expand(file: str, stack: tuple[str, ...]) -> None:
        if file in stack:
            raise ValueError(f"{file}: #include cycle through {' -> '.join(stack)}")
        index = len(files)
        files.append(file)
        stamps[file] = _stamp(directory / file)
        # utf-8-sig: a byte-order mark (Windows editors' "UTF-8 with BOM") stopped the show as a GLSL error.
        for number, line in enumerate((directory / file).read_text(encoding="utf-8-sig").splitlines(), start=1):
            match = _INCLUDE.match(line)
            if match is None:
                lines.append(line)
                continue
            lines.append(f"#line {len(files) * FILE_LINES + 1} {len(files)}")
            expand(match.group(1), stack + (file,))
            # `#line N` numbers the line after the directive (GLSL >= 3.30).
            lines.append(f"#line {index * FILE_LINES + number + 1} {index}")

    expand(name, ())
    return _Source("\n".join(lines) + "\n", tuple(files))


def _one_line(message: str, files: tuple[str, ...]) -> str:
    """The first error of a compiler or linker log, with the file named."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "failed" not in line.lower()]
    line = (errors or lines or ["unknown GLSL error"])[0]
    for pattern in (_MESA_LOCATION, _NVIDIA_LOCATION):
        match = pattern.match(line)
        if match is not None:
            # The file from the line number: Mesa gives semantic errors (an undeclared name)
            # source string 0, the including file's, whatever `#line` set.
            index, number = divmod(int(match.group(2)), FILE_LINES)
            file = files[index] if index < len(files) else f"source {match.group(1)}"
            return f"{file}:{number}: {match.group(3)}"
    return line


class ShaderProgram:
    """A program built from a vertex and a fragment file; `program` is always one that compiled.

    `generation` increases on every swap, so whoever built vertex arrays on the old
    program knows to rebuild them. `error` holds the last failed reload on one line, or
    None while the files on disk are the ones bound. A reloaded program is on trial until
    its first draw: an edit can compile and still not fit the renderer (a uniform of
    another type), and then the drawer hands it back (`reject`) for the one before.
    """

    def __init__(self, ctx: moderngl.Context, directory: Path, vertex: str, fragment: str):
        self.vertex = vertex
        self.fragment = fragment
        self._ctx = ctx
        self._directory = directory
        self._stamps: dict[str, _Stamp | None] = {}
        self.generation = 0
        self.error: str | None = None
        program, error = self._build()
        if program is None:
            if not (directory / vertex).is_file() or not (directory / fragment).is_file():
                raise UserError(f"shader folder {directory} has no {vertex} or {fragment}: give a copy of the "
                                "project's shaders/ (cp -r shaders DIR)")
            raise UserError(f"shader {error}; fix the file in {directory}")
        self.program = program
        self._previous: moderngl.Program | None = None  # kept while `program` is on trial

    @property
    def name(self) -> str:
        return f"{self.vertex}+{self.fragment}"

    def changed(self) -> bool:
        """True when a file this program was built from differs from the last attempt."""
        return any(_stamp(self._directory / f) != s for f, s in self._stamps.items())

    def reload(self) -> str:
        """Rebuild from disk; swap only on success. Returns a one-line report."""
        program, error = self._build()
        if program is None:
            self.error = error
            return f"{self.name}: kept the last good program: {error}"
        if self._previous is None:
            self._previous = self.program
        else:  # a second edit before the first one drew: the last program that drew stays the fallback
            self.program.release()
        self.program = program
        self.generation += 1
        self.error = None
        return f"{self.name}: reloaded"

    @property
    def on_trial(self) -> bool:
        return self._previous is not None

    def accept(self) -> None:
        """The reloaded program has drawn."""
        if self._previous is not None:
            self._previous.release()
            self._previous = None

    def reject(self, problem: str) -> None:
        """The reloaded program could not draw: back to the one before."""
        assert self._previous is not None
        self.program.release()
        self.program, self._previous = self._previous, None
        self.generation += 1
        self.error = f"does not fit the renderer ({problem}); kept the last good program"

    def misfit(self, problem: str) -> UserError:
        """The error for a program that compiled but could not draw, with none to fall back on."""
        return UserError(f"shader {self.name} does not fit the renderer ({problem}); fix the file in "
                         f"{self._directory}")

    def _build(self) -> tuple[moderngl.Program | None, str]:
        # The files of this attempt, even a failed one: fixing any of them retries.
        self._stamps = {}
        try:
            vertex = _preprocess(self._directory, self.vertex, self._stamps)
            fragment = _preprocess(self._directory, self.fragment, self._stamps)
        except OSError as e:
            return None, f"{Path(e.filename or '?').name}: cannot read ({e.strerror})"
        except ValueError as e:
            return None, str(e)
        try:
            program = self._ctx.program(vertex_shader=vertex.text, fragment_shader=fragment.text)
        except moderngl.Error as e:
            # Which stage failed is only in the log text; its file table decides the name.
            files = fragment.files if "fragment_shader" in str(e) else vertex.files
            return None, _one_line(str(e), files)
        return program, ""


class ShaderLibrary:
    """Loads programs from a directory of GLSL files and keeps them current."""

    def __init__(self, ctx: moderngl.Context, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_shader_dir()
        if not self.directory.is_dir():
            raise UserError(
                f"shader directory {self.directory} not found; give a copy of the project's shaders/ with "
                "--shaders DIR, or install the package editable (pip install -e .)"
            )
        self._ctx = ctx
        self._programs: dict[tuple[str, str], ShaderProgram] = {}

    def program(self, vertex: str, fragment: str) -> ShaderProgram:
        """The program for these two files, compiled on first use (UserError if broken)."""
        key = (vertex, fragment)
        if key not in self._programs:
            self._programs[key] = ShaderProgram(self._ctx, self.directory, vertex, fragment)
        return self._programs[key]

    def reload_changed(self) -> list[str]:
        """Recompile programs whose files changed; one-line reports of what happened.

        Costs a few `stat` calls, so the render loop can call it every frame or two.
        """
        return [p.reload() for p in self._programs.values() if p.changed()]

    @property
    def error(self) -> str | None:
        """The first current shader error, one line, or None when all files are bound."""
        return next((f"{p.name}: {p.error}" for p in self._programs.values() if p.error), None)
