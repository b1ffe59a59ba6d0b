#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR source-path=SCRIPTDIR/../../..
# s2st.sh: the stages every speech-to-speech translation recipe shares.
# A corpus's run.sh sets its sets, languages and configs and calls this script
# from the recipe dir (egs/<corpus>/s2st1), where s2st.sh is a symlink.
# Each stage: a guard, one log line, one s2s call (in parallel through ${cmd})
# and a done marker, written last, that records the options and inputs it ran
# with; a rerun skips finished work. Run ./s2st.sh --help.
set -euo pipefail

# The option table: "name=default  # description", one block. utils/parse_options.sh reads these
# lines both for the defaults and for --help, so each option is documented here only.
# Each stage's --<stage>_args are dotted KEY=VALUE overrides of that stage's config, given to its
# s2s verb after the paths this script passes, and recorded in its done marker.
stage=1                # first stage to run
stop_stage=100         # last stage to run
force=false            # true: rerun the selected stages, even where their done markers are current
nj=4                   # parallel jobs per set
src_langs=""           # source languages, e.g. "fr es pt"
tgt_lang=en            # target language
train_sets=""          # training sets, e.g. "train_fr train_es" (data/<set>)
valid_sets=""          # validation sets
test_sets=""           # evaluation sets
datadir=data           # data/<set>: Kaldi-style dirs made by local/data.sh
dumpdir=dump           # dump/<set>: formatted audio, units, alignments
expdir=exp             # exp/<tag>: models, decodes, scores
local_data_opts=""     # options passed to local/data.sh (split into words)
fs=""                  # output sample rate; empty: the fs of --format_conf
no_pipes=false         # true: stages 1-2 refuse wav.scp pipe entries ("cmd |", run as in Kaldi) instead of
                       #   running them: for data you do not trust, see docs/security.md
format_conf=conf/format.yaml   # stage 2 config: audio formatting
format_args=""         # stage 2 overrides, e.g. "max_duration=30"
ctc_conf=conf/ctc.yaml # stage 3 config: train the CTC model into exp/ctc ...
ctc_import=""          # ... or import this model dir instead (an ESPnet ASR dir or a transformers *ForCTC dir,
                       #   told apart by their files)
ctc_args=""            # stage 3 overrides of --ctc_conf, e.g. "max_epoch=5"
units_conf=conf/units.yaml     # stage 4 config: the unit tokenizer and its k-means fit
units_args=""          # stage 4 overrides, e.g. "tokenizer.n_clusters=500"
align_conf=conf/align.yaml     # stage 5 config: the main alignments, align.<lang>.ctm
align_args=""          # stage 5 overrides (of every alignment config), e.g. "max_fail_ratio=0.1"
extra_align_confs=""   # stage 5: more "NAME:CONF" pairs written as NAME.<lang>.ctm (ablations),
                       #   e.g. "uniform:conf/align_uniform.yaml"
vocab_conf=conf/vocab.yaml     # stage 6 config: the vocabulary
vocab_args=""          # stage 6 overrides, e.g. "vocab_size=500"
lm_train_text=""       # stages 6-7: a dir of text-only text.<lang> files sharing ids (e.g. data/lm_text/train):
                       #   the tokenizer learns it, stage 7 pretrains on it (text.train_dir)
lm_valid_text=""       # stage 7: its validation dir (e.g. data/lm_text/dev; text.valid_dir)
pretrain_conf=""       # stage 7 config: text pretraining of the LLM into exp/lm; empty: stage 7 is
                       #   skipped (the LLM of the training config is pretrained)
pretrain_args=""       # stage 7 overrides, e.g. "trainer.max_steps=500"
train_conf=conf/train_scheduled.yaml   # stage 8 config: S2ST training
train_args=""          # stage 8 overrides, e.g. "trainer.seed=2"
tag=""                 # experiment name: exp/s2st_<tag>; empty: the train config's name without train_
ngpu=0                 # stages 7-8: GPUs (0: CPU)
nproc=1                # stages 7-8: processes when --ngpu 0 (DDP over gloo)
decode_conf=conf/decode.yaml   # stage 9 config: decoding
decode_args=""         # stage 9 overrides, e.g. "num_beams=4"
vocoder_conf=conf/vocoder.yaml # stage 10 config: the vocoder
vocoder_args=""        # stage 10 overrides (of the fit), e.g. "max_utts=200"
asr_conf=conf/asr_en.yaml      # stage 11 config of the scoring ASR, trained on reference target speech
                       #   into exp/asr_<tgt_lang>; empty: none is trained, the score config's ASR
                       #   is used as it is (a pretrained whisper or espnet dir)
asr_import=""          # stage 11: score with this ASR exp dir instead of training one
asr_args=""            # stage 11 overrides of --asr_conf, e.g. "max_epoch=5"
score_conf=conf/score.yaml     # stage 11 config: scoring
score_args=""          # stage 11 overrides of --score_conf, e.g. "listen_samples=10"
gpu_inference=false    # true: stage 4-5 jobs (features, alignment) go through ${decode_cmd} (a GPU each on a
                       #   cluster) instead of ${cmd}, for configs with device: cuda
background=true        # true: work that needs nothing of the stages in between runs beside them, as a
                       #   background job with its own log: the scoring ASR (stage 11) trains from stage 3
                       #   on, the vocoder (stage 10) fits from stage 5 on; the stage that needs the
                       #   result waits for it
dry_run=false          # true: print each stage's commands, run nothing
python=python          # the Python with s2s_plugin installed

help_message="Usage: $0 [options]
Runs the S2ST recipe stages from the recipe dir (usually through ./run.sh).

Stages:
  1  data preparation: local/data.sh, then 's2s data validate' on every set
  2  audio formatting: resample, downmix, filter and dump every set into the dump dir
  3  CTC model: train (--ctc_conf) or import (--ctc_import) into exp/ctc
  4  unit extraction: k-means fit on the training sets, units.<lang> for every set
  5  word alignment of both sides into align.<lang>.ctm (plus --extra_align_confs)
  6  vocabulary: text tokenizer + specials + units (exp/vocab)
  7  text-only pretraining of the LLM (exp/lm; only with --pretrain_conf)
  8  S2ST training with the interleaving scheduler (exp/s2st_<tag>, through s2s launch)
  9  decoding of the test sets: S_src -> T_src -> T_tgt -> S_tgt
 10  vocoder: fit (exp/vocoder) and synthesis of the decoded units
 11  scoring: scoring ASR (exp/asr_<tgt>), ASR-BLEU, BLEU, WER, RESULTS.md, listening page
Every stage's s2s verb is given the sets and the dirs of earlier stages (exp/ctc, exp/units,
exp/vocab, exp/lm/model, ...) by this script: the configs say models and hyperparameters only.
Logs: <datadir>/logs/data.log, <dumpdir>/<set>/logs/, <expdir>/<tag>/logs/.
Done markers (<datadir>/.done.stage1, <dumpdir>/<set>/.done.stage2, <expdir>/ctc/.done.stage3, ...)
are written last and hold a hash of the stage's options (its --<stage>_args included), configs and
input stages' markers:
  - same options and inputs: the stage is skipped;
  - other options or inputs: stages 1, 2, 4 (labels), 5, 6, 9, 10 (synthesis) run again;
    stages that train or fit a model (3, 4's k-means fit, 7, 8, 10's vocoder fit, 11's ASR)
    stop, naming what changed; --force true redoes them;
  - a missing input marker (its stage did not complete) stops the stage, naming the command
    that completes it.
--force true removes a stage's marker before its work starts, and reruns it; a training stage
forced or changed starts afresh (its checkpoints/ removed), while one rerun after a kill with
the same options resumes from its checkpoints.
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
# Each stage's --<stage>_args: dotted KEY=VALUE overrides of its config, one word each
for opt in format_args ctc_args units_args align_args vocab_args pretrain_args train_args decode_args vocoder_args \
        asr_args score_args; do
    for a in ${!opt}; do
        [[ ${a} =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*= ]] \
            || die "--${opt}: '${a}' is not a KEY=VALUE override (a dotted key of the stage's config, e.g. trainer.seed=2)"
    done
done
[ -z "${ctc_import}" ] || [ -z "${ctc_args}" ] \
    || die "--ctc_args '${ctc_args}' override --ctc_conf, which is not read with --ctc_import ${ctc_import}"
s2s="${python} -m s2s_plugin.bin.main"
fs_opt=${fs:+--fs ${fs}}
pipes_opt=""; [ "${no_pipes}" = false ] || pipes_opt=--no_pipes
infer_cmd=${cmd}  # stage 4-5 jobs (utils/parse_options.sh allows only true/false for booleans)
[ "${gpu_inference}" = false ] || infer_cmd=${decode_cmd}

# On failure: say which stage failed and print the exact command that resumes there.
current_stage=""
on_exit() {
    local rc=$? a skip=false resume=()
    bg_stop_all
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

# Done markers (s2s_plugin/markers.py; `s2s marker --help`). A marker is written last and holds a
# key: a hash of the stage's options, configs (parsed), data files and its input stages' keys.
# stage_begin MARKER ARGS... returns 0 when the stage must run (its marker was removed before any
# work, and temp files a killed run left under --clean were removed), 1 when the marker holds the
# key of this run (skip). A missing input marker stops the recipe, naming the stage to run; so do
# changed options of a stage given --on_change refuse (model training and fitting).
marker="${python} -m s2s_plugin.bin.main marker"
# rerun_cmd: this run's command without --stage, --stop_stage and --force (the messages add them)
rerun_cmd() {
    local a skip=false
    printf 'cd %q && %q' "${PWD}" "$0"
    for a in ${orig_args[@]+"${orig_args[@]}"}; do
        if ${skip}; then skip=false; continue; fi
        case "${a}" in
            --stage|--stop_stage|--force) skip=true; continue ;;
            --stage=*|--stop_stage=*|--force=*) continue ;;
        esac
        printf ' %q' "${a}"
    done
}
declare -A stage_record=()  # marker -> the record `s2s marker begin` gave, for `s2s marker end`
stage_begin() {
    local out
    [ "${dry_run}" = false ] || return 0
    # shellcheck disable=SC2086  # ${marker} holds several words
    out=$(${marker} begin --force "${force}" --run_cmd "$(rerun_cmd)" "$@") || exit 2
    [ "${out%%$'\n'*}" = run ] || return 1
    stage_record[$1]=${out#*$'\n'}
}
# stage_end MARKER: the stage completed; write its marker
stage_end() {
    [ "${dry_run}" = false ] || return 0
    # shellcheck disable=SC2086
    printf '%s\n' "${stage_record[$1]}" | ${marker} end "$1"
    unset "stage_record[$1]"
}
# overrides_of CONF_NAME ARGS: --override options that put a stage's --<stage>_args into its marker's key
overrides_of() { local a; for a in $2; do printf -- ' --override %s.%s' "$1" "${a}"; done; }
# set_inputs STAGE[.NAME] SETS...: --input options for those sets' markers of that stage
set_inputs() { local d; for d in "${@:2}"; do printf -- ' --input %s/%s/.done.stage%s' "${dumpdir}" "${d}" "$1"; done; }

# run CMD...: run a stage's command, or print it with --dry_run true.
run() {
    if [ "${dry_run}" = true ]; then
        printf '  %s\n' "$*"
    else
        "$@"
    fi
}
# Background jobs: bg_start NAME LOG CMD... runs CMD (a ${cmd}-style job runner call) beside
# the stages; bg_wait NAME waits for it and stops the recipe, naming LOG, if it failed. A
# recipe that exits early stops the jobs still running (run.pl ends its jobs on TERM).
declare -A bg_pid=() bg_log=()
bg_start() {
    local name=$1 log=$2
    shift 2
    bg_log[${name}]=${log}
    if [ "${dry_run}" = true ]; then
        printf '  (in the background: %s) %s\n' "${name}" "$*"
        bg_pid[${name}]=dry_run
        return 0
    fi
    rm -f "${log}"  # its footer is how bg_wait learns the exit code: never an old run's
    "$@" > /dev/null 2>&1 &
    bg_pid[${name}]=$!
    log "Started in the background: ${name} (pid ${bg_pid[${name}]}); log: ${log}"
}
bg_running() { [ -n "${bg_pid[$1]:-}" ]; }
# bg_exit_code LOG: the exit code in the footer of a job log (utils/jobs_common.sh), or nothing
bg_exit_code() { sed -n 's/^# Ended (code \([0-9][0-9]*\)).*/\1/p' "$1" 2> /dev/null | tail -n 1; }
bg_wait() {
    local name=$1 rc=0 start=${SECONDS}
    bg_running "${name}" || return 0
    if [ "${bg_pid[${name}]}" = dry_run ]; then
        printf '  (waits for the background job %s)\n' "${name}"
        unset "bg_pid[${name}]"
        return 0
    fi
    log "Waiting for the background job ${name} (log: ${bg_log[${name}]})"
    # wait only blocks while the job runs. Its exit code comes from the footer the job runner
    # writes last in the log ("# Ended (code N) ..."): bash forgets a finished job's status
    # once another child of this shell gets the same pid, which happens on a busy machine
    # (pid_max wraps), and then wait answers 127 for a job that succeeded.
    wait "${bg_pid[${name}]}" 2> /dev/null || true
    unset "bg_pid[${name}]"
    rc=$(bg_exit_code "${bg_log[${name}]}")
    [ -n "${rc}" ] || die "the background job ${name} ended without writing its exit code (killed?); see" \
        "${bg_log[${name}]}"
    [ "${rc}" -eq 0 ] || die "the background job ${name} failed (exit code ${rc}); see ${bg_log[${name}]}"
    log "Background job ${name} finished (waited $((SECONDS - start)) s)"
}
bg_stop_all() {
    local name
    for name in "${!bg_pid[@]}"; do
        [ "${bg_pid[${name}]}" != dry_run ] || continue
        # a job that has ended may have passed its pid on to another process: leave that alone
        [ -z "$(bg_exit_code "${bg_log[${name}]}")" ] || continue
        kill -TERM "${bg_pid[${name}]}" 2> /dev/null || true
        wait "${bg_pid[${name}]}" 2> /dev/null || true
        log "Stopped the background job ${name}; its log: ${bg_log[${name}]}"
    done
}
# in_range N: stage N is among the stages this run does
in_range() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
# sets_done STAGE SETS...: every set has the done marker of that stage
sets_done() {
    local st=$1 d
    shift
    [ "${dry_run}" = true ] && return 0
    for d in "$@"; do [ -f "${dumpdir}/${d}/.done.stage${st}" ] || return 1; done
}

# dump_dirs SETS...: the dump dirs of those sets
dump_dirs() { local d dirs=(); for d in "$@"; do dirs+=("${dumpdir}/${d}"); done; echo "${dirs[@]}"; }
[ -n "${tag}" ] || { tag=$(basename "${train_conf}" .yaml); tag=${tag#train_}; }
exp_tag=${expdir}/s2st_${tag}
# The scoring ASR: an imported exp dir, or one trained at stage 11 from asr_conf, or (both
# empty) whatever the score config names.
asr_exp=${asr_import:-${asr_conf:+${expdir}/asr_${tgt_lang}}}
launch="${s2s} launch --ngpu ${ngpu} --nproc ${nproc} --"
# The LLM that stage 8 starts from: stage 7's, when it runs (else the train config names a pretrained one)
lm_model=${pretrain_conf:+${expdir}/lm/model}

log "Running: $0$(printf ' %q' ${orig_args[@]+"${orig_args[@]}"})"

if in_range 1; then
    log "Stage 1: data preparation (local/data.sh${local_data_opts:+ ${local_data_opts}}) and validation of ${all_sets}"
    current_stage=1
    if ! stage_begin "${datadir}/.done.stage1" --stage 1 --opt sets="${all_sets}" --opt local_data_opts="${local_data_opts}"; then
        log "Stage 1: done before (${datadir}/.done.stage1), skipped; --force true reruns it"
    else
        data_log=${datadir}/logs/data.log
        if [ "${dry_run}" = true ]; then data_log=/dev/null; else mkdir -p "${datadir}/logs"; fi
        for dset in ${all_sets}; do run rm -f "${datadir}/${dset}/.done.stage1"; done  # data.sh rewrites them
        # shellcheck disable=SC2086  # local_data_opts holds several words
        run local/data.sh ${local_data_opts} 2>&1 | tee "${data_log}" >&2
        for dset in ${all_sets}; do
            run ${s2s} data validate "${datadir}/${dset}" --tgt_lang "${tgt_lang}" ${pipes_opt:+"${pipes_opt}"} 2>&1 | tee -a "${data_log}" >&2
            # each set's own marker records digests of its files: what stage 2 reads
            stage_begin "${datadir}/${dset}/.done.stage1" --stage 1 --data "${datadir}/${dset}" --force true \
                && stage_end "${datadir}/${dset}/.done.stage1"
        done
        stage_end "${datadir}/.done.stage1"
    fi
fi

if in_range 2; then
    log "Stage 2: audio formatting (${format_conf}${fs:+, fs=${fs}}) of ${all_sets} into ${dumpdir}, ${nj} jobs each"
    current_stage=2
    for dset in ${all_sets}; do
        # shellcheck disable=SC2046  # word lists
        if ! stage_begin "${dumpdir}/${dset}/.done.stage2" --stage 2 --input "${datadir}/${dset}/.done.stage1" \
                --config format_conf="${format_conf}" $(overrides_of format_conf "${format_args}") \
                --override format_conf.fs="${fs}" --opt tgt_lang="${tgt_lang}" --clean "${dumpdir}/${dset}"; then
            log "Stage 2: ${dset} done before, skipped"
            continue
        fi
        # ${nj} jobs through ${cmd} (logs: dump/<set>/logs/format.<J>.log), then the merge (format.merge.log)
        # shellcheck disable=SC2086  # ${s2s}, ${fs_opt} and the overrides ${format_args} hold several words
        run ${s2s} data format "${datadir}/${dset}" "${dumpdir}/${dset}" --config "${format_conf}" \
            --tgt_lang "${tgt_lang}" ${pipes_opt:+"${pipes_opt}"} ${fs_opt} --nj "${nj}" --cmd "${cmd}" ${format_args}
        stage_end "${dumpdir}/${dset}/.done.stage2"
    done
fi

# shellcheck disable=SC2086  # word lists, here and below
train_dirs=$(dump_dirs ${train_sets})
# shellcheck disable=SC2086
valid_dirs=$(dump_dirs ${valid_sets})
langs="${src_langs} ${tgt_lang}"

# The scoring ASR of stage 11 needs only the stage-2 dumps: with --background true it trains
# beside stages 3-10 (one core; path.sh gives every job one thread).
# shellcheck disable=SC2206  # ${train_cmd}, ${s2s} and the dir lists hold several words
asr_train_cmd=(${train_cmd} "${asr_exp}/logs/ctc_train.log" ${s2s} ctc train --config "${asr_conf}" --exp "${asr_exp}"
    --train_dirs ${train_dirs} --valid_dirs ${valid_dirs} ${asr_args})
# shellcheck disable=SC2086,SC2207  # word lists
asr_spec=(--stage 11 --config asr_conf="${asr_conf}" $(overrides_of asr_conf "${asr_args}")
    $(set_inputs 2 ${train_sets} ${valid_sets}) --on_change refuse
    --clean "${asr_exp}" --fresh "${asr_exp}/checkpoints")
asr_trains() { [ -z "${asr_import}" ] && [ -n "${asr_conf}" ]; }
# shellcheck disable=SC2086
if [ "${background}" = true ] && in_range 11 && [ "${stage}" -lt 11 ] && asr_trains \
        && sets_done 2 ${train_sets} ${valid_sets} && stage_begin "${asr_exp}/.done.stage11" "${asr_spec[@]}"; then
    bg_start asr_training "${asr_exp}/logs/ctc_train.log" "${asr_train_cmd[@]}"
fi

if in_range 3; then
    current_stage=3
    if [ -n "${ctc_import}" ]; then
        ctc_spec=(--opt ctc_import="${ctc_import}")
    else
        # shellcheck disable=SC2086,SC2207
        ctc_spec=(--config ctc_conf="${ctc_conf}" $(overrides_of ctc_conf "${ctc_args}")
            $(set_inputs 2 ${train_sets} ${valid_sets}))
    fi
    if ! stage_begin "${expdir}/ctc/.done.stage3" --stage 3 "${ctc_spec[@]}" --on_change refuse --clean "${expdir}/ctc" \
            --fresh "${expdir}/ctc/checkpoints"; then
        log "Stage 3: ${expdir}/ctc done before, skipped"
    elif [ -n "${ctc_import}" ]; then
        log "Stage 3: importing the CTC model ${ctc_import} into ${expdir}/ctc"
        run ${s2s} ctc import --from "${ctc_import}" --exp "${expdir}/ctc"
        stage_end "${expdir}/ctc/.done.stage3"
    else
        log "Stage 3: training the CTC model (${ctc_conf}) into ${expdir}/ctc; log: ${expdir}/ctc/train.log"
        # shellcheck disable=SC2086  # word lists
        run ${train_cmd} "${expdir}/ctc/logs/ctc_train.log" ${s2s} ctc train --config "${ctc_conf}" \
            --exp "${expdir}/ctc" --train_dirs ${train_dirs} --valid_dirs ${valid_dirs} ${ctc_args}
        # shellcheck disable=SC2086
        run ${s2s} ctc eval --exp "${expdir}/ctc" --dirs ${valid_dirs}
        stage_end "${expdir}/ctc/.done.stage3"
    fi
fi

if in_range 4; then
    current_stage=4
    log "Stage 4: unit extraction (${units_conf}): k-means fit into ${expdir}/units, labels for ${all_sets}"
    # shellcheck disable=SC2046,SC2086  # word lists
    if stage_begin "${expdir}/units/.done.stage4" --stage 4 --config units_conf="${units_conf}" \
            $(overrides_of units_conf "${units_args}") --path ctc_exp="${expdir}/ctc" --opt langs="${langs}" \
            $(set_inputs 2 ${train_sets}) --input_if_used "${expdir}/ctc/.done.stage3" --on_change refuse \
            --clean "${expdir}/units"; then
        # shellcheck disable=SC2086
        run ${train_cmd} "${expdir}/units/logs/fit.log" ${s2s} units fit --config "${units_conf}" \
            --dirs ${train_dirs} --lang ${langs} --exp "${expdir}/units" --ctc_exp "${expdir}/ctc" ${units_args}
        stage_end "${expdir}/units/.done.stage4"
    fi
    for dset in ${all_sets}; do
        stage_begin "${dumpdir}/${dset}/.done.stage4" --stage 4 --input "${expdir}/units/.done.stage4" \
            --input "${dumpdir}/${dset}/.done.stage2" --clean "${dumpdir}/${dset}" || continue
        # shellcheck disable=SC2086
        run ${s2s} units label --exp "${expdir}/units" --dir "${dumpdir}/${dset}" --nj "${nj}" --cmd "${infer_cmd}"
        stage_end "${dumpdir}/${dset}/.done.stage4"
    done
    # shellcheck disable=SC2046,SC2086
    run ${s2s} units stats --dirs $(dump_dirs ${all_sets})
fi

# The vocoder (stage 10) needs only the target-side units of the training sets: with
# --background true it fits beside stages 5-9.
# shellcheck disable=SC2206  # ${train_cmd}, ${s2s} and the dir list hold several words
vocoder_fit_cmd=(${train_cmd} "${expdir}/vocoder/logs/fit.log" ${s2s} vocoder fit --config "${vocoder_conf}"
    --dirs ${train_dirs} --lang "${tgt_lang}" --exp "${expdir}/vocoder" ${vocoder_args})
# shellcheck disable=SC2086,SC2207
vocoder_spec=(--stage 10 --config vocoder_conf="${vocoder_conf}" $(overrides_of vocoder_conf "${vocoder_args}")
    --opt tgt_lang="${tgt_lang}"
    $(set_inputs 4 ${train_sets}) --on_change refuse --clean "${expdir}/vocoder"
    --fresh "${expdir}/vocoder/checkpoints")
# shellcheck disable=SC2086
if [ "${background}" = true ] && in_range 10 && [ "${stage}" -lt 10 ] && sets_done 4 ${train_sets} \
        && stage_begin "${expdir}/vocoder/.done.stage10" "${vocoder_spec[@]}"; then
    bg_start vocoder_fit "${expdir}/vocoder/logs/fit.log" "${vocoder_fit_cmd[@]}"
fi

if in_range 5; then
    current_stage=5
    log "Stage 5: word alignment (${align_conf}${extra_align_confs:+, ${extra_align_confs}}) of both sides of ${all_sets}"
    for pair in "align:${align_conf}" ${extra_align_confs}; do
        name=${pair%%:*}
        conf=${pair#*:}
        for dset in ${all_sets}; do
            # shellcheck disable=SC2046  # word lists
            stage_begin "${dumpdir}/${dset}/.done.stage5.${name}" --stage 5 --config align_conf="${conf}" \
                $(overrides_of align_conf "${align_args}") --path ctc_exp="${expdir}/ctc" --opt tgt_lang="${tgt_lang}" \
                --input "${dumpdir}/${dset}/.done.stage2" --input_if_used "${expdir}/ctc/.done.stage3" \
                --clean "${dumpdir}/${dset}" || continue
            # shellcheck disable=SC2086
            run ${s2s} align --config "${conf}" --dir "${dumpdir}/${dset}" --tgt_lang "${tgt_lang}" --out "${name}" \
                --ctc_exp "${expdir}/ctc" --nj "${nj}" --cmd "${infer_cmd}" ${align_args}
            stage_end "${dumpdir}/${dset}/.done.stage5.${name}"
        done
    done
fi
align_names="align"
for pair in ${extra_align_confs}; do align_names+=" ${pair%%:*}"; done

if in_range 6; then
    current_stage=6
    log "Stage 6: vocabulary (${vocab_conf}) into ${expdir}/vocab"
    vocab_data=()
    [ -z "${lm_train_text}" ] || vocab_data+=(--data "${lm_train_text}")
    # shellcheck disable=SC2046,SC2086
    if stage_begin "${expdir}/vocab/.done.stage6" --stage 6 --config vocab_conf="${vocab_conf}" \
            $(overrides_of vocab_conf "${vocab_args}") \
            --input "${expdir}/units/.done.stage4" $(set_inputs 2 ${train_sets}) ${vocab_data[@]+"${vocab_data[@]}"} \
            --clean "${expdir}/vocab"; then
        # shellcheck disable=SC2086
        run ${s2s} vocab --config "${vocab_conf}" --exp "${expdir}/vocab" --units_exp "${expdir}/units" \
            --text ${train_dirs} ${lm_train_text} ${vocab_args}
        stage_end "${expdir}/vocab/.done.stage6"
    fi
fi

if in_range 7 && [ -n "${pretrain_conf}" ]; then
    current_stage=7
    log "Stage 7: text pretraining (${pretrain_conf}) into ${expdir}/lm; log: ${expdir}/lm/train.log"
    # the text corpus dirs, as the config's text.train_dir / text.valid_dir (--pretrain_args come after and win)
    lm_text=()
    [ -z "${lm_train_text}" ] || lm_text+=("text.train_dir=${lm_train_text}")
    [ -z "${lm_valid_text}" ] || lm_text+=("text.valid_dir=${lm_valid_text}")
    # shellcheck disable=SC2046  # word lists
    if stage_begin "${expdir}/lm/.done.stage7" --stage 7 --config pretrain_conf="${pretrain_conf}" \
            $(overrides_of pretrain_conf "${pretrain_args}") --input "${expdir}/vocab/.done.stage6" --on_change refuse \
            --opt lm_train_text="${lm_train_text}" --opt lm_valid_text="${lm_valid_text}" \
            ${lm_train_text:+--data "${lm_train_text}"} ${lm_valid_text:+--data "${lm_valid_text}"} \
            --clean "${expdir}/lm" --fresh "${expdir}/lm/checkpoints"; then
        # shellcheck disable=SC2086
        run ${train_cmd} "${expdir}/lm/logs/launch.log" ${launch} s2s pretrain-text --config "${pretrain_conf}" \
            --vocab "${expdir}/vocab/vocab.yaml" --exp "${expdir}/lm" ${lm_text[@]+"${lm_text[@]}"} ${pretrain_args}
        stage_end "${expdir}/lm/.done.stage7"
    fi
fi

if in_range 8; then
    current_stage=8
    log "Stage 8: S2ST training (${train_conf}${train_args:+ ${train_args}}) into ${exp_tag}; log: ${exp_tag}/train.log"
    # shellcheck disable=SC2207  # word lists
    train_spec=($(overrides_of train_conf "${lm_model:+llm.path=${lm_model}} ${train_args}"))
    for name in ${align_names}; do
        # shellcheck disable=SC2086,SC2207
        train_spec+=($(set_inputs "5.${name}" ${train_sets} ${valid_sets}))
    done
    # shellcheck disable=SC2046,SC2086
    if stage_begin "${exp_tag}/.done.stage8" --stage 8 --config train_conf="${train_conf}" ${train_spec[@]+"${train_spec[@]}"} \
            --input "${expdir}/vocab/.done.stage6" $(set_inputs 4 ${train_sets} ${valid_sets}) \
            --input_if_used "${expdir}/lm/.done.stage7" --on_change refuse --clean "${exp_tag}" \
            --fresh "${exp_tag}/checkpoints"; then
        # the paths the recipe knows: the vocabulary, the sets (data.train, data.valid) and stage 7's LLM
        # (--train_args come after and win); the marker's key holds them through its input markers
        # shellcheck disable=SC2086
        run ${train_cmd} "${exp_tag}/logs/launch.log" ${launch} s2s train --config "${train_conf}" \
            --exp "${exp_tag}" --vocab "${expdir}/vocab/vocab.yaml" "data.train=[${train_dirs// /,}]" \
            "data.valid=[${valid_dirs// /,}]" ${lm_model:+"llm.path=${lm_model}"} ${train_args}
        stage_end "${exp_tag}/.done.stage8"
    fi
fi

if in_range 9; then
    current_stage=9
    log "Stage 9: decoding (${decode_conf}) of ${test_sets} with ${exp_tag}/model"
    for dset in ${test_sets}; do
        out=${exp_tag}/decode_${dset}
        # shellcheck disable=SC2046  # word lists
        stage_begin "${out}/.done.stage9" --stage 9 --config decode_conf="${decode_conf}" \
            $(overrides_of decode_conf "${decode_args}") --opt tgt_lang="${tgt_lang}" \
            --input "${exp_tag}/.done.stage8" --input "${dumpdir}/${dset}/.done.stage2" \
            --input "${dumpdir}/${dset}/.done.stage4" --clean "${out}" || continue
        # shellcheck disable=SC2086
        run ${s2s} decode --model_dir "${exp_tag}/model" --dir "${dumpdir}/${dset}" --out "${out}" \
            --config "${decode_conf}" --tgt_lang "${tgt_lang}" --nj "${nj}" --cmd "${decode_cmd}" ${decode_args}
        stage_end "${out}/.done.stage9"
    done
fi

if in_range 10; then
    current_stage=10
    log "Stage 10: vocoder (${vocoder_conf}) in ${expdir}/vocoder, synthesis of the decoded units of ${test_sets}"
    if bg_running vocoder_fit; then
        bg_wait vocoder_fit
        stage_end "${expdir}/vocoder/.done.stage10"
    elif stage_begin "${expdir}/vocoder/.done.stage10" "${vocoder_spec[@]}"; then
        run "${vocoder_fit_cmd[@]}"
        stage_end "${expdir}/vocoder/.done.stage10"
    fi
    for dset in ${test_sets}; do
        out=${exp_tag}/decode_${dset}
        stage_begin "${out}/.done.stage10" --stage 10 --input "${expdir}/vocoder/.done.stage10" \
            --input "${out}/.done.stage9" --clean "${out}" || continue
        # shellcheck disable=SC2086
        run ${s2s} vocoder synth --exp "${expdir}/vocoder" --units "${out}/hyp_units.${tgt_lang}" --out "${out}" \
            --nj "${nj}" --cmd "${cmd}"
        stage_end "${out}/.done.stage10"
    done
fi

if in_range 11; then
    current_stage=11
    log "Stage 11: scoring (${score_conf}) of ${exp_tag} on ${test_sets} with the ASR ${asr_exp:-of ${score_conf}}"
    if bg_running asr_training; then
        bg_wait asr_training
        stage_end "${asr_exp}/.done.stage11"
    elif asr_trains && stage_begin "${asr_exp}/.done.stage11" "${asr_spec[@]}"; then
        run "${asr_train_cmd[@]}"
        stage_end "${asr_exp}/.done.stage11"
    fi
    score_inputs=()
    asr_trains && score_inputs+=(--input "${asr_exp}/.done.stage11")
    for dset in ${test_sets}; do
        score_inputs+=(--input "${exp_tag}/decode_${dset}/.done.stage9" --input "${exp_tag}/decode_${dset}/.done.stage10")
    done
    # shellcheck disable=SC2046,SC2086  # word lists
    if stage_begin "${exp_tag}/.done.stage11" --stage 11 --config score_conf="${score_conf}" \
            $(overrides_of score_conf "${score_args}") --opt asr_exp="${asr_exp}" --opt test_sets="${test_sets}" \
            $(set_inputs 2 ${test_sets}) ${score_inputs[@]+"${score_inputs[@]}"}; then
        # shellcheck disable=SC2086
        run ${s2s} score --config "${score_conf}" --exp "${exp_tag}" --sets ${test_sets} --ref_dump "${dumpdir}" \
            ${asr_exp:+asr.exp_dir="${asr_exp}"} vocoder_exp="${expdir}/vocoder" ${score_args}
        stage_end "${exp_tag}/.done.stage11"
        log "Stage 11: results in ${exp_tag}/RESULTS.md, listening page ${exp_tag}/listen/index.html"
    else
        log "Stage 11: ${exp_tag} scored before with these options and inputs (${exp_tag}/RESULTS.md), skipped"
    fi
fi

current_stage=""
log "Finished stages ${stage}..$(( stop_stage < 11 ? stop_stage : 11 ))"
