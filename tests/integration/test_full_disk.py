#!/usr/bin/env python3
# test_full_disk.py - a store on a filesystem that fills up
#
# The store lives on a 48 MiB tmpfs made by the test. A registration that
# does not fit fails with ENOSPC; a seal that cannot commit fails with
# ENOSPC and leaves the draft as it was; nothing is half-sealed; the
# registry keeps serving reads throughout; once space is freed everything
# works again and fsck is clean.

import errno
import os
import subprocess
import time
from os.path import join as pjoin

import pytest

import util
from conftest import Mount


@pytest.fixture()
def small(tmp_path, output_checker):
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    root = tmp_path / 'small'
    root.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'tmpfs', str(root)],
                   check=True)
    m = Mount(root, [], output_checker)
    try:
        m.start()
        yield m
    finally:
        m.stop()
        res = util.modelctl('fsck', store=m.store, check=False)
        subprocess.run(['umount', '-l', str(root)], check=False)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


def fill(path, chunk=1 << 20):
    '''Write into path until the filesystem is full; returns bytes written.'''
    n = 0
    with open(path, 'wb', buffering=0) as fh:
        try:
            while True:
                n += fh.write(b'\xa5' * chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return n


def wait_free(path, nbytes, timeout=20):
    '''Wait until the filesystem holding path has nbytes free.'''
    deadline = time.monotonic() + timeout
    while True:
        sv = os.statvfs(path)
        free = sv.f_bavail * sv.f_frsize
        if free >= nbytes:
            return
        assert time.monotonic() < deadline, f'only {free} bytes free after {timeout} s'
        time.sleep(0.05)


def free_draft(store, vdir):
    '''Remove the draft vdir of a full disk: its files, then (once their
    space is back) the version.'''
    for name in os.listdir(vdir):
        os.unlink(pjoin(vdir, name))
    wait_free(store, 16 << 20)
    os.rmdir(vdir)


def test_registrations_that_do_not_fit_fail_and_nothing_is_lost(small, tmp_path):
    m = small
    served = os.urandom(4 << 20)
    m.version('churn', '1.0.0', {'w.bin': served}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(m.models, 'churn', 'production'))
    # Many files, so that recording the seal needs more LMDB pages than the
    # ones earlier commits freed: LMDB reuses those in place, and a commit
    # that fits in them needs no new disk space and succeeds on a full disk.
    files = {'a.bin': os.urandom(100000), 'b.bin': b'b' * 5000}
    files.update({f'shards/{i:04d}.txt': f'shard {i}\n'.encode() for i in range(600)})
    v3 = m.version('churn', '1.2.0', files)

    # 1. a copy bigger than the disk
    big = pjoin(str(tmp_path), 'big.bin')
    util.write_file(big, os.urandom(64 << 20))
    v2 = pjoin(m.models, 'churn', 'versions', '1.1.0')
    os.mkdir(v2)
    res = subprocess.run(['cp', big, v2 + '/'], capture_output=True)
    assert res.returncode != 0 and b'No space left' in res.stderr
    assert util.read_file(pjoin(m.models, 'churn', 'production', 'w.bin')) == served
    assert os.getxattr(v2, 'user.modelfs.state') == b'draft'

    # 2. a seal on a full disk: the commit cannot be written.
    # The space of the partial copy comes back when the daemon closes its
    # file, at the RELEASE that FUSE sends after cp's close() returned: on a
    # busy machine that lands after the unlink, and if it lands after the
    # fill the disk is no longer full at the seal. Wait for it, then fill,
    # then top up once more in case anything else was released meanwhile.
    os.unlink(pjoin(v2, 'big.bin'))
    wait_free(m.store, 16 << 20)
    fill(pjoin(v2, 'filler'))
    fill(pjoin(v2, 'filler2'), chunk=4096)
    with pytest.raises(OSError) as e:
        util.seal(v3)
    assert e.value.errno == errno.ENOSPC, m.log()
    assert os.getxattr(v3, 'user.modelfs.state') == b'draft'
    assert util.read_file(pjoin(v3, 'b.bin')) == b'b' * 5000
    assert util.read_file(pjoin(m.models, 'churn', 'production', 'w.bin')) == served
    assert 'No space' in m.log() or 'ENOSPC' in m.log() or 'space' in m.log()

    # 3. space freed: the same seal works, and so do new registrations.
    # The space comes back when the daemon lets go of the filler's file,
    # at the RELEASE and FORGET that FUSE sends after close() and unlink()
    # returned: wait for it before the next commit.
    free_draft(m.store, v2)
    util.seal(v3)
    assert util.read_file(pjoin(v3, 'b.bin')) == b'b' * 5000
    m.version('churn', '1.3.0', {'c.bin': os.urandom(1 << 20)}, sealed=True)
    subprocess.run(['ln', '-sfn', 'versions/1.3.0', pjoin(m.models, 'churn', 'production')],
                   check=True)
    res = m.modelctl('fsck', check=False)
    assert res.returncode == 0 and b'error:' not in res.stdout, res.stdout


def test_alias_moves_and_metadata_on_a_full_disk(small):
    m = small
    m.version('churn', '1.0.0', {'w.bin': b'one'}, sealed=True)
    m.version('churn', '1.1.0', {'w.bin': b'two'}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(m.models, 'churn', 'production'))
    filler = m.version('fill', '0.0.1')
    fill(pjoin(filler, 'filler'))
    # the move is one LMDB commit: it happens whole or fails whole
    res = subprocess.run(['ln', '-sfn', 'versions/1.1.0', pjoin(m.models, 'churn', 'production')],
                         capture_output=True)
    target = os.readlink(pjoin(m.models, 'churn', 'production'))
    if res.returncode != 0:
        assert target == 'versions/1.0.0'
    else:
        assert target == 'versions/1.1.0'
    assert util.read_file(pjoin(m.models, 'churn', 'production', 'w.bin')) in (b'one', b'two')
    free_draft(m.store, filler)
    subprocess.run(['ln', '-sfn', 'versions/1.1.0', pjoin(m.models, 'churn', 'production')],
                   check=True)
    assert util.read_file(pjoin(m.models, 'churn', 'production', 'w.bin')) == b'two'
