#!/usr/bin/env python3
# test_seal.py - sealing drafts, immutability, tombstones, persistence, dedup
#
# DESIGN §1 "Sealing" and §2: a seal hashes every file, links it into the
# content-addressed blob store and commits the version at once. Afterwards
# the bytes never change, even for root; a sealed version is deleted only as
# a tombstone whose name is never reused.

import errno
import fcntl
import mmap
import os
import re
import stat
import threading
import time
from os.path import join as pjoin

import pytest

import util
from util import expect_errno, payload, read_file, run, seal, write_file


def test_seal_by_setfattr_command(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'a' * 1000})
    assert not util.is_sealed(vdir)
    assert not os.path.lexists(pjoin(vdir, 'metadata.json'))
    run(['setfattr', '-n', 'user.modelfs.seal', '-v', '1', vdir])
    assert util.is_sealed(vdir)
    reg = util.registry(vdir)
    assert reg['model'] == 'churn' and reg['version'] == '1.0.0'
    assert reg['state'] == 'sealed'
    assert read_file(pjoin(vdir, 'a.bin')) == b'a' * 1000
    assert os.readlink(pjoin(mounted.models, 'churn', 'latest')) == 'versions/1.0.0'


def test_seal_by_alias(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'abc'})
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'churn', 'production'))
    assert util.is_sealed(vdir)
    assert util.registry(vdir)['aliases'] == ['production']
    expect_errno(errno.EROFS, write_file, pjoin(vdir, 'a.bin'), b'x')


def test_seal_by_alias_of_empty_draft_is_refused(mounted):
    mdir = mounted.model('churn')
    vdir = pjoin(mdir, 'versions', '1.0.0')
    os.mkdir(vdir)
    expect_errno(errno.EINVAL, os.symlink, 'versions/1.0.0', pjoin(mdir, 'production'))
    assert not os.path.lexists(pjoin(mdir, 'production'))
    assert not util.is_sealed(vdir)
    write_file(pjoin(vdir, 'now-writable'), b'yes')


def test_seal_empty_draft_is_einval(mounted):
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    os.mkdir(vdir)
    expect_errno(errno.EINVAL, seal, vdir)
    assert not util.is_sealed(vdir)
    assert os.listdir(vdir) == []
    write_file(pjoin(vdir, 'f'), b'f')
    seal(vdir)
    assert util.is_sealed(vdir)


def test_seal_rechecks_symlinks_moved_out_of_place(mounted):
    '''A link made inside the version can be carried out of it by a rename
    (sub/link -> ../a moved to the root points above the version): the
    seal checks every link where it stands, refuses with EINVAL, and
    leaves the draft as it was.'''
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    os.mkdir(pjoin(vdir, 'sub'))
    os.symlink('../a', pjoin(vdir, 'sub', 'link'))
    os.rename(pjoin(vdir, 'sub', 'link'), pjoin(vdir, 'link'))
    mark = mounted.log_mark()
    expect_errno(errno.EINVAL, seal, vdir)
    assert 'link' in mounted.log_since(mark)
    assert not util.is_sealed(vdir)
    assert sorted(os.listdir(vdir)) == ['a', 'link', 'sub']
    assert read_file(pjoin(vdir, 'a')) == b'a'
    os.unlink(pjoin(vdir, 'link'))
    seal(vdir)
    assert util.is_sealed(vdir)


def test_changes_racing_a_seal_never_corrupt_it(mounted):
    '''Renames that swap two files inside the draft while it is sealed
    must not leave a sealed name over the other file's bytes: changes by
    path are held off (EBUSY) while the seal walks the draft, and every
    digest matches the bytes it names afterwards.'''
    size = 8 << 20
    vdir = mounted.version('churn', '1.0.0')
    os.mkdir(pjoin(vdir, 'sub'))
    for name, ch in (('a', b'A'), ('b', b'B')):
        fd = os.open(pjoin(vdir, 'sub', name), os.O_CREAT | os.O_WRONLY, 0o644)
        # out of order: no inline hash, the seal must read the files
        os.pwrite(fd, ch * (size // 2), size // 2)
        os.pwrite(fd, ch * (size // 2), 0)
        os.close(fd)
    for i in range(8):
        write_file(pjoin(vdir, 'f%d' % i), payload('f%d' % i, 1 << 20))
    a, b = pjoin(vdir, 'sub', 'a'), pjoin(vdir, 'sub', 'b')
    stop = threading.Event()
    seen = {'ok': 0, 'busy': 0, 'sealed': 0}

    def swap():
        while not stop.is_set():
            try:
                util.renameat2(a, b, util.RENAME_EXCHANGE)
                seen['ok'] += 1
            except OSError as exc:
                key = {errno.EBUSY: 'busy', errno.EROFS: 'sealed'}.get(exc.errno)
                assert key, 'rename during seal: %s' % errno.errorcode[exc.errno]
                seen[key] += 1
                if key == 'sealed':
                    return

    t = threading.Thread(target=swap)
    t.start()
    deadline = time.monotonic() + 20
    while seen['ok'] == 0 and time.monotonic() < deadline:   # the swaps have begun
        time.sleep(0.01)
    try:
        seal(vdir)
    finally:
        stop.set()
        t.join()
    assert seen['ok'] > 0
    for name in ('a', 'b'):
        p = pjoin(vdir, 'sub', name)
        assert os.getxattr(p, 'user.modelfs.digest').decode() == util.xxhsum(p)
        data = read_file(p)
        assert data in (b'A' * size, b'B' * size)


def test_cwd_inside_draft_follows_the_seal(mounted):
    '''A shell whose working directory is inside a draft keeps working
    after the version is sealed: it sees the sealed files at the same
    paths, and writing there is EROFS.'''
    vdir = mounted.version('churn', '1.0.0', {'sub/deep/f': b'hi', 'sub/t': b'top'})
    old = os.getcwd()
    os.chdir(pjoin(vdir, 'sub'))
    try:
        seal(vdir)
        assert sorted(os.listdir('.')) == ['deep', 't']
        assert os.listdir('deep') == ['f']
        assert read_file('deep/f') == b'hi'
        assert stat.S_ISDIR(os.stat('.').st_mode)
        expect_errno(errno.EROFS, write_file, 'new', b'x')
    finally:
        os.chdir(old)


@pytest.mark.mount_options('seal_idle=1')
def test_seal_idle(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'idle'})
    # poll `latest` in the model dir: never touch the draft while waiting
    latest = pjoin(mounted.models, 'churn', 'latest')
    deadline = time.monotonic() + 25
    while not os.path.lexists(latest):
        assert time.monotonic() < deadline, 'draft not sealed after 25 s idle'
        time.sleep(0.5)
    assert util.is_sealed(vdir)
    expect_errno(errno.EROFS, write_file, pjoin(vdir, 'b.bin'), b'x')
    assert os.readlink(pjoin(mounted.models, 'churn', 'latest')) == 'versions/1.0.0'


def test_chmod_never_seals(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'a', 'sub/b.bin': b'b'})
    run(['chmod', '-R', 'a-w', vdir])
    time.sleep(0.3)
    assert not util.is_sealed(vdir)
    assert stat.S_IMODE(os.stat(pjoin(vdir, 'a.bin')).st_mode) == 0o444
    # root passes permission checks in a draft
    write_file(pjoin(vdir, 'c.bin'), b'c')
    assert sorted(os.listdir(vdir)) == ['a.bin', 'c.bin', 'sub']
    seal(vdir)
    assert util.is_sealed(vdir)


def test_open_writer_makes_seal_ebusy(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'a'})
    fd = os.open(pjoin(vdir, 'w.bin'), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b'partial')
        t0 = time.monotonic()
        expect_errno(errno.EBUSY, seal, vdir)
        assert time.monotonic() - t0 < 10
        assert not util.is_sealed(vdir)
        os.write(fd, b'-rest')
    finally:
        os.close(fd)
    seal(vdir)
    assert util.is_sealed(vdir)
    assert read_file(pjoin(vdir, 'w.bin')) == b'partial-rest'


def test_seal_right_after_close(mounted):
    '''RELEASE arrives after close() returns: the seal must wait for it.'''
    for i in range(5):
        vdir = mounted.version('churn', '1.0.%d' % i)
        for j in range(4):
            with open(pjoin(vdir, 'f%d' % j), 'wb') as fh:
                fh.write(payload('f%d%d' % (i, j), 20000))
        seal(vdir)
        assert util.is_sealed(vdir)


def test_read_handle_survives_seal(mounted):
    data = payload('survive', 300000)
    vdir = mounted.version('churn', '1.0.0', {'a.bin': data})
    with open(pjoin(vdir, 'a.bin'), 'rb', buffering=0) as fh, \
            mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ) as mm:
        head = fh.read(1000)
        seal(vdir)
        rest = fh.read()
        assert mm[:] == data
    assert head + rest == data
    assert read_file(pjoin(vdir, 'a.bin')) == data


def test_sealed_read_mmap_odirect_locks(mounted):
    data = payload('sealed', 1024 * 1024)
    vdir = mounted.version('churn', '1.0.0', {'w.bin': data}, sealed=True)
    p = pjoin(vdir, 'w.bin')
    assert read_file(p) == data
    assert os.stat(p).st_size == len(data)
    with open(p, 'rb') as fh:
        with mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ) as mm:
            assert mm[:] == data
            assert mm[len(data) - 10:] == data[-10:]
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fcntl.lockf(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.lockf(fh.fileno(), fcntl.LOCK_UN)
    with open(p, 'rb') as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    buf = mmap.mmap(-1, 64 * 1024)
    fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    try:
        got = b''
        off = 0
        while off < len(data):
            n = os.preadv(fd, [buf], off)
            assert n > 0
            got += buf[:n]
            off += n
    finally:
        os.close(fd)
    assert got == data


def test_sealed_chmod_only_removing_write_bits(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'a', 'sub/b.bin': b'b'})
    os.chmod(pjoin(vdir, 'a.bin'), 0o664)
    seal(vdir)
    before = util.snapshot(vdir)
    run(['chmod', '-R', 'a-w', vdir])
    os.chmod(pjoin(vdir, 'a.bin'), 0o444)
    os.chmod(pjoin(vdir, 'a.bin'), 0o664)  # changes nothing
    assert util.snapshot(vdir) == before
    expect_errno(errno.EROFS, os.chmod, pjoin(vdir, 'a.bin'), 0o666)
    expect_errno(errno.EROFS, os.chmod, pjoin(vdir, 'a.bin'), 0o4444)
    assert util.snapshot(vdir) == before


def test_tombstone(mounted):
    mdir = mounted.model('churn')
    vers = pjoin(mdir, 'versions')
    mounted.version('churn', '1.0.0', {'a.bin': b'one'}, sealed=True)
    v11 = mounted.version('churn', '1.1.0', {'a.bin': b'two', 'sub/x': b'x'},
                          sealed=True)
    assert os.readlink(pjoin(mdir, 'latest')) == 'versions/1.1.0'
    # latest never blocks a deletion
    os.rmdir(v11)
    assert sorted(os.listdir(vers)) == ['1.0.0']
    assert not os.path.lexists(v11)
    expect_errno(errno.ENOENT, os.stat, v11)
    assert os.readlink(pjoin(mdir, 'latest')) == 'versions/1.0.0'
    # the name is never reused, even after a remount
    expect_errno(errno.EEXIST, os.mkdir, v11)
    expect_errno(errno.ENOENT, os.symlink, 'versions/1.1.0', pjoin(mdir, 'prod'))
    assert not os.path.lexists(pjoin(mdir, 'prod'))
    mounted.remount()
    assert sorted(os.listdir(vers)) == ['1.0.0']
    expect_errno(errno.EEXIST, os.mkdir, v11)
    v2 = mounted.version('churn', '2.0.0', {'b': b'b'})
    expect_errno(errno.EEXIST, os.rename, v2, v11)


def test_tombstone_busy_while_aliased(mounted):
    mdir = mounted.model('churn')
    v1 = mounted.version('churn', '1.0.0', {'a.bin': b'one'}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(mdir, 'canary'))
    before = util.snapshot(mounted.mnt)
    expect_errno(errno.EBUSY, os.rmdir, v1)
    assert util.snapshot(mounted.mnt) == before
    os.unlink(pjoin(mdir, 'canary'))
    os.rmdir(v1)
    assert os.listdir(pjoin(mdir, 'versions')) == []
    assert not os.path.lexists(pjoin(mdir, 'latest'))


def test_rm_rf_sealed_fails_and_deletes_nothing(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    run(['cp', '-a', src, vdir])
    seal(vdir)
    before = util.snapshot(mounted.mnt)
    res = run(['rm', '-rf', vdir], check=False)
    assert res.returncode == 1
    assert b'Read-only file system' in res.stderr
    assert util.snapshot(mounted.mnt) == before


def test_persistence_across_remount(mounted, tmp_path):
    mdir = mounted.model('churn')
    doc = '{"owner": "team"}'
    write_file(pjoin(mdir, 'metadata.json'), doc)
    src = util.make_source_tree(str(tmp_path / 'src'))
    run(['cp', '-a', src, pjoin(mdir, 'versions', '1.0.0')])
    write_file(pjoin(mdir, 'versions', '1.0.0', 'metadata.json'), '{"run_id": "r1"}')
    os.symlink('versions/1.0.0', pjoin(mdir, 'production'))
    d = mounted.version('churn', '1.1.0', {'draft.bin': payload('d', 5000),
                                           'deep/er/f': b'f'})
    with open(pjoin(d, 'sparse'), 'wb') as fh:
        fh.seek(100000)
        fh.write(b'end')
    os.chmod(pjoin(d, 'deep'), 0o700)
    mounted.model('empty-model')
    before = util.snapshot(mounted.mnt, exclude=('audit.jsonl', 'history.jsonl',
                                                 'index.json'))
    meta_before = util.read_json(pjoin(mdir, 'versions', '1.0.0', 'metadata.json'))
    mounted.remount()
    after = util.snapshot(mounted.mnt, exclude=('audit.jsonl', 'history.jsonl',
                                                'index.json'))
    assert after == before
    assert util.read_json(pjoin(mdir, 'versions', '1.0.0', 'metadata.json')) == meta_before
    assert os.readlink(pjoin(mdir, 'production')) == 'versions/1.0.0'
    # the draft is still a draft: writable, then sealable
    write_file(pjoin(d, 'after-remount'), b'ok')
    assert not util.is_sealed(d)
    seal(d)
    assert util.is_sealed(d)
    assert read_file(pjoin(d, 'sparse')) == bytes(100000) + b'end'
    assert os.readlink(pjoin(mdir, 'latest')) == 'versions/1.1.0'


def test_dedup_identical_content_stored_once(mounted, tmp_path):
    shared = payload('shared', 200000)
    same_in_one = payload('twice', 3000)
    v1 = mounted.version('churn', '1.0.0', {'w.bin': shared, 'a': same_in_one,
                                            'b': same_in_one, 'c': b'v1 only'})
    seal(v1)
    v2 = mounted.version('churn', '2.0.0', {'w.bin': shared, 'c': b'v2 only'})
    seal(v2)
    v3 = mounted.version('other', '1.0.0', {'copy/w.bin': shared})
    seal(v3)
    distinct = {shared, same_in_one, b'v1 only', b'v2 only'}
    blobs = util.blob_files(mounted.store)
    assert len(blobs) == len(distinct), sorted(blobs)
    assert sum(blobs.values()) == sum(len(x) for x in distinct)
    want = {util.xxh_bytes(x, tmp_path) for x in distinct}
    assert set(blobs) == want
    for name in blobs:
        p = pjoin(mounted.store, 'blobs', name[:2], name)
        st = os.stat(p)
        assert stat.S_IMODE(st.st_mode) == 0o444
        assert re.fullmatch(r'[0-9a-f]{32}', name)
    for v, rel in ((v1, 'w.bin'), (v2, 'w.bin'), (v3, 'copy/w.bin')):
        assert read_file(pjoin(v, rel)) == shared


def test_seal_concurrent_with_reads(mounted):
    '''A seal blocks only its caller: listing and reading go on.'''
    vdir = mounted.version('churn', '1.0.0',
                           {'f%02d' % i: payload(i, 100000) for i in range(20)})
    other = mounted.version('churn', '0.9.0', {'x': b'x'}, sealed=True)
    errors = []

    def sealer():
        try:
            seal(vdir)
        except OSError as exc:
            errors.append(exc)
    t = threading.Thread(target=sealer)
    t.start()
    for _ in range(20):
        assert read_file(pjoin(other, 'x')) == b'x'
        os.listdir(pjoin(mounted.models, 'churn', 'versions'))
    t.join(30)
    assert not t.is_alive()
    assert errors == []
    assert util.is_sealed(vdir)


def _digests(vdir):
    return {f['path']: f['digest'] for f in util.registry(vdir)['files']}


def test_digest_after_rewrites_truncates_and_mmap(mounted, tmp_path):
    '''Inline hashing holds only for in-order writes: every other pattern
    must still seal with the digest of the final bytes.'''
    vdir = mounted.version('churn', '1.0.0')
    final = {}
    # sequential, then an earlier part rewritten
    p = pjoin(vdir, 'rewritten')
    data = bytearray(payload('seq', 1 << 20))
    with open(p, 'wb') as fh:
        fh.write(data)
    with open(p, 'r+b') as fh:
        fh.seek(4096)
        fh.write(b'REWRITE')
    data[4096:4103] = b'REWRITE'
    final['rewritten'] = bytes(data)
    # sequential, truncated, appended again
    p = pjoin(vdir, 'truncated')
    with open(p, 'wb') as fh:
        fh.write(payload('t', 300000))
    os.truncate(p, 1000)
    with open(p, 'ab') as fh:
        fh.write(b'tail')
    final['truncated'] = payload('t', 300000)[:1000] + b'tail'
    # O_TRUNC reopen of a finished file
    p = pjoin(vdir, 'reopened')
    write_file(p, payload('first', 50000))
    write_file(p, b'second')
    final['reopened'] = b'second'
    # written through a shared mapping
    p = pjoin(vdir, 'mapped')
    write_file(p, bytes(65536))
    with open(p, 'r+b') as fh:
        with mmap.mmap(fh.fileno(), 65536) as mm:
            mm[100:110] = b'0123456789'
            mm.flush()
    buf = bytearray(65536)
    buf[100:110] = b'0123456789'
    final['mapped'] = bytes(buf)
    seal(vdir)
    got = _digests(vdir)
    assert set(got) == set(final)
    for rel, content in final.items():
        assert read_file(pjoin(vdir, rel)) == content, rel
        assert got[rel] == util.xxh_bytes(content, tmp_path), rel


@pytest.mark.parametrize('served', ['passthrough', 'nopassthrough'])
def test_files_are_hashed_as_their_last_writers_close_them(mounted, tmp_path, served):
    '''The daemon hashes each draft file when its last writer closes it
    (while cp writes the next), and the seal takes those digests - unless
    the bytes may have changed since: then it reads the file itself. The
    seal's log line counts the files it read again. Without passthrough
    the daemon hashes in-order writes as they pass instead.'''
    mounted.remount(mounted.options + [served])
    vdir = mounted.version('pre', '1.0.0')
    final = {}
    for i in range(5):
        # f0 is hashed by the daemon's thread, the others (at most 256 KiB)
        # by the release that closed them.
        final['f%d.bin' % i] = payload('pre%d' % i, 100000 + i if i else 400000)
        write_file(pjoin(vdir, 'f%d.bin' % i), final['f%d.bin' % i])
    # Truncated by path after its writer closed it: no writer, no new
    # digest; the seal must read it.
    p = pjoin(vdir, 'by_path')
    write_file(p, payload('bp', 5000))
    os.truncate(p, 10)
    final['by_path'] = payload('bp', 5000)[:10]
    # Written through a mapping that outlived its descriptor: the release
    # comes at munmap, after the last byte.
    p = pjoin(vdir, 'mapped')
    write_file(p, bytes(8192))
    fd = os.open(p, os.O_RDWR)
    mm = mmap.mmap(fd, 8192)
    os.close(fd)
    mm[0:4] = b'MMAP'
    mm.flush()
    mm.close()
    final['mapped'] = b'MMAP' + bytes(8188)
    # Two writers: the first close must not hash what the second changes.
    p = pjoin(vdir, 'two')
    with open(p, 'wb') as a:
        a.write(b'first')
        b = open(p, 'r+b')
    b.seek(0, os.SEEK_END)
    b.write(b'-second')
    b.close()
    final['two'] = b'first-second'
    seal(vdir)
    got = _digests(vdir)
    assert set(got) == set(final)
    for rel, content in final.items():
        assert got[rel] == util.xxh_bytes(content, tmp_path), rel
    assert "sealed 'pre@1.0.0': 8 files (1 read again to hash)" in mounted.log()


def test_large_file_sequential(mounted, tmp_path):
    '''Big writes, inline hashing and reads of a file larger than the page
    cache would hide (32 MiB).'''
    chunk = payload('big', 1 << 20)
    vdir = mounted.version('big', '1.0.0')
    p = pjoin(vdir, 'weights.bin')
    with open(p, 'wb') as fh:
        for i in range(32):
            fh.write(bytes([i]) + chunk[1:])
    seal(vdir)
    local = str(tmp_path / 'weights.bin')
    with open(local, 'wb') as fh:
        for i in range(32):
            fh.write(bytes([i]) + chunk[1:])
    assert os.stat(p).st_size == 32 << 20
    assert _digests(vdir)['weights.bin'] == util.xxhsum(local)
    assert util.xxhsum(p) == util.xxhsum(local)
    with open(p, 'rb') as fh:
        fh.seek(17 << 20)
        assert fh.read(1 << 20) == bytes([17]) + chunk[1:]


def test_concurrent_drafts_and_seals(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    errors = []

    def worker(i):
        try:
            vdir = pjoin(mounted.models, 'm%d' % (i % 2), 'versions', '1.%d.0' % i)
            run(['cp', '-a', src, vdir])
            write_file(pjoin(vdir, 'own.bin'), payload('own%d' % i, 10000 + i))
            seal(vdir)
        except BaseException as exc:  # noqa: B902 - reported below
            errors.append((i, exc))
    mounted.model('m0')
    mounted.model('m1')
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for i in range(6):
        vdir = pjoin(mounted.models, 'm%d' % (i % 2), 'versions', '1.%d.0' % i)
        assert util.is_sealed(vdir)
        assert read_file(pjoin(vdir, 'own.bin')) == payload('own%d' % i, 10000 + i)
        assert util.tree(vdir, modes=False, skip_root_vfiles=True)['model.bin'] == \
            ('f', None, read_file(pjoin(src, 'model.bin')))
    # shared contents stored once; six own.bin blobs
    distinct = {read_file(pjoin(dp, f)) for dp, _d, fs in os.walk(src) for f in fs
                if not os.path.islink(pjoin(dp, f))}
    assert len(util.blob_files(mounted.store)) == len(distinct) + 6
    assert os.readlink(pjoin(mounted.models, 'm1', 'latest')) == 'versions/1.5.0'


# seal_idle=3 with a write every 0.25 s: a sanitized build on a busy
# machine may stall the writer for a second, never for three.
@pytest.mark.mount_options('seal_idle=3')
def test_seal_idle_waits_while_written(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'start'})
    latest = pjoin(mounted.models, 'churn', 'latest')
    t_end = time.monotonic() + 3
    n = 0
    while time.monotonic() < t_end:
        with open(pjoin(vdir, 'log.txt'), 'ab') as fh:
            fh.write(b'%d\n' % n)
        n += 1
        time.sleep(0.25)
    assert not os.path.lexists(latest), 'sealed while being written'
    deadline = time.monotonic() + 25
    while not os.path.lexists(latest):
        assert time.monotonic() < deadline, 'draft not sealed after 25 s idle'
        time.sleep(0.5)
    assert read_file(pjoin(vdir, 'log.txt')) == b''.join(b'%d\n' % i for i in range(n))


def test_alias_onto_draft_with_open_writer_is_ebusy(mounted):
    mdir = mounted.model('churn')
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    fd = os.open(pjoin(vdir, 'w'), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        expect_errno(errno.EBUSY, os.symlink, 'versions/1.0.0',
                     pjoin(mdir, 'production'))
        assert not os.path.lexists(pjoin(mdir, 'production'))
        assert not util.is_sealed(vdir)
    finally:
        os.close(fd)
    os.symlink('versions/1.0.0', pjoin(mdir, 'production'))
    assert util.is_sealed(vdir)


def test_rmdir_empty_draft_frees_name(mounted):
    vers = pjoin(mounted.model('churn'), 'versions')
    os.mkdir(pjoin(vers, '1.0.0'))
    os.rmdir(pjoin(vers, '1.0.0'))
    assert os.listdir(vers) == []
    os.mkdir(pjoin(vers, '1.0.0'))
    assert os.listdir(vers) == ['1.0.0']


def test_two_handles_on_one_draft_file(mounted, tmp_path):
    '''A second handle (a reader, or another writer) opened while a file is
    being written must not break the first one's writes or close().'''
    vdir = mounted.version('churn', '1.0.0')
    cases = {
        # name: (flags of the second open, writes as (handle, offset, bytes))
        'reader': (os.O_RDONLY, [('a', 0, b'A' * 5000), ('a', 5000, b'B' * 100)]),
        'rdwr': (os.O_RDWR, [('a', 0, b'A' * 5000), ('b', 100, b'b' * 10)]),
        'writer': (os.O_WRONLY, [('a', 0, b'A' * 8192), ('b', 4096, b'B' * 8192),
                                 ('a', 12288, b'C' * 10)]),
    }
    final = {}
    for name, (flags, writes) in cases.items():
        p = pjoin(vdir, name)
        expect = bytearray()
        fds = {'a': os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)}
        try:
            os.write(fds['a'], b'head')
            expect[0:4] = b'head'
            fds['b'] = os.open(p, flags)
            for h, off, data in writes:
                try:
                    os.pwrite(fds[h], data, off)
                except OSError as exc:
                    raise AssertionError(
                        '%s: pwrite(%s, %d bytes, off=%d) with a second handle '
                        'open: %s' % (name, h, len(data), off,
                                      errno.errorcode[exc.errno])) from exc
                if len(expect) < off:
                    expect += bytes(off - len(expect))
                expect[off:off + len(data)] = data
        finally:
            errs = []
            for h in ('a', 'b'):
                if h in fds:
                    try:
                        os.close(fds[h])
                    except OSError as exc:
                        errs.append((h, exc))
        assert errs == [], '%s: close() failed: %r' % (name, errs)
        assert read_file(p) == bytes(expect), name
        final[name] = bytes(expect)
    seal(vdir)
    got = _digests(vdir)
    for name, content in final.items():
        assert got[name] == util.xxh_bytes(content, tmp_path), name


def test_writable_mapping_blocks_seal(mounted):
    '''A MAP_SHARED writable mapping keeps the file open for writing after
    close(): the seal must answer EBUSY, not seal bytes still changing.'''
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'mapped')
    write_file(p, bytes(8192))
    fh = open(p, 'r+b')
    mm = mmap.mmap(fh.fileno(), 8192)
    fh.close()
    try:
        mm[0:5] = b'hello'
        expect_errno(errno.EBUSY, seal, vdir)
        assert not util.is_sealed(vdir)
        mm[5:11] = b' world'
        mm.flush()
    finally:
        mm.close()
    seal(vdir)
    assert read_file(p) == b'hello world' + bytes(8192 - 11)


def test_sealed_drafts_leave_no_descriptors_behind(mounted):
    '''The daemon holds a descriptor per draft file the kernel remembers;
    after a seal it asks the kernel to forget the draft's names, so a long
    registration session does not run out of descriptors (EMFILE).'''
    fds = lambda: len(os.listdir('/proc/%d/fd' % mounted.proc.pid))
    before = fds()
    for i in range(150):
        mounted.version('many', '1.%d.0' % i, {'a': b'a%d' % i, 'sub/b': b'b'}, sealed=True)
    deadline = time.monotonic() + 10
    while fds() - before > 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fds() - before <= 50, 'the daemon holds %d more descriptors' % (fds() - before)
    # what was forgotten is found again
    assert util.read_file(pjoin(mounted.models, 'many', 'versions', '1.7.0', 'sub', 'b')) == b'b'
