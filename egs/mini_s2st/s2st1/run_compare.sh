#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# run_compare.sh: the paper's comparison in miniature. Trains, decodes and scores
# the baseline (no interleaving), scheduled interleaving and constant p = 0.3,
# each with several seeds, on top of the shared stages 1-7 of ./run.sh, then
# writes one table (mean and spread over seeds) to exp/compare/table.md.
#
#   ./run.sh --stop_stage 7            # once: data, units, alignments, vocabulary, text LM
#   ./run_compare.sh                   # 3 systems x 2 seeds: stages 8-11 each
#   ./run_compare.sh --systems "baseline scheduled" --seeds "1 2 3"
set -euo pipefail

systems="baseline scheduled constant"   # conf/train_<system>.yaml
seeds="1 2"                             # trainer.seed of each run (it seeds every random choice)
help_message="Usage: $0 [--systems \"baseline scheduled constant\"] [--seeds \"1 2\"] [run.sh options]
Runs stages 8-11 of ./run.sh for every system and seed (exp/s2st_<system>_seed<N>),
then 's2s compare' into exp/compare/table.md. Run ./run.sh --stop_stage 7 first."

. utils/log.sh
. utils/parse_options.sh
. ./path.sh

exps=()
for system in ${systems}; do
    [ -f "conf/train_${system}.yaml" ] || die "no conf/train_${system}.yaml"
    for seed in ${seeds}; do
        tag=${system}_seed${seed}
        log "=== ${tag} ==="
        ./run.sh --stage 8 --stop_stage 11 --train_conf "conf/train_${system}.yaml" --tag "${tag}" \
            --train_args "trainer.seed=${seed}" "$@"
        exps+=("exp/s2st_${tag}")
    done
done
mkdir -p exp/compare
python -m s2s_plugin.bin.main compare --exps "${exps[@]}" --out exp/compare/table.md
log "comparison table: exp/compare/table.md"
cat exp/compare/table.md
