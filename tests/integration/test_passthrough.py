#!/usr/bin/env python3
# test_passthrough.py - sealed files read by the kernel from the blob
#
# Where the kernel offers FUSE passthrough (Linux 6.9+, CONFIG_FUSE_PASSTHROUGH)
# and the daemon runs as root on a plain filesystem, reads and mmaps of a
# sealed file are served by the kernel from the blob: the daemon is not on
# the data path. -o nopassthrough, or a kernel without it, serves them by
# splice. Either way the bytes are the same; these tests check the bytes,
# which path the daemon says is live, and that the daemon really reads
# nothing on the passthrough path (its /proc/PID/io).

import mmap
import os
import platform
import threading
from os.path import join as pjoin

import numpy
import pytest

import util


def kernel_has_passthrough():
    '''This kernel can do it: 6.9 or later, built with it, we are root.'''
    major, minor = (int(x) for x in platform.release().split('.')[:2])
    if (major, minor) < (6, 9) or os.geteuid() != 0:
        return False
    try:
        import gzip
        with gzip.open('/proc/config.gz', 'rt') as fh:
            return 'CONFIG_FUSE_PASSTHROUGH=y' in fh.read()
    except OSError:
        return True     # no config to read: a 6.9+ kernel most likely has it


def daemon_rchar(m):
    with open('/proc/%d/io' % m.proc.pid) as fh:
        for line in fh:
            if line.startswith('rchar:'):
                return int(line.split()[1])
    raise AssertionError('no rchar in /proc/%d/io' % m.proc.pid)


def drop_caches():
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as fh:
        fh.write('3\n')


SIZE = 48 << 20


def sealed_big(m, name='big', version='1.0.0', seed='pt'):
    data = util.payload(seed, SIZE)
    vdir = m.version(name, version, {'w.bin': data, 'small.txt': b'hello\n'},
                     sealed=True)
    return vdir, data


def read_all(path, bs=1 << 20):
    fd = os.open(path, os.O_RDONLY)
    try:
        return util.read_fd(fd, bs)
    finally:
        os.close(fd)


def mmap_check(path, data):
    '''Map the whole file and touch every page, as a loader does.'''
    with open(path, 'rb') as fh:
        mm = mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ)
        try:
            assert bytes(mm[i] for i in range(0, SIZE, 4096)) == data[::4096]
            assert mm[:] == data
        finally:
            mm.close()


def test_log_names_the_live_path(mounted):
    sealed_big(mounted)
    util.read_file(pjoin(mounted.models, 'big', 'versions', '1.0.0', 'small.txt'))
    log = mounted.log()
    if kernel_has_passthrough():
        assert 'sealed files: kernel passthrough' in log
    else:
        assert 'sealed files: splice and page cache (' in log


@pytest.mark.skipif(not kernel_has_passthrough(), reason='kernel without FUSE passthrough')
def test_reads_and_mmaps_do_not_pass_through_the_daemon(mounted):
    vdir, data = sealed_big(mounted)
    path = pjoin(vdir, 'w.bin')
    drop_caches()
    before = daemon_rchar(mounted)
    assert read_all(path) == data
    mmap_check(path, data)
    moved = daemon_rchar(mounted) - before
    # The daemon read the lookups' records, not the 48 MiB (twice).
    assert moved < SIZE // 8, 'daemon read %d bytes for a passthrough read' % moved


@pytest.mark.mount_options('nopassthrough')
def test_nopassthrough_serves_by_splice_with_the_same_bytes(mounted):
    vdir, data = sealed_big(mounted)
    path = pjoin(vdir, 'w.bin')
    assert 'sealed files: splice and page cache (-o nopassthrough)' in mounted.log()
    if os.geteuid() == 0:
        drop_caches()
    before = daemon_rchar(mounted)
    assert read_all(path) == data
    mmap_check(path, data)
    # The daemon carried the bytes: the contrast with the test above.
    assert daemon_rchar(mounted) - before >= SIZE


def test_many_opens_of_one_file_share_it(mounted):
    '''All opens of an inode share one backing file, counted until the
    last close: open 64 at once, close half, open more, read through all.'''
    vdir, data = sealed_big(mounted)
    path = pjoin(vdir, 'w.bin')
    fds = [os.open(path, os.O_RDONLY) for _ in range(64)]
    try:
        for i, fd in enumerate(fds):
            off = (i * 777777) % (SIZE - 4096)
            assert os.pread(fd, 4096, off) == data[off:off + 4096]
        for fd in fds[:32]:
            os.close(fd)
        fds = fds[32:] + [os.open(path, os.O_RDONLY) for _ in range(32)]
        for fd in fds:
            assert os.pread(fd, 100, SIZE - 100) == data[-100:]
    finally:
        for fd in fds:
            os.close(fd)
    # and after the last close, a fresh open still works
    assert read_all(path)[:1 << 20] == data[:1 << 20]


def test_open_close_races_keep_every_open_working(mounted):
    '''A release racing a new open of the same inode must not leave the
    open with a closed backing file (the kernel would answer EIO).'''
    vdir, data = sealed_big(mounted)
    path = pjoin(vdir, 'small.txt')
    errors = []

    def worker():
        try:
            for _ in range(300):
                with open(path, 'rb') as fh:
                    if fh.read() != b'hello\n':
                        errors.append('wrong bytes')
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_versions_sharing_a_blob_read_the_same_bytes(mounted):
    '''Two versions dedup to one blob: two FUSE inodes, one backing file,
    opened together.'''
    v1, data = sealed_big(mounted, version='1.0.0')
    v2 = mounted.version('big', '1.1.0', {'w.bin': data, 'other.txt': b'x'},
                         sealed=True)
    a = os.open(pjoin(v1, 'w.bin'), os.O_RDONLY)
    b = os.open(pjoin(v2, 'w.bin'), os.O_RDONLY)
    try:
        for off in (0, 4096 * 1000, SIZE - 8192):
            assert os.pread(a, 8192, off) == os.pread(b, 8192, off) == data[off:off + 8192]
    finally:
        os.close(a)
        os.close(b)
    os.symlink('versions/1.1.0', pjoin(mounted.models, 'big', 'production'))
    assert read_all(pjoin(mounted.models, 'big', 'production', 'w.bin')) == data


def test_numpy_memmap_through_production(mounted):
    arr = numpy.arange(3 << 20, dtype=numpy.float32).reshape(3072, 1024)
    src = pjoin(mounted.tmp, 'w.npy')
    numpy.save(src, arr)
    vdir = mounted.version('np', '1.0.0', {'w.npy': util.read_file(src)}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'np', 'production'))
    m = numpy.load(pjoin(mounted.models, 'np', 'production', 'w.npy'), mmap_mode='r')
    assert m.shape == arr.shape
    assert float(m[::7, ::13].sum()) == float(arr[::7, ::13].sum())
    assert numpy.array_equal(m[-1], arr[-1])
    del m
    assert os.path.isdir(vdir)


def test_drafts_are_not_affected(mounted):
    '''Draft files are still read and written through the daemon; reading
    one while it is written sees what was written.'''
    vdir = mounted.version('d', '1.0.0')
    p = pjoin(vdir, 'f.bin')
    with open(p, 'wb') as w:
        w.write(b'a' * 100000)
        w.flush()
        assert util.read_file(p) == b'a' * 100000
        w.write(b'b' * 10)
    assert util.read_file(p) == b'a' * 100000 + b'b' * 10
    util.seal(vdir)
    assert util.read_file(p) == b'a' * 100000 + b'b' * 10


def daemon_io(m):
    total = 0
    with open('/proc/%d/io' % m.proc.pid) as fh:
        for line in fh:
            if line.startswith(('rchar:', 'wchar:')):
                total += int(line.split()[1])
    return total


def write_big_draft(m):
    vdir = m.version('w', '1.0.0')
    data = os.urandom(SIZE)
    before = daemon_io(m)
    with open(pjoin(vdir, 'big.bin'), 'wb') as fh:
        for i in range(0, SIZE, 1 << 20):
            fh.write(data[i:i + (1 << 20)])
    moved = daemon_io(m) - before
    assert read_all(pjoin(vdir, 'big.bin')) == data
    util.seal(vdir)
    assert read_all(pjoin(vdir, 'big.bin')) == data
    assert os.getxattr(pjoin(vdir, 'big.bin'), 'user.modelfs.digest').decode() == \
        util.xxh_bytes(data, m.tmp)
    return moved


@pytest.mark.skipif(not kernel_has_passthrough(), reason='kernel without FUSE passthrough')
def test_draft_writes_go_straight_to_the_draft_file(mounted):
    moved = write_big_draft(mounted)
    assert moved < SIZE // 8, 'daemon moved %d bytes for a passthrough write' % moved


@pytest.mark.mount_options('nopassthrough')
def test_draft_writes_through_the_daemon_without_passthrough(mounted):
    assert write_big_draft(mounted) >= SIZE


def test_a_draft_file_written_by_two_handles_seals_its_real_bytes(mounted):
    '''One writer through the daemon (small writes, hashed as they pass),
    one the kernel serves directly: the digest is of what is on disk.'''
    vdir = mounted.version('w', '1.0.0')
    p = pjoin(vdir, 'f.bin')
    a = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    b = os.open(p, os.O_RDWR)
    try:
        os.pwrite(a, b'a' * 100, 0)
        os.pwrite(b, b'b' * 50, 0)
        os.pwrite(a, b'c' * 10, 100)
    finally:
        os.close(a)
        os.close(b)
    want = b'b' * 50 + b'a' * 50 + b'c' * 10
    assert util.read_file(p) == want
    util.seal(vdir)
    assert util.read_file(p) == want
    assert os.getxattr(p, 'user.modelfs.digest').decode() == util.xxh_bytes(want, mounted.tmp)
