"""A self-contained Chromium for machines that have none: ``chrome-headless-shell``.

The dashboard benchmark needs a browser; a lent machine without a package manager
or network has none, and Playwright's own download does not work everywhere.  The
npm package ``@sparticuz/chromium`` ships the headless shell build of Chromium
with the few libraries it needs beyond glibc (NSS, expat), SwiftShader and a
font, brotli-compressed.  This script fetches it with ``npm pack`` (npm's own
registry settings), unpacks it into *folder* with Node's zlib, and writes
``folder/chrome-shell``, a wrapper that points the loader and fontconfig at the
bundled files and adds the flags that build needs (``--headless=shell
--no-zygote``; ``--disable-dev-shm-usage`` for small ``/dev/shm``).  Copy the
folder to the other machine (it needs only glibc) and run::

    python -m benchmarks.headless_shell /tmp/chrome               # here: needs npm and node
    python -m benchmarks.dashboard_overhead --driver cdp --chromium /tmp/chrome/chrome-shell
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

__all__ = ["fetch", "install", "main", "unpack", "version"]

PACKAGE = "@sparticuz/chromium@153.0.0"

FONTS_CONF = """<?xml version="1.0" ?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir prefix="relative">fonts</dir>
  <cachedir>/tmp/fonts-cache/</cachedir>
</fontconfig>
"""

WRAPPER = """#!/bin/sh
# chrome-headless-shell (from @sparticuz/chromium) with its bundled libraries and fonts
d=$(dirname "$(readlink -f "$0")")
export LD_LIBRARY_PATH="$d/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" FONTCONFIG_PATH="$d"
exec "$d/chromium" --headless=shell --no-zygote --disable-dev-shm-usage "$@"
"""

# Node's zlib decompresses brotli; Python's standard library does not.
INFLATE_JS = """const z = require("zlib"), fs = require("fs");
for (const [src, dst] of JSON.parse(process.argv[1])) {
  fs.writeFileSync(dst, z.brotliDecompressSync(fs.readFileSync(src)));
}"""


def fetch(into: pathlib.Path, package: str = PACKAGE) -> pathlib.Path:
    """Fetch *package* with ``npm pack`` into *into*; its folder of ``.br`` files."""
    for tool in ("npm", "node"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed to fetch {package} (install Node.js)")
    subprocess.run(["npm", "pack", package, "--pack-destination", str(into), "--loglevel=error"],
                   check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    (tgz,) = into.glob("*.tgz")
    with tarfile.open(tgz) as tar:
        tar.extractall(into, filter="data")
    return into / "package" / "bin"


def node_inflate(pairs: list) -> None:
    """Decompress each ``[source.br, destination]`` pair with Node's zlib."""
    subprocess.run(["node", "-e", INFLATE_JS, json.dumps(pairs)], check=True)


def install(bin_dir: pathlib.Path, folder: pathlib.Path, inflate=node_inflate) -> pathlib.Path:
    """Unpack the package's ``.br`` files from *bin_dir* into *folder*; the wrapper's path.

    *inflate* decompresses ``[source, destination]`` pairs: Node's by default, or
    Python's ``brotli`` module where Node is missing (``benchmarks.device_kit``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pairs = [[str(bin_dir / "chromium.br"), str(folder / "chromium")]]
        tars = []
        for br in sorted(bin_dir.glob("*.tar.br")):
            tars.append(pathlib.Path(tmp) / br.name[: -len(".br")])
            pairs.append([str(br), str(tars[-1])])
        inflate(pairs)
        for inner in tars:  # libraries (lib/), SwiftShader, fonts
            with tarfile.open(inner) as tar:
                tar.extractall(folder, filter="data")
    (folder / "chromium").chmod(0o755)
    (folder / "fonts.conf").write_text(FONTS_CONF)
    wrapper = folder / "chrome-shell"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    return wrapper


def unpack(folder: pathlib.Path, package: str = PACKAGE) -> pathlib.Path:
    """Fetch and unpack *package* into *folder*; the wrapper's path."""
    with tempfile.TemporaryDirectory() as tmp:
        return install(fetch(pathlib.Path(tmp), package), folder)


def version(wrapper: pathlib.Path) -> subprocess.CompletedProcess:
    """``chrome-shell --version``: proves the build runs on this machine."""
    return subprocess.run([str(wrapper), "--version"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.headless_shell",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("folder", type=pathlib.Path)
    p.add_argument("--package", default=PACKAGE)
    args = p.parse_args(argv)
    wrapper = unpack(args.folder, args.package)
    done = version(wrapper)
    print(f"{wrapper}: {done.stdout.strip() or done.stderr.strip()}")
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
