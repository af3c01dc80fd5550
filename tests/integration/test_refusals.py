#!/usr/bin/env python3
# test_refusals.py - every refusal of DESIGN §1, with its errno, changing nothing
#
# Each case runs against the same small registry ("the world"), takes a
# snapshot of everything visible under the mount point, performs one
# operation, and asserts (1) the exact errno, (2) an identical snapshot
# afterwards and (3) that the daemon logged the refusal. audit.jsonl is left
# out of the snapshot: denials are recorded there on purpose.

import errno
import os
import stat
import struct
from os.path import join as pjoin

import pytest

import util
from util import LATEST_REFUSED, expect_errno, write_file

EINVAL, EEXIST, ENOENT = errno.EINVAL, errno.EEXIST, errno.ENOENT
EPERM, EXDEV, EROFS = errno.EPERM, errno.EXDEV, errno.EROFS
EOPNOTSUPP = errno.EOPNOTSUPP


class World:
    '''m: sealed 1.0.0, drafts 1.1.0 and 2.0.0+b8, alias candidate -> 1.0.0
    n: draft 1.0.0 only (no latest)      other: draft 1.0.0'''

    def __init__(self, mounted):
        self.mnt = mounted.mnt
        self.models = mounted.models
        mounted.version('m', '1.0.0', {'a.bin': b'sealed-a' * 100,
                                       'sub/b.bin': b'sealed-b'}, sealed=True)
        mounted.version('m', '1.1.0', {'f.bin': b'draft-f', 'd/e.bin': b'draft-e'})
        mounted.version('m', '2.0.0+b8', {'x': b'x'})
        mounted.version('n', '1.0.0', {'g.bin': b'draft-g'})
        mounted.version('other', '1.0.0', {'h.bin': b'draft-h'})
        os.symlink('versions/1.0.0', self.p('models/m/candidate'))
        assert os.readlink(self.p('models/m/latest')) == 'versions/1.0.0'

    def p(self, rel):
        return pjoin(self.mnt, rel)


def _open_close(path, flags, mode=0o644):
    fd = os.open(path, flags, mode)
    os.close(fd)


def _write_append(path):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b'more')
    finally:
        os.close(fd)


def _setx(name, value=b'1'):
    def fn(path):
        os.setxattr(path, name, value)
    return fn


# A well-formed POSIX ACL xattr (u::rw-,g::r--,o::r--): the kernel parses the
# value before it asks the file system, so a malformed one would be EINVAL.
ACL_RW_R_R = struct.pack('<I', 2) + b''.join(
    struct.pack('<HHI', tag, perm, 0xffffffff)
    for tag, perm in ((0x01, 6), (0x04, 4), (0x20, 4)))


# (id, operation on World, expected errnos, refusal reaches the daemon)
CASES = [
    # --- reserved names
    ('root-mkdir', lambda w: os.mkdir(w.p('foo')), EINVAL, True),
    ('root-create', lambda w: _open_close(w.p('foo'), os.O_CREAT | os.O_WRONLY), EINVAL, True),
    ('root-symlink', lambda w: os.symlink('models', w.p('foo')), EINVAL, True),
    ('models-dot-name', lambda w: os.mkdir(w.p('models/.hidden')), EINVAL, True),
    ('model-name-space', lambda w: os.mkdir(w.p('models/bad name')), EINVAL, True),
    ('model-name-colon', lambda w: os.mkdir(w.p('models/bad:name')), EINVAL, True),
    ('model-name-utf8', lambda w: os.mkdir(w.p('models/caf\u00e9')), EINVAL, True),
    ('model-name-129', lambda w: os.mkdir(w.p('models/' + 'a' * 129)), EINVAL, True),
    ('model-at-dir', lambda w: os.mkdir(w.p('models/m/@not-a-time')), EINVAL, True),
    ('model-at-alias', lambda w: os.symlink('versions/1.0.0', w.p('models/m/@x')), EINVAL, True),
    ('model-latest-mkdir', lambda w: os.mkdir(w.p('models/n/latest')), EINVAL, True),
    # --- version names
    ('version-v1', lambda w: os.mkdir(w.p('models/m/versions/v1')), EINVAL, True),
    ('version-final', lambda w: os.mkdir(w.p('models/m/versions/final')), EINVAL, True),
    ('version-1.2', lambda w: os.mkdir(w.p('models/m/versions/1.2')), EINVAL, True),
    ('version-dot-incoming', lambda w: os.mkdir(w.p('models/m/versions/.incoming')), EINVAL, True),
    ('version-leading-zero', lambda w: os.mkdir(w.p('models/m/versions/01.2.3')), EINVAL, True),
    ('version-empty-pre', lambda w: os.mkdir(w.p('models/m/versions/1.2.3-')), EINVAL, True),
    ('version-empty-build', lambda w: os.mkdir(w.p('models/m/versions/1.2.3+')), EINVAL, True),
    ('version-equal-prec-sealed', lambda w: os.mkdir(w.p('models/m/versions/1.0.0+b7')), EEXIST, True),
    ('version-equal-prec-draft', lambda w: os.mkdir(w.p('models/m/versions/2.0.0+b7')), EEXIST, True),
    ('version-equal-prec-plain', lambda w: os.mkdir(w.p('models/m/versions/2.0.0')), EEXIST, True),
    ('draft-rename-invalid', lambda w: os.rename(w.p('models/m/versions/1.1.0'),
                                                 w.p('models/m/versions/v1.1')), EINVAL, True),
    ('draft-rename-equal-prec', lambda w: os.rename(w.p('models/m/versions/1.1.0'),
                                                    w.p('models/m/versions/1.0.0+b1')), EEXIST, True),
    # --- drafts: symlinks leaving the version
    ('draft-symlink-sibling', lambda w: os.symlink('../1.0.0/a.bin', w.p('models/m/versions/1.1.0/s')), EINVAL, True),
    ('draft-symlink-absolute', lambda w: os.symlink('/etc/passwd', w.p('models/m/versions/1.1.0/s')), EINVAL, True),
    ('draft-symlink-dotdot-sub', lambda w: os.symlink('../../x', w.p('models/m/versions/1.1.0/d/s')), EINVAL, True),
    ('draft-symlink-hf-blobs', lambda w: os.symlink('../../blobs/abc', w.p('models/m/versions/1.1.0/s')), EINVAL, True),
    ('draft-symlink-via-sub', lambda w: os.symlink('d/../../1.0.0', w.p('models/m/versions/1.1.0/s')), EINVAL, True),
    # --- drafts: special files
    ('draft-mkfifo', lambda w: os.mkfifo(w.p('models/m/versions/1.1.0/fifo')), EPERM, True),
    ('draft-mknod-sock', lambda w: os.mknod(w.p('models/m/versions/1.1.0/sock'), 0o644 | stat.S_IFSOCK), EPERM, True),
    ('draft-mknod-chr', lambda w: os.mknod(w.p('models/m/versions/1.1.0/null'), 0o644 | stat.S_IFCHR, os.makedev(1, 3)), EPERM, True),
    ('draft-mknod-blk', lambda w: os.mknod(w.p('models/m/versions/1.1.0/blk'), 0o644 | stat.S_IFBLK, os.makedev(7, 0)), EPERM, True),
    # --- drafts: across versions and models
    ('link-across-versions', lambda w: os.link(w.p('models/m/versions/1.1.0/f.bin'),
                                               w.p('models/m/versions/2.0.0+b8/f.bin')), EXDEV, True),
    ('link-across-models', lambda w: os.link(w.p('models/m/versions/1.1.0/f.bin'),
                                             w.p('models/other/versions/1.0.0/f.bin')), EXDEV, True),
    ('rename-across-versions', lambda w: os.rename(w.p('models/m/versions/1.1.0/f.bin'),
                                                   w.p('models/m/versions/2.0.0+b8/f.bin')), EXDEV, True),
    ('rename-dir-across-models', lambda w: os.rename(w.p('models/m/versions/1.1.0/d'),
                                                     w.p('models/other/versions/1.0.0/d')), EXDEV, True),
    ('rename-draft-to-other-model', lambda w: os.rename(w.p('models/m/versions/1.1.0'),
                                                        w.p('models/other/versions/1.1.0')), EXDEV, True),
    ('rename-across-models-replace', lambda w: os.rename(w.p('models/n/versions/1.0.0/g.bin'),
                                                         w.p('models/other/versions/1.0.0/h.bin')), EXDEV, True),
    # --- drafts: foreign xattrs
    ('draft-xattr-system', lambda w: _setx('system.foo')(w.p('models/m/versions/1.1.0/f.bin')), EOPNOTSUPP, True),
    ('draft-xattr-trusted', lambda w: _setx('trusted.foo')(w.p('models/m/versions/1.1.0/f.bin')), EOPNOTSUPP, True),
    ('draft-xattr-user', lambda w: _setx('user.foo')(w.p('models/m/versions/1.1.0/f.bin')), EOPNOTSUPP, True),
    ('draft-xattr-acl', lambda w: _setx('system.posix_acl_access', ACL_RW_R_R)(w.p('models/m/versions/1.1.0/f.bin')), EOPNOTSUPP, False),
    # --- sealed versions are immutable, even for root
    ('sealed-open-wronly', lambda w: _open_close(w.p('models/m/versions/1.0.0/a.bin'), os.O_WRONLY), EROFS, True),
    ('sealed-open-rdwr', lambda w: _open_close(w.p('models/m/versions/1.0.0/a.bin'), os.O_RDWR), EROFS, True),
    ('sealed-open-trunc', lambda w: _open_close(w.p('models/m/versions/1.0.0/a.bin'), os.O_WRONLY | os.O_TRUNC), EROFS, True),
    ('sealed-append', lambda w: _write_append(w.p('models/m/versions/1.0.0/sub/b.bin')), EROFS, True),
    ('sealed-truncate', lambda w: os.truncate(w.p('models/m/versions/1.0.0/a.bin'), 0), EROFS, True),
    ('sealed-create', lambda w: _open_close(w.p('models/m/versions/1.0.0/new'), os.O_CREAT | os.O_WRONLY), EROFS, True),
    ('sealed-create-sub', lambda w: _open_close(w.p('models/m/versions/1.0.0/sub/new'), os.O_CREAT | os.O_EXCL | os.O_WRONLY), EROFS, True),
    ('sealed-rename', lambda w: os.rename(w.p('models/m/versions/1.0.0/a.bin'),
                                          w.p('models/m/versions/1.0.0/a2.bin')), EROFS, True),
    ('sealed-unlink', lambda w: os.unlink(w.p('models/m/versions/1.0.0/a.bin')), EROFS, True),
    ('sealed-unlink-sub', lambda w: os.unlink(w.p('models/m/versions/1.0.0/sub/b.bin')), EROFS, True),
    ('sealed-link', lambda w: os.link(w.p('models/m/versions/1.0.0/a.bin'),
                                      w.p('models/m/versions/1.0.0/a3.bin')), EROFS, True),
    ('sealed-mkdir', lambda w: os.mkdir(w.p('models/m/versions/1.0.0/newdir')), EROFS, True),
    ('sealed-symlink', lambda w: os.symlink('a.bin', w.p('models/m/versions/1.0.0/l')), EROFS, True),
    ('sealed-chmod-add-write', lambda w: os.chmod(w.p('models/m/versions/1.0.0/a.bin'), 0o666), EROFS, True),
    ('sealed-chmod-add-exec', lambda w: os.chmod(w.p('models/m/versions/1.0.0/a.bin'),
                                                 stat.S_IMODE(os.stat(w.p('models/m/versions/1.0.0/a.bin')).st_mode) | 0o111), EROFS, True),
    ('sealed-chown', lambda w: os.chown(w.p('models/m/versions/1.0.0/a.bin'), 4321, 4321), EROFS, True),
    ('sealed-utime', lambda w: os.utime(w.p('models/m/versions/1.0.0/a.bin'), (1, 1)), EROFS, True),
    ('sealed-xattr-fact', lambda w: _setx('user.modelfs.digest')(w.p('models/m/versions/1.0.0/a.bin')), EROFS, True),
    ('sealed-xattr-user-modelfs', lambda w: _setx('user.modelfs.note')(w.p('models/m/versions/1.0.0/a.bin')), EROFS, True),
    ('sealed-metadata-write', lambda w: _open_close(w.p('models/m/versions/1.0.0/metadata.json'), os.O_WRONLY | os.O_TRUNC), EROFS, True),
    ('sealed-metadata-unlink', lambda w: os.unlink(w.p('models/m/versions/1.0.0/metadata.json')), EROFS, True),
    ('sealed-lineage-write', lambda w: _open_close(w.p('models/m/versions/1.0.0/lineage.json'), os.O_WRONLY), EROFS, True),
    ('sealed-rename-into-draft', lambda w: os.rename(w.p('models/m/versions/1.0.0/a.bin'),
                                                     w.p('models/m/versions/1.1.0/a.bin')), (EROFS, EXDEV), True),
    ('sealed-version-rename', lambda w: os.rename(w.p('models/m/versions/1.0.0'),
                                                  w.p('models/m/versions/9.0.0')), (EROFS, EPERM), True),
    # --- latest belongs to the registry
    ('latest-unlink', lambda w: os.unlink(w.p('models/m/latest')), LATEST_REFUSED, True),
    ('latest-rename-onto', lambda w: os.rename(w.p('models/m/candidate'), w.p('models/m/latest')), LATEST_REFUSED, True),
    ('latest-rename-away', lambda w: os.rename(w.p('models/m/latest'), w.p('models/m/prod')), LATEST_REFUSED, True),
    ('latest-symlink-new', lambda w: os.symlink('versions/1.0.0', w.p('models/n/latest')), LATEST_REFUSED, True),
    # --- alias targets
    ('alias-other-model', lambda w: os.symlink('../other/versions/1.0.0', w.p('models/m/prod')), EINVAL, True),
    ('alias-other-model-abs', lambda w: os.symlink(w.p('models/other/versions/1.0.0'), w.p('models/m/prod')), EINVAL, True),
    ('alias-dotdot', lambda w: os.symlink('..', w.p('models/m/prod')), EINVAL, True),
    ('alias-versions-dir', lambda w: os.symlink('versions', w.p('models/m/prod')), EINVAL, True),
    ('alias-file', lambda w: os.symlink('versions/1.0.0/a.bin', w.p('models/m/prod')), EINVAL, True),
    ('alias-metadata', lambda w: os.symlink('metadata.json', w.p('models/m/prod')), EINVAL, True),
    ('alias-outside', lambda w: os.symlink('/etc', w.p('models/m/prod')), EINVAL, True),
    ('alias-malformed-version', lambda w: os.symlink('versions/v1', w.p('models/m/prod')), EINVAL, True),
    ('alias-missing-version', lambda w: os.symlink('versions/9.9.9', w.p('models/m/prod')), ENOENT, True),
]


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_refusal(mounted, case):
    name, op, expected, logged = case
    w = World(mounted)
    before = util.snapshot(mounted.mnt)
    mark = mounted.log_mark()
    expect_errno(expected, op, w)
    after = util.snapshot(mounted.mnt)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert not changed, 'refused %s changed: %s' % (name, sorted(changed))
    if logged:
        lines = mounted.log_since(mark).splitlines()
        assert len(lines) == 1, \
            'refusal %s: expected one daemon log line, got %r' % (name, lines)


def test_reserved_names_in_model_dir(mounted):
    '''versions/latest/history.jsonl: EINVAL, or EEXIST where the name
    already shows (the kernel answers that one itself).'''
    w = World(mounted)
    before = util.snapshot(mounted.mnt)
    for name in ('versions', 'latest', 'history.jsonl', '@now'):
        p = w.p('models/m/' + name)
        exp = EEXIST if os.path.lexists(p) else EINVAL
        expect_errno(exp, os.mkdir, p)
        expect_errno(exp, os.symlink, 'versions/1.0.0', p)
    assert util.snapshot(mounted.mnt) == before


def test_rm_rf_sealed_version_deletes_nothing(mounted):
    w = World(mounted)
    before = util.snapshot(mounted.mnt)
    res = util.run(['rm', '-rf', w.p('models/m/versions/1.0.0')], check=False)
    assert res.returncode != 0
    assert b'Read-only file system' in res.stderr, res.stderr
    assert util.snapshot(mounted.mnt) == before


def test_chmod_R_a_w_on_sealed_succeeds_and_changes_nothing(mounted):
    w = World(mounted)
    vdir = w.p('models/m/versions/1.0.0')
    before = util.snapshot(mounted.mnt)
    util.run(['chmod', '-R', 'a-w', vdir])
    mode = stat.S_IMODE(os.stat(w.p('models/m/versions/1.0.0/a.bin')).st_mode)
    os.chmod(w.p('models/m/versions/1.0.0/a.bin'), mode)  # no change: fine
    assert util.snapshot(mounted.mnt) == before


def test_refusal_of_invalid_metadata_leaves_draft(mounted):
    w = World(mounted)
    p = w.p('models/m/versions/1.1.0/metadata.json')
    write_file(p, '{"description": "ok"}')
    before = util.snapshot(mounted.mnt)
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b'{"description": ')
    expect_errno(EINVAL, os.close, fd)
    assert util.snapshot(mounted.mnt) == before


def test_symlink_escaping_through_another_symlink(mounted):
    '''"resolve inside the version" is about where the kernel would land,
    not the spelling: d/up -> .. is the version root, so d/up/.. is outside.'''
    w = World(mounted)
    d = w.p('models/m/versions/1.1.0')
    os.symlink('..', pjoin(d, 'd', 'up'))
    assert sorted(os.listdir(pjoin(d, 'd', 'up'))) == sorted(os.listdir(d))
    before = util.snapshot(mounted.mnt)
    expect_errno(EINVAL, os.symlink, 'd/up/../1.0.0/a.bin', pjoin(d, 'esc'))
    expect_errno(EINVAL, os.symlink, 'up/..', pjoin(d, 'd', 'esc2'))
    assert util.snapshot(mounted.mnt) == before


def test_escaping_symlink_log_suggests_dereferencing_copy(mounted):
    '''DESIGN §1: the log suggests cp -rL / rsync -L (a Hugging Face
    snapshot links into ../../blobs).'''
    w = World(mounted)
    mark = mounted.log_mark()
    expect_errno(EINVAL, os.symlink, '../../blobs/0123abcd',
                 w.p('models/m/versions/1.1.0/config.json'))
    line = mounted.log_since(mark)
    assert 'cp -rL' in line or 'rsync -L' in line, line
    assert 'config.json' in line, line
