# shellcheck shell=bash
# jobs_common.sh: the parts the job runners (utils/run.pl, slurm.pl, queue.pl,
# ssh.pl) share. Sourced by them, not by recipes. All runners take the same
# command line:
#
#   RUNNER [options] [NAME=START:END | NAME=ID] LOGFILE COMMAND...
#
# NAME (usually JOB) is replaced by the job index everywhere in LOGFILE and
# COMMAND. A COMMAND of one word is a complete shell command line
# ('a JOB | b > out.JOB'). Several words are joined into one command line in
# which each word stays one literal argument (quoted where needed), except the
# shell operators | || && ; < > >> 2> 2>> 2>&1 >&2 &> |& given as words of
# their own: they act in the job (utils/run.pl JOB=1:2 l.JOB.log a JOB '|' b).
#
# Options are "--name value" or "--name=value" (dashes in a name read as
# underscores). Every one is kept in jobs_opt[name]; the runners' own
# (--max_jobs_run, --gpu, --mem, --num_threads, --time, --config) are checked
# here. A cluster runner reading a Kaldi-style config accepts any name that
# config has a rule for (jobs_apply_rules); the others call
# jobs_only_known_options.

jobs_max_jobs_run=""
jobs_gpu=0
jobs_mem=""
jobs_num_threads=""
jobs_time=""
jobs_config=""
jobs_var=""
jobs_start=1
jobs_end=1
jobs_log=""
jobs_cmd=""
declare -A jobs_opt=()   # every option of the command line but --config, by name
jobs_opt_names=()        # their names in command-line order (first appearance)

jobs_fail() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# jobs_parse_args "$@": fill the jobs_* variables above; calls usage() on --help.
jobs_parse_args() {
    local opt value
    while [ $# -gt 0 ]; do
        case "$1" in
            --help | -h) usage; exit 0 ;;
            --*=*) opt=${1%%=*}; value=${1#*=}; shift ;;
            --*)
                opt=$1
                [ $# -ge 2 ] || jobs_fail "option ${opt} needs a value"
                value=$2
                shift 2 ;;
            *) break ;;
        esac
        opt=${opt#--}
        opt=${opt//-/_}
        [[ ${opt} =~ ^[A-Za-z][A-Za-z0-9_]*$ ]] || jobs_fail "bad option name --${opt}"
        # shellcheck disable=SC2034  # the cluster options are used by the cluster runners
        case "${opt}" in
            max_jobs_run) jobs_max_jobs_run=${value} ;;
            gpu) jobs_gpu=${value} ;;
            mem) jobs_mem=${value} ;;
            num_threads) jobs_num_threads=${value} ;;
            time) jobs_time=${value} ;;
            config) jobs_config=${value}; continue ;;
        esac
        [ -n "${jobs_opt[${opt}]+set}" ] || jobs_opt_names+=("${opt}")
        jobs_opt[${opt}]=${value}
    done
    [[ ${jobs_gpu} =~ ^[0-9]+$ ]] || jobs_fail "--gpu takes a number of GPUs, not '${jobs_gpu}'"
    if [ -n "${jobs_max_jobs_run}" ] && ! [[ ${jobs_max_jobs_run} =~ ^[1-9][0-9]*$ ]]; then
        jobs_fail "--max_jobs_run takes a positive number, not '${jobs_max_jobs_run}'"
    fi
    if [[ ${1:-} =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)(:([0-9]+))?$ ]]; then
        jobs_var=${BASH_REMATCH[1]}
        jobs_start=$((10#${BASH_REMATCH[2]}))
        jobs_end=$((10#${BASH_REMATCH[4]:-${BASH_REMATCH[2]}}))
        shift
        [ "${jobs_start}" -le "${jobs_end}" ] || jobs_fail "empty job range ${jobs_var}=${jobs_start}:${jobs_end}"
    fi
    [ $# -ge 2 ] || { usage >&2; exit 1; }
    jobs_log=$1
    shift
    if [ "${jobs_start}" -ne "${jobs_end}" ] && [[ ${jobs_log} != *"${jobs_var}"* ]]; then
        jobs_fail "${jobs_end} - ${jobs_start} + 1 jobs would share one log file ${jobs_log}; put ${jobs_var} in its name"
    fi
    if [ $# -eq 1 ]; then
        jobs_cmd=$1
        return 0
    fi
    local word quoted cmd=""
    for word in "$@"; do
        case "${word}" in
            '|' | '||' | '&&' | ';' | '<' | '>' | '>>' | '2>' | '2>>' | '2>&1' | '>&2' | '&>' | '|&')
                cmd+="${word} " ;;
            *)
                if [[ ${word} =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
                    cmd+="${word} "
                else
                    quoted=${word//\'/\'\\\'\'}
                    cmd+="'${quoted}' "
                fi ;;
        esac
    done
    jobs_cmd=${cmd% }
}

# jobs_for INDEX TEMPLATE: TEMPLATE with the job variable replaced by INDEX.
jobs_for() {
    if [ -n "${jobs_var}" ]; then
        printf '%s' "${2//"${jobs_var}"/$1}"
    else
        printf '%s' "$2"
    fi
}

# jobs_run_logged LOGFILE COMMAND: run COMMAND with bash (pipefail on), its
# stdout and stderr into LOGFILE between a header and a footer; return its status.
# jobs_write_job_script copies this function into job scripts with "declare -f".
jobs_run_logged() {
    local log=$1 cmd=$2 rc=0 t0
    if ! mkdir -p -- "$(dirname -- "${log}")"; then
        echo "cannot create the directory of ${log}" >&2
        return 1
    fi
    t0=$(date +%s)
    {
        printf '# %s\n' "${cmd}"
        printf '# Started at %s on %s\n' "$(date)" "${HOSTNAME:-unknown host}"
    } > "${log}" || return 1
    bash -c "set -o pipefail; ${cmd}" >> "${log}" 2>&1 < /dev/null || rc=$?
    printf '# Ended (code %d) at %s, elapsed time %d seconds\n' \
        "${rc}" "$(date)" $(($(date +%s) - t0)) >> "${log}"
    return "${rc}"
}

# jobs_report STATUS_DIR [EXTRA_HINT_CMD]: read STATUS_DIR/<index> (exit codes
# written by the jobs) for every job; print the failed ones with their logs
# and the tail of the first failed log; return 1 if any failed. A missing
# status file counts as a failure ("no exit status"); EXTRA_HINT_CMD, if given,
# is called with the job index to print where to look then.
jobs_report() {
    local dir=$1 hint=${2:-} j code log failed=0 first=""
    local total=$((jobs_end - jobs_start + 1))
    for ((j = jobs_start; j <= jobs_end; j++)); do
        code=""
        [ -s "${dir}/${j}" ] && code=$(< "${dir}/${j}")
        [ "${code}" = 0 ] && continue
        failed=$((failed + 1))
        log=$(jobs_for "${j}" "${jobs_log}")
        [ -n "${first}" ] || first=${log}
        if [ -n "${code}" ]; then
            printf '%s: job %d failed with exit code %s; log: %s\n' "${0##*/}" "${j}" "${code}" "${log}" >&2
        else
            printf '%s: job %d ended without an exit status; log: %s\n' "${0##*/}" "${j}" "${log}" >&2
            [ -z "${hint}" ] || "${hint}" "${j}" >&2
        fi
    done
    [ "${failed}" -eq 0 ] && return 0
    printf '%s: %d of %d jobs failed: %s\n' "${0##*/}" "${failed}" "${total}" "${jobs_cmd}" >&2
    if [ -f "${first}" ]; then
        printf '%s: last lines of %s:\n' "${0##*/}" "${first}" >&2
        tail -n 10 -- "${first}" | sed 's/^/    /' >&2
    fi
    return 1
}

# jobs_only_known_options: fail on an option none of the runner's own names
# (for run.pl and ssh.pl, and slurm.pl with a config in its own format).
jobs_only_known_options() {
    local name
    for name in "${jobs_opt_names[@]}"; do
        case "${name}" in
            max_jobs_run | gpu | mem | num_threads | time) ;;
            *) jobs_fail "unknown option --${name}" ;;
        esac
    done
}

# Kaldi/ESPnet-style cluster configs (conf/queue.conf, conf/slurm.conf):
#   command PROGRAM OPTIONS...    how jobs are submitted (e.g. qsub -v PATH -cwd)
#   option NAME=VALUE WORDS...    when --NAME is VALUE, add WORDS (maybe none)
#   option NAME=* WORDS...        when --NAME has another value, add WORDS with
#                                 each $0 replaced by the value
#   default NAME=VALUE            the value of --NAME when not given
# jobs_read_rules LABEL < CONFIG reads such rules into jobs_rule_* and
# jobs_submit (the command's words); LABEL names the config in messages.
jobs_submit=()
jobs_rule_kind=()
jobs_rule_name=()
jobs_rule_value=()
jobs_rule_words=()
jobs_rules_label=""
jobs_read_rules() {
    local label=$1 line lineno=0 i words=()
    jobs_rules_label=${label}
    while IFS= read -r line || [ -n "${line}" ]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        read -r -a words <<< "${line}"
        [ "${#words[@]}" -gt 0 ] || continue
        case "${words[0]}" in
            command)
                [ "${#jobs_submit[@]}" -eq 0 ] || jobs_fail "${label}:${lineno}: a second 'command' line"
                [ "${#words[@]}" -ge 2 ] || jobs_fail "${label}:${lineno}: 'command' needs the submit program"
                jobs_submit=("${words[@]:1}")
                continue ;;
            option | default)
                [[ ${words[1]:-} =~ ^([A-Za-z][A-Za-z0-9_]*)=(.+)$ ]] ||
                    jobs_fail "${label}:${lineno}: expected '${words[0]} NAME=VALUE', got '${line}'"
                if [ "${words[0]}" = default ] && { [ "${#words[@]}" -ne 2 ] || [ "${BASH_REMATCH[2]}" = '*' ]; }; then
                    jobs_fail "${label}:${lineno}: expected 'default NAME=VALUE' (one value, no options), got '${line}'"
                fi ;;
            *) jobs_fail "${label}:${lineno}: unknown rule '${words[0]}'; expected command, option NAME=VALUE or default NAME=VALUE" ;;
        esac
        i=${#jobs_rule_kind[@]}
        jobs_rule_kind[i]=${words[0]}
        jobs_rule_name[i]=${BASH_REMATCH[1]//-/_}
        jobs_rule_value[i]=${BASH_REMATCH[2]}
        jobs_rule_words[i]=${words[*]:2}
    done
}

# jobs_apply_rules [NAME...]: the options the rules give for the command line's
# options and the defaults, in the config's line order, into jobs_submit_opts.
# An "option NAME=VALUE" rule beats "option NAME=*" wherever it stands. An
# option that no rule covers is an error, except the NAMEs given (the runner
# handles those itself).
jobs_submit_opts=()
jobs_apply_rules() {
    local i name value word words=() names=("${jobs_opt_names[@]}")
    local -A values=() exact=() covered=() handled=()
    for name in "$@"; do handled[${name}]=1; done
    for name in "${jobs_opt_names[@]}"; do values[${name}]=${jobs_opt[${name}]}; done
    for i in "${!jobs_rule_kind[@]}"; do
        name=${jobs_rule_name[i]}
        if [ "${jobs_rule_kind[i]}" = default ] && [ -z "${values[${name}]+set}" ]; then
            values[${name}]=${jobs_rule_value[i]}
            names+=("${name}")
        fi
    done
    for i in "${!jobs_rule_kind[@]}"; do
        name=${jobs_rule_name[i]}
        if [ "${jobs_rule_kind[i]}" = option ] && [ -n "${values[${name}]+set}" ] &&
            [ "${jobs_rule_value[i]}" = "${values[${name}]}" ]; then
            exact[${name}]=1
        fi
    done
    for i in "${!jobs_rule_kind[@]}"; do
        name=${jobs_rule_name[i]}
        if [ "${jobs_rule_kind[i]}" != option ] || [ -z "${values[${name}]+set}" ]; then
            continue
        fi
        value=${values[${name}]}
        if [ "${jobs_rule_value[i]}" = '*' ]; then
            [ -z "${exact[${name}]:-}" ] || continue
        elif [ "${jobs_rule_value[i]}" != "${value}" ]; then
            continue
        fi
        covered[${name}]=1
        read -r -a words <<< "${jobs_rule_words[i]}"
        for word in "${words[@]}"; do
            jobs_submit_opts+=("${word//"\$0"/"${value}"}")
        done
    done
    for name in "${names[@]}"; do
        if [ -n "${covered[${name}]:-}" ] || [ -n "${handled[${name}]:-}" ]; then
            continue
        fi
        jobs_fail "--${name} ${values[${name}]}: ${jobs_rules_label:-the config} has no rule for it;" \
            "add 'option ${name}=* OPTIONS...' (\$0 is the value) or 'option ${name}=${values[${name}]} OPTIONS...'"
    done
}

# jobs_setup_qdir: the cluster runners' bookkeeping dir LOGDIR/q/ (qdir), the
# file name stem of this call (name, from the log's name without the job
# variable), its exit-code dir (status_dir, emptied) and submit_dir (pwd).
jobs_setup_qdir() {
    local log_dir
    log_dir=$(dirname -- "${jobs_log}")
    mkdir -p -- "${log_dir}/q"
    qdir=$(cd -- "${log_dir}/q" && pwd)
    name=$(basename -- "${jobs_log}" .log)
    [ -z "${jobs_var}" ] || name=${name//"${jobs_var}"/}
    name=${name//../.}
    name=${name%.}
    name=${name#.}
    name=${name:-job}
    status_dir="${qdir}/${name}.status"
    rm -rf -- "${status_dir}"
    mkdir -p -- "${status_dir}"
    submit_dir=$(pwd)
}

# jobs_write_job_script INDEX SCRIPT [HEARTBEAT_SECONDS]: SCRIPT runs job INDEX
# from submit_dir with its log, then writes its exit code to status_dir/INDEX
# (atomically). With HEARTBEAT_SECONDS it also touches status_dir/INDEX.alive
# that often while it runs, so that the submitter can tell a killed job.
# jobs_script_prelude, if set, is shell code the script runs after the cd.
# Removes the job's log of an earlier run, so no stale log passes for this one.
# shellcheck disable=SC2016  # the single-quoted lines are code for the job script
jobs_write_job_script() {
    local job=$1 script=$2 beat=${3:-} log status="${status_dir}/$1"
    log=$(jobs_for "${job}" "${jobs_log}")
    rm -f -- "${log}"
    {
        echo '#!/usr/bin/env bash'
        printf 'status=%q\n' "${status}"
        if [ -n "${beat}" ]; then
            printf '( trap '"'"'kill $! 2> /dev/null; exit 0'"'"' TERM\n  while kill -0 $$ 2> /dev/null; do touch -- %q; sleep %d & wait $!; done ) > /dev/null 2>&1 &\n' \
                "${status}.alive" "${beat}"
            echo 'beat_pid=$!'
        fi
        printf 'cd %q || { echo 1 > "${status}"; exit 1; }\n' "${submit_dir}"
        [ -z "${jobs_script_prelude:-}" ] || echo "${jobs_script_prelude}"
        declare -f jobs_run_logged
        echo 'rc=0'
        printf 'jobs_run_logged %q %q || rc=$?\n' "${log}" "$(jobs_for "${job}" "${jobs_cmd}")"
        echo 'echo "${rc}" > "${status}.tmp" && mv -f -- "${status}.tmp" "${status}"'
        [ -z "${beat}" ] || echo 'kill "${beat_pid}" 2> /dev/null'
        echo 'exit "${rc}"'
    } > "${script}"
}

# jobs_write_array_script SCRIPT INDEX_EXPR [LINE]: SCRIPT picks the job script
# qdir/name.<index>.sh of the array task whose index INDEX_EXPR (shell code,
# e.g. '${SLURM_ARRAY_TASK_ID:-}') gives, and runs it; LINE is run first.
# shellcheck disable=SC2016  # the single-quoted lines are code for the array script
jobs_write_array_script() {
    local script=$1 index=$2 first=${3:-} job
    {
        echo '#!/usr/bin/env bash'
        echo "# Written by ${0##*/}: runs ${name}.<index>.sh for the array index."
        [ -z "${first}" ] || echo "${first}"
        echo "index=${index}"
        echo 'case "${index}" in'
        for ((job = jobs_start; job <= jobs_end; job++)); do
            printf '    %d) exec bash %q ;;\n' "${job}" "${qdir}/${name}.${job}.sh"
        done
        echo '    *) echo "no job script for array index ${index:-(unset)}" >&2; exit 1 ;;'
        echo 'esac'
    } > "${script}"
}
