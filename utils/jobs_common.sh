# shellcheck shell=bash
# jobs_common.sh: the parts utils/run.pl and utils/slurm.pl share. Sourced by
# them, not by recipes. Both runners take the same command line:
#
#   RUNNER [options] [NAME=START:END | NAME=ID] LOGFILE COMMAND...
#
# NAME (usually JOB) is replaced by the job index everywhere in LOGFILE and
# COMMAND. A COMMAND of one word is a complete shell command line
# ('a JOB | b > out.JOB'). Several words are joined into one command line in
# which each word stays one literal argument (quoted where needed), except the
# shell operators | || && ; < > >> 2> 2>> 2>&1 >&2 &> |& given as words of
# their own: they act in the job (utils/run.pl JOB=1:2 l.JOB.log a JOB '|' b).

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
        # shellcheck disable=SC2034  # the cluster options are used by slurm.pl only
        case "${opt//-/_}" in
            __max_jobs_run) jobs_max_jobs_run=${value} ;;
            __gpu) jobs_gpu=${value} ;;
            __mem) jobs_mem=${value} ;;
            __num_threads) jobs_num_threads=${value} ;;
            __time) jobs_time=${value} ;;
            __config) jobs_config=${value} ;;
            *) jobs_fail "unknown option ${opt}" ;;
        esac
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
# slurm.pl copies this function into the job scripts with "declare -f".
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
