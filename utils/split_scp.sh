#!/usr/bin/env bash
# split_scp.sh: split a Kaldi scp/text file into contiguous parts of near-equal size.
set -euo pipefail

usage() {
    cat <<EOF
Usage: ${0##*/} IN OUT1 OUT2 ... OUTn

Splits the lines of IN (wav.scp, text, utt2spk, ...) into n contiguous parts,
in input order, whose sizes differ by at most one. With L lines, part j
(1-based) holds the 0-based lines floor((j-1)*L/n) to floor(j*L/n) - 1; the
Python side (s2s ... --nj N --job J) uses the same rule, so shards agree.
It is an error to ask for more parts than IN has lines. Each OUT is written
under a temporary name and renamed only when all parts are complete.

Example:
  utils/split_scp.sh data/train_fr/wav.scp.fr split/wav.1.scp split/wav.2.scp split/wav.3.scp
EOF
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac
if [ $# -lt 2 ]; then
    usage >&2
    exit 1
fi
in=$1
shift
[ -f "${in}" ] || { echo "${0##*/}: error: ${in}: no such file" >&2; exit 1; }
nparts=$#
nlines=$(awk 'END { print NR }' "${in}")
if [ "${nparts}" -gt "${nlines}" ]; then
    echo "${0##*/}: error: cannot split the ${nlines} lines of ${in} into ${nparts} parts" >&2
    exit 1
fi

tmps=()
cleanup() { [ "${#tmps[@]}" -eq 0 ] || rm -f -- "${tmps[@]}"; }
trap cleanup EXIT
for out in "$@"; do
    mkdir -p -- "$(dirname -- "${out}")"
    tmps+=("$(mktemp "$(dirname -- "${out}")/.$(basename -- "${out}").XXXXXX")")
done

# Line i (0-based) goes to part j where floor((j-1)*L/n) <= i < floor(j*L/n);
# the parts are filled one after the other, so one file is open at a time.
SPLIT_SCP_PARTS=$(printf '%s\n' "${tmps[@]}") awk -v n="${nparts}" -v L="${nlines}" '
    BEGIN { split(ENVIRON["SPLIT_SCP_PARTS"], part, "\n") }
    {
        i = FNR - 1
        while (i >= int(j * L / n)) {
            if (j > 0) close(part[j])
            j++
        }
        print > part[j]
    }
    END { if (j > 0) close(part[j]) }
' "${in}"

for ((k = 0; k < nparts; k++)); do
    mv -f -- "${tmps[k]}" "${@:k+1:1}"
done
tmps=()
