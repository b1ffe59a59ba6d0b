#!/usr/bin/env bash
# Build the s2s_plugin environment at tools/venv on a fresh machine.
#
#   tools/install.sh                  # CPU build of torch 2.13.0 (the default)
#   TORCH_VERSION=2.13.0 TORCH_INDEX_URL=https://.../cu128 tools/install.sh   # a GPU build
#   SKIP_APT=1 tools/install.sh       # do not touch Debian packages
#
# Re-running is fast: every step is keyed on a stamp that records the inputs
# it was built from (versions, requirement files), and is skipped when they
# have not changed.
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "${tools_dir}")
venv=${VENV:-${tools_dir}/venv}
python=${PYTHON:-python3}
torch_version=${TORCH_VERSION:-2.13.0}
torch_index_url=${TORCH_INDEX_URL:-}
torchaudio_version=${TORCHAUDIO_VERSION:-2.11.0}
espnet_version=${ESPNET_VERSION:-202511}
apt_packages=(espeak-ng libespeak-ng1 sox ffmpeg shellcheck libsndfile1)  # ffmpeg, sox: wav.scp pipe entries of Kaldi/ESPnet data dirs

log() { printf '%s [tools/install.sh] %s\n' "$(date '+%H:%M:%S')" "$*"; }

# step NAME KEY: true when step NAME must run for inputs KEY (stamp differs).
stamp_dir=${venv}/.s2s_stamps
needs() {
    [ "$(cat "${stamp_dir}/$1" 2>/dev/null || true)" != "$2" ]
}
done_step() {
    mkdir -p "${stamp_dir}"
    printf '%s' "$2" >"${stamp_dir}/$1"
}

# 1. Debian packages the recipes need.
if [ -z "${SKIP_APT:-}" ]; then
    missing=()
    for p in "${apt_packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        ${sudo} apt-get update -qq
        DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

# 2. The virtual environment.
if [ ! -x "${venv}/bin/python" ]; then
    log "creating ${venv}"
    "${python}" -m venv "${venv}"
fi
pip=("${venv}/bin/python" -m pip --disable-pip-version-check -q)
constraints=${tools_dir}/constraints.txt
torch_pin=${venv}/.s2s_torch_constraint.txt
mkdir -p "${stamp_dir}"
printf 'torch==%s\n' "${torch_version}" >"${torch_pin}"

key="pip-setuptools:$(sha1sum "${constraints}" | cut -c1-12)"
if needs base "${key}"; then
    log "upgrading pip, pinning setuptools"
    "${pip[@]}" install -U pip wheel
    "${pip[@]}" install -c "${constraints}" setuptools
    done_step base "${key}"
fi

# 3. torch first, pinned, so nothing later swaps it for another build.
key="torch==${torch_version}@${torch_index_url}"
if needs torch "${key}"; then
    log "installing torch==${torch_version}"
    extra=()
    [ -n "${torch_index_url}" ] && extra=(--index-url "${torch_index_url}")
    "${pip[@]}" install "${extra[@]}" "torch==${torch_version}" numpy
    done_step torch "${key}"
fi

# 4. torchaudio: every Linux wheel on the registry is a CUDA build. With a
#    CPU torch its compiled libraries cannot load; without them it imports in
#    pure-Python mode (resample, MFCC, kaldi fbank work), which is all we use.
key="torchaudio==${torchaudio_version}"
if needs torchaudio "${key}"; then
    log "installing torchaudio==${torchaudio_version}"
    "${pip[@]}" install --no-deps "torchaudio==${torchaudio_version}"
    if [ "$("${venv}/bin/python" -c 'import torch; print(torch.version.cuda is None)')" = True ]; then
        ta_dir=$("${venv}/bin/python" -c 'import importlib.util,os; print(os.path.dirname(importlib.util.find_spec("torchaudio").origin))')
        log "CPU torch: removing torchaudio's CUDA libraries (${ta_dir}/lib/*.so)"
        rm -f "${ta_dir}"/lib/*.so
    fi
    done_step torchaudio "${key}"
fi

# 5. espnet without its setuptools<74 pin, then its own requirements under
#    our constraints (torch and setuptools cannot move).
key="espnet==${espnet_version}:$(sha1sum "${constraints}" | cut -c1-12)"
if needs espnet "${key}"; then
    log "installing espnet==${espnet_version} and its requirements"
    "${pip[@]}" install --no-deps "espnet==${espnet_version}"
    reqs=${venv}/.s2s_espnet_requirements.txt
    "${venv}/bin/python" - "${reqs}" <<'PY'
import sys
from importlib.metadata import requires
from packaging.requirements import Requirement
out = []
for spec in requires("espnet") or []:
    req = Requirement(spec)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue  # an extra, or another platform
    if req.name.lower() in {"setuptools", "torch", "torchaudio"}:
        continue  # pinned by tools/install.sh itself
    if req.name.lower().replace("-", "_") == "ci_sdr":
        continue  # speech enhancement only; its metadata names a git URL that pip refuses
    req.marker = None
    out.append(str(req))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
    "${pip[@]}" install -c "${constraints}" -c "${torch_pin}" -r "${reqs}"
    done_step espnet "${key}"
fi

# 5b. ci_sdr: espnet2.bin.asr_inference imports it (through espnet2.enh), so the
#     espnet scoring ASR of stage 11 needs it. Step 5 leaves it out because pip
#     refuses ci_sdr from PyPI (its metadata names git URLs in an extra, even
#     with --no-deps). Its own requirements (numpy, scipy, torch, einops) are
#     here already: fetch the pinned sdist, check its hash, install that file
#     without dependencies (it must not pull another torch). CI_SDR_URL names
#     a mirror or a local copy of the same file.
ci_sdr_version=0.0.2
ci_sdr_sha256=3f9d4c205b9b7c5c3239a90400b81f1f26ecb38484a46150d2677ff646a13465
ci_sdr_url=${CI_SDR_URL:-https://files.pythonhosted.org/packages/db/c0/1f9a358e31f8d329b1fe32dc05d9b1761472443e4f759771c21f60285198/ci_sdr-${ci_sdr_version}.tar.gz}
key="ci_sdr==${ci_sdr_version}"
if needs ci_sdr "${key}"; then
    log "installing ci_sdr==${ci_sdr_version} without dependencies (from ${ci_sdr_url})"
    sdist=${venv}/.s2s_cache/ci_sdr-${ci_sdr_version}.tar.gz
    mkdir -p "$(dirname "${sdist}")"
    "${venv}/bin/python" - "${ci_sdr_url}" "${ci_sdr_sha256}" "${sdist}" <<'PY'
import hashlib, os, shutil, sys, urllib.request
url, want, out = sys.argv[1:]
part = out + ".part"
src = open(url, "rb") if os.path.exists(url) else urllib.request.urlopen(url, timeout=300)
with src, open(part, "wb") as f:
    shutil.copyfileobj(src, f)
got = hashlib.sha256(open(part, "rb").read()).hexdigest()
if got != want:
    os.remove(part)
    sys.exit(f"tools/install.sh: {url}: sha256 {got}, expected {want}")
os.replace(part, out)
PY
    "${pip[@]}" install --no-deps --no-build-isolation "${sdist}"
    rm -f "${sdist}"
    done_step ci_sdr "${key}"
fi

# 6. The rest of the stack and the project itself (editable).
key="stack:$(cat "${tools_dir}/requirements.txt" "${root}/setup.py" "${constraints}" | sha1sum | cut -c1-12)@${torch_version}"
if needs stack "${key}"; then
    log "installing the pinned stack (tools/requirements.txt) and s2s_plugin (editable)"
    # parallel_wavegan is an sdist whose setup.py imports pip, which pip's isolated build environment
    # lacks: build it in the venv itself (under the same pins, so torch stays)
    pwg=$(grep -E '^parallel_wavegan==' "${tools_dir}/requirements.txt")
    "${pip[@]}" install -c "${constraints}" -c "${torch_pin}" --no-build-isolation "${pwg}"
    "${pip[@]}" install -c "${constraints}" -c "${torch_pin}" -r "${tools_dir}/requirements.txt"
    "${pip[@]}" install -c "${constraints}" -c "${torch_pin}" --no-build-isolation -e "${root}"
    done_step stack "${key}"
fi

# 7. A check that the environment imports what the toolkit needs.
"${venv}/bin/python" - <<'PY'
import importlib, sys
# espnet2.bin.asr_inference: the espnet scoring ASR (it imports ci_sdr, which espnet does not install)
mods = ["torch", "torchaudio", "numpy", "espnet2", "espnet2.bin.asr_inference", "s3prl", "transformers",
        "lightning", "pyworld", "kaldiio", "sentencepiece", "sacrebleu", "sacremoses", "pluggy", "humanfriendly",
        "soundfile", "sklearn", "matplotlib", "tensorboard", "ctc_segmentation", "s2s_plugin"]
bad = []
for m in mods:
    try:
        importlib.import_module(m)
    except Exception as e:  # report every broken import, not just the first
        bad.append(f"{m}: {type(e).__name__}: {e}")
if bad:
    sys.exit("tools/install.sh: these modules do not import:\n  " + "\n  ".join(bad))
import torch
print(f"environment ok: torch {torch.__version__}, python {sys.version.split()[0]}")
PY
log "done: activate with 'source ${venv}/bin/activate' or use 'make'"
