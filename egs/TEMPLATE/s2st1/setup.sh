#!/usr/bin/env bash
# setup.sh NEW_DIR: make a new recipe dir from the template. Run with --help.
set -euo pipefail

usage() {
    cat <<EOF
Usage: $0 NEW_DIR

Makes the recipe dir NEW_DIR (normally egs/<corpus>/s2st1; its parent dirs are
created) with:
  utils -> <repo>/utils, s2st.sh -> <repo>/egs/TEMPLATE/s2st1/s2st.sh
                      (relative symlinks: fixes to the shared scripts reach every recipe)
  path.sh, cmd.sh     copies, to edit (environment; local, Slurm, SGE, PBS or ssh jobs)
  run.sh              skeleton: languages, sets, configs, then ./s2st.sh "\$@"
  conf/format.yaml    stage 2 config
  conf/slurm.conf     sbatch defaults for cmd_backend=slurm
  conf/queue.conf, conf/pbs.conf
                      qsub rules for cmd_backend=sge and pbs
  local/data.sh       placeholder that fails until you write the data preparation
Refuses to touch an existing NEW_DIR. Then: edit run.sh and local/data.sh and
run ./run.sh from NEW_DIR (egs/TEMPLATE/README.md explains each part).
EOF
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac
if [ $# -ne 1 ]; then
    usage >&2
    exit 1
fi
new=${1%/}
if [ -e "${new}" ] || [ -L "${new}" ]; then
    echo "$0: ${new} already exists; refusing to overwrite it (remove it or pick another name)" >&2
    exit 1
fi

template=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
root=$(cd "${template}/../../.." && pwd -P)
mkdir -p "$(dirname "${new}")"
parent=$(cd "$(dirname "${new}")" && pwd -P)
name=$(basename "${new}")

# Build under a temporary name next to NEW_DIR (same depth, so the relative
# links hold), then rename: an interrupted setup leaves no half-made recipe.
tmp=$(mktemp -d "${parent}/.${name}.XXXXXX")
trap 'rm -rf "${tmp}"' EXIT
ln -s "$(realpath -m --relative-to="${parent}/${name}" "${root}/utils")" "${tmp}/utils"
ln -s "$(realpath -m --relative-to="${parent}/${name}" "${template}/s2st.sh")" "${tmp}/s2st.sh"
cp "${template}/path.sh" "${template}/cmd.sh" "${tmp}/"
mkdir "${tmp}/conf" "${tmp}/local"
cp "${template}/conf/format.yaml" "${template}/conf/slurm.conf" "${template}/conf/queue.conf" \
    "${template}/conf/pbs.conf" "${tmp}/conf/"
cp "${template}/skel/run.sh" "${tmp}/run.sh"
cp "${template}/skel/local/data.sh" "${tmp}/local/data.sh"
chmod 755 "${tmp}" "${tmp}/run.sh" "${tmp}/local/data.sh"
mv -T "${tmp}" "${parent}/${name}"
trap - EXIT

echo "Made the recipe ${new}. Next:"
echo "  1. edit ${new}/run.sh: languages, set names, configs"
echo "  2. write ${new}/local/data.sh: the corpus -> data/<set>/ (see egs/TEMPLATE/README.md)"
echo "  3. cd ${new} && ./run.sh --stage 1 --stop_stage 1"
