#!/usr/bin/env python3
# test_crash_loop.py - kill -9 at random moments of a random workload
#
# Each round runs a seeded random mix of registrations (cp -r, rsync -a),
# metadata writes, seals, alias moves, draft deletions and tombstones in a
# thread, kills the daemon with SIGKILL at a random moment, starts it again
# and checks what a registry promises:
#   - fsck reports no error (crash cruft is a warning, gone after a clean
#     restart);
#   - every version sealed before the kill is intact byte for byte, and its
#     recorded digests are those of its bytes;
#   - no version is half-sealed: each is a draft or sealed, and the one
#     whose seal was cut off is one or the other with every byte;
#   - aliases point where the last completed move left them (or where the
#     move cut off would have);
#   - drafts hold what was written to them, or are cleanly removable.
# MODELFS_LONG=1 runs 200 rounds; the default runs enough to pass through
# every operation, the seal included, several times. MODELFS_CRASH_SEED
# replays a run.

import errno
import os
import random
import shutil
import subprocess
import threading
import time
from os.path import join as pjoin

import pytest

import util
from test_crash import kill_and_restart

ROUNDS = 200 if os.environ.get('MODELFS_LONG') else 20
SEED = int(os.environ.get('MODELFS_CRASH_SEED', '20261125'))
MODELS = ('churn', 'fraud')


class Registry:
    '''What the registry must show: updated only after an operation
    completed; the one a kill cut off is kept apart as `pending`.'''

    def __init__(self):
        self.sealed = {}        # (model, version) -> tree
        self.drafts = {}        # (model, version) -> tree (as written so far)
        self.tombs = set()
        self.aliases = {}       # (model, alias) -> version
        self.pending = None     # (op, args) cut off by the kill
        self.next = {m: 0 for m in MODELS}


def source_tree(root, rng, shared):
    os.makedirs(pjoin(root, 'sub'))
    files = {'model.bin': rng.randbytes(rng.randint(1, 300000)),
             'sub/config.json': b'{"n": %d}' % rng.randint(0, 1 << 30),
             'shared.bin': shared}
    for rel, data in files.items():
        util.write_file(pjoin(root, rel), data)
    os.symlink('sub/config.json', pjoin(root, 'cfg-link'))
    return util.tree(root, modes=False)


def tree_of(vdir):
    return util.tree(vdir, modes=False, skip_root_vfiles=True)


def workload(m, reg, rng, tmp, shared, stop):
    '''Random operations until stop is set or the daemon dies.'''
    while not stop.is_set():
        model = rng.choice(MODELS)
        ops = ['register', 'register', 'seal', 'seal', 'alias', 'meta', 'remove']
        op = rng.choice(ops)
        mine = [v for (mm, v) in reg.drafts if mm == model]
        done = [v for (mm, v) in reg.sealed if mm == model]
        try:
            if op == 'register':
                version = '1.%d.0' % reg.next[model]
                reg.next[model] += 1
                src = pjoin(tmp, 'src-%s-%s' % (model, version))
                tree = source_tree(src, rng, shared)
                dst = pjoin(m.models, model, 'versions', version)
                reg.pending = ('register', (model, version, tree))
                if rng.random() < 0.5:
                    subprocess.run(['cp', '-r', src, dst], check=True, capture_output=True)
                else:
                    os.mkdir(dst)
                    subprocess.run(['rsync', '-a', src + '/', dst + '/'], check=True,
                                   capture_output=True)
                reg.drafts[(model, version)] = tree
            elif op == 'seal' and mine:
                version = rng.choice(mine)
                reg.pending = ('seal', (model, version))
                util.seal(pjoin(m.models, model, 'versions', version))
                reg.sealed[(model, version)] = reg.drafts.pop((model, version))
            elif op == 'alias' and done:
                version, alias = rng.choice(done), rng.choice(('production', 'staging'))
                reg.pending = ('alias', (model, alias, version))
                subprocess.run(['ln', '-sfn', 'versions/' + version,
                                pjoin(m.models, model, alias)], check=True, capture_output=True)
                reg.aliases[(model, alias)] = version
            elif op == 'meta' and mine:
                version = rng.choice(mine)
                doc = b'{"metrics": {"auc": %.3f}}' % rng.random()
                reg.pending = ('meta', (model, version))
                util.write_file(pjoin(m.models, model, 'versions', version, 'metadata.json'), doc)
            elif op == 'remove' and (mine or done):
                aliased = set(v for (mm, _), v in reg.aliases.items() if mm == model)
                free = [v for v in done if v not in aliased]
                if mine and (not free or rng.random() < 0.5):
                    version = rng.choice(mine)
                    reg.pending = ('rm-draft', (model, version))
                    subprocess.run(['rm', '-rf', pjoin(m.models, model, 'versions', version)],
                                   check=True, capture_output=True)
                    del reg.drafts[(model, version)]
                elif free:
                    version = rng.choice(free)
                    reg.pending = ('tombstone', (model, version))
                    os.rmdir(pjoin(m.models, model, 'versions', version))
                    del reg.sealed[(model, version)]
                    reg.tombs.add((model, version))
            reg.pending = None
        except (OSError, subprocess.CalledProcessError):
            return      # the daemon died under it: reg.pending says what


def check(m, reg):
    '''The registry after a restart, against what completed.'''
    p = reg.pending
    for (model, version), tree in reg.sealed.items():
        if p and p[0] == 'tombstone' and p[1] == (model, version):
            continue    # below: the rmdir may have committed before the kill
        vdir = pjoin(m.models, model, 'versions', version)
        assert os.getxattr(vdir, 'user.modelfs.state') == b'sealed', (model, version)
        assert tree_of(vdir) == tree, 'sealed %s@%s changed' % (model, version)
        for rel, kind in tree.items():
            if kind[0] == 'f':
                assert os.getxattr(pjoin(vdir, rel), 'user.modelfs.digest').decode() == \
                    util.xxhsum(pjoin(vdir, rel)), (model, version, rel)
    for (model, version), tree in list(reg.drafts.items()):
        vdir = pjoin(m.models, model, 'versions', version)
        if p and p[0] in ('seal', 'rm-draft') and p[1] == (model, version):
            continue    # below
        assert os.getxattr(vdir, 'user.modelfs.state') == b'draft', (model, version)
        if not (p and p[0] == 'meta' and p[1] == (model, version)):
            assert tree_of(vdir) == tree, 'draft %s@%s changed' % (model, version)
    for (model, version) in reg.tombs:
        if p and p[0] == 'tombstone' and p[1] == (model, version):
            continue
        assert not os.path.lexists(pjoin(m.models, model, 'versions', version))
    for (model, alias), version in reg.aliases.items():
        link = pjoin(m.models, model, alias)
        want = {'versions/' + version}
        if p and p[0] == 'alias' and p[1][:2] == (model, alias):
            want.add('versions/' + p[1][2])
        assert os.readlink(link) in want, (model, alias)
    if not p:
        return
    # The operation the kill cut off: all or nothing, then made definite.
    op, args = p
    if op == 'register':
        model, version, tree = args
        vdir = pjoin(m.models, model, 'versions', version)
        if os.path.lexists(vdir):
            # a partial copy is a draft the user copies again
            assert os.getxattr(vdir, 'user.modelfs.state') == b'draft'
            subprocess.run(['rm', '-rf', vdir], check=True)
        # names are never reused by this workload: skip it
    elif op == 'seal':
        model, version = args
        vdir = pjoin(m.models, model, 'versions', version)
        state = os.getxattr(vdir, 'user.modelfs.state')
        assert state in (b'draft', b'sealed')
        assert tree_of(vdir) == reg.drafts[(model, version)], 'half-sealed %s@%s' % args
        if state == b'draft':
            util.seal(vdir)
        reg.sealed[(model, version)] = reg.drafts.pop((model, version))
    elif op == 'alias':
        model, alias, version = args
        link = pjoin(m.models, model, alias)
        # ln -sfn makes a temporary link ("Cu" and six random characters,
        # coreutils' name) then renames it over the alias. Killed between
        # the two, ln cannot remove it: it stays, an alias of the version
        # being promoted, which the user removes as on any filesystem.
        mdir = pjoin(m.models, model)
        known = {a for (mm, a) in reg.aliases if mm == model} | {'latest', alias}
        for name in os.listdir(mdir):
            if os.path.islink(pjoin(mdir, name)) and name not in known:
                assert len(name) == 8 and name.startswith('Cu'), (model, name)
                assert os.readlink(pjoin(mdir, name)) == 'versions/' + version, (model, name)
                os.unlink(pjoin(mdir, name))
        if os.path.lexists(link):
            reg.aliases[(model, alias)] = os.readlink(link)[len('versions/'):]
        else:
            # ln -sfn of a new alias is one symlink(): cut off before its
            # commit, the alias is not there at all
            assert (model, alias) not in reg.aliases, (model, alias)
    elif op == 'meta':
        pass            # metadata.json is the old or the new document
    elif op == 'rm-draft':
        model, version = args
        vdir = pjoin(m.models, model, 'versions', version)
        if os.path.lexists(vdir):
            subprocess.run(['rm', '-rf', vdir], check=True)
        assert not os.path.lexists(vdir)
        del reg.drafts[(model, version)]
    elif op == 'tombstone':
        model, version = args
        vdir = pjoin(m.models, model, 'versions', version)
        if os.path.lexists(vdir):
            assert tree_of(vdir) == reg.sealed[(model, version)]
            os.rmdir(vdir)
        del reg.sealed[(model, version)]
        reg.tombs.add((model, version))
    reg.pending = None


def fsck(m):
    res = m.modelctl('fsck', check=False)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
    return res.stdout.decode()


@pytest.mark.timeout(20 * ROUNDS + 60)
def test_kill9_at_random_moments_of_a_random_workload(mounted, tmp_path):
    rng = random.Random(SEED)
    reg = Registry()
    shared = rng.randbytes(200000)          # dedup across versions
    tmp = str(tmp_path / 'sources')
    os.mkdir(tmp)
    for model in MODELS:
        mounted.model(model)
    kills_in_seal = 0
    for rnd in range(ROUNDS):
        stop = threading.Event()
        t = threading.Thread(target=workload,
                             args=(mounted, reg, random.Random(rng.random()), tmp, shared, stop))
        t.start()
        time.sleep(rng.uniform(0.05, 0.8))
        kill_and_restart(mounted)
        stop.set()
        t.join(timeout=60)
        assert not t.is_alive(), 'round %d: an operation hung after the kill' % rnd
        kills_in_seal += bool(reg.pending and reg.pending[0] == 'seal')
        try:
            check(mounted, reg)
            out = fsck(mounted)
            assert 'error:' not in out, out
        except AssertionError as e:
            raise AssertionError('round %d (seed %d, pending %r): %s' %
                                 (rnd, SEED, reg.pending and reg.pending[0], e)) from e
        shutil.rmtree(tmp)
        os.mkdir(tmp)
    # A clean restart clears what crashes left behind.
    mounted.remount()
    assert 'warning:' not in fsck(mounted)
    check(mounted, reg)
    assert len(reg.sealed) > 0
    print('%d rounds, %d kills during a seal, %d sealed versions checked' %
          (ROUNDS, kills_in_seal, len(reg.sealed)))
