"""The Colab / macOS path, simulated offline: no Debian packages, downloads from a local mirror.

A server on 127.0.0.1 serves upstream-format files (the same content as the Debian packages,
recompressed, so their bytes differ as the real upstream files do). torchvision and NLTK are pointed
at it; the system copies are hidden. ``resolve`` must download, verify, cache, then find the data
offline; a tampered file must be refused and leave nothing in the cache.
"""
import gzip
import hashlib
import http.server
import shutil
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from ftlab import assets

FASHION = Path("/usr/share/datasets/fashion-mnist")
WORDNET = Path("/usr/share/wordnet")
pytestmark = pytest.mark.skipif(not (FASHION.is_dir() and WORDNET.is_dir()),
                                reason="the simulated mirror is built from the Debian packages' content")


@pytest.fixture
def mirror(tmp_path):
    """A quiet HTTP server on 127.0.0.1 serving ``tmp_path / 'www'``; stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def colab(monkeypatch, tmp_path):
    """A machine without the Debian packages: only the (empty) ftlab cache counts; hub switch on as in pocket."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FTLAB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the pocket profile's switch must not block these downloads
    monkeypatch.delenv("FTLAB_OFFLINE", raising=False)
    monkeypatch.setattr(assets, "local_candidates", lambda a: [("cache", cache / a.locations.get("cache", a.name))])
    return cache


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _serve_fashion(root: Path, tamper: bool = False) -> list[tuple[str, str]]:
    """Recompress the Debian IDX files as upstream-style .gz under ``root``; torchvision's resource list."""
    resources = []
    for name in assets.asset("fashion_mnist").sha256:
        data = bytearray(gzip.decompress((FASHION / f"{name}.gz").read_bytes()))
        if tamper and name == "t10k-labels-idx1-ubyte":
            data[-1] ^= 1  # one changed label
        out = root / f"{name}.gz"
        out.write_bytes(gzip.compress(bytes(data), compresslevel=1, mtime=0))
        resources.append((out.name, _md5(out)))  # a mirror whose md5 list matches what it serves
    return resources


def test_fashion_mnist_download_verifies_caches_then_resolves_offline(mirror, colab, monkeypatch):
    import torchvision.datasets as tvd

    root, url = mirror
    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", [url])
    monkeypatch.setattr(tvd.FashionMNIST, "resources", _serve_fashion(root))
    assert (FASHION / "train-labels-idx1-ubyte.gz").read_bytes() != (root / "train-labels-idx1-ubyte.gz").read_bytes()
    path = assets.resolve("fashion_mnist")  # downloads from 127.0.0.1, verifies the content, caches
    assert path == colab / "fashion-mnist"
    monkeypatch.setenv("FTLAB_OFFLINE", "1")  # the next session, without a network
    assert assets.resolve("fashion_mnist") == path
    assert sorted(p.name for p in colab.iterdir()) == ["fashion-mnist"]  # no temporary leftovers


def test_tampered_download_is_refused_and_leaves_nothing(mirror, colab, monkeypatch):
    import torchvision.datasets as tvd

    root, url = mirror
    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", [url])
    monkeypatch.setattr(tvd.FashionMNIST, "resources", _serve_fashion(root, tamper=True))
    with pytest.raises(assets.ChecksumError, match="deleted and nothing was cached"):
        assets.resolve("fashion_mnist")
    assert not colab.exists() or list(colab.iterdir()) == []


def _serve_wordnet(root: Path, url: str) -> None:
    """An NLTK-style index.xml and packages/corpora/wordnet.zip holding the WordNet files."""
    (root / "packages" / "corpora").mkdir(parents=True)
    zpath = root / "packages" / "corpora" / "wordnet.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for f in ("data.noun", "index.noun", "lexnames"):
            if (WORDNET / f).exists():
                z.write(WORDNET / f, f"wordnet/{f}")
    unzipped = sum((WORDNET / f).stat().st_size for f in ("data.noun", "index.noun") if (WORDNET / f).exists())
    (root / "index.xml").write_text(
        '<?xml version="1.0"?>\n<nltk_data><packages>\n'
        f'<package id="wordnet" name="WordNet" subdir="corpora" unzip="1" url="{url}packages/corpora/wordnet.zip" '
        f'size="{zpath.stat().st_size}" unzipped_size="{unzipped}" checksum="{_md5(zpath)}" sha256_checksum="{hashlib.sha256(zpath.read_bytes()).hexdigest()}" />\n'
        '</packages><collections></collections></nltk_data>\n')


def test_wordnet_from_an_nltk_mirror(mirror, colab, monkeypatch):
    from nltk.downloader import Downloader

    import nltk.pathsec

    root, url = mirror
    _serve_wordnet(root, url)
    monkeypatch.setattr(Downloader, "DEFAULT_URL", url + "index.xml")
    # NLTK refuses loopback addresses (an SSRF guard); the test mirror stands in for a public host
    monkeypatch.setattr(nltk.pathsec, "_ip_is_forbidden", lambda ip: False)
    assert assets.download_address("nltk:wordnet") == url.split("/")[2]
    path = assets.resolve("wordnet")
    assert path == colab / "wordnet" and (path / "data.noun").exists()
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    assert assets.resolve("wordnet") == path


def test_offline_switches(monkeypatch):
    monkeypatch.delenv("FTLAB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert assets.offline_switch("hf:bert-base-uncased") == "HF_HUB_OFFLINE"
    assert assets.offline_switch("torchvision:FashionMNIST") is None  # the hub switch blocks hubs only
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    assert assets.offline_switch("nltk:wordnet") == "FTLAB_OFFLINE"
    assert not assets.is_online("127.0.0.1:1")


def test_missing_everywhere_offline_says_which_switch(colab, monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    with pytest.raises(assets.AssetMissing, match="FTLAB_OFFLINE=1") as err:
        assets.resolve("fashion_mnist")
    assert "apt-get install dataset-fashion-mnist" in str(err.value)


def test_check_command_lists_every_asset_and_fails_with_one_message(colab, monkeypatch, capsys):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    assert assets.main(["check", "--profile", "pocket"]) == 1
    out, err = capsys.readouterr()
    assert "fashion_mnist" in out and "MISSING" in out
    assert "nothing was executed" in err and "apt-get install wordnet-base" in err
