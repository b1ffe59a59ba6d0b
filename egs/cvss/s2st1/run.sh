#!/usr/bin/env bash
# run.sh: CVSS X->En, one source language per run (one model per pair, as in
# the paper):
#   ./run.sh --src_lang fr                        # CVSS-C Fr->En, every stage, the paper's method
#   ./run.sh --src_lang pt --stop_stage 2         # data preparation and formatting only
#   ./run.sh --src_lang pt --stage 8 --train_conf conf/tuning/train_baseline.yaml   # another system
#   ./run.sh --src_lang de --version t            # CVSS-T
#   ./run.sh --src_lang pt --dry_run true         # print every stage's command, run nothing
# Corpus and model locations: db.sh (models go under downloads/). The configs
# reproducing the paper are in conf/tuning/ (README.md lists the command of each
# table row). The options below are this recipe's; every other option goes to
# s2st.sh and wins (./s2st.sh --help lists them).
set -euo pipefail

src_lang=fr           # one of: ar ca cy de et es fa fr id it ja lv mn nl pt ru sl sv ta tr zh
version=c             # c: CVSS-C (the paper) | t: CVSS-T
test_subset=1000      # random test utterances (the paper: 1,000); 0 keeps the whole test set
seed=1                # seed of the test subset
max_missing=0.02      # largest share of broken entries a split may have (stage 1)
tgt_lang=en
local_data_opts=""    # more options for local/data.sh (e.g. "--nj 16"), added to the ones above
train_conf=conf/tuning/train_scheduled.yaml   # stage 8: the paper's method (README.md: the other systems)
tag=""                # exp/s2st_<tag>; default <src_lang>_<train conf name without train_>, e.g. pt_scheduled
train_args=""         # more stage-8 overrides (e.g. "trainer.seed=2"), after the data sets run.sh sets

# The models and configs of the other stages (each an s2st.sh option: giving it wins).
format_conf=conf/format.yaml                    # stage 2
ctc_import=downloads/w2v-bert-2.0-ctc           # stage 3: the fine-tuned w2v-BERT 2.0 CTC model (transformers dir)
units_conf=conf/tuning/units.yaml               # stage 4: its layer 20, 2048 k-means units
align_conf=conf/tuning/align.yaml               # stage 5: CTC segmentation with the same model
extra_align_confs="uniform:conf/tuning/align_uniform.yaml"   # stage 5: uniform spans, for train_uniform.yaml
vocab_conf=conf/tuning/vocab.yaml               # stage 6: Llama-3.2-1B's tokenizer + specials + units
ngpu=1                                          # stage 8: GPUs (one DDP process each)
gpu_inference=true                              # stages 4-5: w2v-BERT jobs through ${decode_cmd} (a GPU each on Slurm)
decode_conf=conf/tuning/decode.yaml             # stage 9
vocoder_conf=conf/tuning/vocoder_unit_hifigan.yaml   # stage 10: the unit HiFi-GAN (ParallelWaveGAN format)
asr_conf=""                                     # stage 11: no scoring ASR to train: Whisper is pretrained
score_conf=conf/tuning/score_whisper.yaml       # stage 11: ASR-BLEU with Whisper large-v3

# Take this recipe's options out of the arguments; keep the rest for s2st.sh.
rest=()
want_help=false
while [ $# -gt 0 ]; do
    case "$1" in
        --src_lang | --version | --test_subset | --seed | --max_missing | --local_data_opts | --train_conf | \
        --tag | --train_args)
            [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
            printf -v "${1#--}" '%s' "$2"
            shift 2 ;;
        --src_lang=* | --version=* | --test_subset=* | --seed=* | --max_missing=* | --local_data_opts=* | \
        --train_conf=* | --tag=* | --train_args=*)
            opt=${1%%=*}
            printf -v "${opt#--}" '%s' "${1#*=}"
            shift ;;
        --help | -h) want_help=true; rest+=("$1"); shift ;;
        *) rest+=("$1"); shift ;;
    esac
done

cvss_langs="ar ca cy de et es fa fr id it ja lv mn nl pt ru sl sv ta tr zh"
case " ${cvss_langs} " in
    *" ${src_lang} "*) ;;
    *) echo "$0: --src_lang '${src_lang}' is not a CVSS source language (${cvss_langs}); run one language per call" >&2
       exit 1 ;;
esac
case "${version}" in
    c | t) ;;
    *) echo "$0: --version must be c (CVSS-C) or t (CVSS-T), not '${version}'" >&2; exit 1 ;;
esac

usage="Usage: $0 [--src_lang LANG] [--version c|t] [--test_subset N] [--seed N]
          [--max_missing SHARE] [--local_data_opts STR] [--train_conf FILE] [--tag NAME]
          [--train_args STR] [s2st.sh options...]
  --src_lang LANG       CVSS source language (current: ${src_lang})
  --version c|t         CVSS-C or CVSS-T (current: ${version})
  --test_subset N       random test utterances, 0 for all (current: ${test_subset})
  --seed N              seed of the test subset (current: ${seed})
  --max_missing SHARE   largest share of broken entries per split (current: ${max_missing})
  --local_data_opts STR more options for local/data.sh (current: \"${local_data_opts}\")
  --train_conf FILE     stage 8 config (current: ${train_conf})
  --tag NAME            exp/s2st_<NAME> (current: \"${tag}\"; empty: <src_lang>_<train conf name>)
  --train_args STR      more stage 8 overrides (current: \"${train_args}\")
Other options are passed to s2st.sh:"
if ${want_help}; then
    echo "${usage}"
fi

# One model per pair: stage 8 trains on this language's sets (s2st.sh passes them as
# data.train and data.valid), into its own exp dir. exp/ctc, exp/units, exp/vocab and
# exp/vocoder are shared by the pairs run here.
[ -n "${tag}" ] || { tag=$(basename "${train_conf}" .yaml); tag="${src_lang}_${tag#train_}"; }

./s2st.sh \
    --src_langs "${src_lang}" \
    --tgt_lang "${tgt_lang}" \
    --train_sets "train_${src_lang}" \
    --valid_sets "dev_${src_lang}" \
    --test_sets "test_${src_lang}" \
    --local_data_opts "--src_lang ${src_lang} --version ${version} --test_subset ${test_subset} --seed ${seed} --max_missing ${max_missing}${local_data_opts:+ ${local_data_opts}}" \
    --format_conf "${format_conf}" \
    --ctc_import "${ctc_import}" \
    --units_conf "${units_conf}" \
    --align_conf "${align_conf}" \
    --extra_align_confs "${extra_align_confs}" \
    --vocab_conf "${vocab_conf}" \
    --train_conf "${train_conf}" \
    --tag "${tag}" \
    --train_args "${train_args}" \
    --ngpu "${ngpu}" \
    --gpu_inference "${gpu_inference}" \
    --decode_conf "${decode_conf}" \
    --vocoder_conf "${vocoder_conf}" \
    --asr_conf "${asr_conf}" \
    --score_conf "${score_conf}" \
    ${rest[@]+"${rest[@]}"}
