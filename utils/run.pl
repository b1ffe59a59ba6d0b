#!/usr/bin/env bash
# run.pl: run a command as N parallel jobs on this machine, one log per job.
# (A bash script despite its name: the name is the one Kaldi and ESPnet recipes
# expect in cmd.sh.) Run with --help for the usage.
set -euo pipefail

usage() {
    cat <<EOF
Usage: ${0##*/} [options] [JOB=START:END] LOGFILE COMMAND...
       ${0##*/} [options] LOGFILE COMMAND...            (one job)

Runs COMMAND once per job index in START..END on this machine, at most
--max_jobs_run at a time. The string JOB (or whatever name precedes '=') is
replaced by the job index in LOGFILE and COMMAND. Each job's stdout and stderr
go to its own LOGFILE, between a header (the command, start time, host) and a
footer (end time, exit code, elapsed seconds). Jobs run with bash, pipefail on.
A COMMAND of one word is a complete shell command line ('a JOB | b'). In a
longer COMMAND each word stays one literal argument, except the shell
operators | || && ; < > >> 2> 2>> 2>&1 >&2 &> |& given as separate (quoted)
words, which act in the job: run.pl l.log a '|' b pipes a into b.

After all jobs have ended, exits 0 if every job succeeded; otherwise names
each failed job and its log, shows the end of the first failed log, and exits 1.

Options:
  --max_jobs_run M   jobs running at once (default: number of CPUs, $(cpu_count) here)
  --gpu N, --mem X, --num_threads N, --time T, --config FILE
                     cluster options: accepted and ignored here, so recipes
                     can pass the same options to every runner
  --help             this message

Example:
  utils/run.pl --max_jobs_run 4 JOB=1:8 exp/log/format.JOB.log \\
      s2s data format data/train_fr dump/train_fr --nj 8 --job JOB
EOF
}

# The CPUs this process may use. nproc would obey OMP_NUM_THREADS, which
# path.sh sets to 1 for the jobs themselves: it must not limit the job count.
cpu_count() {
    env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2> /dev/null || getconf _NPROCESSORS_ONLN 2> /dev/null || echo 1
}

# shellcheck source=utils/jobs_common.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/jobs_common.sh"
jobs_parse_args "$@"
jobs_only_known_options
max_jobs=${jobs_max_jobs_run:-$(cpu_count)}

status_dir=$(mktemp -d "${TMPDIR:-/tmp}/run_pl.XXXXXX")
pids=()  # job index -> pid (= process group of the job, with setsid)
cleanup() { rm -rf -- "${status_dir}"; }
trap cleanup EXIT

# Each job runs in its own session (setsid), so that an interrupted run.pl can
# end every process of every job; the terminal's Ctrl-C reaches run.pl only.
setsid_cmd=()
if command -v setsid > /dev/null; then
    setsid_cmd=(setsid)
fi
stop_jobs() {
    local sig=$1 job pid
    trap - INT TERM
    echo "${0##*/}: got SIG${sig}; stopping the running jobs" >&2
    for job in "${!pids[@]}"; do
        [ ! -e "${status_dir}/${job}" ] || continue  # finished: its pid may be reused
        pid=${pids[job]}
        kill -TERM -- "-${pid}" 2> /dev/null || kill -TERM -- "${pid}" 2> /dev/null || true
    done
    wait || true
    cleanup
    kill -s "${sig}" "$$"
}
trap 'stop_jobs INT' INT
trap 'stop_jobs TERM' TERM

# shellcheck disable=SC2016  # the single-quoted part is code for the job's bash
job_main='rc=0; jobs_run_logged "$1" "$2" || rc=$?; echo "${rc}" > "$3"'
running=0
for ((job = jobs_start; job <= jobs_end; job++)); do
    if [ "${running}" -ge "${max_jobs}" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    ${setsid_cmd[@]+"${setsid_cmd[@]}"} bash -c "$(declare -f jobs_run_logged); ${job_main}" "run.pl-job-${job}" \
        "$(jobs_for "${job}" "${jobs_log}")" "$(jobs_for "${job}" "${jobs_cmd}")" "${status_dir}/${job}" &
    pids[job]=$!
    running=$((running + 1))
done
wait || true

jobs_report "${status_dir}"
