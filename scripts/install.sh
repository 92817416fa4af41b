#!/usr/bin/env bash
# Set up everything tmn-hw needs on a fresh machine: the Debian packages of the
# hardware flows and the data set, then a virtual environment in .venv/ with the
# pinned Python dependencies of requirements.txt and the project itself.
# It is idempotent: a second run only checks, so `make test` can call it each time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# gcc builds the simulation's neuron kernel (golden/conversion/tmn_layer.c), g++ and make Verilator's models.
debian_packages=(iverilog yosys nextpnr-ice40 fpga-icestorm dataset-fashion-mnist gcc g++ make)
# The command or file by which each package is detected, in the same order.
debian_probes=(iverilog yosys nextpnr-ice40 icepack /usr/share/datasets/fashion-mnist cc g++ make)

missing=()
for i in "${!debian_packages[@]}"; do
  probe="${debian_probes[$i]}"
  if [[ "$probe" == /* ]]; then
    [[ -e "$probe" ]] || missing+=("${debian_packages[$i]}")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("${debian_packages[$i]}")
  fi
done

if ((${#missing[@]})); then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" -eq 0 ]]; then
    echo "install: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "install: sudo apt-get install ${missing[*]}"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    cat >&2 <<MSG
install: missing system packages, and apt-get cannot be used here (not root, or not Debian).
Install these yourself, then run 'make install' again:
  ${missing[*]}
On Debian or Ubuntu: sudo apt-get install ${missing[*]}
Elsewhere: Icarus Verilog 11+, Yosys 0.23+, nextpnr-ice40 and IceStorm from your package
manager or the OSS CAD Suite, and the Fashion-MNIST files (train/t10k images and labels,
IDX format, gzipped) under /usr/share/datasets/fashion-mnist/.
MSG
    exit 1
  fi
fi

python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install: tmn-hw needs Python 3.11 or newer, but '$python' is $({ "$python" --version; } 2>/dev/null || echo 'not found');" \
      "name a newer one, e.g. PYTHON=python3.12 make install" >&2
    exit 1
  fi
  echo "install: creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi

# PyPI's torch wheels for Linux pull several GB of CUDA packages. pip takes the CPU build where one is
# offered: a local wheel directory in pip's configuration, or PyTorch's CPU index named in TORCH_INDEX_URL
# (https://download.pytorch.org/whl/cpu), whose 2.13.0+cpu satisfies the pin torch==2.13.0.
torch_index=()
if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
  torch_index=(--extra-index-url "$TORCH_INDEX_URL")
fi

# Installing is skipped when requirements.txt and pyproject.toml are unchanged since the last run.
stamp=.venv/.tmn-hw-installed
digest="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
  echo "install: pip install -r requirements.txt -e .[dev]"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "${torch_index[@]}" -r requirements.txt -c requirements.txt
  # setuptools warns on every editable install that folders named like a package may shadow it.
  PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q --no-deps -e ".[dev]"
  echo "$digest" > "$stamp"
fi
echo "install: done (.venv/ and the system packages are ready)"
