#!/usr/bin/env bash
# run.sh: the recipe of this corpus (made by egs/TEMPLATE/s2st1/setup.sh from
# egs/@BASE@/s2st1). It names the languages, sets and the config of every
# stage, then runs the shared stages 1-11 of s2st.sh; options given here are
# passed on and win (./run.sh --stage 2 --stop_stage 2 --nj 8). See
# ./s2st.sh --help and egs/TEMPLATE/README.md.
set -euo pipefail

src_langs="xx"                # source languages of the corpus
tgt_lang="en"                 # target language

# data/<set> dirs that local/data.sh makes; every stage takes its sets from here
train_sets="train_xx"
valid_sets="dev_xx"
test_sets="test_xx"

local_data_opts=""            # passed to local/data.sh (e.g. "--corpus_dir /data/xx")
nj=4                          # parallel jobs per set
# stages 7-8: GPUs (0: --nproc CPU processes); stages 4-5: true sends their jobs through
# ${decode_cmd} (a GPU each on a cluster), for configs with device: cuda
ngpu=@NGPU@
gpu_inference=@GPU_INFERENCE@

# The config of every stage (conf/*.yaml: each starts with what to change for a new corpus).
# Stage 3 trains the CTC model with ctc_conf, or imports the model dir ctc_import instead.
# Stage 7 pretrains the LLM on text ("" skips it: the LLM of conf/train_scheduled.yaml is
# pretrained). Stage 11 trains the scoring ASR with asr_conf ("": conf/score.yaml names a
# pretrained one).
format_conf=conf/format.yaml            # stage 2: audio formatting
ctc_conf="@CTC_CONF@"
ctc_import="@CTC_IMPORT@"
units_conf=conf/units.yaml              # stage 4: units
align_conf=conf/align.yaml              # stage 5: word alignment
vocab_conf=conf/vocab.yaml              # stage 6: vocabulary
lm_train_text=""                        # stages 6-7: a text-only dir of text.<lang> files (e.g. data/lm_text/train):
                                        #   the tokenizer learns it; stage 7 pretrains on it
lm_valid_text=""                        # stage 7: its validation dir (e.g. data/lm_text/dev)
pretrain_conf="@PRETRAIN_CONF@"
train_conf=conf/train_scheduled.yaml    # stage 8: S2ST training
decode_conf=conf/decode.yaml            # stage 9: decoding
vocoder_conf=conf/vocoder.yaml          # stage 10: vocoder
asr_conf="@ASR_CONF@"
score_conf=conf/score.yaml              # stage 11: scoring

./s2st.sh \
    --src_langs "${src_langs}" \
    --tgt_lang "${tgt_lang}" \
    --train_sets "${train_sets}" \
    --valid_sets "${valid_sets}" \
    --test_sets "${test_sets}" \
    --local_data_opts "${local_data_opts}" \
    --nj "${nj}" \
    --ngpu "${ngpu}" \
    --gpu_inference "${gpu_inference}" \
    --format_conf "${format_conf}" \
    --ctc_conf "${ctc_conf}" \
    --ctc_import "${ctc_import}" \
    --units_conf "${units_conf}" \
    --align_conf "${align_conf}" \
    --vocab_conf "${vocab_conf}" \
    --lm_train_text "${lm_train_text}" \
    --lm_valid_text "${lm_valid_text}" \
    --pretrain_conf "${pretrain_conf}" \
    --train_conf "${train_conf}" \
    --decode_conf "${decode_conf}" \
    --vocoder_conf "${vocoder_conf}" \
    --asr_conf "${asr_conf}" \
    --score_conf "${score_conf}" \
    "$@"
