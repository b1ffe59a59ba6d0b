#!/usr/bin/env bash
# run.sh: CVSS X->En, one source language per run (one model per pair, as in
# the paper):
#   ./run.sh --src_lang fr                        # CVSS-C Fr->En, every stage
#   ./run.sh --src_lang pt --stop_stage 2         # data preparation and formatting only
#   ./run.sh --src_lang de --version t            # CVSS-T
# Corpus locations: db.sh. The options below are this recipe's; every other
# option goes to s2st.sh and wins (./s2st.sh --help lists them).
set -euo pipefail

src_lang=fr           # one of: ar ca cy de et es fa fr id it ja lv mn nl pt ru sl sv ta tr zh
version=c             # c: CVSS-C (the paper) | t: CVSS-T
test_subset=1000      # random test utterances (the paper: 1,000); 0 keeps the whole test set
seed=1                # seed of the test subset
max_missing=0.02      # largest share of broken entries a split may have (stage 1)
tgt_lang=en
format_conf=conf/format.yaml  # stage 2
local_data_opts=""    # more options for local/data.sh (e.g. "--nj 16"), added to the ones above

# Take this recipe's options out of the arguments; keep the rest for s2st.sh.
rest=()
want_help=false
while [ $# -gt 0 ]; do
    case "$1" in
        --src_lang | --version | --test_subset | --seed | --max_missing | --local_data_opts)
            [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
            printf -v "${1#--}" '%s' "$2"
            shift 2 ;;
        --src_lang=* | --version=* | --test_subset=* | --seed=* | --max_missing=* | --local_data_opts=*)
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
          [--max_missing SHARE] [--local_data_opts STR] [s2st.sh options...]
  --src_lang LANG       CVSS source language (current: ${src_lang})
  --version c|t         CVSS-C or CVSS-T (current: ${version})
  --test_subset N       random test utterances, 0 for all (current: ${test_subset})
  --seed N              seed of the test subset (current: ${seed})
  --max_missing SHARE   largest share of broken entries per split (current: ${max_missing})
  --local_data_opts STR more options for local/data.sh (current: \"${local_data_opts}\")
Other options are passed to s2st.sh:"
if ${want_help}; then
    echo "${usage}"
fi

./s2st.sh \
    --src_langs "${src_lang}" \
    --tgt_lang "${tgt_lang}" \
    --train_sets "train_${src_lang}" \
    --valid_sets "dev_${src_lang}" \
    --test_sets "test_${src_lang}" \
    --format_conf "${format_conf}" \
    --local_data_opts "--src_lang ${src_lang} --version ${version} --test_subset ${test_subset} --seed ${seed} --max_missing ${max_missing}${local_data_opts:+ ${local_data_opts}}" \
    ${rest[@]+"${rest[@]}"}
