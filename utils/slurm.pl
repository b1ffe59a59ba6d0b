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
  --gpu N            --gres=gpu:N (and the config's "gpu" line) when N > 0
  --mem X            --mem=X (memory per node, e.g. 8G)
  --num_threads N    --cpus-per-task=N
  --time T           --time=T (e.g. 4:00:00)
  --max_jobs_run M   at most M tasks of the array run at once (--array=...%M)
  --config FILE      sbatch defaults (default: conf/slurm.conf if it exists)
  --help             this message

Config file: one rule per line, '#' starts a comment.
  default OPTIONS...   sbatch options for every job (e.g. --time=1-00:00:00)
  cpu OPTIONS...       added when the job asks for no GPU (e.g. --partition=cpu)
  gpu OPTIONS...       added when --gpu N > 0 (e.g. --partition=gpu)
Options from the command line come after the config's, so they win.

Files: next to the logs, in LOGDIR/q/: the job scripts (NAME.<job>.sh), the
array script, Slurm's own output per task (NAME.<job>.slurm.out), sbatch's
messages (NAME.sbatch.log) and the exit codes (NAME.status/<job>).
Interrupted (Ctrl-C, SIGTERM), it cancels the array job with scancel.
Environment: SLURM_PL_STATUS_WAIT (default 10) seconds to wait for exit codes
to appear on a slow shared file system; SBATCH and SCANCEL (default sbatch,
scancel) the commands.

Example (cmd.sh):
  cmd="utils/slurm.pl --config conf/slurm.conf"
  \${cmd} --gpu 1 --mem 16G JOB=1:4 exp/log/decode.JOB.log s2s decode ... --job JOB
EOF
}

# shellcheck source=utils/jobs_common.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/jobs_common.sh"
jobs_parse_args "$@"

# sbatch options: config file first, then the command line.
sbatch_opts=()
config=${jobs_config}
if [ -z "${config}" ] && [ -f conf/slurm.conf ]; then
    config=conf/slurm.conf
fi
if [ -n "${config}" ]; then
    [ -f "${config}" ] || jobs_fail "--config ${config}: no such file"
    lineno=0
    while IFS= read -r line || [ -n "${line}" ]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        read -r -a words <<< "${line}"
        [ "${#words[@]}" -gt 0 ] || continue
        case "${words[0]}" in
            default) sbatch_opts+=("${words[@]:1}") ;;
            cpu) [ "${jobs_gpu}" -gt 0 ] || sbatch_opts+=("${words[@]:1}") ;;
            gpu) [ "${jobs_gpu}" -eq 0 ] || sbatch_opts+=("${words[@]:1}") ;;
            *) jobs_fail "${config}:${lineno}: unknown rule '${words[0]}'; expected default, cpu or gpu" ;;
        esac
    done < "${config}"
fi
[ "${jobs_gpu}" -eq 0 ] || sbatch_opts+=("--gres=gpu:${jobs_gpu}")
[ -z "${jobs_mem}" ] || sbatch_opts+=("--mem=${jobs_mem}")
[ -z "${jobs_num_threads}" ] || sbatch_opts+=("--cpus-per-task=${jobs_num_threads}")
[ -z "${jobs_time}" ] || sbatch_opts+=("--time=${jobs_time}")
array="${jobs_start}-${jobs_end}"
[ -z "${jobs_max_jobs_run}" ] || array+="%${jobs_max_jobs_run}"

# Where the scripts and bookkeeping go: LOGDIR/q/NAME.*, NAME from the log's file name.
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

# One script per job (the command with the index substituted), and an array
# script that picks the job's script from SLURM_ARRAY_TASK_ID.
# shellcheck disable=SC2016  # the single-quoted lines are code for the job scripts
write_scripts() {
    local job job_script
    {
        echo '#!/usr/bin/env bash'
        echo "# Written by ${0##*/}: runs ${name}.<index>.sh for the array index."
        printf 'echo "${SLURM_ARRAY_JOB_ID:-}" > %q\n' "${jobid_file}"
        echo 'case "${SLURM_ARRAY_TASK_ID:-}" in'
    } > "${array_script}"
    for ((job = jobs_start; job <= jobs_end; job++)); do
        job_script="${qdir}/${name}.${job}.sh"
        # No stale log or Slurm output of an earlier run may pass for this run's.
        rm -f -- "$(jobs_for "${job}" "${jobs_log}")" "${qdir}/${name}.${job}.slurm.out"
        {
            echo '#!/usr/bin/env bash'
            printf 'cd %q || exit 1\n' "${submit_dir}"
            declare -f jobs_run_logged
            echo 'rc=0'
            printf 'jobs_run_logged %q %q || rc=$?\n' \
                "$(jobs_for "${job}" "${jobs_log}")" "$(jobs_for "${job}" "${jobs_cmd}")"
            printf 'echo "${rc}" > %q.tmp && mv -f %q.tmp %q\n' \
                "${status_dir}/${job}" "${status_dir}/${job}" "${status_dir}/${job}"
            echo 'exit "${rc}"'
        } > "${job_script}"
        printf '    %d) exec bash %q ;;\n' "${job}" "${job_script}" >> "${array_script}"
    done
    {
        echo '    *) echo "no job script for array index ${SLURM_ARRAY_TASK_ID:-(unset)}" >&2; exit 1 ;;'
        echo 'esac'
    } >> "${array_script}"
}
array_script="${qdir}/${name}.array.sh"
jobid_file="${qdir}/${name}.jobid"
write_scripts

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
${stdbuf_cmd[@]+"${stdbuf_cmd[@]}"} "${SBATCH:-sbatch}" --wait --job-name="${name}" --array="${array}" \
    --output="${qdir}/${name}.%a.slurm.out" \
    ${sbatch_opts[@]+"${sbatch_opts[@]}"} "${array_script}" > "${sbatch_log}" 2>&1 &
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
