#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# run_compare.sh: the paper's comparison in miniature (the replication). Trains,
# decodes and scores the baseline (no interleaving), scheduled interleaving and
# constant p = 0.3 with 3 seeds each, and the paper's ablations (input only,
# output only, mask, uniform spans) with 2 seeds each, on top of the shared
# stages 1-7 and the stage-10/11 models of ./run.sh; runs go side by side
# (--jobs). Then:
#   s2s compare    -> RESULTS.md (+ RESULTS.png, RESULTS.json): mean +- sd over seeds,
#                     paired bootstrap intervals, toplines, one verdict per claim;
#                     exp/compare/table.md
#   s2s similarity -> similarity.png/.tsv/.json: speech-text similarity of the same
#                     words over training, baseline vs scheduled (the first seed)
#
#   ./run.sh                           # once (make demo): data, units, LM, vocoder, scoring ASR
#   ./run_compare.sh                   # everything above
#   ./run_compare.sh --systems "baseline scheduled" --seeds "1 2" --ablations ""
set -euo pipefail

systems="baseline scheduled constant"             # conf/train_<system>.yaml, each with --seeds
seeds="1 2 3"                                     # trainer.seed of each run (it seeds every random choice)
ablations="input_only output_only mask uniform"   # conf/train_<name>.yaml, each with --ablation_seeds
ablation_seeds="1 2"                              # trainer.seed of each ablation run
jobs=2                 # runs side by side; each gets nproc = 2 / jobs training processes (at least 1)
results=RESULTS.md     # the replication report (s2s compare --results)
bootstrap=1000         # bootstrap resamples of the test utterances
run_opts=""            # more ./run.sh options for every run, e.g. "--dry_run true"
help_message="Usage: $0 [options]
Runs stages 8-11 of ./run.sh for every system and seed (exp/s2st_<system>_seed<N>),
up to --jobs at a time, each logging to exp/compare/logs/<system>_seed<N>.log;
then s2s compare (--results, exp/compare/table.md) and s2s similarity.
Run ./run.sh (all stages) first: the runs share its data, LM, vocoder and scoring ASR."

. utils/log.sh
. utils/parse_options.sh
. ./path.sh

# The runs share what ./run.sh made once; two runs must not both try to make it.
for need in exp/lm/model/config.json exp/vocoder/.done.stage10 exp/asr_en/.done.stage11; do
    [ -e "${need}" ] || die "${need} is missing: run ./run.sh (all stages, e.g. make demo) before $0"
done

nproc=$(( 2 / jobs )); [ "${nproc}" -ge 1 ] || nproc=1
runs=()
for system in ${systems}; do for seed in ${seeds}; do runs+=("${system}:${seed}"); done; done
for system in ${ablations}; do for seed in ${ablation_seeds}; do runs+=("${system}:${seed}"); done; done
for r in "${runs[@]}"; do
    [ -f "conf/train_${r%%:*}.yaml" ] || die "no conf/train_${r%%:*}.yaml (from --systems or --ablations)"
done

read -r -a extra <<< "${run_opts}"   # the --run_opts words
mkdir -p exp/compare/logs
log "${#runs[@]} runs, ${jobs} at a time (${nproc} training process(es) each); logs in exp/compare/logs"
declare -A pid_of=()
failed=()
# Each run is its own process group (setsid): stopping this script (Ctrl-C, kill, a failure)
# stops the runs still going, with everything they started.
stop_runs() {
    local pid
    for pid in "${pid_of[@]}"; do kill -TERM -- "-${pid}" 2> /dev/null || true; done
}
trap stop_runs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
finish_one() {  # wait for any run to end; record a failure with its log
    local pid="" tag rc=0
    wait -n -p pid "${pid_of[@]}" || rc=$?
    for tag in "${!pid_of[@]}"; do
        [ "${pid_of[${tag}]}" = "${pid}" ] || continue
        unset "pid_of[${tag}]"
        if [ "${rc}" -eq 0 ]; then
            log "=== ${tag} done"
        else
            failed+=("${tag} (log: exp/compare/logs/${tag}.log)")
            log "=== ${tag} FAILED; see exp/compare/logs/${tag}.log"
        fi
    done
}
exps=()
for r in "${runs[@]}"; do
    system=${r%%:*} seed=${r##*:} tag=${r%%:*}_seed${r##*:}
    exps+=("exp/s2st_${tag}")
    while [ "${#pid_of[@]}" -ge "${jobs}" ]; do finish_one; done
    log "=== ${tag}: stages 8-11"
    setsid ./run.sh --stage 8 --stop_stage 11 --train_conf "conf/train_${system}.yaml" --tag "${tag}" \
        --nproc "${nproc}" --nj "${nproc}" --train_args "trainer.seed=${seed}" ${extra[@]+"${extra[@]}"} \
        > "exp/compare/logs/${tag}.log" 2>&1 &
    pid_of[${tag}]=$!
done
while [ "${#pid_of[@]}" -gt 0 ]; do finish_one; done
[ "${#failed[@]}" -eq 0 ] || die "${#failed[@]} run(s) failed: ${failed[*]}"
case " ${run_opts} " in *" --dry_run true "*) log "dry run: no comparison"; exit 0 ;; esac

python -m s2s_plugin.bin.main compare --exps "${exps[@]}" --out exp/compare/table.md \
    --results "${results}" --bootstrap "${bootstrap}"
log "replication report: ${results}"
first=${seeds%% *}
sim=()
for system in baseline scheduled; do
    [ -d "exp/s2st_${system}_seed${first}" ] && sim+=("exp/s2st_${system}_seed${first}")
done
if [ "${#sim[@]}" -gt 0 ]; then
    python -m s2s_plugin.bin.main similarity "${sim[@]}" --data dump/dev_fr dump/dev_es dump/dev_pt \
        --out "$(dirname "${results}")/similarity"
    log "speech-text similarity over training: $(dirname "${results}")/similarity.png"
fi
