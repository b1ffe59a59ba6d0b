# shellcheck shell=bash
# path.sh: the environment of a recipe; sourced by s2st.sh (and by you: . ./path.sh).
# Copied into each recipe by setup.sh, so a recipe can add its own settings.

# The repository root, found through the recipe's utils symlink (utils -> <root>/utils).
_recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
S2S_ROOT=$(cd -P "${_recipe_dir}/utils/.." && pwd)
export S2S_ROOT
unset _recipe_dir

# Use tools/venv (made by tools/install.sh) when it exists; otherwise the
# Python on PATH must have s2s_plugin installed.
if [ -x "${S2S_ROOT}/tools/venv/bin/python" ]; then
    export VIRTUAL_ENV="${S2S_ROOT}/tools/venv"
    export PATH="${VIRTUAL_ENV}/bin:${PATH}"
fi

export PYTHONUNBUFFERED=1                    # logs appear as they are written
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # one thread per job unless asked
