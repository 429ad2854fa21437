"""A one-node Slurm cluster on localhost for the tests of the Slurm
executor: ``munged`` (its own key and socket), ``slurmctld`` and
``slurmd``, all in one temporary folder (configuration, state, spool,
logs) with ports of their own, so two test sessions on one machine do not
meet. The node offers ``cpus`` CPUs and the memory ``slurmd -C`` sees
(jobs without ``--mem`` get the memory of the CPUs they ask for).

Debian's ``slurmctld slurmd slurm-client munge`` packages provide the
daemons (``.ci/run`` installs them); ``slurmd`` must run as root to start
jobs. Where either is missing, or a daemon does not start, the fixture
skips its tests with one line saying why.

The fixture ``slurm_cluster`` (session-wide) starts the cluster once and
stops it at the end: it cancels the jobs still queued or running, ends the
job processes still alive on the node, then the daemons.
"""
import os
import os.path as osp
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, List, Optional

import pytest

#: Programs the cluster and the tests need.
PROGRAMS = ('munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo',
            'scontrol', 'scancel')
#: The Debian packages that provide them.
PACKAGES = 'slurmctld slurmd slurm-client munge'
#: Seconds the daemons get to start, and to stop.
START_S = 30.0
STOP_S = 15.0


class SlurmUnavailable(RuntimeError):
    """The cluster cannot run here (one line saying why)."""


def _which(name: str) -> Optional[str]:
    path = os.environ.get('PATH', '') + os.pathsep + '/usr/sbin:/sbin'
    return shutil.which(name, path=path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _tail(path: str, n: int = 1) -> str:
    try:
        with open(path, errors='replace') as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return f'no log at {path}'
    return ' | '.join(lines[-n:]) or f'{path} is empty'


class SlurmCluster:
    """A one-node Slurm cluster in ``root``.

    Args:
        root (str): Folder for its configuration, state, spool and logs
            (short: the munge socket's path must fit a Unix socket name).
        cpus (int): CPUs of the node. Defaults to 2.
        node (str): Node name. Defaults to ``'clstnode'``.
    """

    def __init__(self, root: str, cpus: int = 2,
                 node: str = 'clstnode') -> None:
        self.root = root
        self.cpus = cpus
        self.node = node
        self.conf = osp.join(root, 'slurm.conf')
        self.socket = osp.join(root, 'munge', 'munge.socket')
        self.logs = osp.join(root, 'log')
        self.memory_mb: Optional[int] = None
        self._procs: Dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> Dict[str, str]:
        """The environment of the Slurm commands (and of what calls them)
        that talk to this cluster."""
        return dict(os.environ, SLURM_CONF=self.conf)

    def command(self, *args: str, check: bool = True,
                timeout: float = 60) -> str:
        """Run a Slurm command against this cluster; its stdout."""
        out = subprocess.run(list(args), env=self.env, capture_output=True,
                             text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f'{" ".join(args)} exited with '
                               f'{out.returncode}: {out.stderr.strip()}')
        return out.stdout

    def _spawn(self, name: str, args: List[str]) -> None:
        log = open(osp.join(self.logs, f'{name}.out'), 'w')
        self._procs[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True)
        log.close()

    def _node_memory_mb(self) -> int:
        out = subprocess.run([_which('slurmd'), '-C'], capture_output=True,
                             text=True, timeout=60).stdout
        found = re.search(r'RealMemory=(\d+)', out)
        if not found:
            raise SlurmUnavailable(f'slurmd -C reports no RealMemory: '
                                   f'{out.strip()!r}')
        return int(found.group(1))

    def _write_conf(self) -> None:
        mem = self.memory_mb
        lines = [
            f'ClusterName=clst{os.getpid()}',
            'SlurmctldHost=localhost(127.0.0.1)',
            f'SlurmctldPort={_free_port()}',
            f'SlurmdPort={_free_port()}',
            'AuthType=auth/munge',
            'CredType=cred/munge',
            f'AuthInfo=socket={self.socket}',
            'SlurmUser=root',
            'SlurmdUser=root',
            f'StateSaveLocation={self.root}/state',
            f'SlurmdSpoolDir={self.root}/spool',
            f'SlurmctldPidFile={self.root}/slurmctld.pid',
            f'SlurmdPidFile={self.root}/slurmd.pid',
            f'SlurmctldLogFile={self.logs}/slurmctld.log',
            f'SlurmdLogFile={self.logs}/slurmd.log',
            # no cgroups in a container: track job processes by parentage
            'ProctrackType=proctrack/linuxproc',
            'TaskPlugin=task/none',
            'SelectType=select/cons_tres',
            'SelectTypeParameters=CR_CPU_Memory',
            f'DefMemPerCPU={mem // self.cpus}',
            'SchedulerType=sched/backfill',
            'MpiDefault=none',
            'ReturnToService=2',
            'JobRequeue=1',
            # a cancelled or requeued job's processes get SIGKILL 5 s after
            # SIGTERM (default 30 s)
            'KillWait=5',
            'JobAcctGatherType=jobacct_gather/none',
            'AccountingStorageType=accounting_storage/none',
            'SlurmdParameters=config_overrides',
            f'NodeName={self.node} NodeHostname=localhost '
            f'NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={mem} '
            'State=UNKNOWN',
            f'PartitionName=debug Nodes={self.node} Default=YES '
            'MaxTime=INFINITE State=UP',
        ]
        with open(self.conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def start(self) -> 'SlurmCluster':
        """Start munged, slurmctld and slurmd; return when the node is idle.

        Raises:
            SlurmUnavailable: A program is missing, this is not root, or a
                daemon did not start (naming its log's last line).
        """
        missing = [p for p in PROGRAMS if not _which(p)]
        if missing:
            raise SlurmUnavailable(
                f'{", ".join(missing)} not installed (apt-get install '
                f'{PACKAGES}, as .ci/run does)')
        if os.geteuid() != 0:
            raise SlurmUnavailable('slurmd must run as root to start jobs')
        os.makedirs(osp.dirname(self.socket))
        for sub in ('state', 'spool', 'log'):
            os.makedirs(osp.join(self.root, sub))
        # munged wants its socket's folder searchable by all, its key 0600
        os.chmod(self.root, 0o755)
        os.chmod(osp.dirname(self.socket), 0o755)
        key = osp.join(osp.dirname(self.socket), 'munge.key')
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), 'wb') as f:
            f.write(os.urandom(1024))
        self.memory_mb = self._node_memory_mb()
        self._write_conf()
        munge_dir = osp.dirname(self.socket)
        self._spawn('munged', [
            _which('munged'), '--foreground', f'--socket={self.socket}',
            f'--key-file={key}', f'--pid-file={munge_dir}/munged.pid',
            f'--log-file={self.logs}/munged.log',
            f'--seed-file={munge_dir}/munged.seed'])
        self._wait_for(lambda: osp.exists(self.socket), 'munged',
                       f'{self.logs}/munged.log')
        self._spawn('slurmctld', [_which('slurmctld'), '-D', '-f',
                                  self.conf])
        self._spawn('slurmd', [_which('slurmd'), '-D', '-f', self.conf,
                               '-N', self.node])
        self._wait_for(self._node_idle, 'slurmctld/slurmd',
                       f'{self.logs}/slurmctld.log')
        return self

    def _node_idle(self) -> bool:
        for name in ('slurmctld', 'slurmd'):
            if self._procs[name].poll() is not None:
                raise SlurmUnavailable(
                    f'{name} exited with {self._procs[name].returncode}: '
                    f'{_tail(osp.join(self.logs, name + ".log"))}')
        out = subprocess.run(['sinfo', '-h', '-n', self.node, '-o', '%T'],
                             env=self.env, capture_output=True, text=True,
                             timeout=30)
        return out.stdout.strip() == 'idle'

    def _wait_for(self, ready, what: str, log: str) -> None:
        deadline = time.monotonic() + START_S
        while not ready():
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f'{what} did not start within '
                                       f'{START_S:.0f} s: {_tail(log)}')
            time.sleep(0.2)

    def job_pids(self) -> List[int]:
        """Processes of the jobs running on the node (``scontrol
        listpids``)."""
        out = self.command('scontrol', 'listpids', check=False)
        pids = []
        for line in out.splitlines()[1:]:
            first = line.split()[0] if line.split() else ''
            if first.isdigit():
                pids.append(int(first))
        return pids

    def stop(self) -> None:
        """Cancel every job, end the job processes still alive on the node,
        then stop the daemons (SIGTERM, SIGKILL after ``STOP_S``)."""
        ctld = self._procs.get('slurmctld')
        if ctld is not None and ctld.poll() is None:
            jobs = self.command('squeue', '-h', '-o', '%A',
                                check=False).split()
            if jobs:
                self.command('scancel', *jobs, check=False)
            deadline = time.monotonic() + STOP_S
            while time.monotonic() < deadline and (
                    self.command('squeue', '-h', '-o', '%A',
                                 check=False).split() or self.job_pids()):
                time.sleep(0.5)
            for pid in self.job_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for name in ('slurmd', 'slurmctld', 'munged'):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope='session')
def slurm_cluster():
    """A running one-node cluster (see the module); its tests are skipped
    with one line where it cannot run."""
    root = tempfile.mkdtemp(prefix='clst-slurm-')
    cluster = SlurmCluster(root)
    try:
        try:
            cluster.start()
        except SlurmUnavailable as e:
            pytest.skip(f'no Slurm cluster: {e}')
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
