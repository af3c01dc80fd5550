#!/usr/bin/env python3
# test_serving.py - serving/<alias>/<model>/<N>: a model repository for
# servers that poll integer version directories (TF Serving, Triton)
#
# N is the seq of the history record that set the alias; an earlier N stays
# listed while a file of its version is open, and resolves by name for good.
# The pollers below do what TF Serving's file system source and Triton's
# poll mode do: list, take the highest integer, open its files, keep the
# old ones open until the new ones are.

import errno
import grp
import json
import os
import threading
import time
from os.path import join as pjoin

import pytest

import util
from util import expect_errno, read_file, run


def files_of(version):
    '''The files of a served version: every one names its version.'''
    return {'saved_model.pb': ('graph of %s\n' % version).encode() * 50,
            'variables/variables.data': ('weights of %s\n' % version).encode() * 3000,
            'variables/variables.index': ('index of %s\n' % version).encode(),
            'config.pbtxt': ('name: "churn" # %s\n' % version).encode()}


@pytest.fixture()
def churn(mounted):
    '''churn with sealed 1.0.0, 1.1.0, 1.2.0 (1.2.0 without config.pbtxt)
    and production -> 1.0.0.'''
    for v in ('1.0.0', '1.1.0', '1.2.0'):
        f = files_of(v)
        if v == '1.2.0':
            del f['config.pbtxt']
        mounted.version('churn', v, f, sealed=True)
    mdir = pjoin(mounted.models, 'churn')
    run(['ln', '-sfn', 'versions/1.0.0', 'production'], cwd=mdir)
    return mdir


def promote(mdir, version, alias='production'):
    run(['ln', '-sfn', 'versions/' + version, alias], cwd=mdir)


def last_seq(mdir, alias='production'):
    with open(pjoin(mdir, 'history.jsonl')) as fh:
        recs = [json.loads(line) for line in fh if line.strip()]
    return [r for r in recs if r['alias'] == alias][-1]['seq']


def ns(repo_model):
    '''The integer names of a model's directory in a repository.'''
    return sorted(int(n) for n in os.listdir(repo_model) if n.isdigit())


def settles(fn, want, deadline=60):
    '''fn() once it equals want: a close() returns before the kernel's
    RELEASE reaches the daemon, so a listing may show a file as open for a
    moment. Bounded, never timed.'''
    end = time.monotonic() + deadline
    got = fn()
    while got != want and time.monotonic() < end:
        time.sleep(0.01)
        got = fn()
    return got


def served_version(path):
    '''The version a served N shows, from its own files.'''
    return read_file(pjoin(path, 'variables', 'variables.index')).decode().split()[-1]


def test_the_tree(mounted, churn):
    serving = mounted.path('serving')
    assert 'serving' not in os.listdir(mounted.mnt)
    assert os.path.isdir(serving)
    assert sorted(os.listdir(serving)) == ['latest', 'production']
    assert os.listdir(pjoin(serving, 'production')) == ['churn']
    repo = pjoin(serving, 'production', 'churn')
    n1 = last_seq(churn)
    assert sorted(os.listdir(repo)) == [str(n1), 'config.pbtxt']
    assert os.readlink(pjoin(repo, str(n1))) == '../../../models/churn/versions/1.0.0'
    assert read_file(pjoin(repo, str(n1), 'saved_model.pb')) == files_of('1.0.0')['saved_model.pb']
    assert read_file(pjoin(repo, 'config.pbtxt')) == files_of('1.0.0')['config.pbtxt']
    st = os.stat(repo)
    assert oct(st.st_mode & 0o777) == oct(os.stat(churn).st_mode & 0o555)

    promote(churn, '1.1.0')
    n2 = last_seq(churn)
    assert n2 > n1
    assert ns(repo) == [n2]
    assert os.readlink(pjoin(repo, str(n2))) == '../../../models/churn/versions/1.1.0'
    assert read_file(pjoin(repo, 'config.pbtxt')) == files_of('1.1.0')['config.pbtxt']

    # A version without config.pbtxt: none is shown.
    promote(churn, '1.2.0')
    n3 = last_seq(churn)
    assert sorted(os.listdir(repo)) == [str(n3)]
    expect_errno(errno.ENOENT, os.stat, pjoin(repo, 'config.pbtxt'))

    # A rollback is a new, higher N too.
    mounted.modelctl('rollback', 'churn', 'production', mnt=mounted.mnt)
    n4 = last_seq(churn)
    assert n4 > n3 and ns(repo) == [n4]
    assert served_version(pjoin(repo, str(n4))) == '1.1.0'

    # Earlier Ns are not listed but resolve by name, as what they were.
    assert served_version(pjoin(repo, str(n1))) == '1.0.0'
    assert os.readlink(pjoin(repo, str(n3))) == '../../../models/churn/versions/1.2.0'
    for bad in ('0', str(n4 + 1), '01', '%d' % (n1 - 1), 'x', '-1'):
        expect_errno(errno.ENOENT, os.lstat, pjoin(repo, bad))


def test_an_earlier_n_stays_listed_while_a_file_of_it_is_open(mounted, churn):
    repo = mounted.path('serving', 'production', 'churn')
    n1 = ns(repo)[-1]
    held = open(pjoin(repo, str(n1), 'variables', 'variables.data'), 'rb')
    try:
        promote(churn, '1.1.0')
        n2 = last_seq(churn)
        assert ns(repo) == [n1, n2]
        mapped = os.open(pjoin(repo, str(n2), 'saved_model.pb'), os.O_RDONLY)
    finally:
        held.close()
    # Closed: gone from the listing (the server drained it).
    assert settles(lambda: ns(repo), [n2]) == [n2]
    promote(churn, '1.2.0')
    n3 = last_seq(churn)
    assert ns(repo) == [n2, n3]
    os.close(mapped)
    assert settles(lambda: ns(repo), [n3]) == [n3]


def test_latest_is_served_by_version_id(mounted, churn):
    repo = mounted.path('serving', 'latest', 'churn')
    (n1,) = ns(repo)
    assert served_version(pjoin(repo, str(n1))) == '1.2.0'
    held = open(pjoin(repo, str(n1), 'saved_model.pb'), 'rb')
    try:
        mounted.version('churn', '1.3.0', files_of('1.3.0'), sealed=True)
        n2 = ns(repo)[-1]
        assert n2 > n1 and ns(repo) == [n1, n2]
        assert served_version(pjoin(repo, str(n2))) == '1.3.0'
        assert read_file(pjoin(repo, 'config.pbtxt')) == files_of('1.3.0')['config.pbtxt']
    finally:
        held.close()
    assert settles(lambda: ns(repo), [n2]) == [n2]
    # A draft is never latest, so never served.
    mounted.version('churn', '2.0.0', files_of('2.0.0'))
    assert ns(repo) == [n2]
    # Latest can go back to a version of a lower id (here: 2.0.0 sealed,
    # then archived while a server has a file of it open).
    util.seal(pjoin(mounted.models, 'churn', 'versions', '2.0.0'))
    n3 = ns(repo)[-1]
    assert n3 > n2 and served_version(pjoin(repo, str(n3))) == '2.0.0'
    with open(pjoin(repo, str(n3), 'saved_model.pb'), 'rb'):
        os.setxattr(pjoin(mounted.models, 'churn', 'versions', '2.0.0'),
                    'user.modelfs.lifecycle', b'archived')
        # latest is 1.3.0 again, a lower N: the higher one is not listed
        # even while open, or servers would stay on it
        assert ns(repo) == [n2]
        # ... and it still resolves by name, for a loader that listed it
        assert served_version(pjoin(repo, str(n3))) == '2.0.0'
    # Any sealed version resolves by its id, whoever listed since.
    assert served_version(pjoin(repo, str(n1))) == '1.2.0'


def test_only_models_with_the_alias_and_no_temporary_names(mounted, churn):
    mounted.version('fraud', '1.0.0', files_of('1.0.0'), sealed=True)
    fraud = pjoin(mounted.models, 'fraud')
    promote(fraud, '1.0.0', 'staging')
    for tmp in ('.staging.new', 'CuAb12Xy'):
        os.symlink('versions/1.0.0', pjoin(fraud, tmp))
    serving = mounted.path('serving')
    assert sorted(os.listdir(serving)) == ['latest', 'production', 'staging']
    assert os.listdir(pjoin(serving, 'production')) == ['churn']
    assert os.listdir(pjoin(serving, 'staging')) == ['fraud']
    assert sorted(os.listdir(pjoin(serving, 'latest'))) == ['churn', 'fraud']
    for missing in ('.staging.new', 'CuAb12Xy', 'shadow', 'versions', '@h1'):
        expect_errno(errno.ENOENT, os.stat, pjoin(serving, missing))
    expect_errno(errno.ENOENT, os.stat, pjoin(serving, 'production', 'fraud'))
    expect_errno(errno.ENOENT, os.stat, pjoin(serving, 'staging', 'churn'))
    # An alias removed: its model is no longer served under it.
    os.unlink(pjoin(fraud, 'staging'))
    expect_errno(errno.ENOENT, os.stat, pjoin(serving, 'staging'))
    assert sorted(os.listdir(serving)) == ['latest', 'production']
    # find, ls -lR and rsync of the mount do not walk it.
    out = run(['find', mounted.mnt]).stdout.decode()
    assert '/serving' not in out


def test_the_serving_view_is_read_only(mounted, churn, output_checker):
    repo = mounted.path('serving', 'production', 'churn')
    n1 = str(ns(repo)[-1])
    expect_errno(errno.EEXIST, os.mkdir, mounted.path('serving'))
    expect_errno(errno.EROFS, os.rmdir, mounted.path('serving'))
    expect_errno(errno.EROFS, os.mkdir, mounted.path('serving', 'shadow'))
    expect_errno(errno.EROFS, os.mkdir, pjoin(repo, '99'))
    expect_errno(errno.EROFS, os.symlink, '../../../models/churn/versions/1.1.0',
                 pjoin(repo, '99'))
    expect_errno(errno.EROFS, os.unlink, pjoin(repo, n1))
    expect_errno(errno.EROFS, os.rename, pjoin(repo, n1), pjoin(repo, '100'))
    expect_errno(errno.EROFS, os.open, pjoin(repo, 'new.txt'), os.O_CREAT | os.O_WRONLY)
    # Through the link: the sealed version's own refusal.
    expect_errno(errno.EROFS, os.open, pjoin(repo, n1, 'saved_model.pb'), os.O_WRONLY)
    expect_errno(errno.EROFS, os.open, pjoin(repo, 'config.pbtxt'), os.O_WRONLY)
    assert not os.access(repo, os.W_OK)
    expect_errno(errno.EROFS, os.chmod, mounted.path('serving'), 0o777)
    expect_errno(errno.EROFS, os.chmod, repo, 0o777)
    expect_errno(errno.EROFS, os.setxattr, mounted.path('serving'), 'user.x', b'1')
    expect_errno(errno.EROFS, os.setxattr, repo, 'user.x', b'1')
    assert ns(repo) == [int(n1)]


def test_a_private_model_is_served_to_those_who_may_read_it(mounted, users):
    util.open_path(mounted.mnt)
    mounted.version('secret', '1.0.0', files_of('1.0.0'), sealed=True)
    mdir = pjoin(mounted.models, 'secret')
    promote(mdir, '1.0.0')
    os.chown(mdir, users['mfs_alice'].uid, grp.getgrnam('mfs_ml').gr_gid)
    os.chmod(mdir, 0o750)
    repo = mounted.path('serving', 'production', 'secret')
    assert oct(os.stat(repo).st_mode & 0o777) == oct(0o550)
    for who in ('mfs_alice', 'mfs_bob'):
        res = util.run_as(users[who], ['cat', pjoin(repo, 'config.pbtxt')], check=True)
        assert res.stdout == files_of('1.0.0')['config.pbtxt']
        assert util.run_as(users[who], ['ls', repo], check=True).stdout.split()
    for cmd in (['ls', repo], ['cat', pjoin(repo, 'config.pbtxt')]):
        res = util.run_as(users['mfs_dave'], cmd)
        assert res.returncode != 0 and b'Permission denied' in res.stderr, res


class Poller:
    '''A server polling one model's directory of a repository: list, take
    the highest N, open every file of it (and, like Triton, the model's
    config.pbtxt), then close the files of the version it replaces.'''

    def __init__(self, model_dir, triton):
        self.model_dir = model_dir
        self.triton = triton
        self.n = None
        self.version = None
        self.held = []
        self.polls = 0

    def poll(self):
        self.polls += 1
        top = max(ns(self.model_dir))
        if top == self.n:
            return
        vdir = pjoin(self.model_dir, str(top))
        held, seen = [], set()
        try:
            for root, _, names in os.walk(vdir):
                for name in names:
                    if root == vdir and name in ('metadata.json', 'lineage.json'):
                        continue    # the registry's documents, not the model's
                    fh = open(pjoin(root, name), 'rb')
                    held.append(fh)
                    seen.add(fh.read().split()[-1].decode())
            if self.triton:
                # The repository's config.pbtxt is the current version's:
                # read at load, it may already be a newer one's.
                with open(pjoin(self.model_dir, 'config.pbtxt'), 'rb') as fh:
                    assert fh.read().startswith(b'name: "churn"')
            names = sorted(os.path.relpath(f.name, vdir) for f in held)
            assert names == sorted(files_of('x')), 'a partial version: %s' % names
            assert len(seen) == 1, 'files of several versions in %d: %s' % (top, seen)
        except BaseException:
            for fh in held:
                fh.close()
            raise
        for fh in self.held:
            fh.close()
        self.held, self.n, self.version = held, top, seen.pop()

    def close(self):
        for fh in self.held:
            fh.close()
        self.held = []


@pytest.mark.timeout(600)
def test_pollers_follow_50_promotions_and_rollbacks(mounted, churn):
    # Every version has a config.pbtxt here (Triton's poll needs one).
    mounted.version('churn', '1.3.0', files_of('1.3.0'), sealed=True)
    repo = mounted.path('serving', 'production')
    tf = Poller(pjoin(repo, 'churn'), triton=False)
    triton = Poller(pjoin(repo, 'churn'), triton=True)
    # A third poller keeps polling while the promotions happen, so a
    # partial version or a missing file between two moves would show.
    errors, stop = [], threading.Event()
    busy = Poller(pjoin(repo, 'churn'), triton=True)

    def keep_polling():
        try:
            while not stop.is_set():
                busy.poll()
        except BaseException as e:   # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=keep_polling)
    t.start()
    try:
        targets = ['1.1.0', '1.3.0', '1.0.0', '1.3.0']
        for i in range(50):
            if i % 5 == 4:
                mounted.modelctl('rollback', 'churn', 'production', mnt=mounted.mnt)
                want = json.loads(read_file(pjoin(churn, 'history.jsonl'))
                                  .decode().splitlines()[-1])['to']
            else:
                want = targets[i % 4]
                if want == os.readlink(pjoin(churn, 'production')).split('/')[-1]:
                    want = '1.1.0' if want != '1.1.0' else '1.0.0'
                promote(churn, want)
            for p in (tf, triton):
                p.poll()
                assert p.version == want, 'poll %d after move %d: %s, not %s' % (
                    p.polls, i, p.version, want)
                assert p.n == last_seq(churn)
            assert not errors, errors
    finally:
        stop.set()
        t.join()
        for p in (tf, triton, busy):
            p.close()
    assert not errors, errors
    assert busy.polls > 0
    # Every old N has drained.
    want = [last_seq(churn)]
    assert settles(lambda: ns(pjoin(repo, 'churn')), want) == want
