#!/usr/bin/env bash
# run.sh: the embedded recipe. local/data.sh makes a synthetic parallel corpus
# (a small grammar, spoken by espeak-ng) from three source languages into
# English, with unequal amounts: fr high-resource, es in between, pt
# low-resource. Runs on CPU; options given here are passed on and win
# (./run.sh --stage 2 --stop_stage 2). See ./s2st.sh --help.
set -euo pipefail

src_langs="fr es pt"          # source languages
tgt_lang="en"                 # target language

train_sets="train_fr train_es train_pt"
valid_sets="dev_fr dev_es dev_pt"
test_sets="test_fr test_es test_pt"

format_conf=conf/format.yaml  # stage 2
local_data_opts=""            # passed to local/data.sh
nj=2                          # jobs per set: the embedded setting has 2 CPU cores
nproc=2                       # stages 7-8: 2 DDP processes (gloo) of one thread each; measured against
                              # 1 process with 1 or 2 threads by bench/train_procs.py (recipe README)
pretrain_conf=conf/pretrain_text.yaml   # stage 7: this recipe pretrains its own small text LLM
lm_train_text=data/lm_text/train        # stages 6-7: the text-only corpus (local/data.sh writes it): the
lm_valid_text=data/lm_text/dev          #   tokenizer learns it, stage 7 pretrains on it
extra_align_confs="uniform:conf/align_uniform.yaml"   # stage 5: uniform spans for the ablation
train_conf=conf/train_scheduled.yaml    # stage 8: the paper's method (see run_compare.sh for the others)

./s2st.sh \
    --nj "${nj}" \
    --nproc "${nproc}" \
    --src_langs "${src_langs}" \
    --tgt_lang "${tgt_lang}" \
    --train_sets "${train_sets}" \
    --valid_sets "${valid_sets}" \
    --test_sets "${test_sets}" \
    --format_conf "${format_conf}" \
    --local_data_opts "${local_data_opts}" \
    --pretrain_conf "${pretrain_conf}" \
    --lm_train_text "${lm_train_text}" \
    --lm_valid_text "${lm_valid_text}" \
    --extra_align_confs "${extra_align_confs}" \
    --train_conf "${train_conf}" \
    "$@"
