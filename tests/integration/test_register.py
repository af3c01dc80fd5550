#!/usr/bin/env python3
# test_register.py - registering models and filling drafts with everyday tools
#
# DESIGN §1 "Versions": a draft is an ordinary working directory, so cp -r,
# cp -a, rsync -a (temp file then rename, read-only sources), tar -x and
# plain syscalls (sparse and out-of-order writes, O_DIRECT, hard links,
# inner symlinks, chmod/chown/utimens) must all work unchanged.

import errno
import json
import mmap
import os
import stat
import tarfile
from os.path import join as pjoin

import util
from util import expect_errno, payload, read_file, run, tree, write_file


def test_mkdir_registers_model(mounted):
    assert 'models' in os.listdir(mounted.mnt)
    mdir = pjoin(mounted.models, 'churn')
    os.mkdir(mdir)
    assert 'churn' in os.listdir(mounted.models)
    assert stat.S_ISDIR(os.stat(mdir).st_mode)
    names = set(os.listdir(mdir))
    assert {'versions', 'metadata.json', 'policy.json'} <= names
    assert names <= {'versions', 'metadata.json', 'policy.json', 'history.jsonl'}
    assert os.listdir(pjoin(mdir, 'versions')) == []
    assert json.loads(read_file(pjoin(mdir, 'metadata.json'))) == {}
    assert json.loads(read_file(pjoin(mdir, 'policy.json'))) == {}
    assert not os.path.lexists(pjoin(mdir, 'latest'))


def test_model_name_limits(mounted):
    name = 'A-z_0.9' + 'x' * 121
    assert len(name) == 128
    os.mkdir(pjoin(mounted.models, name))
    assert name in os.listdir(mounted.models)
    expect_errno(errno.EINVAL, os.mkdir, pjoin(mounted.models, name + 'y'))
    assert name + 'y' not in os.listdir(mounted.models)


def test_model_metadata_writable(mounted):
    mdir = mounted.model('churn')
    doc = {'description': 'churn predictor', 'owner': 'ml-team', 'tags': ['a']}
    write_file(pjoin(mdir, 'metadata.json'), json.dumps(doc))
    assert json.loads(read_file(pjoin(mdir, 'metadata.json'))) == doc
    mounted.remount()
    assert json.loads(read_file(pjoin(mdir, 'metadata.json'))) == doc


def _check_copy(src, dst, modes=True):
    assert tree(dst, modes=modes, skip_root_vfiles=True) == tree(src, modes=modes)


def test_cp_r(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    mdir = mounted.model('churn')
    vdir = pjoin(mdir, 'versions', '1.0.0')
    run(['cp', '-r', src, vdir])
    _check_copy(src, vdir, modes=False)
    util.seal(vdir)
    assert util.is_sealed(vdir)
    _check_copy(src, vdir, modes=False)


def test_cp_a_preserves_modes_times_links(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    os.utime(pjoin(src, 'model.bin'), ns=(1_600_000_000_123_456_789,
                                          1_500_000_000_987_654_321))
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    run(['cp', '-a', src, vdir])
    _check_copy(src, vdir)
    st = os.stat(pjoin(vdir, 'model.bin'))
    assert st.st_mtime_ns == 1_500_000_000_987_654_321
    # cp -a keeps the hard link a hard link
    a = os.lstat(pjoin(vdir, 'model.bin'))
    b = os.lstat(pjoin(vdir, 'sub', 'model-hard.bin'))
    assert a.st_nlink == 2 and b.st_nlink == 2 and a.st_ino == b.st_ino
    assert os.readlink(pjoin(vdir, 'weights-link')) == 'sub/weights.npy'
    util.seal(vdir)
    _check_copy(src, vdir, modes=False)
    assert read_file(pjoin(vdir, 'weights-link')) == \
        read_file(pjoin(src, 'sub', 'weights.npy'))
    # the store agrees with what the mount showed
    show = mounted.modelctl('show', 'churn@1.0.0', as_json=True).json
    assert show['state'] == 'sealed'
    files = {f['path']: f for f in show['files']}
    for rel, ent in tree(src).items():
        if ent[0] == 'f':
            assert files[rel]['size'] == len(ent[2]), rel
            assert files[rel]['digest'] == util.xxhsum(pjoin(src, rel)), rel
    # symlinks are listed too; the total counts regular files' bytes
    assert show['size'] == sum(len(e[2]) for e in tree(src).values() if e[0] == 'f')


def test_cp_a_of_sealed_version_into_new_draft(mounted, tmp_path):
    '''cp -a copies the listed user.modelfs.* facts: a draft accepts and
    ignores them.'''
    src = util.make_source_tree(str(tmp_path / 'src'))
    vers = pjoin(mounted.model('churn'), 'versions')
    run(['cp', '-a', src, pjoin(vers, '1.0.0')])
    util.seal(pjoin(vers, '1.0.0'))
    run(['cp', '-a', pjoin(vers, '1.0.0'), pjoin(vers, '1.0.1')])
    assert not util.is_sealed(pjoin(vers, '1.0.1'))
    _check_copy(src, pjoin(vers, '1.0.1'), modes=False)
    util.seal(pjoin(vers, '1.0.1'))
    _check_copy(src, pjoin(vers, '1.0.1'), modes=False)
    # and out of the mount, to a plain directory
    out = str(tmp_path / 'out')
    run(['cp', '-a', pjoin(vers, '1.0.0'), out])
    _check_copy(src, out, modes=False)
    run(['rsync', '-a', pjoin(vers, '1.0.1') + '/', str(tmp_path / 'out2') + '/'])
    _check_copy(src, str(tmp_path / 'out2'), modes=False)


def test_many_files_readdir(mounted):
    vdir = mounted.version('churn', '1.0.0')
    names = set()
    for i in range(1500):
        n = 'file-%04d-%s' % (i, 'x' * (i % 120))
        names.add(n)
        write_file(pjoin(vdir, n), b'%d' % i)
    assert set(os.listdir(vdir)) == names
    res = run(['ls', '-1', vdir])
    assert set(res.stdout.decode().split()) == names
    util.seal(vdir)
    assert set(os.listdir(vdir)) == names | {'metadata.json', 'lineage.json'}
    assert len(util.registry(vdir)['files']) == 1500
    assert read_file(pjoin(vdir, 'file-1499-' + 'x' * (1499 % 120))) == b'1499'


def test_inode_numbers_stable_across_remount(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a', 'sub/b': b'b'},
                           sealed=True)
    before = {p: os.lstat(pjoin(vdir, p)).st_ino for p in ('a', 'sub', 'sub/b')}
    assert len(set(before.values())) == 3
    mounted.remount()
    after = {p: os.lstat(pjoin(vdir, p)).st_ino for p in ('a', 'sub', 'sub/b')}
    assert after == before


def test_rsync_a_read_only_source(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    run(['chmod', '-R', 'a-w', src])
    try:
        vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
        run(['rsync', '-a', src + '/', vdir + '/'])
        _check_copy(src, vdir)
        # chmod a-w of the version dir never seals: still a draft
        assert not util.is_sealed(vdir)
        assert stat.S_IMODE(os.stat(vdir).st_mode) & 0o222 == 0
        util.seal(vdir)
        assert util.is_sealed(vdir)
        _check_copy(src, vdir, modes=False)
        # a second rsync into another draft: same bytes, one more version
        vdir2 = pjoin(mounted.models, 'churn', 'versions', '1.1.0')
        run(['rsync', '-a', src + '/', vdir2 + '/'])
        _check_copy(src, vdir2)
    finally:
        run(['chmod', '-R', 'u+w', src])


def test_rsync_temp_file_then_rename_update(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    run(['rsync', '-a', src + '/', vdir + '/'])
    write_file(pjoin(src, 'config.yaml'), b'layers: 4\n')
    run(['rsync', '-a', '--delete', src + '/', vdir + '/'])
    _check_copy(src, vdir)
    assert [n for n in os.listdir(vdir) if n.startswith('.')] == []


def test_tar_x(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    tarball = str(tmp_path / 'model.tar')
    run(['tar', '-cf', tarball, '-C', src, '.'])
    vdir = pjoin(mounted.model('churn'), 'versions', '2.0.0-rc.1')
    os.mkdir(vdir)
    run(['tar', '-xf', tarball, '-C', vdir])
    _check_copy(src, vdir)
    util.seal(vdir)
    _check_copy(src, vdir, modes=False)
    # and back out of a sealed version
    out = str(tmp_path / 'out')
    os.mkdir(out)
    run(['tar', '-cf', str(tmp_path / 'back.tar'), '-C', vdir, '.'])
    run(['tar', '-xf', str(tmp_path / 'back.tar'), '-C', out])
    _check_copy(src, out, modes=False)


def test_cp_r_sealed_version_to_new_draft(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    vers = pjoin(mounted.model('churn'), 'versions')
    v1 = pjoin(vers, '1.2.0')
    run(['cp', '-r', src, v1])
    write_file(pjoin(v1, 'metadata.json'), json.dumps({'description': 'base'}))
    util.seal(v1)
    blobs_before = util.blob_files(mounted.store)
    v2 = pjoin(vers, '1.3.0')
    run(['cp', '-r', v1, v2])
    assert not util.is_sealed(v2)
    # lineage.json copied into a draft is discarded; metadata.json is kept
    assert not os.path.lexists(pjoin(v2, 'lineage.json'))
    assert 'lineage.json' not in os.listdir(v2)
    assert tree(v2, modes=False, skip_root_vfiles=True) == \
        tree(v1, modes=False, skip_root_vfiles=True)
    util.seal(v2)
    meta = util.read_json(pjoin(v2, 'metadata.json'))
    assert meta['description'] == 'base'
    assert meta['registry']['version'] == '1.3.0'
    assert meta['registry']['model'] == 'churn'
    _check_copy(src, v2, modes=False)
    # same contents: sealing the copy adds no blob
    assert util.blob_files(mounted.store) == blobs_before


def test_sparse_and_out_of_order_writes(mounted, tmp_path):
    vdir = mounted.version('churn', '1.0.0')
    p = pjoin(vdir, 'sparse.bin')
    size = 3 * 1024 * 1024 + 123
    expect = bytearray(size)
    chunks = [(2 * 1024 * 1024, payload('c', 65536)),
              (0, payload('a', 4096)),
              (size - 100, payload('z', 100)),
              (70000, payload('b', 33333)),
              (1000, payload('d', 10))]
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for off, data in chunks:
            assert os.pwrite(fd, data, off) == len(data)
            expect[off:off + len(data)] = data
    finally:
        os.close(fd)
    assert os.stat(p).st_size == size
    assert read_file(p) == bytes(expect)
    # a hole at the end via truncate, then shrink again
    os.truncate(p, size + 5000)
    assert read_file(p) == bytes(expect) + bytes(5000)
    os.truncate(p, size)
    util.seal(vdir)
    assert read_file(p) == bytes(expect)
    files = {f['path']: f for f in util.registry(vdir)['files']}
    assert files['sparse.bin']['size'] == size
    assert files['sparse.bin']['digest'] == util.xxh_bytes(bytes(expect), tmp_path)


def test_o_direct_write_and_read(mounted):
    vdir = mounted.version('churn', '1.0.0')
    p = pjoin(vdir, 'direct.bin')
    data = payload('direct', 256 * 1024)
    buf = mmap.mmap(-1, len(data))
    buf.write(data)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    try:
        assert os.write(fd, buf) == len(data)
    finally:
        os.close(fd)
    assert read_file(p) == data
    rbuf = mmap.mmap(-1, len(data))
    fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    try:
        assert os.readv(fd, [rbuf]) == len(data)
    finally:
        os.close(fd)
    assert bytes(rbuf) == data


def test_hard_links_within_version(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'first'})
    os.mkdir(pjoin(vdir, 'sub'))
    os.link(pjoin(vdir, 'a.bin'), pjoin(vdir, 'sub', 'b.bin'))
    assert os.stat(pjoin(vdir, 'a.bin')).st_nlink == 2
    with open(pjoin(vdir, 'sub', 'b.bin'), 'ab') as fh:
        fh.write(b'+second')
    assert read_file(pjoin(vdir, 'a.bin')) == b'first+second'
    os.link(pjoin(vdir, 'a.bin'), pjoin(vdir, 'c.bin'))
    os.unlink(pjoin(vdir, 'a.bin'))
    assert os.stat(pjoin(vdir, 'c.bin')).st_nlink == 2
    util.seal(vdir)
    assert read_file(pjoin(vdir, 'c.bin')) == b'first+second'
    assert read_file(pjoin(vdir, 'sub', 'b.bin')) == b'first+second'
    assert sorted(f['path'] for f in util.registry(vdir)['files']) == \
        ['c.bin', 'sub/b.bin']


def test_symlinks_inside_version(mounted):
    vdir = mounted.version('churn', '1.0.0', {'sub/w.bin': b'weights',
                                              'top.txt': b'top'})
    os.symlink('sub/w.bin', pjoin(vdir, 'w-link'))
    os.symlink('../top.txt', pjoin(vdir, 'sub', 'up'))
    os.symlink('sub', pjoin(vdir, 'dir-link'))
    os.symlink('./sub/../top.txt', pjoin(vdir, 'dotted'))
    assert read_file(pjoin(vdir, 'w-link')) == b'weights'
    assert read_file(pjoin(vdir, 'sub', 'up')) == b'top'
    assert read_file(pjoin(vdir, 'dir-link', 'w.bin')) == b'weights'
    assert read_file(pjoin(vdir, 'dotted')) == b'top'
    util.seal(vdir)
    assert os.readlink(pjoin(vdir, 'w-link')) == 'sub/w.bin'
    assert os.readlink(pjoin(vdir, 'sub', 'up')) == '../top.txt'
    assert read_file(pjoin(vdir, 'w-link')) == b'weights'
    assert read_file(pjoin(vdir, 'dir-link', 'w.bin')) == b'weights'


def test_chmod_chown_utimens_in_draft(mounted):
    vdir = mounted.version('churn', '1.0.0', {'f.bin': b'x' * 100,
                                              'sub/g.bin': b'y'})
    p = pjoin(vdir, 'f.bin')
    os.chmod(p, 0o640)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    os.chown(p, 1234, 5678)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    os.chown(pjoin(vdir, 'sub'), 1234, -1)
    assert os.stat(pjoin(vdir, 'sub')).st_uid == 1234
    os.utime(p, ns=(1_111_111_111_000_000_001, 1_222_222_222_000_000_002))
    st = os.stat(p)
    assert st.st_mtime_ns == 1_222_222_222_000_000_002
    assert st.st_atime_ns == 1_111_111_111_000_000_001
    os.chmod(pjoin(vdir, 'sub'), 0o750)
    assert stat.S_IMODE(os.stat(pjoin(vdir, 'sub')).st_mode) == 0o750
    util.seal(vdir)
    files = {f['path']: f for f in util.registry(vdir)['files']}
    mode = files['f.bin']['mode']
    if isinstance(mode, str):
        mode = int(mode, 8)
    assert stat.S_IMODE(mode) == 0o640
    assert os.stat(p).st_uid == 1234
    assert read_file(p) == b'x' * 100


def test_ordinary_dir_ops_in_draft(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.txt': b'hello world'})
    os.rename(pjoin(vdir, 'a.txt'), pjoin(vdir, 'b.txt'))
    assert os.listdir(vdir) == ['b.txt']
    os.makedirs(pjoin(vdir, 'd1', 'd2'))
    os.rename(pjoin(vdir, 'b.txt'), pjoin(vdir, 'd1', 'd2', 'c.txt'))
    os.rename(pjoin(vdir, 'd1'), pjoin(vdir, 'e1'))
    assert read_file(pjoin(vdir, 'e1', 'd2', 'c.txt')) == b'hello world'
    os.truncate(pjoin(vdir, 'e1', 'd2', 'c.txt'), 5)
    assert read_file(pjoin(vdir, 'e1', 'd2', 'c.txt')) == b'hello'
    write_file(pjoin(vdir, 'keep'), b'k')
    # rename over an existing file replaces it
    write_file(pjoin(vdir, 'tmp'), b'new')
    os.rename(pjoin(vdir, 'tmp'), pjoin(vdir, 'keep'))
    assert read_file(pjoin(vdir, 'keep')) == b'new'
    os.unlink(pjoin(vdir, 'e1', 'd2', 'c.txt'))
    os.rmdir(pjoin(vdir, 'e1', 'd2'))
    expect_errno(errno.ENOTEMPTY, os.rmdir, vdir)
    os.rmdir(pjoin(vdir, 'e1'))
    assert os.listdir(vdir) == ['keep']
    # a second handle sees writes through the first
    fd = os.open(pjoin(vdir, 'keep'), os.O_RDWR)
    try:
        os.pwrite(fd, b'NEW!', 0)
        assert read_file(pjoin(vdir, 'keep')) == b'NEW!'
    finally:
        os.close(fd)


def test_absent_names_in_a_draft_are_asked_once(mounted):
    """A name absent from a draft stays known absent to the kernel, so a
    tool that stats its destination before it creates it (shutil.copy,
    torch.save, tar) costs one lookup, not two: counted in the requests of
    a daemon run with -d. What the kernel keeps must never hide a name:
    one made or removed through the mount is seen at once, and the names a
    seal adds at the version root (metadata.json, lineage.json) appear."""
    vdir = mounted.version('neg', '1.0.0', {'a.bin': b'a'})
    os.mkdir(pjoin(vdir, 'sub'))
    mounted.serve_debug()
    root, sub = os.stat(vdir).st_ino, os.stat(pjoin(vdir, 'sub')).st_ino
    dfds = [os.open(d, os.O_RDONLY | os.O_DIRECTORY) for d in (vdir, pjoin(vdir, 'sub'))]
    try:
        mark = mounted.log_mark()     # from here no path is walked: only names
        for dfd in dfds:
            for i in range(3):
                name = 'new%d.bin' % i
                expect_errno(errno.ENOENT, os.stat, name, dir_fd=dfd)
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dfd)
                os.write(fd, b'n%d' % i)
                os.close(fd)
        asked = mounted.requests_since(mark)
    finally:
        for dfd in dfds:
            os.close(dfd)
    assert [op for op, n in asked if n == root and op == 'LOOKUP'] == ['LOOKUP'] * 3
    assert [op for op, n in asked if n == sub and op == 'LOOKUP'] == ['LOOKUP'] * 3
    assert [op for op, n in asked if n in (root, sub) and op == 'CREATE'] == ['CREATE'] * 6
    for d in (vdir, pjoin(vdir, 'sub')):
        assert read_file(pjoin(d, 'new1.bin')) == b'n1'
        os.unlink(pjoin(d, 'new1.bin'))
        expect_errno(errno.ENOENT, os.stat, pjoin(d, 'new1.bin'))
        write_file(pjoin(d, 'new1.bin'), b'again')
        assert read_file(pjoin(d, 'new1.bin')) == b'again'
    for name in ('metadata.json', 'lineage.json'):
        for _ in range(2):
            expect_errno(errno.ENOENT, os.stat, pjoin(vdir, name))
    util.seal(vdir)
    assert json.loads(read_file(pjoin(vdir, 'lineage.json')))
    assert os.stat(pjoin(vdir, 'metadata.json')).st_size > 0
    expect_errno(errno.ENOENT, os.stat, pjoin(vdir, 'new2.bin.tmp'))
    assert sorted(os.listdir(vdir)) == ['a.bin', 'lineage.json', 'metadata.json', 'new0.bin',
                                        'new1.bin', 'new2.bin', 'sub']


def test_draft_rename_to_free_semver(mounted):
    vers = pjoin(mounted.model('churn'), 'versions')
    v = mounted.version('churn', '1.0.0', {'a': b'a'})
    mounted.version('churn', '2.0.0', {'b': b'b'})
    os.rename(v, pjoin(vers, '1.1.0-beta.1'))
    assert sorted(os.listdir(vers)) == ['1.1.0-beta.1', '2.0.0']
    assert read_file(pjoin(vers, '1.1.0-beta.1', 'a')) == b'a'
    expect_errno(errno.EINVAL, os.rename, pjoin(vers, '1.1.0-beta.1'),
                 pjoin(vers, 'final'))
    assert sorted(os.listdir(vers)) == ['1.1.0-beta.1', '2.0.0']
    util.seal(pjoin(vers, '1.1.0-beta.1'))
    assert util.registry(pjoin(vers, '1.1.0-beta.1'))['version'] == '1.1.0-beta.1'


def test_rm_rf_draft_and_reuse_name(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    vers = pjoin(mounted.model('churn'), 'versions')
    run(['cp', '-a', src, pjoin(vers, '1.0.0')])
    run(['rm', '-rf', pjoin(vers, '1.0.0')])
    assert os.listdir(vers) == []
    assert not os.path.lexists(pjoin(vers, '1.0.0'))
    # a draft is not a tombstone: the name is free again
    os.mkdir(pjoin(vers, '1.0.0'))
    assert os.listdir(pjoin(vers, '1.0.0')) == []
    drafts = os.listdir(pjoin(mounted.store, 'drafts'))
    assert len(drafts) <= 1


def test_open_unlinked_file_in_draft(mounted):
    '''POSIX: an unlinked file lives on while a handle is open.'''
    vdir = mounted.version('churn', '1.0.0', {'keep': b'k'})
    p = pjoin(vdir, 'scratch')
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b'before unlink;')
        os.unlink(p)
        assert not os.path.lexists(p)
        os.write(fd, b'after unlink')
        assert os.pread(fd, 100, 0) == b'before unlink;after unlink'
        # a new file of the same name is a different file
        write_file(p, b'new')
        assert os.pread(fd, 6, 0) == b'before'
    finally:
        os.close(fd)
    assert read_file(p) == b'new'
    util.seal(vdir)
    assert sorted(f['path'] for f in util.registry(vdir)['files']) == ['keep', 'scratch']


def test_rename_draft_with_open_writer(mounted):
    vers = pjoin(mounted.model('churn'), 'versions')
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    fd = os.open(pjoin(vdir, 'w.bin'), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b'first half, ')
        os.rename(vdir, pjoin(vers, '1.1.0'))
        os.write(fd, b'second half')
    finally:
        os.close(fd)
    assert os.listdir(vers) == ['1.1.0']
    v2 = pjoin(vers, '1.1.0')
    assert read_file(pjoin(v2, 'w.bin')) == b'first half, second half'
    util.seal(v2)
    assert read_file(pjoin(v2, 'w.bin')) == b'first half, second half'
    assert util.registry(v2)['version'] == '1.1.0'
    mounted.remount()
    assert read_file(pjoin(v2, 'w.bin')) == b'first half, second half'


def test_statvfs(mounted):
    st = os.statvfs(mounted.mnt)
    assert st.f_bsize > 0
    assert st.f_namemax >= 128


def test_copy_file_range_paths(mounted, tmp_path):
    '''cp 9.1 tries copy_file_range first: into a draft from outside, from a
    sealed file, from another draft and within one draft.'''
    big = payload('cfr', 700000)
    sealed = mounted.version('churn', '1.0.0', {'w.bin': big}, sealed=True)
    d1 = mounted.version('churn', '1.1.0', {'x.bin': payload('x', 300000)})
    d2 = mounted.version('churn', '1.2.0')
    outside = str(tmp_path / 'outside.bin')
    write_file(outside, payload('out', 123456))
    run(['cp', outside, pjoin(d2, 'from-outside')])
    run(['cp', pjoin(sealed, 'w.bin'), pjoin(d2, 'from-sealed')])
    run(['cp', pjoin(d1, 'x.bin'), pjoin(d2, 'from-draft')])
    run(['cp', pjoin(d2, 'from-sealed'), pjoin(d2, 'within')])
    # and raw copy_file_range with offsets
    with open(pjoin(sealed, 'w.bin'), 'rb') as src, \
            open(pjoin(d2, 'ranged'), 'wb') as dst:
        n = os.copy_file_range(src.fileno(), dst.fileno(), 100000, 5000, 0)
        assert 0 < n <= 100000
        while n < 100000:
            m = os.copy_file_range(src.fileno(), dst.fileno(), 100000 - n,
                                   5000 + n, n)
            assert m > 0
            n += m
    assert read_file(pjoin(d2, 'from-outside')) == read_file(outside)
    assert read_file(pjoin(d2, 'from-sealed')) == big
    assert read_file(pjoin(d2, 'from-draft')) == payload('x', 300000)
    assert read_file(pjoin(d2, 'within')) == big
    assert read_file(pjoin(d2, 'ranged')) == big[5000:105000]
    # the copy is a draft file: writable without touching the sealed one
    with open(pjoin(d2, 'from-sealed'), 'r+b') as fh:
        fh.write(b'CHANGED')
    assert read_file(pjoin(sealed, 'w.bin')) == big
    util.seal(d2)
    got = {f['path']: f['digest'] for f in util.registry(d2)['files']}
    assert got['within'] == util.xxh_bytes(big, tmp_path)
    assert got['from-sealed'] == util.xxh_bytes(b'CHANGED' + big[7:], tmp_path)
    assert got['ranged'] == util.xxh_bytes(big[5000:105000], tmp_path)


def test_fsync_and_locks_in_draft(mounted):
    '''h5py and friends lock and fsync the files they write.'''
    import fcntl
    vdir = mounted.version('churn', '1.0.0')
    p = pjoin(vdir, 'data.h5')
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b'\x89HDF\r\n\x1a\n' + bytes(1000))
        os.fsync(fd)
        os.fdatasync(fd)
        fcntl.lockf(fd, fcntl.LOCK_UN)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    dfd = os.open(vdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    util.seal(vdir)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    assert read_file(p) == b'\x89HDF\r\n\x1a\n' + bytes(1000)


def test_copy_draft_out(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    run(['cp', '-a', src, vdir])
    out = str(tmp_path / 'out')
    run(['cp', '-a', vdir, out])
    _check_copy(src, out)


def test_long_names_and_deep_paths(mounted, tmp_path):
    '''255-byte names, a 200-byte version name and a path near PATH_MAX.'''
    vname = '1.0.0-' + 'a' * 150 + '+' + 'b' * 43
    assert len(vname) == 200
    vdir = pjoin(mounted.model('m' * 128), 'versions', vname)
    os.mkdir(vdir)
    parts = ['%02d' % i + 'd' * 249 for i in range(12)]
    deep = pjoin(vdir, *parts)
    assert len(deep) < 4000
    os.makedirs(deep)
    leaf = 'f' * 255
    data = payload('deep', 10000)
    write_file(pjoin(deep, leaf), data)
    assert read_file(pjoin(deep, leaf)) == data
    os.symlink('../' * 3 + parts[9] + '/' + parts[10] + '/' + parts[11] + '/' + leaf,
               pjoin(deep, 'link'))
    assert read_file(pjoin(deep, 'link')) == data
    util.seal(vdir)
    assert read_file(pjoin(deep, leaf)) == data
    rel = '/'.join(parts + [leaf])
    files = {f['path']: f for f in util.registry(vdir)['files']}
    assert files[rel]['digest'] == util.xxh_bytes(data, tmp_path)
    assert util.registry(vdir)['version'] == vname
    mounted.remount()
    assert read_file(pjoin(deep, leaf)) == data
    assert os.readlink(pjoin(mounted.models, 'm' * 128, 'latest')) == 'versions/' + vname
