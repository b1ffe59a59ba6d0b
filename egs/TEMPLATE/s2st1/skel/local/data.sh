#!/usr/bin/env bash
# local/data.sh: data preparation of this corpus (stage 1 of s2st.sh, run from
# the recipe dir with the words of run.sh's local_data_opts as arguments).
#
# Write here whatever turns the corpus into one Kaldi-style dir per set, with
# the set names of run.sh (egs/TEMPLATE/README.md has the format):
#   data/<set>/wav.scp.<src>  wav.scp.<tgt>  text.<src>  text.<tgt>  utt2spk
# sorted by utterance id (LC_ALL=C sort), source and target sharing ids.
# Typical shape:
#   corpus_dir=/path/to/corpus           # options, overridable from run.sh
#   . utils/parse_options.sh
#   for set in train dev test; do
#       python local/prepare.py "${corpus_dir}" "${set}" "data/${set}_xx"
#   done
# s2st.sh validates every set after this script ends (s2s data validate).
set -euo pipefail

echo "local/data.sh: this is the template's placeholder: write your data preparation" \
    "here (see egs/TEMPLATE/README.md, section 'local/data.sh')" >&2
exit 1
