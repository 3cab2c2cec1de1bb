import shutil
import time
from pathlib import Path

import pytest
import torch

from ftlab import assets


def test_profile_default_and_unknown(monkeypatch):
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    assert assets.profile() == "pocket"
    monkeypatch.setenv("FTLAB_PROFILE", "huge")
    with pytest.raises(assets.AssetError, match="pocket"):
        assets.profile()


def test_unknown_asset_lists_known_ones():
    with pytest.raises(assets.AssetError, match="fashion_mnist"):
        assets.asset("imagenet")


def test_every_entry_names_source_install_and_licence():
    for name in assets.catalogue():
        for prof in assets.PROFILES:
            try:
                a = assets.asset(name, prof)
            except assets.AssetError:
                continue
            assert a.source and a.install and a.licence != "?", (name, prof)
            assert a.locations or a.download, (name, prof)


def test_missing_asset_offline_fails_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")  # HF_HUB_OFFLINE alone no longer blocks torchvision's download
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    monkeypatch.setattr(assets, "local_candidates", lambda a: [("system", tmp_path / "nowhere")])
    t0 = time.perf_counter()
    with pytest.raises(assets.AssetMissing) as err:
        assets.resolve("fashion_mnist")
    assert time.perf_counter() - t0 < 5
    assert "apt-get install dataset-fashion-mnist" in str(err.value)
    assert "nowhere" in str(err.value)


def test_full_profile_hub_model_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(assets, "_already_fetched", lambda download: False)  # whatever this machine has cached
    with pytest.raises(assets.AssetMissing, match="FTLAB_PROFILE=full"):
        assets.resolve("bert", "full")


def test_hub_model_fetched_once_resolves_offline(monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = {("bert-base-uncased", "config.json"): "/hf-cache/bert/config.json"}
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, f, **kw: cached.get((repo, f)))
    assert assets.resolve("bert", "full") == "bert-base-uncased"  # transformers then loads its own cached copy
    cached.clear()
    with pytest.raises(assets.AssetMissing):
        assets.resolve("bert", "full")


def _fake_fashion_mnist(fail: bool = False):
    """Stands in for torchvision.datasets.FashionMNIST(root, download=True): writes its raw/ layout."""
    def make(root, download):
        raw = Path(root) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        (raw / "train-images-idx3-ubyte.gz").write_bytes(b"part")
        if fail:
            raise ConnectionError("connection reset")
        for name in assets.asset("fashion_mnist").sha256:  # the real content, from the Debian copy
            shutil.copy(DEBIAN_FASHION / f"{name}.gz", raw / f"{name}.gz")
    return make


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_debian_fashion = pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist")


@needs_debian_fashion
def test_download_lands_where_resolution_looks_offline(monkeypatch, tmp_path):
    import torchvision.datasets as tvd

    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    monkeypatch.setattr(assets, "local_candidates",  # hide the Debian copy: only the cache counts here
                        lambda a: [("cache", tmp_path / a.locations["cache"])])
    monkeypatch.setattr(assets, "is_online", lambda host: True)
    monkeypatch.setattr(tvd, "FashionMNIST", _fake_fashion_mnist())
    path = assets.resolve("fashion_mnist")
    assert path == tmp_path / "fashion-mnist"
    monkeypatch.setattr(assets, "is_online", lambda host: False)  # the next session, offline
    assert assets.find_local("fashion_mnist") == ("cache", tmp_path / "fashion-mnist")
    assert [p.name for p in tmp_path.iterdir()] == ["fashion-mnist"]  # no download leftovers


def test_interrupted_download_leaves_no_cache_entry(monkeypatch, tmp_path):
    import torchvision.datasets as tvd

    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    monkeypatch.setattr(assets, "local_candidates", lambda a: [("cache", tmp_path / a.locations["cache"])])
    monkeypatch.setattr(assets, "is_online", lambda host: True)
    monkeypatch.setattr(tvd, "FashionMNIST", _fake_fashion_mnist(fail=True))
    with pytest.raises(ConnectionError):
        assets.resolve("fashion_mnist")
    assert list(tmp_path.iterdir()) == []  # the half-downloaded file went with its temporary folder
    assert assets.find_local("fashion_mnist") is None


def test_resolution_order_prefers_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    (tmp_path / "wordnet").mkdir()
    (tmp_path / "wordnet" / "data.noun").write_text("x")
    (tmp_path / "wordnet" / "index.noun").write_text("x")
    where, path = assets.find_local("wordnet")
    assert where == "cache" and path == tmp_path / "wordnet"
    with pytest.raises(assets.ChecksumError, match="corrupted"):
        assets.resolve("wordnet")  # the planted files do not match the catalogue's sha256


def test_checkpoint_round_trip_and_checksum_refusal(tmp_path):
    sd = {"w": torch.arange(6.0).reshape(2, 3)}
    digest = assets.save_checkpoint(tmp_path / "m.safetensors", sd, {"seed": 0})
    assert assets.read_card(tmp_path / "m.json")["sha256"] == digest
    assert torch.equal(assets.load_checkpoint(tmp_path / "m.safetensors")["w"], sd["w"])
    raw = bytearray((tmp_path / "m.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (tmp_path / "m.safetensors").write_bytes(bytes(raw))
    with pytest.raises(assets.ChecksumError):
        assets.load_checkpoint(tmp_path / "m.safetensors")
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temp files


def test_describe_reports_found_and_missing():
    rows = {r["asset"]: r for r in assets.describe("pocket")}
    assert set(rows) >= {"fashion_mnist", "bert", "pocket_cnn", "wordnet"}
    assert rows["bert"]["found"] == "package"
