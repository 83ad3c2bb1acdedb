"""Versions of Python, the platform and key packages, for ``client.get_versions``.

::

    client.get_versions(check, packages)
        client:    versions(packages)                       here
        scheduler: versions(packages)  by run_on_scheduler
        workers:   versions(packages)  by run, {address: ...}
        check=True -> mismatches(...) non-empty -> ValueError naming each package
                      and which process has which version

Each process answers ``{"host": {python, python-bits, OS, OS-release, machine,
processor, byteorder, LC_ALL, LANG}, "packages": {name: version or None}}``, the
shape of Dask's.  A package's version is read from its installed metadata (no
import, so asking about pandas does not import it); one not installed is None.
Only the required packages and ``python`` are compared: a package missing on one
side is a mismatch too, since the other side's tasks may need it.
"""

from __future__ import annotations

import locale
import os
import platform
import struct
import sys
from importlib import metadata

__all__ = ["OPTIONAL", "REQUIRED", "mismatches", "versions"]

#: Packages whose versions must agree across client, scheduler and workers.
REQUIRED = ("shoal", "cloudpickle", "msgpack", "tornado", "toolz")
#: Packages reported too, but not compared unless asked for (``packages=``).
OPTIONAL = ("numpy", "pandas", "psutil", "lz4", "bokeh")


def package_version(name: str) -> str | None:
    if name == "python":
        return ".".join(map(str, sys.version_info[:3]))
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def host_info() -> dict:
    (sysname, _, release, _, machine, processor) = platform.uname()
    return {"python": ".".join(map(str, sys.version_info)), "python-bits": struct.calcsize("P") * 8,
            "OS": sysname, "OS-release": release, "machine": machine, "processor": processor,
            "byteorder": sys.byteorder, "LC_ALL": os.environ.get("LC_ALL", "None"),
            "LANG": os.environ.get("LANG", "None"), "locale": locale.getlocale()[0]}  # fmt: skip


def versions(packages=()) -> dict:
    """This process's versions: host and packages (``packages``: extra names)."""
    names = dict.fromkeys(("python", *REQUIRED, *OPTIONAL, *packages))
    return {"host": host_info(), "packages": {n: package_version(n) for n in names}}


def mismatches(result: dict, packages=()) -> dict:
    """``{package: {process: version}}`` for each compared package (``python``, the
    required ones and ``packages``) whose version differs between the client, the
    scheduler and the workers of ``result`` (``get_versions``' answer)."""
    where = {"client": result["client"], "scheduler": result["scheduler"],
             **{f"worker {w}": v for w, v in result["workers"].items()}}  # fmt: skip
    out = {}
    for name in dict.fromkeys(("python", *REQUIRED, *packages)):
        seen = {proc: info["packages"].get(name) for proc, info in where.items()}
        if len(set(seen.values())) > 1:
            out[name] = seen
    return out


def mismatch_message(found: dict) -> str:
    lines = [f"  {name}: " + ", ".join(f"{proc} {v}" for proc, v in seen.items())
             for name, seen in found.items()]  # fmt: skip
    return ("get_versions(check=True): mismatched versions of "
            f"{', '.join(found)}:\n" + "\n".join(lines))
