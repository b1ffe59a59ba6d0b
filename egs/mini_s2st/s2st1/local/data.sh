#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../../..
# local/data.sh: data preparation of the embedded recipe (stage 1 of s2st.sh,
# run from the recipe dir). Makes the synthetic corpus with `s2s corpus mini`:
#   data/{train,dev,test}_{fr,es,pt}/  wav.scp.<lang> text.<lang> utt2spk spk2utt
#                                      oracle.<lang>.ctm wav/ (espeak-ng speech, 22050 Hz)
#   data/lm_text/{train,dev}/text.{fr,es,pt,en}   the text-only corpus
# A finished set is skipped when rerun with the same config.
#
#   local/data.sh [--corpus_config conf/corpus.yaml] [--nj 2] [--seed N] [key=value ...]
#   local/data.sh --corpus_config conf/corpus_tiny.yaml sources.pt.train=8
#
# The option is --corpus_config, not --config: utils/parse_options.sh reads
# --config FILE as shell assignments (Kaldi's convention).
set -euo pipefail

corpus_config=conf/corpus.yaml  # the corpus config (sizes, voices, seed)
nj=2                            # synthesis processes
seed=""                         # replaces the config's seed; empty: the config's
overwrite=false                 # true: rebuild the sets that exist
datadir=data                    # output dir: where the sets go

help_message="Usage: $0 [options] [key=value ...]
Makes the synthetic fr/es/pt -> en corpus (s2s corpus mini) in --datadir.
Words key=value override the corpus config, e.g. sources.pt.train=50."

. utils/log.sh
. utils/parse_options.sh
. ./path.sh

args=(--config "${corpus_config}" --out "${datadir}" --nj "${nj}")
if [ -n "${seed}" ]; then
    args+=(--seed "${seed}")
fi
if [ "${overwrite}" = true ]; then
    args+=(--overwrite)
fi
log "s2s corpus mini ${args[*]}${*:+ $*}"
s2s corpus mini "${args[@]}" "$@"
log "Done: the speech sets and lm_text/ are in ${datadir}/"
