#!/usr/bin/env bash
# local/data.sh: data preparation of this corpus (stage 1 of s2st.sh, run from
# the recipe dir with the words of run.sh's local_data_opts as arguments).
#
# It must make one Kaldi-style dir per set named in run.sh (train_sets,
# valid_sets, test_sets), each with exactly one source language and the target:
#   data/<set>/wav.scp.<src>  utt audio: a file soundfile reads, file.ark:offset or "cmd |"
#   data/<set>/wav.scp.<tgt>  utt target audio (the same forms)
#   data/<set>/text.<src>     utt source transcript
#   data/<set>/text.<tgt>     utt target translation
#   data/<set>/utt2spk        utt speaker
#   data/<set>/segments       optional: utt recording start end (seconds)
# sorted by utterance id (LC_ALL=C sort), source and target sharing ids, no
# empty transcripts. If run.sh sets pretrain_conf (stage 7), also the text-only
# files data/lm_text/{train,dev}/text.<lang> (run.sh's lm_train_text and lm_valid_text
# name the dirs; conf/pretrain_text.yaml the language pairs). egs/TEMPLATE/README.md has the details.
# Typical shape:
#   corpus_dir=/path/to/corpus           # the corpus (an option: --corpus_dir DIR from run.sh)
#   help_message="Usage: $0 [options]"   # --help adds every "name=default  # description" line above
#   . utils/parse_options.sh
#   for split in train dev test; do
#       python local/prepare.py "${corpus_dir}" "${split}" "data/${split}_xx"
#   done
# Never download without being asked: take the corpus location as an option and
# fail with a message saying what to put where. After this script, stage 1 runs
# `s2s data validate data/<set>` on every set, which reports every problem
# (file, line, utterance); run it yourself while writing the script.
set -euo pipefail

echo "local/data.sh: this is the template's placeholder: write your data preparation" \
    "here (see egs/TEMPLATE/README.md, section 'local/data.sh')" >&2
exit 1
