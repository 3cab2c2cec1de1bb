#!/usr/bin/env bash
# What the pocket profile needs from Debian/Ubuntu: the Fashion-MNIST and WordNet data packages, and
# python3-venv. Installs what is missing with apt-get (sudo when not root). Where apt is unavailable or
# refused (macOS, Colab without root, a locked machine), it says so and carries on: ftlab then downloads
# the same data with torchvision / NLTK (`python -m ftlab.assets check --fetch`) when online.
set -uo pipefail
need=()
[[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] || need+=(dataset-fashion-mnist)
[[ -f /usr/share/wordnet/data.noun ]] || need+=(wordnet-base)
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
((${#need[@]})) || exit 0
if ! command -v apt-get >/dev/null; then
  echo "system_deps: no apt-get here; skipping ${need[*]} (ftlab will download the data when online)." >&2
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "system_deps: not root and no sudo; skipping ${need[*]} (ftlab will download the data when online)." >&2
    exit 0
  fi
fi
echo "system_deps: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"; }; then
  echo "system_deps: apt-get could not install ${need[*]}; ftlab will try its downloads instead." >&2
fi
exit 0
