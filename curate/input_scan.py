"""Which files a run reads: inputs (files, folders, globs) expanded into a file list, with every file a
folder holds and Sieve does not read listed with the reason, and the names row ids use for each file."""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

from curate.errors import InputNotFoundError
from curate.run_folder import MANIFEST

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")


@dataclass
class InputScan:
    files: list[Path]
    skipped: list[str]  # files inside an input folder or glob that are not read, each with why
    names: dict[str, str] = field(default_factory=dict)  # file -> its name in row ids, where not its own name


def id_names(files: list[Path]) -> dict[str, str]:
    """A row id hashes its file's name (so ids stay the same when the data moves): files that share a name
    (``v1/train.jsonl``, ``v2/train.jsonl``) are named by their shortest distinct path ending instead."""
    by_name: dict[str, list[Path]] = {}
    for f in files:
        by_name.setdefault(f.name, []).append(f)
    names = {}
    for group in (g for g in by_name.values() if len(g) > 1):
        parts = [f.resolve().parts for f in group]
        for depth in range(2, max(map(len, parts)) + 1):
            tails = ["/".join(p[-depth:]) for p in parts]
            if len(set(tails)) == len(tails):
                break
        names.update({str(f): t for f, t in zip(group, tails)})
    return names


def scan_inputs(inputs: list[str | Path], exclude: list[Path] | None = None) -> InputScan:
    """Expand files, folders (recursively) and globs into a sorted file list.

    Files a folder or glob holds that Sieve does not read (an unknown suffix, anything under an
    ``exclude`` folder such as the run's own output folder) are listed in ``skipped`` with the reason.
    Raises :class:`InputNotFoundError` naming the first input that matched nothing.
    """
    excluded = [Path(e).resolve() for e in exclude or []]
    files: list[Path] = []
    skipped: list[str] = []
    seen: dict[Path, Path] = {}  # resolved path -> the spelling read

    def is_excluded(f: Path) -> bool:
        r = f.resolve()
        return any(r == e or e in r.parents for e in excluded)

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = []
            earlier = _sieve_output_folders(p)
            for f in sorted(p.rglob("*")):
                if not (f.is_file() or f.is_symlink()):
                    continue
                if is_excluded(f):
                    skipped.append(f"{f} (inside the output folder)")
                elif out := next((d for d in earlier if d in f.parents), None):
                    skipped.append(f"{f} (inside {out}, an earlier Sieve output folder (its {MANIFEST}); "
                                   "name a file in it to read it)")
                elif any(part.startswith(".") for part in f.relative_to(p).parts):
                    skipped.append(f"{f} (hidden file; name it to read it)")
                elif file_kind(f) is None:
                    skipped.append(f"{f} (not a data file Sieve reads: .jsonl, .json, .csv, .tsv, .parquet, .gz)")
                else:
                    found.append(f)
        elif p.is_file() or p.is_symlink():
            found = [p]
        else:
            found = []
            for f in sorted(Path(g) for g in glob.glob(str(item), recursive=True)):
                if f.is_dir():
                    continue
                (skipped.append(f"{f} (inside the output folder)") if is_excluded(f) else found.append(f))
        if not found and p.is_dir() and earlier:
            raise InputNotFoundError(f"{item}: every data file in it is inside an earlier Sieve output folder "
                                     f"({earlier[0]}); name the files to read them")
        if not found:
            raise InputNotFoundError(f"{item}: no such file, or no readable data file in it")
        for f in found:  # one file named twice (a relative and an absolute path, a link to it) is read once
            first = seen.get(f.resolve())
            if first is None:
                seen[f.resolve()] = f
                files.append(f)
            elif first != f:  # the same spelling twice (a file in two globs) is not worth a line
                skipped.append(f"{f} (the same file as {first}: read once)")
    return InputScan(files=files, skipped=list(dict.fromkeys(skipped)), names=id_names(files))


def _sieve_output_folders(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included) that an earlier Sieve command wrote: they hold a
    ``manifest.json`` whose ``tool`` is a Sieve command (curate, select, train)."""
    out = []
    for m in root.rglob(MANIFEST):
        try:
            tool = json.loads(m.read_text(encoding="utf-8")).get("tool", "")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(tool, str) and tool.startswith("sieve "):
            out.append(m.parent)
    return out


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """The files of :func:`scan_inputs`."""
    return scan_inputs(inputs).files


def file_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return "jsonl" if suffix == ".ndjson" else suffix[1:]
    return None
