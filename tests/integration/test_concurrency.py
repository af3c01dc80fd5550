#!/usr/bin/env python3
# test_concurrency.py - many clients at once: readers across promotions,
# parallel registrations, seals and alias moves, and kill -9 of the daemon
# with readers holding files open (stale LMDB reader slots).
#
# Workers are real processes (python, cp, ln, setfattr) driven from
# threads; every wait has a deadline well inside the fixture's watchdog, so
# a deadlock fails the test and names what hung. The mounted fixture runs
# fsck after each test. MODELFS_LONG=1 runs more rounds.

import ctypes.util
import errno
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from os.path import join as pjoin

import pytest

import util
from test_crash import kill_and_restart
from test_fsx import LONG, PASSTHROUGH

DEADLINE = 90       # seconds; the fixture's watchdog kills the daemon at 120


def wait_all(procs, what, timeout=DEADLINE):
    '''Wait for every Popen in procs; fail naming the ones still running.'''
    deadline = time.monotonic() + timeout
    hung = []
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            hung.append(p)
    for p in hung:
        p.kill()
        p.wait()
    if hung:
        pytest.fail('%d of %d %s still running after %ds (a deadlock?)' % (
            len(hung), len(procs), what, timeout))


def history(mdir):
    return [json.loads(ln) for ln in
            util.read_file(pjoin(mdir, 'history.jsonl')).decode().splitlines()]


def check_history_chain(recs, alias):
    '''Each move of alias starts where the one before it ended.'''
    mine = [r for r in recs if r['alias'] == alias]
    for prev, cur in zip(mine, mine[1:]):
        assert cur['from'] == prev['to'], 'lost update in history of %s: %r then %r' % (
            alias, prev, cur)
    return mine


# ----------------------------------------------------------------------------
# Readers across 500 promotions

READER = r'''
import hashlib, json, mmap, os, sys
prod, stop, mode, want = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
seen, errors, bad = {}, [], []
os.nice(19)     # 8 readers on 2 cores: let the flipper and the daemon run

def digest(fd):
    h = hashlib.sha1()
    if mode == 'mmap':
        with mmap.mmap(fd, os.fstat(fd).st_size, prot=mmap.PROT_READ) as mm:
            h.update(mm)
    else:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()

def read(dfd, name):
    fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
    try:
        return digest(fd) if name.endswith('model.bin') else os.read(fd, 100).decode()
    finally:
        os.close(fd)

# dirfd: opens production/ each time and reads both files relative to it;
# held: opens it once, so it reads one version however often it moves
held = os.open(prod, os.O_RDONLY | os.O_DIRECTORY) if mode == 'held' else None
while True:
    last = os.path.exists(stop)
    try:
        if mode in ('dirfd', 'held'):
            dfd = held if held is not None else os.open(prod, os.O_RDONLY | os.O_DIRECTORY)
            try:
                d, tag = read(dfd, 'model.bin'), read(dfd, 'version.txt')
            finally:
                if held is None:
                    os.close(dfd)
            if want.get(d) != tag:
                bad.append([d, tag])
        else:
            d = read(None, os.path.join(prod, 'model.bin'))
        seen[d] = seen.get(d, 0) + 1
    except OSError as exc:
        errors.append(repr(exc))
    if last:
        break
print(json.dumps({'seen': seen, 'errors': errors[:10], 'nerrors': len(errors), 'bad': bad[:10]}))
'''

FLIPPER = r'''
for i in $(seq 1 "$1"); do
    if [ $((i % 2)) = 1 ]; then v=2.0.0; else v=1.0.0; fi
    ln -sfn versions/$v production || exit 1
done
'''


def two_versions(mounted, size):
    '''serve@1.0.0 and serve@2.0.0 with different model.bin of *size*
    bytes; production -> 1.0.0. Returns (model dir, {sha1: version}).'''
    want = {}
    for v in ('1.0.0', '2.0.0'):
        data = random.Random('%s %d' % (v, size)).randbytes(size)
        mounted.version('serve', v, {'model.bin': data, 'version.txt': v}, sealed=True)
        want[hashlib.sha1(data).hexdigest()] = v
    mdir = pjoin(mounted.models, 'serve')
    util.run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=mdir)
    return mdir, want


def readers_across_flips(mounted, size, flips=500, readers=8):
    mdir, want = two_versions(mounted, size)
    prod = pjoin(mdir, 'production')
    stop = pjoin(mounted.tmp, 'stop')
    before = len(history(mdir))
    modes = ('read', 'mmap', 'dirfd', 'held')
    procs = [subprocess.Popen([sys.executable, '-c', READER, prod, stop, modes[i % 4],
                               json.dumps(want)], stdout=subprocess.PIPE, text=True)
             for i in range(readers)]
    t0 = time.monotonic()
    flipper = subprocess.Popen(['bash', '-c', FLIPPER, 'flip', str(flips)], cwd=mdir,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_all([flipper], 'alias flipper')
    finally:
        util.write_file(stop, b'')
        wait_all(procs, 'readers')
    elapsed = time.monotonic() - t0
    assert flipper.returncode == 0, flipper.stderr.read()
    seen, reads = {}, 0
    for i, p in enumerate(procs):
        assert p.returncode == 0, 'reader %d exited %d' % (i, p.returncode)
        res = json.loads(p.stdout.read())
        assert res['nerrors'] == 0, 'reader %d (%s): %s' % (i, modes[i % 4], res['errors'])
        assert res['bad'] == [], 'reader %d read model.bin and version.txt of ' \
            'different versions through one directory handle: %s' % (i, res['bad'])
        if modes[i % 4] == 'held':
            assert len(res['seen']) == 1, 'reader %d read two versions through one ' \
                'handle of production/: %s' % (i, res['seen'])
        for d, n in res['seen'].items():
            assert d in want, 'reader %d read bytes of neither version (sha1 %s)' % (i, d)
            seen[want[d]] = seen.get(want[d], 0) + n
            reads += n
    assert sorted(seen) == ['1.0.0', '2.0.0'], seen
    print('%d reads of %d bytes across %d flips in %.1fs: %s' % (reads, size, flips,
                                                              elapsed, seen))
    recs = check_history_chain(history(mdir), 'production')
    assert len(recs) == before + flips
    assert os.readlink(prod) == 'versions/1.0.0'



# Sealed files are read by kernel passthrough where it is live; the
# daemon's own read path (-o nopassthrough) doubles the time: MODELFS_LONG.
@pytest.mark.parametrize('mode', PASSTHROUGH if LONG else PASSTHROUGH[:1])
def test_readers_across_500_promotions(mounted, mode):
    readers_across_flips(mounted, 4 << 20)


@pytest.mark.parametrize('mode', PASSTHROUGH if LONG else PASSTHROUGH[:1])
def test_readers_of_64mib_across_500_promotions(mounted, mode):
    readers_across_flips(mounted, 64 << 20)


# ----------------------------------------------------------------------------
# Registrations, seals and alias moves at once

# (model, version, source): cp -r into a draft, then all seal at once. The
# "shared" tree is sealed by three versions of three models together.
PLAN = [('m1', '1.0.0', 'a'), ('m1', '1.1.0', 'b'), ('m1', '1.2.0', 'shared'),
        ('m1', '2.0.0-rc.1', 'a'), ('m2', '1.0.0', 'shared'), ('m2', '2.0.0', 'b'),
        ('m3', '0.1.0', 'shared'), ('m3', '0.2.0', 'a')]
# (model, alias, movers, moves each)
MOVERS = [('m1', 'production', 4, 40 if LONG else 15), ('m1', 'staging', 2, 10),
          ('m2', 'production', 2, 10)]


def register(mounted, srcs, barrier, model, version, src):
    mdir = pjoin(mounted.models, model)
    try:
        os.mkdir(mdir)      # racing the other workers of this model
    except FileExistsError:
        pass
    vdir = pjoin(mdir, 'versions', version)
    util.run(['cp', '-r', srcs[src], vdir])
    barrier.wait(DEADLINE)
    util.seal(vdir)
    return vdir


def mover(mdir, alias, targets, moves, seed):
    rng = random.Random(seed)
    done = []
    for _ in range(moves):
        v = rng.choice(targets)
        res = util.run(['ln', '-sfn', 'versions/' + v, alias], cwd=mdir, check=False)
        assert res.returncode == 0, 'ln -sfn versions/%s %s: %s' % (v, alias, res.stderr)
        done.append(v)
    return done


def test_concurrent_registrations_seals_and_alias_moves(mounted):
    srcs = {name: util.make_source_tree(pjoin(mounted.tmp, 'src-' + name), seed=name)
            for name in ('a', 'b', 'shared')}
    barrier = threading.Barrier(len(PLAN))
    with ThreadPoolExecutor(len(PLAN)) as pool:
        futs = [pool.submit(register, mounted, srcs, barrier, *job) for job in PLAN]
        vdirs = [f.result(DEADLINE) for f in futs]

    # Every version sealed, byte for byte its source; shared content is one
    # blob for the three versions that sealed it together.
    digests = set()
    for (model, version, src), vdir in zip(PLAN, vdirs):
        assert util.is_sealed(vdir), vdir
        assert util.tree(vdir, modes=False, skip_root_vfiles=True) == \
            util.tree(srcs[src], modes=False), vdir
        for rel, ent in util.tree(vdir, modes=False, skip_root_vfiles=True).items():
            if ent[0] == 'f':
                digests.add(os.getxattr(pjoin(vdir, rel), 'user.modelfs.digest').decode())
    shared = [pjoin(v, 'model.bin') for job, v in zip(PLAN, vdirs) if job[2] == 'shared']
    assert len({os.getxattr(p, 'user.modelfs.digest') for p in shared}) == 1
    assert set(util.blob_files(mounted.store)) == digests

    # Alias moves from several processes at once, on one alias and several.
    versions = {}
    for model, version, _ in PLAN:
        versions.setdefault(model, []).append(version)
    before = {m: len(history(pjoin(mounted.models, m))) for m in versions}
    with ThreadPoolExecutor(sum(n for _, _, n, _ in MOVERS)) as pool:
        futs = [(model, alias, pool.submit(mover, pjoin(mounted.models, model), alias,
                                           versions[model], moves, '%s%s%d' % (model, alias, i)))
                for model, alias, n, moves in MOVERS for i in range(n)]
        written = {}
        for model, alias, f in futs:
            written.setdefault((model, alias), []).extend(f.result(DEADLINE))
    for model in versions:
        mdir = pjoin(mounted.models, model)
        recs = history(mdir)[before[model]:]
        for (m, alias), targets in written.items():
            if m != model:
                continue
            mine = check_history_chain(recs, alias)
            assert len(mine) == len(targets), \
                '%s/%s: %d moves succeeded, history has %d' % (model, alias, len(targets),
                                                              len(mine))
            assert sorted(r['to'] for r in mine) == sorted(targets)
            final = os.readlink(pjoin(mdir, alias))
            assert final == 'versions/' + mine[-1]['to']
            assert util.registry(pjoin(mdir, final))['aliases'].count(alias) == 1


def test_concurrent_instant_copies_of_one_version(mounted):
    """Six `cp -r` of one sealed version into six drafts at once (every
    file a reference to its blob), each draft then changed its own way and
    sealed, all at once: the source never changes, unchanged files share
    its blobs, changed ones have their own."""
    src = util.make_source_tree(pjoin(mounted.tmp, 'src'), seed='ic', big=4 << 20)
    sealed = pjoin(mounted.models, 'ic', 'versions', '1.0.0')
    mounted.model('ic')
    util.run(['cp', '-r', src, sealed])
    util.seal(sealed)
    before = util.tree(sealed, modes=False, skip_root_vfiles=True)
    barrier = threading.Barrier(6)

    def copy(i):
        vdir = pjoin(mounted.models, 'ic', 'versions', '1.%d.0' % (i + 1))
        util.run(['cp', '-r', sealed, vdir])
        barrier.wait(DEADLINE)
        p = pjoin(vdir, 'model.bin')
        if i % 3 == 1:
            with open(p, 'r+b') as fh:     # a patch in the middle
                fh.seek(1000 * i)
                fh.write(b'patch %d' % i)
        elif i % 3 == 2:
            os.truncate(p, 4096 * i)
        util.seal(vdir)
        return vdir

    with ThreadPoolExecutor(6) as pool:
        vdirs = [f.result(DEADLINE) for f in [pool.submit(copy, i) for i in range(6)]]
    assert util.tree(sealed, modes=False, skip_root_vfiles=True) == before
    big = before['model.bin'][2]
    digest = os.getxattr(pjoin(sealed, 'model.bin'), 'user.modelfs.digest')
    for i, vdir in enumerate(vdirs):
        want = big
        if i % 3 == 1:
            want = big[:1000 * i] + b'patch %d' % i + big[1000 * i + len(b'patch %d' % i):]
        elif i % 3 == 2:
            want = big[:4096 * i]
        p = pjoin(vdir, 'model.bin')
        assert util.read_file(p) == want, vdir
        assert (os.getxattr(p, 'user.modelfs.digest') == digest) == (i % 3 == 0)
        got = util.tree(vdir, modes=False, skip_root_vfiles=True)
        got.pop('model.bin')
        assert got == {k: v for k, v in before.items() if k != 'model.bin'}, vdir


WRITER = r"""
import errno, os, random, sys
vdir, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
ok = refused = 0
ALLOWED = (errno.EBUSY, errno.EROFS, errno.ENOENT, errno.EEXIST)
while True:
    name = os.path.join(vdir, 'f%d' % rng.randrange(6))
    op = rng.randrange(5)
    try:
        if op == 0:
            os.truncate(name, rng.randrange(1 << 20))
        elif op == 1:
            os.rename(name, os.path.join(vdir, 'f%d' % rng.randrange(6)))
        else:
            flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if op == 2 else 0)
            fd = os.open(name, flags, 0o644)
            try:
                for _ in range(rng.randint(1, 4)):
                    os.pwrite(fd, rng.randbytes(rng.randint(1, 256 << 10)),
                              rng.randrange(1 << 20))
            finally:
                os.close(fd)
        ok += 1
    except OSError as exc:
        if exc.errno not in ALLOWED:
            raise
        refused += 1
        if exc.errno == errno.EROFS:
            break       # sealed
print(ok, refused)
"""


@pytest.mark.parametrize('mode', PASSTHROUGH)
def test_seal_while_writers_hammer_the_draft(mounted, mode):
    """Four processes write, truncate, rename and create files in a draft
    while it is sealed: the seal waits for them or refuses with EBUSY
    until it succeeds; then every sealed file reads as its digest says
    (and fsck re-hashes every blob), so no write slipped in between the
    seal's hashing and its linking."""
    rounds = 8 if LONG else 3
    mounted.model('busy')
    for r in range(rounds):
        vdir = mounted.version('busy', '1.0.%d' % r, {'f0': b'start'})
        writers = [subprocess.Popen([sys.executable, '-c', WRITER, vdir, str(r * 10 + i)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for i in range(4)]
        time.sleep(0.3)
        deadline, tries = time.monotonic() + DEADLINE / 2, 0
        while True:
            tries += 1
            try:
                util.seal(vdir)
                break
            except OSError as exc:
                assert exc.errno == errno.EBUSY, exc
                assert time.monotonic() < deadline, 'no seal in %d tries' % tries
        wait_all(writers, 'writers')
        for w in writers:
            assert w.returncode == 0, w.stderr.read()
        print('round %d: sealed at try %d; writers (done, refused): %s' % (
            r, tries, [w.stdout.read().strip() for w in writers]))
        assert util.is_sealed(vdir)
        for name in os.listdir(vdir):
            p = pjoin(vdir, name)
            if name in util.VFILES:
                continue
            assert os.getxattr(p, 'user.modelfs.digest').decode() == util.xxhsum(p), p
            assert int(os.getxattr(p, 'user.modelfs.size')) == os.stat(p).st_size, p


def test_alias_moves_racing_version_removal(mounted):
    """ln -sfn from three processes while another removes versions with
    rmdir (a tombstone; EBUSY while an alias points at it): an alias never
    ends on a removed version, and the history stays one chain."""
    versions = ['1.0.%d' % i for i in range(12)]
    for v in versions:
        mounted.version('tomb', v, {'v': v.encode()}, sealed=True)
    mdir = pjoin(mounted.models, 'tomb')
    util.run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=mdir)
    stop = threading.Event()

    def move(seed):
        rng, done = random.Random(seed), []
        while not stop.is_set():
            v = rng.choice(versions)
            res = util.run(['ln', '-sfn', 'versions/' + v, 'production'], cwd=mdir,
                           check=False)
            if res.returncode == 0:
                done.append(v)
            else:       # only a version removed meanwhile may be refused
                # (the rmdir that removed it may not have returned yet: the
                # kernel drops the name when the daemon's reply arrives)
                gone = pjoin(mdir, 'versions', v)
                deadline = time.monotonic() + 5
                while os.path.isdir(gone) and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert not os.path.isdir(gone), res.stderr
        return done

    def remove():
        rng, removed = random.Random(7), []
        for v in rng.sample(versions, len(versions)):
            try:
                os.rmdir(pjoin(mdir, 'versions', v))
                removed.append(v)
            except OSError as exc:
                assert exc.errno == errno.EBUSY, exc
            time.sleep(0.02)
        stop.set()
        return removed

    with ThreadPoolExecutor(4) as pool:
        movers = [pool.submit(move, i) for i in range(3)]
        remover = pool.submit(remove)
        removed = remover.result(DEADLINE)
        moved = sum((f.result(DEADLINE) for f in movers), [])
    target = os.readlink(pjoin(mdir, 'production'))
    assert target[len('versions/'):] not in removed
    assert util.read_file(pjoin(mdir, 'production', 'v')) == target[len('versions/'):].encode()
    assert sorted(os.listdir(pjoin(mdir, 'versions'))) == \
        sorted(set(versions) - set(removed))
    recs = check_history_chain(history(mdir), 'production')
    assert len(recs) == 1 + len(moved)
    assert recs[-1]['to'] == target[len('versions/'):]
    assert removed, 'nothing was removed: the race was not run'
    print('%d moves, %d of %d versions removed' % (len(moved), len(removed), len(versions)))


# Once failed with EBUSY instead of waiting for the running seal.


def wait_until_sealing(path, timeout=10):
    '''Poll until opening *path* (a draft file) for writing is refused
    with EBUSY: its version's seal has begun. A successful probe is closed
    at once (the seal waits for it to be released). EROFS: the seal has
    already ended (this thread was not scheduled during it); what follows
    must then work on the sealed version all the same.'''
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.close(os.open(path, os.O_WRONLY))
        except OSError as exc:
            if exc.errno in (errno.EBUSY, errno.EROFS):
                return
            raise
    pytest.fail('the seal of %s did not begin in %ds' % (path, timeout))


def test_alias_to_a_draft_while_it_is_being_sealed(mounted):
    '''A draft sealed by setfattr; while that seal runs, two aliases are
    pointed at it (what a CI job promoting right after `modelctl seal` in
    another job does). One seal, and every caller succeeds.'''
    mdir = mounted.model('race')
    files = {'model.bin': os.urandom(64 << 20), 'cfg': b'{}'}
    vdir = mounted.version('race', '1.0.0', files)
    with ThreadPoolExecutor(3) as pool:
        sealer = pool.submit(util.seal, vdir)
        wait_until_sealing(pjoin(vdir, 'cfg'))
        moves = [pool.submit(util.run, ['ln', '-sfn', 'versions/1.0.0', alias],
                             cwd=mdir, check=False) for alias in ('production', 'canary')]
        sealer.result(DEADLINE)
        results = [f.result(DEADLINE) for f in moves]
    assert util.is_sealed(vdir)
    assert util.tree(vdir, modes=False, skip_root_vfiles=True) == \
        {k: ('f', None, v) for k, v in files.items()}
    for res in results:
        assert res.returncode == 0, util._s(res.stderr)
    assert sorted(util.registry(vdir)['aliases']) == ['canary', 'production']


# ----------------------------------------------------------------------------
# kill -9 with readers holding files open; stale LMDB reader slots

# Opens the store's LMDB environment read-only (as modelctl's direct reads
# do), begins N read transactions (N reader slots: MDB_NOTLS), prints N and
# waits for stdin to close. Killed with -9, it leaves N stale slots; alive
# with N = 0 it keeps the lock file open, so the next daemon is not its
# first opener (which would reset the table) and must clear them itself.
SLOTS = r'''
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
env = ctypes.c_void_p()
assert lib.mdb_env_create(ctypes.byref(env)) == 0
lib.mdb_env_set_maxreaders(env, 256)
lib.mdb_env_set_maxdbs(env, 32)
MDB_RDONLY, MDB_NOTLS = 0x20000, 0x200000
rc = lib.mdb_env_open(env, sys.argv[2].encode(), MDB_RDONLY | MDB_NOTLS, 0o600)
assert rc == 0, rc
n = 0
for _ in range(int(sys.argv[3])):
    txn = ctypes.c_void_p()
    if lib.mdb_txn_begin(env, None, MDB_RDONLY, ctypes.byref(txn)):
        break
    n += 1
print(n, flush=True)
sys.stdin.read()
'''

LIBLMDB = ctypes.util.find_library('lmdb')
MDB_STAT = shutil.which('mdb_stat')     # lmdb-utils: optional


def slots_process(store, n):
    p = subprocess.Popen([sys.executable, '-c', SLOTS, LIBLMDB, pjoin(store, 'meta'), str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    got = p.stdout.readline()
    assert got.strip().isdigit(), 'LMDB helper failed (exit %s)' % p.poll()
    return p, int(got)


def stale_slots(store, n):
    '''Leave n stale reader slots (a reader killed with -9). Returns n.'''
    p, got = slots_process(store, n)
    p.kill()
    p.wait()
    return got


def reader_table(store):
    '''[(pid, txnid)] of mdb_stat -r: the slots in use.'''
    res = util.run(['mdb_stat', '-r', pjoin(store, 'meta')], check=False)
    out = res.stdout.decode()     # mdb_stat -r exits 1 however it went
    assert 'Reader Table Status' in out, util._s(res.stderr)
    return [(int(m.group(1)), m.group(2))
            for m in re.finditer(r'^\s*(\d+)\s+[0-9a-fx]+\s+(\S+)\s*$', out, re.M)]


def alive(pid):
    return os.path.exists('/proc/%d' % pid)


HOLDER = r'''
import json, mmap, os, sys
paths = sys.argv[1:]
fds = [os.open(p, os.O_RDONLY) for p in paths]
maps = [mmap.mmap(fd, 0, prot=mmap.PROT_READ) for fd in fds if os.fstat(fd).st_size]
tails = [max(0, os.fstat(fd).st_size - 4096) for fd in fds]
assert all(os.pread(fd, 4096, 0) for fd in fds)
print('open', flush=True)
sys.stdin.readline()            # the daemon is killed and restarted now
old = []                        # the tails, not read before the kill
for fd, off in zip(fds, tails):
    try:
        old.append(os.pread(fd, 4096, off))
    except OSError as exc:
        old.append(exc.errno)
res = []                        # True: the same bytes as a new open, else errno
for p, off, o in zip(paths, tails, old):
    with open(p, 'rb') as fh:
        fh.seek(off)
        res.append(o == fh.read(4096) if isinstance(o, bytes) else o)
print(json.dumps(res))
'''


@pytest.mark.skipif(not LIBLMDB, reason='liblmdb not installed')
@pytest.mark.engines('lmdb')        # reader slots are LMDB's
@pytest.mark.parametrize('mode', PASSTHROUGH)
def test_kill9_with_open_readers_and_stale_reader_slots(mounted, mode):
    '''Each cycle: readers hold sealed and draft files open (read and
    mmap), 50 stale reader slots are left in the LMDB lock table, the
    daemon is killed with -9 and started again. The start must work and
    clear the dead slots (a helper keeps the environment open, so LMDB does
    not reset the table for a first opener), the readers' old descriptors
    fail or read the right bytes (never others, never hang), and reopened
    files read the same bytes. With mdb_stat (lmdb-utils) the table is
    read before and after each restart; without it the behaviour tells:
    350 slots over 7 cycles, so slots the daemon did not clear would fill
    the 256 and fail the helper and the reads after a restart (nothing
    else here opens the store: modelctl would clear them itself).'''
    cycles = 20 if LONG else 7
    per_cycle = 50
    files = {'model.bin': util.payload('k9', 2 << 20), 'cfg.json': b'{"a": 1}'}
    mounted.version('k9', '1.0.0', files, sealed=True)
    mdir = pjoin(mounted.models, 'k9')
    util.run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=mdir)
    draft = mounted.version('k9', '2.0.0', {'w.bin': util.payload('draft', 1 << 20)})
    paths = [pjoin(mdir, 'production', 'model.bin'), pjoin(mdir, 'production', 'cfg.json'),
             pjoin(draft, 'w.bin')]
    keeper, _ = slots_process(mounted.store, 0)
    total = 0
    holders = []
    try:
        for cycle in range(cycles):
            holders = [subprocess.Popen([sys.executable, '-c', HOLDER] + paths,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True) for _ in range(4)]
            for h in holders:
                assert h.stdout.readline().strip() == 'open'
            got = stale_slots(mounted.store, per_cycle)
            assert got == per_cycle, 'cycle %d: the reader table is full' % cycle
            total += got
            if MDB_STAT:
                dead = [pid for pid, _ in reader_table(mounted.store) if not alive(pid)]
                assert len(dead) >= per_cycle, 'no stale slots to clear: %r' % dead
            kill_and_restart(mounted)
            if MDB_STAT:
                table = reader_table(mounted.store)
                assert [p for p, _ in table if not alive(p)] == [], \
                    'cycle %d: stale reader slots after the restart: %r' % (cycle, table)
            for h in holders:
                h.stdin.write('go\n')
                h.stdin.flush()
            wait_all(holders, 'readers of the killed mount')
            for h in holders:
                res = json.loads(h.stdout.read())
                assert False not in res, res
                if cycle == 0:
                    print('old descriptors after kill -9 (True: still read the '
                          'same bytes, else errno):', res)
            assert util.read_file(paths[0]) == files['model.bin']
            assert sorted(os.listdir(pjoin(mdir, 'versions'))) == ['1.0.0', '2.0.0']
    finally:
        for p in holders + [keeper]:
            p.kill()
            p.wait()
    assert total > 256
    assert b'1.0.0' in mounted.modelctl('list', 'k9').stdout
    print('%d cycles, %d stale reader slots cleared' % (cycles, total))


# Once: the running daemon cleared stale reader slots only at start, so
# a full table made lookups answer ENOENT for versions that exist.


@pytest.mark.skipif(not LIBLMDB, reason='liblmdb not installed')
@pytest.mark.engines('lmdb')        # reader slots are LMDB's
def test_stale_reader_slots_while_the_daemon_runs(mounted):
    '''Readers of the store beside the daemon (what modelctl's read verbs
    do) killed with -9 leave stale slots; the daemon must go on serving.'''
    files = {'model.bin': b'weights' * 1000}
    vdir = mounted.version('live', '1.0.0', files, sealed=True)
    total = 0
    for _ in range(6):
        total += stale_slots(mounted.store, 50)
    assert 200 < total <= 256   # the 6th helper found the table full
    assert util.read_file(pjoin(vdir, 'model.bin')) == files['model.bin']
    assert os.listdir(pjoin(mounted.models, 'live', 'versions')) == ['1.0.0']
