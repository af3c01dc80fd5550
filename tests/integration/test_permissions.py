#!/usr/bin/env python3
# test_permissions.py - modelfs checks permissions itself (DESIGN §1)
#
# POSIX rules on recorded modes with the caller's uid/gid from the request;
# models/ is sticky and world-writable; new models and versions belong to
# their creator; root passes mode checks but still gets EROFS when sealed.
# Each check runs in a forked child that drops to an unprivileged uid after
# entering the mount point (pytest's tmp dirs are 0700).

import errno
import os
import pickle
import stat
from os.path import join as pjoin

import pytest

import util

NOBODY = 65534
OTHER = 4242


def as_user(uid, cwd, fn):
    '''Run fn() in a child with uid/gid *uid*, cwd *cwd*; return
    ('ok', value) or ('err', errno).'''
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.chdir(cwd)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            try:
                out = ('ok', fn())
            except OSError as exc:
                out = ('err', exc.errno)
            os.write(w, pickle.dumps(out))
        finally:
            os._exit(0)
    os.close(w)
    data = util.read_fd(r)
    os.close(r)
    os.waitpid(pid, 0)
    assert data, 'child died'
    return pickle.loads(data)


def test_any_user_registers_a_model_and_owns_it(mounted):
    assert stat.S_IMODE(os.stat(mounted.models).st_mode) & 0o1777 == 0o1777
    res = as_user(NOBODY, mounted.models, lambda: os.mkdir('nobodys'))
    assert res == ('ok', None)
    st = os.stat(pjoin(mounted.models, 'nobodys'))
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
    res = as_user(NOBODY, mounted.models,
                  lambda: os.mkdir('nobodys/versions/1.0.0'))
    assert res == ('ok', None)
    st = os.stat(pjoin(mounted.models, 'nobodys', 'versions', '1.0.0'))
    assert st.st_uid == NOBODY


def test_others_cannot_write_into_your_model(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'root data'})
    os.chmod(pjoin(vdir, 'a.bin'), 0o644)
    mdir = pjoin(mounted.models, 'churn')
    before = util.snapshot(mounted.mnt)
    assert as_user(OTHER, mdir, lambda: os.mkdir('versions/2.0.0')) == \
        ('err', errno.EACCES)
    assert as_user(OTHER, vdir, lambda: util.write_file('new', b'x')) == \
        ('err', errno.EACCES)
    assert as_user(OTHER, vdir, lambda: util.write_file('a.bin', b'x')) == \
        ('err', errno.EACCES)
    assert as_user(OTHER, vdir, lambda: util.read_file('a.bin')) == \
        ('ok', b'root data')
    # sticky models/: not yours to remove
    assert as_user(OTHER, mounted.models, lambda: os.rmdir('churn'))[0] == 'err'
    assert util.snapshot(mounted.mnt) == before


def test_mode_bits_honoured_in_draft(mounted):
    vdir = mounted.version('churn', '1.0.0', {'secret': b's', 'open': b'o'})
    os.chmod(pjoin(vdir, 'secret'), 0o600)
    assert as_user(OTHER, vdir, lambda: util.read_file('secret')) == \
        ('err', errno.EACCES)
    assert as_user(OTHER, vdir, lambda: util.read_file('open')) == ('ok', b'o')
    os.chown(pjoin(vdir, 'secret'), OTHER, OTHER)
    assert as_user(OTHER, vdir, lambda: util.read_file('secret')) == ('ok', b's')
    util.seal(vdir)
    # recorded ownership and modes still apply once sealed
    assert as_user(NOBODY, vdir, lambda: util.read_file('secret')) == \
        ('err', errno.EACCES)
    assert as_user(OTHER, vdir, lambda: util.read_file('secret')) == ('ok', b's')


def test_absent_names_in_a_private_draft_dir_are_not_cached(mounted):
    """The kernel keeps names found absent in a draft, but not in a
    directory some users may not search: from the kernel's memory they
    would get ENOENT without the registry checking them (no
    default_permissions), where the registry answers EACCES."""
    vdir = mounted.version('negpriv', '1.0.0', {'a.bin': b'a'})
    os.mkdir(pjoin(vdir, 'priv'))
    os.chmod(pjoin(vdir, 'priv'), 0o700)
    os.mkdir(pjoin(vdir, 'open'))
    os.chmod(pjoin(vdir, 'open'), 0o755)
    for d in ('priv', 'open'):
        for _ in range(2):
            util.expect_errno(errno.ENOENT, os.stat, pjoin(vdir, d, 'none'))
    assert as_user(OTHER, vdir, lambda: os.stat('priv/none')) == ('err', errno.EACCES)
    assert as_user(OTHER, vdir, lambda: os.stat('open/none')) == ('err', errno.ENOENT)


def test_sealed_is_erofs_for_the_owner_too(mounted):
    vdir = mounted.version('churn', '1.0.0', {'f': b'f'})
    os.chown(pjoin(vdir, 'f'), OTHER, OTHER)
    os.chmod(pjoin(vdir, 'f'), 0o644)
    util.seal(vdir)
    assert as_user(OTHER, vdir, lambda: util.write_file('f', b'x')) == \
        ('err', errno.EROFS)
    assert util.read_file(pjoin(vdir, 'f')) == b'f'


def test_non_owner_cannot_alias_seal_or_tombstone(mounted):
    mounted.version('churn', '1.0.0', {'a': b'a'}, sealed=True)
    mounted.version('churn', '1.1.0', {'b': b'b'})
    mdir = pjoin(mounted.models, 'churn')
    before = util.snapshot(mounted.mnt)
    denied = (errno.EACCES, errno.EPERM)
    res = as_user(OTHER, mdir, lambda: os.symlink('versions/1.0.0', 'production'))
    assert res[0] == 'err' and res[1] in denied, res
    res = as_user(OTHER, mdir, lambda: util.seal('versions/1.1.0'))
    assert res[0] == 'err' and res[1] in denied, res
    res = as_user(OTHER, mdir, lambda: os.rmdir('versions/1.0.0'))
    assert res[0] == 'err' and res[1] in denied, res
    res = as_user(OTHER, mdir, lambda: util.write_file('metadata.json', '{"x": 1}'))
    assert res == ('err', errno.EACCES), res
    res = as_user(OTHER, mdir, lambda: util.read_json('versions/1.0.0/metadata.json'))
    assert res[0] == 'ok' and res[1]['registry']['version'] == '1.0.0'
    assert util.snapshot(mounted.mnt) == before


def test_user_works_in_own_model(mounted):
    '''The whole flow as an unprivileged user, in a model they registered.'''
    def flow():
        os.mkdir('mine')
        os.mkdir('mine/versions/1.0.0')
        util.write_file('mine/versions/1.0.0/w.bin', b'user bytes')
        util.write_file('mine/versions/1.0.0/metadata.json', '{"owner": "u"}')
        os.symlink('versions/1.0.0', 'mine/production')
        st = os.stat('mine/versions/1.0.0/w.bin')
        return (util.read_file('mine/production/w.bin'), st.st_uid,
                util.registry('mine/versions/1.0.0')['sealed_uid'])
    res = as_user(OTHER, mounted.models, flow)
    assert res == ('ok', (b'user bytes', OTHER, OTHER)), res
    res = as_user(NOBODY, mounted.models,
                  lambda: util.write_file('mine/versions/1.0.0/x', b'x'))
    assert res[0] == 'err' and res[1] in (errno.EROFS, errno.EACCES), res
