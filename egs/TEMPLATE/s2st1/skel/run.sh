#!/usr/bin/env bash
# run.sh: the recipe of this corpus. It names the languages, sets and configs,
# then runs the shared stages of s2st.sh; options given here are passed on and
# win (./run.sh --stage 2 --stop_stage 2 --nj 8). See ./s2st.sh --help.
set -euo pipefail

src_langs="xx"                # source languages of the corpus
tgt_lang="en"                 # target language

train_sets="train_xx"         # data/<set> dirs that local/data.sh makes
valid_sets="dev_xx"
test_sets="test_xx"

format_conf=conf/format.yaml  # stage 2
local_data_opts=""            # passed to local/data.sh (e.g. "--corpus_dir /data/xx")

./s2st.sh \
    --src_langs "${src_langs}" \
    --tgt_lang "${tgt_lang}" \
    --train_sets "${train_sets}" \
    --valid_sets "${valid_sets}" \
    --test_sets "${test_sets}" \
    --format_conf "${format_conf}" \
    --local_data_opts "${local_data_opts}" \
    "$@"
