# core.py - what every scenario of tests/bench/bench.py shares
#
# Ctx is one run: it starts and stops processes and mounts (and finds them
# again to clean up), drops caches, keeps the cached registries, and turns
# each figure into a record with its target. alternate() is the round
# robin every comparison goes through.

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)

import probe  # noqa: E402

PYTHON = '/usr/bin/python3'
PROBE = os.path.join(HERE, 'probe.py')
MIB = 1 << 20
GIB = 1 << 30
CACHE_FORMAT = 1            # bump when the cached registries' layout changes

class BenchError(Exception):
    pass


class Interrupted(BaseException):
    '''SIGTERM or SIGHUP: unwind through every finally like ^C does.'''


# ----------------------------------------------------------------------------
# Small helpers

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def pctl(xs, p):
    return probe.percentile(sorted(xs), p)


def human_size(mib):
    return '%g GiB' % (mib / 1024) if mib >= 1024 and mib % 256 == 0 else '%d MiB' % mib


def fmt_num(v, unit):
    '''A figure for people: times and sizes below one unit step down.'''
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '—'
    if isinstance(v, float) and math.isinf(v):
        return '∞'
    if unit == 'count':
        return '%d' % v
    if unit == 'us' and abs(v) >= 1000:
        v, unit = v / 1e3, 'ms'
    if unit == 'ms' and abs(v) >= 1000:
        v, unit = v / 1e3, 's'
    if unit == 's' and abs(v) < 1:
        v, unit = v * 1e3, 'ms'
    if unit == 'ms' and 0 < abs(v) < 1:
        v, unit = v * 1e3, 'us'
    if unit == 'GiB' and abs(v) < 1:
        v, unit = v * 1024, 'MiB'
    a = abs(v)
    digits = 3 if a < 10 else (2 if a < 100 else (1 if a < 1000 else 0))
    if v == 0:
        digits = 0
    return '%.*f %s' % (digits, v, {'us': 'µs'}.get(unit, unit))


def fmt_ratio(r):
    '''Three significant digits, so 0.946 does not read as a met 0.95.'''
    if r is None:
        return '—'
    return ('%.0f×' % r) if r >= 100 else ('%.3g×' % r)


def mounted_paths():
    '''Mount points in /proc/self/mounts (octal escapes undone).'''
    out = []
    with open('/proc/self/mounts') as f:
        for line in f:
            mp = line.split()[1]
            out.append(mp.encode().decode('unicode_escape'))
    return out


# ----------------------------------------------------------------------------
# The run: processes, mounts, caches, records

class Ctx:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(os.environ.get('MODELFS_BUILD') or
                                     os.path.join(ROOT, 'build'))
        self.modelfs = os.path.join(self.build, 'fs', 'modelfs')
        self.modelctl = os.path.join(self.build, 'tools', 'modelctl')
        for b in (self.modelfs, self.modelctl):
            if not os.access(b, os.X_OK):
                raise BenchError('%s is not built (run tools/bench.sh, or set MODELFS_BUILD)' % b)
        self.root = os.geteuid() == 0
        self.bench_dir = os.environ.get('MODELFS_BENCH_DIR') or '/var/tmp'
        workdir = os.environ.get('MODELFS_BENCH_WORKDIR')
        self.own_work = not workdir
        if workdir:
            self.work = os.path.abspath(workdir)
            os.makedirs(self.work, exist_ok=True)
        else:
            import tempfile
            self.work = tempfile.mkdtemp(prefix='modelfs-bench.', dir=self.bench_dir)
        # Another user (the through-the-mount modelctl run) must reach
        # mount points under it.
        os.chmod(self.work, 0o755)
        self.cache = os.path.join(self.bench_dir, 'modelfs-bench-cache')
        self.mounts = {}                    # mount point -> daemon pid
        self.children = {}                  # pid -> Popen of a foreground daemon
        self.records = []
        self.facts = {}
        self.errors = {}
        self.notes = []
        self.cold_ok = self.root
        h = subprocess.run([self.modelfs, '--help'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.passthrough = b'nopassthrough' in h.stdout
        self.modes = [('modelfs', [])]
        if self.passthrough:
            self.modes.append(('modelfs-fallback', ['nopassthrough']))

    # -- output ------------------------------------------------------------
    def say(self, msg):
        print(msg, flush=True)

    def note(self, msg):
        if msg not in self.notes:
            self.notes.append(msg)
        self.say('note: ' + msg)

    # -- processes ---------------------------------------------------------
    def run(self, cmd, check=True, **kw):
        kw.setdefault('stdin', subprocess.DEVNULL)
        kw.setdefault('stdout', subprocess.PIPE)
        kw.setdefault('stderr', subprocess.PIPE)
        r = subprocess.run(cmd, **kw)
        if check and r.returncode != 0:
            err = r.stderr.decode(errors='replace') if isinstance(r.stderr, bytes) else ''
            raise BenchError('%s exited %d: %s' % (' '.join(map(str, cmd)), r.returncode,
                                                   err.strip()[-2000:]))
        return r

    def timed(self, cmd, **kw):
        '''Wall seconds of one command (stdout discarded unless given).'''
        kw.setdefault('stdout', subprocess.DEVNULL)
        t0 = time.perf_counter()
        self.run(cmd, **kw)
        return time.perf_counter() - t0

    def probe(self, *args):
        r = self.run([PYTHON, PROBE] + [str(a) for a in args])
        return json.loads(r.stdout.decode().strip().splitlines()[-1])

    def sh(self, script, **kw):
        return self.run(['bash', '-c', 'set -euo pipefail; ' + script], **kw)

    # -- caches ------------------------------------------------------------
    def drop(self):
        '''sync, then drop the page, dentry and inode caches (root only).'''
        os.sync()
        if not self.root:
            return False
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
        return True

    def warm(self, *paths):
        '''Read each file (or every file of each directory) once.'''
        for p in paths:
            if os.path.isdir(p):
                for d, _, files in os.walk(p):
                    for n in files:
                        with open(os.path.join(d, n), 'rb') as f:
                            while f.read(MIB):
                                pass
            else:
                self.run(['cat', p], stdout=subprocess.DEVNULL)

    def settle(self, *paths):
        '''The page-cache state every registration round starts from: caches
        dropped, the source read once (cached), nothing dirty.'''
        self.drop()
        self.warm(*paths)

    # -- mounts ------------------------------------------------------------
    def mount(self, store, mnt, opts=(), log=None):
        '''Mount STORE at MNT; returns the seconds from exec to modelfs's
        return (which happens once the mount is live). With *log*, the
        daemon stays in the foreground (-f) writing its log there, and the
        seconds run until the mount is live.'''
        os.makedirs(mnt, exist_ok=True)
        cmd = [self.modelfs, '-o', ','.join(['store=' + store] + list(opts)), mnt]
        if log:
            return self.mount_fg(cmd, mnt, log)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        secs = time.perf_counter() - t0
        if r.returncode != 0:
            raise BenchError('%s exited %d: %s' % (' '.join(cmd), r.returncode,
                                                   r.stderr.decode(errors='replace').strip()))
        self.mounts[mnt] = self.daemon_pid(mnt)
        return secs

    def mount_fg(self, cmd, mnt, log):
        '''modelfs -f, our child: poll until MNT is a mount point.'''
        with open(log, 'ab') as f:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd[:1] + ['-f'] + cmd[1:], stdin=subprocess.DEVNULL,
                                 stdout=f, stderr=f)
        while not os.path.ismount(mnt):
            if p.poll() is not None or time.perf_counter() - t0 > 30:
                if p.poll() is None:
                    p.kill()
                p.wait()
                with open(log, errors='replace') as f:
                    raise BenchError('%s exited %d: %s' % (' '.join(cmd), p.returncode,
                                                           f.read().strip()[-2000:]))
            time.sleep(0.005)
        secs = time.perf_counter() - t0
        self.mounts[mnt] = p.pid
        self.children[p.pid] = p
        return secs

    def daemon_pid(self, mnt):
        '''The daemon serving MNT: pgrep -f on the mount path, keeping the
        process whose last argument is exactly MNT.'''
        r = subprocess.run(['pgrep', '-f', '--', mnt], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        for tok in r.stdout.split():
            try:
                with open('/proc/%d/cmdline' % int(tok), 'rb') as f:
                    argv = f.read().split(b'\0')[:-1]
            except OSError:
                continue
            if argv and argv[-1] == mnt.encode() and os.path.basename(argv[0]) == b'modelfs':
                return int(tok)
        return None

    def umount(self, mnt):
        '''Unmount MNT; returns the daemon's exit status when it ran in the
        foreground (mount(log=...)), else None.'''
        pid = self.mounts.pop(mnt, None)
        for _ in range(50):
            if mnt not in mounted_paths():
                break
            r = subprocess.run(['fusermount3', '-u', mnt], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(['fusermount3', '-u', '-z', mnt], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        # The next mount of the same store waits for this daemon's lock:
        # let it exit first so no start-up figure includes that wait.
        deadline = time.monotonic() + 20
        while pid and os.path.exists('/proc/%d' % pid) and time.monotonic() < deadline:
            try:
                with open('/proc/%d/stat' % pid) as f:
                    if f.read().split(') ')[-1].startswith('Z'):
                        break
            except OSError:
                break
            time.sleep(0.01)
        p = self.children.pop(pid, None)
        if p:
            try:
                return p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                return p.wait()
        return None

    def umount_under(self, top):
        for mnt in sorted(mounted_paths(), reverse=True):
            if mnt == top or mnt.startswith(top.rstrip('/') + '/'):
                self.umount(mnt)

    def scratch(self, name):
        p = os.path.join(self.work, name)
        if os.path.exists(p):
            self.discard(p)
        os.makedirs(p)
        os.chmod(p, 0o755)
        return p

    def discard(self, path):
        self.umount_under(path)
        shutil.rmtree(path, ignore_errors=True)

    def close(self):
        self.umount_under(self.work)
        for mnt in list(self.mounts):
            self.umount(mnt)
        if self.own_work:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            # tools/bench.sh owns the directory; empty it, it removes it.
            for n in os.listdir(self.work):
                shutil.rmtree(os.path.join(self.work, n), ignore_errors=True)

    # -- cached registries -------------------------------------------------
    def cached(self, key, params, build, check):
        '''A registry built once and reused: returns (dir, reused).

        build(dir) makes it in the scratch directory; it moves into the
        cache only once complete, so an interrupted build leaves nothing.
        check(dir) -> bool says whether a cached one still works with this
        daemon (else it is rebuilt).'''
        want = dict(params, format=CACHE_FORMAT)
        if self.args.no_cache:
            d = self.scratch('built-' + key)
            build(d)
            return d, False
        final = os.path.join(self.cache, key)
        stamp = os.path.join(final, 'complete.json')
        if os.path.exists(stamp):
            try:
                with open(stamp) as f:
                    ok = json.load(f) == want
            except (OSError, ValueError):
                ok = False
            if ok and check(final):
                self.say('reusing cached %s at %s (delete it to rebuild)' % (key, final))
                return final, True
            self.say('cached %s at %s is stale or unusable: rebuilding it' % (key, final))
        if os.path.exists(final):
            self.umount_under(final)
            shutil.rmtree(final)
        d = self.scratch('building-' + key)
        build(d)
        with open(os.path.join(d, 'complete.json'), 'w') as f:
            json.dump(want, f)
        os.makedirs(self.cache, exist_ok=True)
        try:
            os.rename(d, final)
        except OSError:
            # Another run cached the same registry meanwhile: use ours
            # this time, theirs next time.
            self.say('cached %s appeared meanwhile at %s: keeping it' % (key, final))
            return d, False
        self.say('cached %s at %s for the next runs' % (key, final))
        return final, False

    # -- records -----------------------------------------------------------
    def record(self, scenario, metric, unit, modelfs, reference=None, ref_name=None,
               kind='time', mode=None, target=None, samples=None, ratio='auto', extra=None):
        '''One figure. kind: time (ratio = reference/modelfs), latency, rss,
        bytes, count. target: (on, op, threshold, text), on = "ratio" or
        "modelfs".'''
        if ratio == 'auto':
            ratio = None
            if reference is not None and modelfs and kind in ('time', 'latency', 'rss', 'space'):
                ratio = reference / modelfs
        met = None
        if target is not None:
            on, op, thr, _ = target
            v = ratio if on == 'ratio' else modelfs
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                met = {'>=': v >= thr, '>': v > thr, '<': v < thr, '<=': v <= thr,
                       '==': v == thr}[op]
        rec = {
            'scenario': scenario, 'metric': metric, 'mode': mode, 'unit': unit, 'kind': kind,
            'modelfs': modelfs, 'reference': reference, 'reference_name': ref_name,
            'ratio': ratio,
            'target': None if target is None else {
                'on': target[0], 'op': target[1], 'threshold': target[2], 'text': target[3]},
            'met': met, 'samples': samples or {},
        }
        if extra:
            rec.update(extra)
        self.records.append(rec)
        line = '[%s] %s: modelfs %s' % (scenario, metric, fmt_num(modelfs, unit))
        if reference is not None:
            line += ', %s %s' % (ref_name or 'reference', fmt_num(reference, unit))
        if ratio is not None:
            what = 'throughput ratio' if kind == 'time' and unit in ('s',) else 'ratio'
            line += ', %s (reference/modelfs) %s' % (what, fmt_ratio(ratio).rstrip('×'))
        if target is not None:
            line += '; target %s: %s' % (target[3], {True: 'met', False: 'MISSED',
                                                     None: 'n/a'}[met])
        self.say(line)
        return rec


# ----------------------------------------------------------------------------
# Alternation

def alternate(rounds, variants, after=None):
    '''Run each variant once per round, rotating the order every round.

    variants: [(name, prep, run)], prep(r) untimed (may be None), run(r)
    returns the measured seconds, a dict, or None (not run this round);
    after(r), untimed, ends each round. Returns {name: [results]}.'''
    out = {v[0]: [] for v in variants}
    for r in range(rounds):
        k = r % len(variants)
        for name, prep, run in variants[k:] + variants[:k]:
            if prep:
                prep(r)
            out[name].append(run(r))
        if after:
            after(r)
    return out


