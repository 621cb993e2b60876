# Shared by tools/slurm-local/{up,down,env}: where the local cluster lives and how to reach it.
# Every file of the cluster (configs, munge key, database, spool, logs, pid files) is under $STATE.
STATE=${SLURM_LOCAL_STATE:-/var/tmp/smartmining-slurm}
CLUSTER=${SLURM_LOCAL_CLUSTER:-smartmining}
ACCOUNT=${SLURM_LOCAL_ACCOUNT:-myaccount}
DB_PORT=${SLURM_LOCAL_DB_PORT:-3316}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
DBD_PORT=${SLURM_LOCAL_DBD_PORT:-6819}
NODE=$(hostname -s)
PACKAGES=(munge mariadb-server slurmdbd slurmctld slurmd slurm-client)
# The daemons, in start order; `down` stops them in reverse. Name, then the binary its pid must run.
DAEMONS=(munged:munged mariadb:mariadbd slurmdbd:slurmdbd slurmctld:slurmctld slurmd:slurmd)
export SLURM_CONF=$STATE/etc/slurm.conf
# The one path outside $STATE: a link to the config where SLURM looks without SLURM_CONF. The jobstep
# plugin clears SLURM_* variables (SLURM_CONF too) before the job's `srun`, which must still find it.
SYSTEM_CONF=/etc/slurm/slurm.conf

log() { printf 'slurm-local: %s\n' "$*" >&2; }
die() { printf 'slurm-local: error: %s\n' "$*" >&2; exit 1; }

# A process that runs (a zombie no parent has reaped yet is gone).
alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# The pid in $STATE/run/NAME.pid when that process is alive and runs BINARY (a reused pid is not ours).
daemon_pid() {
    local name=${1%%:*} binary=${1#*:} pidfile pid
    pidfile=$STATE/run/$name.pid
    [[ -s $pidfile ]] || return 1
    pid=$(tr -dc '0-9' < "$pidfile")
    [[ -n $pid ]] && alive "$pid" || return 1
    # Debian's binaries are links (slurmctld -> slurmctld-wlm): compare the resolved paths
    [[ $(readlink -f "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$(command -v "$binary")")" ]] || return 1
    echo "$pid"
}

# Up and usable: every daemon alive, the controller answering, the node able to run jobs, accounting answering.
healthy() {
    local d
    [[ -f $SLURM_CONF && $(readlink "$SYSTEM_CONF") == "$SLURM_CONF" ]] || return 1
    for d in "${DAEMONS[@]}"; do daemon_pid "$d" >/dev/null || return 1; done
    scontrol ping 2>/dev/null | grep -q 'is UP' || return 1
    sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)' || return 1
    sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER" || return 1
}
