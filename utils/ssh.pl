#!/usr/bin/env bash
# ssh.pl: run.pl's interface, with the jobs run through ssh on a list of
# machines, round-robin. (A bash script despite its name: the name is the one
# Kaldi and ESPnet recipes expect in cmd.sh.) Run with --help for the usage.
set -euo pipefail

usage() {
    cat <<EOF
Usage: ${0##*/} [options] [JOB=START:END] LOGFILE COMMAND...
       ${0##*/} [options] LOGFILE COMMAND...            (one job)

Same command line and per-job logs as utils/run.pl, but job number k (counting
from 0) runs on host k mod H of the H hosts listed in the hosts file, through
"ssh HOST bash LOGDIR/q/NAME.<job>.sh". The job script changes to the current
directory and sources ./path.sh if there is one (the remote shell does not
inherit this one's environment), so the current directory must be on a file
system every host shares, at the same path. Waits for all jobs, then exits 0
if every job succeeded, or names each failed job and its log and exits 1; a
job that left no exit code (the host unreachable, say) is named with the file
holding ssh's own messages.

Options:
  --max_jobs_run M   jobs running at once over all hosts (default: all)
  --config FILE      the hosts file: one host name (or user@host) per line,
                     '#' starts a comment (default: .queue/machines, as in Kaldi)
  --gpu N, --mem X, --num_threads N, --time T
                     accepted and ignored, as by run.pl
  --help             this message

Files: next to the logs, in LOGDIR/q/: the job scripts (NAME.<job>.sh), ssh's
messages per job (NAME.<job>.ssh.log) and the exit codes (NAME.status/).
ssh runs with -n (no input), -o BatchMode=yes (never a password prompt) and
-tt (a terminal, so that the remote job gets SIGHUP when ssh ends).
Interrupted (Ctrl-C, SIGTERM), it ends its ssh processes, and with them the
remote jobs. Environment: SSH (default ssh) the command.

Example (cmd.sh):
  cmd="utils/ssh.pl"      # hosts in .queue/machines
  \${cmd} JOB=1:8 exp/log/format.JOB.log s2s data format ... --job JOB
EOF
}

# shellcheck source=utils/jobs_common.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/jobs_common.sh"
jobs_parse_args "$@"
jobs_only_known_options

hosts_file=${jobs_config:-.queue/machines}
[ -f "${hosts_file}" ] || jobs_fail "no hosts file ${hosts_file}: list the machines there, one per line (or give --config FILE)"
hosts=()
while IFS= read -r line || [ -n "${line}" ]; do
    line=${line%%#*}
    read -r -a words <<< "${line}"
    [ "${#words[@]}" -gt 0 ] || continue
    [ "${#words[@]}" -eq 1 ] || jobs_fail "${hosts_file}: one host per line, not '${line}'"
    hosts+=("${words[0]}")
done < "${hosts_file}"
[ "${#hosts[@]}" -gt 0 ] || jobs_fail "${hosts_file} lists no host"
max_jobs=${jobs_max_jobs_run:-$((jobs_end - jobs_start + 1))}

jobs_setup_qdir
# shellcheck disable=SC2034  # read by jobs_write_job_script
jobs_script_prelude='if [ -f ./path.sh ]; then . ./path.sh; fi'
for ((job = jobs_start; job <= jobs_end; job++)); do
    jobs_write_job_script "${job}" "${qdir}/${name}.${job}.sh"
done

# posix_quote WORD: WORD quoted for any remote login shell.
posix_quote() {
    printf "'%s'" "${1//\'/\'\\\'\'}"
}

# As in run.pl: each ssh in its own session (setsid), so that an interrupted
# ssh.pl can end it and everything it started here.
setsid_cmd=()
if command -v setsid > /dev/null; then
    setsid_cmd=(setsid)
fi
pids=()
stop_jobs() {
    local sig=$1 job
    trap - INT TERM
    echo "${0##*/}: got SIG${sig}; ending the ssh sessions of the running jobs" >&2
    for job in "${!pids[@]}"; do
        [ ! -e "${status_dir}/${job}.ssh" ] || continue  # finished: its pid may be reused
        kill -TERM -- "-${pids[job]}" 2> /dev/null || kill -TERM -- "${pids[job]}" 2> /dev/null || true
    done
    wait || true
    kill -s "${sig}" "$$"
}
trap 'stop_jobs INT' INT
trap 'stop_jobs TERM' TERM

# shellcheck disable=SC2016  # the single-quoted part is code for the wrapper's bash
ssh_main='rc=0; "${@:4}" > "$2" 2>&1 < /dev/null || rc=$?; echo "${rc}" > "$3"'
running=0
for ((job = jobs_start; job <= jobs_end; job++)); do
    if [ "${running}" -ge "${max_jobs}" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    host=${hosts[$(((job - jobs_start) % ${#hosts[@]}))]}
    ${setsid_cmd[@]+"${setsid_cmd[@]}"} bash -c "${ssh_main}" "ssh.pl-job-${job}" "${host}" \
        "${qdir}/${name}.${job}.ssh.log" "${status_dir}/${job}.ssh" \
        "${SSH:-ssh}" -n -tt -o BatchMode=yes "${host}" "bash $(posix_quote "${qdir}/${name}.${job}.sh")" &
    pids[job]=$!
    running=$((running + 1))
done
wait || true
trap - INT TERM

ssh_hint() {
    local host=${hosts[$((($1 - jobs_start) % ${#hosts[@]}))]} code
    code=$(cat -- "${status_dir}/$1.ssh" 2> /dev/null || echo "?")
    printf '%s: job %d ran on %s; ssh ended with code %s; its messages: %s\n' \
        "${0##*/}" "$1" "${host}" "${code}" "${qdir}/${name}.$1.ssh.log"
}
jobs_report "${status_dir}" ssh_hint
