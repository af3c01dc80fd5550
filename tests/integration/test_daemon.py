#!/usr/bin/env python3
# test_daemon.py - starting modelfs: options, readiness, locking, refusals
#
# DESIGN §3 "Mounting": without -f the parent exits 0 only once the mount is
# live, non-zero with a reason otherwise; one daemon per store (STORE/lock);
# no auto_unmount, so a killed daemon leaves ENOTCONN.

import errno
import os
import signal
import stat
import subprocess
import time
from os.path import join as pjoin

import pytest

import util
from conftest import require_binaries
from util import MODELFS, expect_errno, run


class Daemons:
    '''Daemonized modelfs instances started by one test, cleaned up after.'''

    def __init__(self, tmp_path):
        self.tmp = str(tmp_path)
        self.mnts = []

    def mnt(self, name='mnt'):
        p = pjoin(self.tmp, name)
        os.makedirs(p, exist_ok=True)
        self.mnts.append(p)
        return p

    def start(self, *args, timeout=30):
        '''Run modelfs and wait for the *parent* only.

        Output goes to files, not pipes: a daemonized child that kept an
        inherited pipe open would otherwise make us wait for it too.
        '''
        self.runs = getattr(self, 'runs', 0) + 1
        out_p = pjoin(self.tmp, 'start%d.out' % self.runs)
        err_p = pjoin(self.tmp, 'start%d.err' % self.runs)
        cmd = [MODELFS] + [str(a) for a in args]
        t0 = time.monotonic()
        with open(out_p, 'wb') as out, open(err_p, 'wb') as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail('%r did not exit within %ds' % (cmd, timeout))
        elapsed = time.monotonic() - t0
        res = subprocess.CompletedProcess(cmd, code, util.read_file(out_p),
                                          util.read_file(err_p))
        res.elapsed = elapsed
        return res

    def stop(self, mnt):
        pids = util.daemon_pids(mnt)
        assert pids, 'no modelfs process serves %s' % mnt
        res = util.fusermount_u(mnt)
        assert res.returncode == 0, res.stderr
        assert util.wait_pids_gone(pids), 'daemon did not exit after unmount'

    def cleanup(self):
        for m in self.mnts:
            pids = util.daemon_pids(m)
            if os.path.ismount(m):
                util.fusermount_u(m, lazy=True)
            if not util.wait_pids_gone(pids, timeout=5):
                for p in pids:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


@pytest.fixture()
def daemons(tmp_path):
    require_binaries()
    d = Daemons(tmp_path)
    try:
        yield d
    finally:
        d.cleanup()


def fsck_clean(store):
    res = util.modelctl('fsck', store=store, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_version_and_help():
    require_binaries()
    res = run([MODELFS, '--version'])
    out = res.stdout + res.stderr
    assert b'0.1.0' in out, out
    res = run([MODELFS, '--help'])
    assert (res.stdout + res.stderr).strip()


def test_missing_arguments_fail():
    require_binaries()
    res = run([MODELFS], check=False)
    assert res.returncode != 0
    assert res.stderr.strip()


def test_daemonize_positional_store(daemons, store):
    mnt = daemons.mnt()
    res = daemons.start(store, mnt)
    assert res.returncode == 0, res.stderr
    # readiness: the parent exits only once the mount is live
    assert os.path.ismount(mnt)
    assert 'models' in os.listdir(mnt)
    st = os.stat(store)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    for sub in ('meta', 'blobs', 'drafts'):
        assert os.path.isdir(pjoin(store, sub)), sub
    assert os.path.exists(pjoin(store, 'lock'))
    os.mkdir(pjoin(mnt, 'models', 'churn'))
    vdir = pjoin(mnt, 'models', 'churn', 'versions', '1.0.0')
    os.mkdir(vdir)
    util.write_file(pjoin(vdir, 'a.bin'), b'persist me')
    util.seal(vdir)
    daemons.stop(mnt)
    assert not os.path.ismount(mnt)
    fsck_clean(store)
    # the lock is released: the same store mounts again
    res = daemons.start(store, mnt)
    assert res.returncode == 0, res.stderr
    assert util.read_file(pjoin(vdir, 'a.bin')) == b'persist me'
    daemons.stop(mnt)


def test_daemonize_with_store_option(daemons, store):
    mnt = daemons.mnt()
    res = daemons.start('-o', 'store=' + store, mnt)
    assert res.returncode == 0, res.stderr
    assert os.path.ismount(mnt)
    assert os.listdir(pjoin(mnt, 'models')) == []
    daemons.stop(mnt)


def test_empty_store_dir_initialised_0700(daemons, store):
    os.mkdir(store, 0o755)
    os.chmod(store, 0o755)
    mnt = daemons.mnt()
    res = daemons.start(store, mnt)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700
    daemons.stop(mnt)


def test_mountpoint_already_mounted(daemons, tmp_path, store):
    mnt = daemons.mnt()
    assert daemons.start(store, mnt).returncode == 0
    os.mkdir(pjoin(mnt, 'models', 'first'))
    res = daemons.start(str(tmp_path / 'store2'), mnt)
    assert res.returncode != 0
    assert res.stderr.strip()
    assert os.listdir(pjoin(mnt, 'models')) == ['first']
    daemons.stop(mnt)
    assert not os.path.ismount(mnt)


def test_second_daemon_on_same_store_refused(mounted, daemons):
    mnt2 = daemons.mnt('mnt2')
    res = daemons.start(mounted.store, mnt2)
    assert res.returncode != 0
    assert res.stderr.strip()
    assert 0.5 <= res.elapsed <= 15, res.elapsed
    assert not os.path.ismount(mnt2)
    # the first daemon still serves
    os.mkdir(pjoin(mounted.models, 'still-here'))
    assert os.listdir(mounted.models) == ['still-here']
    # in the foreground too
    res = daemons.start('-f', '-o', 'store=' + mounted.store, mnt2)
    assert res.returncode != 0
    assert not os.path.ismount(mnt2)


def test_store_path_is_regular_file(daemons, tmp_path):
    store = str(tmp_path / 'store-file')
    with open(store, 'wb') as fh:
        fh.write(b'not a store')
    mnt = daemons.mnt()
    res = daemons.start(store, mnt)
    assert res.returncode != 0
    assert res.stderr.strip()
    assert not os.path.ismount(mnt)
    assert util.read_file(store) == b'not a store'


def test_store_dir_with_foreign_contents(daemons, tmp_path):
    store = str(tmp_path / 'not-a-store')
    os.mkdir(store)
    util.write_file(pjoin(store, 'thesis.tex'), b'\\documentclass{article}')
    mnt = daemons.mnt()
    res = daemons.start(store, mnt)
    assert res.returncode != 0
    assert res.stderr.strip()
    assert not os.path.ismount(mnt)
    assert os.listdir(store) == ['thesis.tex']


def test_killed_daemon_leaves_enotconn(daemons, store):
    mnt = daemons.mnt()
    assert daemons.start(store, mnt).returncode == 0
    os.mkdir(pjoin(mnt, 'models', 'm'))
    v = pjoin(mnt, 'models', 'm', 'versions', '1.0.0')
    os.mkdir(v)
    util.write_file(pjoin(v, 'a'), b'sealed bytes')
    util.seal(v)
    d = pjoin(mnt, 'models', 'm', 'versions', '1.1.0')
    os.mkdir(d)
    util.write_file(pjoin(d, 'b'), b'draft bytes')
    # a file being written (in order: hashed inline) when the daemon dies
    fd = os.open(pjoin(d, 'partial'), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b'written before the crash;')
    pids = util.daemon_pids(mnt)
    assert pids
    for p in pids:
        os.kill(p, signal.SIGKILL)
    assert util.wait_pids_gone(pids)
    try:
        os.close(fd)
    except OSError:
        pass
    # no auto_unmount: not an empty directory, an error
    expect_errno(errno.ENOTCONN, os.listdir, mnt)
    assert util.fusermount_u(mnt).returncode == 0
    fsck_clean(store)
    res = daemons.start(store, mnt)
    assert res.returncode == 0, res.stderr
    assert util.read_file(pjoin(v, 'a')) == b'sealed bytes'
    assert util.read_file(pjoin(d, 'b')) == b'draft bytes'
    with open(pjoin(d, 'partial'), 'ab') as fh:
        fh.write(b' and after')
    content = util.read_file(pjoin(d, 'partial'))
    assert content == b'written before the crash; and after'
    util.seal(d)
    files = {f['path']: f for f in util.registry(d)['files']}
    assert files['partial']['digest'] == util.xxh_bytes(content, self_tmp(daemons))
    daemons.stop(mnt)
    fsck_clean(store)


def self_tmp(daemons):
    return daemons.tmp


def test_sigterm_unmounts_and_exits_zero(mounted):
    os.mkdir(pjoin(mounted.models, 'm'))
    proc = mounted.proc
    proc.send_signal(signal.SIGTERM)
    # The contract fixes exit 0 only for fusermount3 -u; on SIGTERM the
    # daemon must exit by itself (not die of the signal) and unmount.
    assert proc.wait(15) >= 0
    assert not os.path.ismount(mounted.mnt)
    mounted.proc = None
    mounted.remount()
    assert os.listdir(mounted.models) == ['m']


def test_missing_mountpoint_fails(daemons, store, tmp_path):
    mnt = str(tmp_path / 'does-not-exist')
    res = daemons.start(store, mnt)
    assert res.returncode != 0
    assert res.stderr.strip()
    res = daemons.start('-f', '-o', 'store=' + store, mnt)
    assert res.returncode != 0


def test_foreground_unmount_exits_zero(mounted):
    os.mkdir(pjoin(mounted.models, 'm'))
    proc = mounted.proc
    mounted.stop()
    assert proc.returncode == 0
    assert not os.path.ismount(mounted.mnt)


def test_store_owned_by_another_user_refused(daemons, tmp_path):
    '''The daemon refuses a store it does not own: another user could have
    prepared its database or blobs.'''
    store = str(tmp_path / 'theirs')
    os.mkdir(store, 0o700)
    os.chown(store, 12345, 12345)
    mnt = daemons.mnt()
    res = daemons.start(store, mnt)
    assert res.returncode != 0
    assert b'owned by uid 12345' in res.stderr, res.stderr
    assert not os.path.ismount(mnt)
    assert os.listdir(store) == []
