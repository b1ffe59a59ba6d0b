#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR source-path=SCRIPTDIR/../../..
# s2st.sh: the stages every speech-to-speech translation recipe shares.
# A corpus's run.sh sets its sets, languages and configs and calls this script
# from the recipe dir (egs/<corpus>/s2st1), where s2st.sh is a symlink.
# Each stage: a guard, one log line, one s2s call (in parallel through ${cmd})
# and a done marker; a rerun skips finished work. Run ./s2st.sh --help.
set -euo pipefail

stage=1               # first stage to run
stop_stage=100        # last stage to run
force=false           # true: rerun the selected stages even where done markers exist
nj=4                  # parallel jobs per set
src_langs=""          # source languages, e.g. "fr es pt"
tgt_lang=en           # target language
train_sets=""         # training sets, e.g. "train_fr train_es"
valid_sets=""         # validation sets
test_sets=""          # evaluation sets
datadir=data          # data/<set>: Kaldi-style dirs made by local/data.sh
dumpdir=dump          # dump/<set>: formatted audio, units, alignments
expdir=exp            # exp/<tag>: models, decodes, scores
local_data_opts=""    # options passed to local/data.sh (word-split)
fs=""                 # output sample rate; empty: the one in --format_conf
format_conf=conf/format.yaml
python=python         # the Python with s2s_plugin installed

help_message="Usage: $0 [options]
Runs the S2ST recipe stages from the recipe dir (usually through ./run.sh).

Stages:
  1  data preparation: local/data.sh, then 's2s data validate' on every set
  2  audio formatting: resample, downmix, filter and dump every set into the dump dir
Logs: ${datadir}/logs/data.log, ${dumpdir}/<set>/logs/. Done markers:
${datadir}/.done.stage1 and ${dumpdir}/<set>/.done.stage2; a stage with its
marker is skipped. Use --force true (or delete the marker) to rerun.

Options:
  --stage N             first stage (default: ${stage})
  --stop_stage N        last stage (default: ${stop_stage})
  --force BOOL          rerun stages that have done markers (default: ${force})
  --nj N                parallel jobs per set (default: ${nj})
  --src_langs LIST      source languages (default: \"${src_langs}\")
  --tgt_lang LANG       target language (default: ${tgt_lang})
  --train_sets LIST     training sets (default: \"${train_sets}\")
  --valid_sets LIST     validation sets (default: \"${valid_sets}\")
  --test_sets LIST      test sets (default: \"${test_sets}\")
  --datadir DIR         (default: ${datadir})
  --dumpdir DIR         (default: ${dumpdir})
  --expdir DIR          (default: ${expdir})
  --local_data_opts STR options for local/data.sh (default: \"${local_data_opts}\")
  --fs HZ               sample rate, overriding --format_conf's fs (default: the config's)
  --format_conf FILE    stage 2 config (default: ${format_conf})
  --python PYTHON       (default: ${python})
The job runner comes from ./cmd.sh (cmd_backend=local|slurm)."

orig_args=("$@")
if ! [ -d utils ] || ! [ -f path.sh ] || ! [ -f cmd.sh ]; then
    echo "$0: run me from a recipe dir (with utils/, path.sh, cmd.sh); see egs/TEMPLATE/README.md" >&2
    exit 1
fi
. utils/log.sh
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected arguments: $* (options are --name value; see --help)"
. ./path.sh
. ./cmd.sh

all_sets=""
for dset in ${train_sets} ${valid_sets} ${test_sets}; do
    case " ${all_sets} " in *" ${dset} "*) ;; *) all_sets+="${all_sets:+ }${dset}" ;; esac
done
[ -n "${all_sets}" ] || die "no data sets: give --train_sets, --valid_sets and/or --test_sets"
s2s="${python} -m s2s_plugin.bin.main"
fs_opt=${fs:+--fs ${fs}}

# On failure: say which stage failed and print the exact command that resumes there.
current_stage=""
on_exit() {
    local rc=$? a skip=false resume=()
    [ "${rc}" -ne 0 ] && [ -n "${current_stage}" ] || return 0
    for a in ${orig_args[@]+"${orig_args[@]}"}; do
        if ${skip}; then skip=false; continue; fi
        case "${a}" in --stage) skip=true; continue ;; --stage=*) continue ;; esac
        resume+=("${a}")
    done
    log "Stage ${current_stage} failed (exit code ${rc}); the messages above name the cause or its log."
    log "After fixing it, resume from stage ${current_stage} with:"
    printf '  cd %q && %q' "${PWD}" "$0" >&2
    printf ' %q' ${resume[@]+"${resume[@]}"} --stage "${current_stage}" >&2
    printf '\n' >&2
}
trap on_exit EXIT

# is_done MARKER [KEY]: the work behind MARKER is finished (for inputs KEY, when
# given: the marker holds the key it was made for) and --force is false.
is_done() { [ "${force}" = false ] && [ -f "$1" ] && { [ $# -lt 2 ] || [ "$(head -n 1 "$1")" = "$2" ]; }; }
mark_done() { mkdir -p "$(dirname "$1")" && { printf '%s\n' "${2:-done}"; date; } > "$1"; }

log "Running: $0$(printf ' %q' ${orig_args[@]+"${orig_args[@]}"})"

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: data preparation (local/data.sh${local_data_opts:+ ${local_data_opts}}) and validation of ${all_sets}"
    current_stage=1
    stage1_key="sets: ${all_sets}; local/data.sh ${local_data_opts}"
    if is_done "${datadir}/.done.stage1" "${stage1_key}"; then
        log "Stage 1: done before (${datadir}/.done.stage1), skipped; --force true reruns it"
    else
        mkdir -p "${datadir}/logs"
        # shellcheck disable=SC2086  # local_data_opts holds several words
        local/data.sh ${local_data_opts} 2>&1 | tee "${datadir}/logs/data.log" >&2
        for dset in ${all_sets}; do
            ${s2s} data validate "${datadir}/${dset}" --tgt_lang "${tgt_lang}" 2>&1 | tee -a "${datadir}/logs/data.log" >&2
        done
        mark_done "${datadir}/.done.stage1" "${stage1_key}"
    fi
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "Stage 2: audio formatting (${format_conf}${fs:+, fs=${fs}}) of ${all_sets} into ${dumpdir}, ${nj} jobs each"
    current_stage=2
    for dset in ${all_sets}; do
        is_done "${dumpdir}/${dset}/.done.stage2" && { log "Stage 2: ${dset} done before, skipped"; continue; }
        fmt_args=("${datadir}/${dset}" "${dumpdir}/${dset}" --config "${format_conf}" --tgt_lang "${tgt_lang}" --nj "${nj}")
        # shellcheck disable=SC2086  # ${cmd}, ${s2s} and ${fs_opt} hold several words
        ${cmd} JOB=1:"${nj}" "${dumpdir}/${dset}/logs/format.JOB.log" ${s2s} data format "${fmt_args[@]}" ${fs_opt} --job JOB
        # shellcheck disable=SC2086
        ${cmd} "${dumpdir}/${dset}/logs/format_merge.log" ${s2s} data format "${fmt_args[@]}" ${fs_opt} --merge
        mark_done "${dumpdir}/${dset}/.done.stage2"
    done
fi

# Stages 3-11 are added by their own issues, each in the same shape:
#   3  CTC model: train or import the model that aligns (and may feed units)
#   4  unit extraction: features, k-means on a portion, unit labels for all sets
#   5  word alignment of both sides into CTM
#   6  vocabulary: LLM tokenizer + unit tokens + special tokens
#   7  text-only pretraining of the LLM (embedded recipe only)
#   8  S2ST fine-tuning with the interleaving scheduler (through s2s launch)
#   9  decoding: S_src -> T_src -> T_tgt -> S_tgt
#  10  vocoder: fit or import; units -> waveform
#  11  scoring: ASR-BLEU, BLEU, WER; RESULTS.md
current_stage=""
log "Finished stages ${stage}..${stop_stage} (of those this script has)"
