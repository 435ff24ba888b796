"""Compiled modules of the policy walk: build them with mypyc, never run a stale build.

The ledger and the account (``sim.billing.ledger``, ``sim.billing.account``) and the
engine's world, lean walk and outcome rows (``sim.engine.world``, ``.lean_walk``,
``.results``) run a sweep's policy walks: tens of thousands of small Python steps per
replication. Compiled to C by mypyc (part of mypy) they run the same code about a
quarter faster. They stay ordinary Python modules: without a build, or with
``CCSIM_PURE_PYTHON=1``, the source runs, with the same results (the test suite
compares the two).

``python -m sim.core.native`` (``make`` does it) compiles them next to their sources and
records each source's SHA-256 in ``native.json`` in the package's folder. Python would
load an extension module before its source even after the source changed, so each
package's ``__init__`` calls :func:`prefer_fresh_source` first: a build whose recorded
hash no longer matches its source is bypassed (the source is loaded instead, with one
warning line), so an edit takes effect at once and a rebuild only restores the speed.

Without a C compiler the build says so in one line and leaves pure Python.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COMPILED: dict[str, tuple[str, ...]] = {
    "sim.billing": ("ledger", "account"),
    "sim.engine": ("world", "lean_walk", "results"),
}
"""Package -> the modules of it that are compiled."""

RECORD = "native.json"
"""The build record in each package folder: module -> SHA-256 of the source compiled."""

PURE_ENV = "CCSIM_PURE_PYTHON"
ASKED = f"{PURE_ENV} is set"  # the two reasons a build is not used
CHANGED = "its source changed since it was compiled"


def source_hash(path: Path) -> str:
    """Return the SHA-256 of a source file (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extension_of(folder: Path, module: str) -> Path | None:
    """Return the extension module built for ``module`` in ``folder``, if any."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = folder / f"{module}{suffix}"
        if candidate.exists():
            return candidate
    return None


def stale_modules(folder: Path, modules: tuple[str, ...]) -> dict[str, str]:
    """Return the built modules of ``folder`` that must not be used, and why.

    A module is left out when ``CCSIM_PURE_PYTHON`` is set, or when its build record is
    missing or names another source (the source changed since it was compiled). Modules
    without a build are not listed: Python loads their source anyway.
    """
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        record = {}
    pure = os.environ.get(PURE_ENV, "") not in ("", "0")
    out = {}
    for module in modules:
        if extension_of(folder, module) is None:
            continue
        if pure:
            out[module] = ASKED
        elif not isinstance(record, dict) or record.get(module) != source_hash(
            folder / f"{module}.py"
        ):
            out[module] = CHANGED
    return out


def prefer_fresh_source(package: str, folder: str) -> None:
    """Load the source of every module of ``package`` whose build is stale (see above).

    Call it from the package's ``__init__`` before anything imports those modules.
    """
    where = Path(folder)
    stale = stale_modules(where, COMPILED.get(package, ()))
    for module, why in stale.items():
        name = f"{package}.{module}"
        if name in sys.modules:
            continue
        if why == CHANGED:  # asked for, the source runs without a word
            sys.stderr.write(
                f"ccsim: compiled {name} is not used ({why}); run `make` or "
                "`python -m sim.core.native` to compile it again\n"
            )
        loader = importlib.machinery.SourceFileLoader(name, str(where / f"{module}.py"))
        spec = importlib.util.spec_from_loader(name, loader)
        assert spec is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            loader.exec_module(mod)
        except BaseException:
            del sys.modules[name]
            raise


def compiled_in_use() -> dict[str, bool]:
    """Return, for each compiled module, whether the extension is what is imported."""
    out = {}
    for package, modules in COMPILED.items():
        for module in modules:
            mod = importlib.import_module(f"{package}.{module}")
            origin = getattr(mod, "__file__", "") or ""
            out[f"{package}.{module}"] = not origin.endswith(".py")
    return out


def build() -> int:
    """Compile the modules of ``COMPILED`` in place; return 0, also when it cannot.

    Each module is compiled on its own (its support library stays beside it, not at
    the top of the tree), all at once, each in a scratch copy of the tree, then copied
    next to its source; the record names the source each build was made from.
    """
    root = Path(__file__).resolve().parents[2]
    mypyc = shutil.which("mypyc", path=str(Path(sys.executable).parent)) or shutil.which("mypyc")
    if mypyc is None:
        _say("mypyc not found (pip install mypy): the billing modules stay Python")
        return 0
    with tempfile.TemporaryDirectory(prefix="ccsim-native-") as scratch:
        jobs = []
        for package, modules in COMPILED.items():
            folder = root.joinpath(*package.split("."))
            for module in modules:
                source = folder / f"{module}.py"
                tree = Path(scratch) / f"{package}.{module}"
                shutil.copytree(root / "sim", tree / "sim", ignore=_not_sources)
                if (root / "pyproject.toml").exists():  # the project's mypy settings
                    shutil.copy2(root / "pyproject.toml", tree)
                rel = source.relative_to(root)
                job = subprocess.Popen(
                    [mypyc, str(rel)],
                    cwd=tree,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                jobs.append((package, folder, module, source_hash(source), tree / rel.parent, job))
        records: dict[Path, dict[str, str]] = {}
        for package, folder, module, digest, out_dir, job in jobs:
            log, _ = job.communicate()
            record = records.setdefault(folder, {})
            built = sorted(out_dir.glob(f"{module}*.so")) + sorted(out_dir.glob(f"{module}*.pyd"))
            for path in folder.glob(f"{module}*"):  # an older build goes either way
                if path.suffix in (".so", ".pyd"):
                    path.unlink()
            if job.returncode != 0 or not built:
                last = log.strip().splitlines()[-1:] or ["?"]
                _say(
                    f"could not compile {package}.{module} ({last[0][:200]}): "
                    "it stays Python (the same results, slower sweeps)"
                )
                continue
            for path in built:
                shutil.copy2(path, folder / path.name)
            record[module] = digest
            _say(f"compiled {package}.{module}")
        for folder, record in records.items():
            tmp = folder / f".{RECORD}.tmp"
            tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, folder / RECORD)
    return 0


def _say(line: str) -> None:
    sys.stdout.write(f"ccsim: {line}\n")
    sys.stdout.flush()


def _not_sources(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".so", ".pyd"))]


if __name__ == "__main__":
    raise SystemExit(build())
