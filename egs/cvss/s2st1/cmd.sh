# shellcheck shell=bash
# cmd.sh: how recipe jobs are run; sourced by s2st.sh. Copied into each recipe
# by setup.sh: edit it (or set cmd_backend in the environment) to pick a backend.
#
#   cmd_backend=local   utils/run.pl: jobs in parallel on this machine (default)
#   cmd_backend=slurm   utils/slurm.pl: one Slurm array job per call; sbatch
#                       defaults (partition, time) in conf/slurm.conf
#
# ${cmd} runs CPU jobs (formatting, features, alignment, scoring); ${train_cmd}
# and ${decode_cmd} run the jobs that want a GPU on a cluster. Stages add their
# own --mem/--num_threads where they need them; run.pl ignores those options.
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
    *)
        echo "cmd.sh: unknown cmd_backend '${cmd_backend}'; use local or slurm" >&2
        return 1
        ;;
esac
