# shellcheck shell=bash
# cmd.sh: how recipe jobs are run; sourced by s2st.sh. Copied into each recipe
# by setup.sh: edit it (or set cmd_backend in the environment) to pick a backend.
# Every runner takes run.pl's command line (JOB=1:N LOGFILE COMMAND...), writes
# one log per job and names a failed job with its log (utils/<runner> --help).
#
#   cmd_backend=local   utils/run.pl: jobs in parallel on this machine (default)
#   cmd_backend=slurm   utils/slurm.pl: one Slurm array job per call (sbatch);
#                       partitions and limits in conf/slurm.conf, in this
#                       toolkit's format or Kaldi/ESPnet's (command/option lines)
#   cmd_backend=sge     utils/queue.pl: one Grid Engine array job per call (qsub);
#                       conf/queue.conf, in Kaldi/ESPnet's queue.conf format
#   cmd_backend=pbs     utils/queue.pl --pbs true: the same on PBS Pro/OpenPBS;
#                       conf/pbs.conf, same format
#   cmd_backend=ssh     utils/ssh.pl: jobs round-robin over the machines listed
#                       in .queue/machines (one per line), through ssh
# All but local need the recipe dir on a file system every node shares.
#
# ${cmd} runs CPU jobs (formatting, features, alignment, scoring); ${train_cmd}
# and ${decode_cmd} run the jobs that want a GPU on a cluster. Stages add their
# own --mem/--num_threads where they need them; run.pl and ssh.pl ignore those.
cmd_backend=${cmd_backend:-local}

case "${cmd_backend}" in
    local)
        export cmd="utils/run.pl"
        export train_cmd="utils/run.pl"
        export decode_cmd="utils/run.pl"
        ;;
    slurm)
        export cmd="utils/slurm.pl --config conf/slurm.conf"
        export train_cmd="utils/slurm.pl --config conf/slurm.conf --gpu 1"
        export decode_cmd="utils/slurm.pl --config conf/slurm.conf --gpu 1"
        ;;
    sge)
        export cmd="utils/queue.pl --config conf/queue.conf"
        export train_cmd="utils/queue.pl --config conf/queue.conf --gpu 1"
        export decode_cmd="utils/queue.pl --config conf/queue.conf --gpu 1"
        ;;
    pbs)
        export cmd="utils/queue.pl --pbs true --config conf/pbs.conf"
        export train_cmd="utils/queue.pl --pbs true --config conf/pbs.conf --gpu 1"
        export decode_cmd="utils/queue.pl --pbs true --config conf/pbs.conf --gpu 1"
        ;;
    ssh)
        export cmd="utils/ssh.pl"
        export train_cmd="utils/ssh.pl"
        export decode_cmd="utils/ssh.pl"
        ;;
    *)
        echo "cmd.sh: unknown cmd_backend '${cmd_backend}'; use local, slurm, sge, pbs or ssh" >&2
        return 1
        ;;
esac
