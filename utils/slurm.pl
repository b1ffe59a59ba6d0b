#!/usr/bin/env bash
# slurm.pl: run.pl's interface, with the jobs submitted to Slurm as one array
# job through "sbatch --wait". (A bash script despite its name: the name is the
# one Kaldi and ESPnet recipes expect in cmd.sh.) Run with --help for the usage.
set -euo pipefail

usage() {
    cat <<EOF
Usage: ${0##*/} [options] [JOB=START:END] LOGFILE COMMAND...
       ${0##*/} [options] LOGFILE COMMAND...            (one job)

Same command line and per-job logs as utils/run.pl, but each job runs as one
task of a Slurm array job (array indices = job indices), submitted with
"sbatch --wait" from the current directory, which must be on a file system the
compute nodes share. Waits for all tasks, then exits 0 if every job succeeded,
or names each failed job and its log and exits 1. A task killed by Slurm (time
or memory limit, preemption) leaves no exit status and counts as failed; its
Slurm output file is named too.

Options:
  --gpu N            GPUs per job (--gres=gpu:N when N > 0)
  --mem X            memory per job (--mem=X, e.g. 8G)
  --num_threads N    CPUs per job (--cpus-per-task=N)
  --time T           time limit (--time=T, e.g. 4:00:00)
  --max_jobs_run M   at most M tasks of the array run at once (--array=...%M)
  --config FILE      the cluster config (default: conf/slurm.conf if it exists)
  --NAME VALUE       any other option that a Kaldi-style config has a rule for
  --help             this message
The translations above are the built-in rules; a Kaldi-style config replaces them.

Config file, in either of two formats ('#' starts a comment):
 1. Kaldi/ESPnet style, as their slurm.pl reads it:
      command sbatch OPTIONS...     the submit program and options for every job
      option NAME=VALUE OPTIONS...  added when --NAME is VALUE (OPTIONS may be empty)
      option NAME=* OPTIONS...      added for any other value; \$0 is the value
      default NAME=VALUE            the value of --NAME when it is not given
    e.g.  command sbatch --export=PATH
          option mem=* --mem-per-cpu \$0
          default gpu=0
          option gpu=0 -p cpu
          option gpu=* -p gpu --gres=gpu:\$0
    Every option given (or defaulted) needs a rule, except --max_jobs_run.
 2. This toolkit's own: sbatch options added to the built-in rules' ones
      default OPTIONS...   for every job (e.g. --time=1-00:00:00)
      cpu OPTIONS...       when the job asks for no GPU (e.g. --partition=cpu)
      gpu OPTIONS...       when --gpu N > 0 (e.g. --partition=gpu)
    The options from --gpu, --mem, --num_threads and --time come after these,
    so they win.
A file with a "command" or "option" line, or "default NAME=VALUE", is of the
first kind; one with "cpu", "gpu" or "default --OPTION" lines of the second.

Files: next to the logs, in LOGDIR/q/: the job scripts (NAME.<job>.sh), the
array script, Slurm's own output per task (NAME.<job>.slurm.out), sbatch's
messages (NAME.sbatch.log) and the exit codes (NAME.status/<job>).
Interrupted (Ctrl-C, SIGTERM), it cancels the array job with scancel.
Environment: SLURM_PL_STATUS_WAIT (default 10) seconds to wait for exit codes
to appear on a slow shared file system; SBATCH and SCANCEL (default: the
config's command, or sbatch; scancel) the commands.

Example (cmd.sh):
  cmd="utils/slurm.pl --config conf/slurm.conf"
  \${cmd} --gpu 1 --mem 16G JOB=1:4 exp/log/decode.JOB.log s2s decode ... --job JOB
EOF
}

# shellcheck source=utils/jobs_common.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/jobs_common.sh"
jobs_parse_args "$@"

# The built-in rules (a Kaldi-style config replaces them).
# shellcheck disable=SC2016  # $0 is the rules' placeholder for the value
builtin_rules='command sbatch
option gpu=0
option gpu=* --gres=gpu:$0
option mem=* --mem=$0
option num_threads=* --cpus-per-task=$0
option time=* --time=$0'

# own_rules FILE: sbatch options of a config in this toolkit's own format.
own_opts=()
own_rules() {
    local line lineno=0 words=()
    while IFS= read -r line || [ -n "${line}" ]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        read -r -a words <<< "${line}"
        [ "${#words[@]}" -gt 0 ] || continue
        case "${words[0]}" in
            default) own_opts+=("${words[@]:1}") ;;
            cpu) [ "${jobs_gpu}" -gt 0 ] || own_opts+=("${words[@]:1}") ;;
            gpu) [ "${jobs_gpu}" -eq 0 ] || own_opts+=("${words[@]:1}") ;;
            *) jobs_fail "$1:${lineno}: unknown rule '${words[0]}'; expected default, cpu or gpu" \
                "(or a Kaldi-style config: command, option NAME=VALUE, default NAME=VALUE)" ;;
        esac
    done < "$1"
}

# config_format FILE: "kaldi" or "own" (see --help); fails on a mix of both.
config_format() {
    local line lineno=0 words=() kind format="" first=""
    local -A label=([kaldi]="Kaldi's format" [own]="${0##*/}'s own format")
    while IFS= read -r line || [ -n "${line}" ]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        read -r -a words <<< "${line}"
        case "${words[0]:-}:${words[1]:-}" in
            command:* | option:* | default:[A-Za-z]*=*) kind=kaldi ;;
            cpu:* | gpu:* | default:*) kind=own ;;
            *) continue ;;
        esac
        if [ -z "${format}" ]; then
            format=${kind}
            first="$1:${lineno}"
        elif [ "${kind}" != "${format}" ]; then
            jobs_fail "$1:${lineno}: a '${words[0]}' rule of ${label[${kind}]} in a config of ${label[${format}]}" \
                "(see ${first}); use one format (${0##*/} --help)"
        fi
    done < "$1"
    echo "${format:-own}"
}

config=${jobs_config}
if [ -z "${config}" ] && [ -f conf/slurm.conf ]; then
    config=conf/slurm.conf
fi
[ -z "${config}" ] || [ -f "${config}" ] || jobs_fail "--config ${config}: no such file"
format=own
[ -z "${config}" ] || format=$(config_format "${config}")
if [ "${format}" = kaldi ]; then
    # shellcheck disable=SC2094  # the file name is only a label for messages
    jobs_read_rules "${config}" < "${config}"
else
    jobs_only_known_options
    [ -z "${config}" ] || own_rules "${config}"
    jobs_read_rules "${0##*/}'s built-in rules" <<< "${builtin_rules}"
fi
jobs_apply_rules max_jobs_run
[ "${#jobs_submit[@]}" -gt 0 ] || jobs_submit=(sbatch)
sbatch=("${SBATCH:-${jobs_submit[0]}}" "${jobs_submit[@]:1}")
array="${jobs_start}-${jobs_end}"
[ -z "${jobs_max_jobs_run}" ] || array+="%${jobs_max_jobs_run}"

# Where the scripts and bookkeeping go: LOGDIR/q/NAME.*, NAME from the log's file name.
jobs_setup_qdir

# One script per job (the command with the index substituted), and an array
# script that picks the job's script from SLURM_ARRAY_TASK_ID.
array_script="${qdir}/${name}.array.sh"
jobid_file="${qdir}/${name}.jobid"
for ((job = jobs_start; job <= jobs_end; job++)); do
    jobs_write_job_script "${job}" "${qdir}/${name}.${job}.sh"
    rm -f -- "${qdir}/${name}.${job}.slurm.out"  # no stale Slurm output either
done
# shellcheck disable=SC2016  # code for the array script
jobs_write_array_script "${array_script}" '${SLURM_ARRAY_TASK_ID:-}' \
    "$(printf 'echo "${SLURM_ARRAY_JOB_ID:-}" > %q' "${jobid_file}")"

sbatch_log="${qdir}/${name}.sbatch.log"
rm -f -- "${jobid_file}"

# Interrupted (Ctrl-C, kill): cancel the array job, so that no task outlives us.
sbatch_pid=""
cancel_job() {
    local sig=$1 id
    trap - INT TERM
    id=$(sed -n 's/^Submitted batch job \([0-9][0-9]*\).*/\1/p' "${sbatch_log}" 2> /dev/null | head -n 1)
    [ -n "${id}" ] || id=$(cat -- "${jobid_file}" 2> /dev/null || true)
    if [ -n "${id}" ]; then
        echo "${0##*/}: got SIG${sig}; cancelling Slurm job ${id}" >&2
        "${SCANCEL:-scancel}" "${id}" || true
    else
        echo "${0##*/}: got SIG${sig}; the Slurm job id is not known yet: check squeue for '${name}'" >&2
    fi
    [ -z "${sbatch_pid}" ] || kill -TERM "${sbatch_pid}" 2> /dev/null || true
    kill -s "${sig}" "$$"
}
trap 'cancel_job INT' INT
trap 'cancel_job TERM' TERM

# Line-buffered, so that the job id is in the log as soon as sbatch prints it.
stdbuf_cmd=()
if command -v stdbuf > /dev/null; then
    stdbuf_cmd=(stdbuf -oL -eL)
fi
sbatch_rc=0
${stdbuf_cmd[@]+"${stdbuf_cmd[@]}"} "${sbatch[0]}" --wait --job-name="${name}" --array="${array}" \
    --output="${qdir}/${name}.%a.slurm.out" "${sbatch[@]:1}" ${own_opts[@]+"${own_opts[@]}"} \
    ${jobs_submit_opts[@]+"${jobs_submit_opts[@]}"} "${array_script}" > "${sbatch_log}" 2>&1 &
sbatch_pid=$!
wait "${sbatch_pid}" || sbatch_rc=$?
sbatch_pid=""
trap - INT TERM

if ! grep -q 'Submitted batch job' "${sbatch_log}"; then
    echo "${0##*/}: sbatch failed (exit code ${sbatch_rc}); its messages (${sbatch_log}):" >&2
    sed 's/^/    /' "${sbatch_log}" >&2
    exit 1
fi

# Exit codes written on the compute nodes may take a moment to show up here.
for ((waited = 0; waited < ${SLURM_PL_STATUS_WAIT:-10}; waited++)); do
    missing=0
    for ((job = jobs_start; job <= jobs_end; job++)); do
        [ -s "${status_dir}/${job}" ] || missing=1
    done
    [ "${missing}" -eq 1 ] || break
    sleep 1
done

slurm_hint() {
    printf '%s: job %d was probably killed by Slurm (time or memory limit?); see %s\n' \
        "${0##*/}" "$1" "${qdir}/${name}.$1.slurm.out"
}
jobs_report "${status_dir}" slurm_hint
