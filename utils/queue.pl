#!/usr/bin/env bash
# queue.pl: run.pl's interface, with the jobs submitted through qsub to Grid
# Engine (SGE, the default) or PBS (PBS Pro / OpenPBS, --pbs true) as one array
# job. (A bash script despite its name: the name is the one Kaldi and ESPnet
# recipes expect in cmd.sh.) Run with --help for the usage.
set -euo pipefail

usage() {
    cat <<EOF
Usage: ${0##*/} [options] [JOB=START:END] LOGFILE COMMAND...
       ${0##*/} [options] LOGFILE COMMAND...            (one job)

Same command line and per-job logs as utils/run.pl, but the jobs are submitted
with qsub as one array job (array indices = job indices; one job is submitted
without an array) from the current directory, which must be on a file system
the compute nodes share. Each job writes its exit code next to the logs;
${0##*/} waits for all of them (it never asks qstat), then exits 0 if every
job succeeded, or names each failed job and its log and exits 1. A running job
touches a heartbeat file every QUEUE_PL_HEARTBEAT seconds; one whose heartbeat
stops for QUEUE_PL_DEAD_AFTER seconds without an exit code was killed (time or
memory limit) and counts as failed, named with its scheduler output file.
A job deleted before it started leaves no trace that ${0##*/} can see: it
waits until interrupted (Ctrl-C deletes the whole array job).

Options:
  --pbs true|false   PBS (qsub -J START-END, PBS_ARRAY_INDEX) instead of Grid
                     Engine (qsub -t START-END, SGE_TASK_ID) (default: false)
  --gpu N, --mem X, --num_threads N, --time T, --max_jobs_run M
                     translated into qsub options by the config's rules
  --config FILE      the cluster config (default: conf/queue.conf, or
                     conf/pbs.conf with --pbs true, if it exists; else the
                     built-in rules below)
  --NAME VALUE       any other option the config has a rule for
  --help             this message

Config file (Kaldi/ESPnet's queue.conf format; '#' starts a comment):
  command qsub OPTIONS...       the submit program and options for every job
  option NAME=VALUE OPTIONS...  added when --NAME is VALUE (OPTIONS may be empty)
  option NAME=* OPTIONS...      added for any other value; \$0 is the value
  default NAME=VALUE            the value of --NAME when it is not given
Every option given (or defaulted) needs a rule; "option NAME=VALUE" beats
"option NAME=*". ${0##*/} adds -N NAME, -o FILE, -j y (PBS: -j oe) and the
array range itself. The built-in rules, Grid Engine:
    ${sge_rules//$'\n'/$'\n'    }
  PBS:
    ${pbs_rules//$'\n'/$'\n'    }

Files: next to the logs, in LOGDIR/q/: the job scripts (NAME.<job>.sh), the
array script, the scheduler's output per job (NAME.<job>.q.out), qsub's
messages (NAME.qsub.log) and the exit codes and heartbeats (NAME.status/).
Interrupted (Ctrl-C, SIGTERM), it deletes the job with qdel.
Environment: QSUB and QDEL (default: the config's command, qdel) the
commands; QUEUE_PL_POLL (default 5) seconds between looks at the exit codes;
QUEUE_PL_HEARTBEAT (default 60) and QUEUE_PL_DEAD_AFTER (default 600) seconds.

Example (cmd.sh):
  cmd="utils/queue.pl --config conf/queue.conf"
  \${cmd} --gpu 1 --mem 16G JOB=1:4 exp/log/decode.JOB.log s2s decode ... --job JOB
EOF
}

# The built-in rules, one set per scheduler (a config replaces them).
# shellcheck disable=SC2016  # $0 is the rules' placeholder for the value
sge_rules='command qsub -V -S /bin/bash
option mem=* -l mem_free=$0
option num_threads=1
option num_threads=* -pe smp $0
option gpu=0
option gpu=* -l gpu=$0
option time=* -l h_rt=$0
option max_jobs_run=* -tc $0'
# shellcheck disable=SC2016
pbs_rules='command qsub -V -S /bin/bash
option mem=* -l mem=$0
option num_threads=* -l ncpus=$0
option gpu=0
option gpu=* -l ngpus=$0
option time=* -l walltime=$0
option max_jobs_run=* -W max_run_subjobs=$0'

# shellcheck source=utils/jobs_common.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/jobs_common.sh"
jobs_parse_args "$@"

pbs=${jobs_opt[pbs]:-false}
case "${pbs}" in
    true) default_config=conf/pbs.conf; rules=${pbs_rules} ;;
    false) default_config=conf/queue.conf; rules=${sge_rules} ;;
    *) jobs_fail "--pbs takes true or false, not '${pbs}'" ;;
esac
for var in QUEUE_PL_POLL QUEUE_PL_HEARTBEAT QUEUE_PL_DEAD_AFTER; do
    [[ ${!var:-1} =~ ^[0-9]+(\.[0-9]+)?$ ]] || jobs_fail "${var} takes a number of seconds, not '${!var}'"
done
poll=${QUEUE_PL_POLL:-5}
heartbeat=${QUEUE_PL_HEARTBEAT:-60}
dead_after=${QUEUE_PL_DEAD_AFTER:-600}
[[ ${heartbeat} =~ ^[1-9][0-9]*$ ]] || jobs_fail "QUEUE_PL_HEARTBEAT takes a whole number of seconds > 0"

config=${jobs_config}
if [ -z "${config}" ] && [ -f "${default_config}" ]; then
    config=${default_config}
fi
if [ -n "${config}" ]; then
    [ -f "${config}" ] || jobs_fail "--config ${config}: no such file"
    # shellcheck disable=SC2094  # the file name is only a label for messages
    jobs_read_rules "${config}" < "${config}"
else
    jobs_read_rules "${0##*/}'s built-in rules" <<< "${rules}"
fi
jobs_apply_rules pbs
[ "${#jobs_submit[@]}" -gt 0 ] || jobs_submit=(qsub)
qsub=("${QSUB:-${jobs_submit[0]}}" "${jobs_submit[@]:1}")

# Where the scripts and bookkeeping go: LOGDIR/q/NAME.*, NAME from the log's file name.
jobs_setup_qdir
for ((job = jobs_start; job <= jobs_end; job++)); do
    jobs_write_job_script "${job}" "${qdir}/${name}.${job}.sh" "${heartbeat}"
    rm -f -- "${qdir}/${name}.${job}.q.out"  # no stale scheduler output either
done

# One job: its own script. Several: an array script that picks the job's
# script from the scheduler's task index; the output file names use the
# scheduler's placeholder for it.
if [ "${jobs_start}" -eq "${jobs_end}" ]; then
    script="${qdir}/${name}.${jobs_start}.sh"
    output="${qdir}/${name}.${jobs_start}.q.out"
    array=()
else
    script="${qdir}/${name}.array.sh"
    # shellcheck disable=SC2016  # code for the array script
    jobs_write_array_script "${script}" '${SGE_TASK_ID:-${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-}}}'
    if [ "${pbs}" = true ]; then
        output="${qdir}/${name}.^array_index^.q.out"
        array=(-J "${jobs_start}-${jobs_end}")
    else
        output="${qdir}/${name}.\$TASK_ID.q.out"
        array=(-t "${jobs_start}-${jobs_end}")
    fi
fi
join=y
[ "${pbs}" = false ] || join=oe
# Grid Engine and PBS job names: no path characters, not starting with a digit.
job_name=${name//[^A-Za-z0-9_.-]/_}
[[ ${job_name} =~ ^[A-Za-z] ]] || job_name="j${job_name}"

qsub_log="${qdir}/${name}.qsub.log"
if ! "${qsub[@]}" -N "${job_name}" -o "${output}" -j "${join}" ${array[@]+"${array[@]}"} \
    ${jobs_submit_opts[@]+"${jobs_submit_opts[@]}"} "${script}" > "${qsub_log}" 2>&1; then
    echo "${0##*/}: qsub failed; its messages (${qsub_log}):" >&2
    sed 's/^/    /' "${qsub_log}" >&2
    exit 1
fi
# Grid Engine says "Your job[-array] ID ... has been submitted"; PBS prints the ID.
job_id=$(sed -n 's/^Your job\(-array\)\{0,1\} \([0-9][0-9]*\).*/\2/p' "${qsub_log}" | head -n 1)
[ -n "${job_id}" ] || job_id=$(grep -m 1 -E '^[0-9]+(\[\])?(\.[^[:space:]]*)?$' "${qsub_log}" || true)

# Interrupted (Ctrl-C, kill): delete the job, so that no task outlives us.
cancel_job() {
    local sig=$1
    trap - INT TERM
    if [ -n "${job_id}" ]; then
        echo "${0##*/}: got SIG${sig}; deleting job ${job_id}" >&2
        "${QDEL:-qdel}" "${job_id}" || true
    else
        echo "${0##*/}: got SIG${sig}; the job id is not known (see ${qsub_log}): delete job '${job_name}' yourself" >&2
    fi
    kill -s "${sig}" "$$"
}
trap 'cancel_job INT' INT
trap 'cancel_job TERM' TERM

# Wait until every job has an exit code or has stopped its heartbeat. The
# heartbeat's age is measured against a file touched here, in the same dir,
# so that both times come from the file server's clock.
probe="${status_dir}/now"
pending=()
for ((job = jobs_start; job <= jobs_end; job++)); do pending+=("${job}"); done
while :; do
    touch -- "${probe}"
    now=$(stat -c %Y -- "${probe}")
    waiting=()
    for job in "${pending[@]}"; do
        [ ! -s "${status_dir}/${job}" ] || continue
        alive="${status_dir}/${job}.alive"
        if [ -e "${alive}" ] && [ $((now - $(stat -c %Y -- "${alive}"))) -gt "${dead_after%.*}" ]; then
            continue
        fi
        waiting+=("${job}")
    done
    [ "${#waiting[@]}" -gt 0 ] || break
    pending=("${waiting[@]}")
    sleep "${poll}" &
    wait $! || true  # interruptible: the traps run at once
done
trap - INT TERM

queue_hint() {
    printf '%s: job %d stopped its heartbeat: killed by the scheduler (time or memory limit?); see %s\n' \
        "${0##*/}" "$1" "${qdir}/${name}.$1.q.out"
}
jobs_report "${status_dir}" queue_hint
