#!/usr/bin/env python3
# test_alias.py - aliases (stages) are symlinks in the model directory
#
# DESIGN §1 "Aliases": promotion is `ln -sfn` (an atomic rename of a temp
# link onto the alias), `mv -T` honours RENAME_NOREPLACE, RENAME_EXCHANGE
# swaps two aliases, and `latest` is the registry's own.

import errno
import json
import os
import threading
from os.path import join as pjoin

import pytest

import util
from util import (LATEST_REFUSED, RENAME_EXCHANGE, RENAME_NOREPLACE,
                  expect_errno, read_file, renameat2, run)


@pytest.fixture()
def churn(mounted):
    '''churn with sealed 1.0.0 and 1.1.0 (different bytes), draft 2.0.0.'''
    mounted.version('churn', '1.0.0', {'model.bin': b'one' * 1000,
                                       'only-in-1.0': b'old'}, sealed=True)
    mounted.version('churn', '1.1.0', {'model.bin': b'two' * 1000,
                                       'only-in-1.1': b'new'}, sealed=True)
    mounted.version('churn', '2.0.0', {'model.bin': b'three'})
    return pjoin(mounted.models, 'churn')


def aliases(mdir):
    '''{name: readlink} of every symlink in the model dir except latest.'''
    out = {}
    for n in os.listdir(mdir):
        p = pjoin(mdir, n)
        if n != 'latest' and os.path.islink(p):
            out[n] = os.readlink(p)
    return out


def test_ln_s_creates_alias(churn):
    run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=churn)
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.0.0'
    assert aliases(churn) == {'production': 'versions/1.0.0'}
    prod = pjoin(churn, 'production')
    assert os.path.isdir(prod)
    assert sorted(os.listdir(prod)) == sorted(os.listdir(pjoin(churn, 'versions', '1.0.0')))
    assert read_file(pjoin(prod, 'model.bin')) == b'one' * 1000
    assert util.registry(pjoin(churn, 'versions', '1.0.0'))['aliases'] == ['production']
    assert util.registry(pjoin(churn, 'versions', '1.1.0'))['aliases'] == []


@pytest.mark.parametrize('target', ['./versions/1.0.0', 'versions/1.0.0/',
                                    './versions/1.0.0/', 'ABS'])
def test_alias_target_normalised(mounted, churn, target):
    if target == 'ABS':
        target = pjoin(churn, 'versions', '1.0.0')
    os.symlink(target, pjoin(churn, 'staging'))
    assert os.readlink(pjoin(churn, 'staging')) == 'versions/1.0.0'
    assert read_file(pjoin(churn, 'staging', 'only-in-1.0')) == b'old'
    mounted.remount()
    assert os.readlink(pjoin(churn, 'staging')) == 'versions/1.0.0'


def test_ln_sfn_promotes_atomically(churn):
    run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=churn)
    run(['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=churn)
    assert aliases(churn) == {'production': 'versions/1.1.0'}
    assert read_file(pjoin(churn, 'production', 'model.bin')) == b'two' * 1000
    assert not os.path.exists(pjoin(churn, 'production', 'only-in-1.0'))
    # rollback
    run(['ln', '-sfn', 'versions/1.0.0', 'production'], cwd=churn)
    assert aliases(churn) == {'production': 'versions/1.0.0'}
    assert read_file(pjoin(churn, 'production', 'model.bin')) == b'one' * 1000
    assert util.registry(pjoin(churn, 'versions', '1.1.0'))['aliases'] == []


def test_ln_sfn_onto_draft_seals_it(churn):
    v2 = pjoin(churn, 'versions', '2.0.0')
    assert not util.is_sealed(v2)
    run(['ln', '-sfn', 'versions/2.0.0', 'canary'], cwd=churn)
    assert util.is_sealed(v2)
    assert os.readlink(pjoin(churn, 'canary')) == 'versions/2.0.0'
    assert os.readlink(pjoin(churn, 'latest')) == 'versions/2.0.0'
    expect_errno(errno.EROFS, util.write_file, pjoin(v2, 'model.bin'), b'x')


def test_promotion_never_shows_nothing(churn):
    run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=churn)
    stop = threading.Event()
    seen, errors = set(), []

    def reader():
        while not stop.is_set():
            try:
                seen.add(read_file(pjoin(churn, 'production', 'model.bin'))[:3])
            except OSError as exc:
                errors.append(exc)
    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(15):
            v = '1.1.0' if i % 2 == 0 else '1.0.0'
            run(['ln', '-sfn', 'versions/' + v, 'production'], cwd=churn)
    finally:
        stop.set()
        t.join(10)
    assert errors == []
    assert seen <= {b'one', b'two'}
    assert aliases(churn) == {'production': 'versions/1.1.0'}


def test_mv_T_onto_alias(churn):
    os.symlink('versions/1.0.0', pjoin(churn, 'production'))
    os.symlink('versions/1.1.0', pjoin(churn, '.tmp-prod'))
    run(['mv', '-T', '.tmp-prod', 'production'], cwd=churn)
    assert aliases(churn) == {'production': 'versions/1.1.0'}


def test_rename_noreplace(churn):
    os.symlink('versions/1.0.0', pjoin(churn, 'production'))
    os.symlink('versions/1.1.0', pjoin(churn, 'staging'))
    expect_errno(errno.EEXIST, renameat2, pjoin(churn, 'staging'),
                 pjoin(churn, 'production'), RENAME_NOREPLACE)
    assert aliases(churn) == {'production': 'versions/1.0.0',
                              'staging': 'versions/1.1.0'}
    renameat2(pjoin(churn, 'staging'), pjoin(churn, 'champion'), RENAME_NOREPLACE)
    assert aliases(churn) == {'production': 'versions/1.0.0',
                              'champion': 'versions/1.1.0'}
    assert util.registry(pjoin(churn, 'versions', '1.1.0'))['aliases'] == ['champion']


def test_rename_exchange_swaps_aliases(churn):
    os.symlink('versions/1.0.0', pjoin(churn, 'champion'))
    os.symlink('versions/1.1.0', pjoin(churn, 'challenger'))
    renameat2(pjoin(churn, 'champion'), pjoin(churn, 'challenger'), RENAME_EXCHANGE)
    assert aliases(churn) == {'champion': 'versions/1.1.0',
                              'challenger': 'versions/1.0.0'}
    assert read_file(pjoin(churn, 'champion', 'model.bin')) == b'two' * 1000
    assert read_file(pjoin(churn, 'challenger', 'model.bin')) == b'one' * 1000
    assert util.registry(pjoin(churn, 'versions', '1.0.0'))['aliases'] == ['challenger']


def test_rm_alias(churn):
    os.symlink('versions/1.0.0', pjoin(churn, 'shadow'))
    run(['rm', pjoin(churn, 'shadow')])
    assert aliases(churn) == {}
    assert not os.path.lexists(pjoin(churn, 'shadow'))
    assert read_file(pjoin(churn, 'versions', '1.0.0', 'model.bin')) == b'one' * 1000
    assert util.registry(pjoin(churn, 'versions', '1.0.0'))['aliases'] == []


def test_dot_alias_names_allowed(churn):
    os.symlink('versions/1.0.0', pjoin(churn, '.hidden-alias'))
    assert os.readlink(pjoin(churn, '.hidden-alias')) == 'versions/1.0.0'
    os.unlink(pjoin(churn, '.hidden-alias'))


def test_aliases_survive_remount(mounted, churn):
    os.symlink('versions/1.0.0', pjoin(churn, 'production'))
    os.symlink('versions/1.1.0', pjoin(churn, 'staging'))
    mounted.remount()
    assert aliases(churn) == {'production': 'versions/1.0.0',
                              'staging': 'versions/1.1.0'}
    assert read_file(pjoin(churn, 'production', 'model.bin')) == b'one' * 1000


def test_latest_rules(mounted):
    mdir = mounted.model('m')
    latest = pjoin(mdir, 'latest')
    assert not os.path.lexists(latest)
    mounted.version('m', '3.0.0', {'f': b'draft'})          # drafts never count
    assert not os.path.lexists(latest)
    mounted.version('m', '2.0.0-rc.1', {'f': b'rc1'}, sealed=True)
    assert os.readlink(latest) == 'versions/2.0.0-rc.1'
    mounted.version('m', '2.0.0-rc.2', {'f': b'rc2'}, sealed=True)
    assert os.readlink(latest) == 'versions/2.0.0-rc.2'
    mounted.version('m', '2.0.0-alpha', {'f': b'alpha'}, sealed=True)
    assert os.readlink(latest) == 'versions/2.0.0-rc.2'
    # a release beats any pre-release, even a higher one
    mounted.version('m', '1.9.0', {'f': b'190'}, sealed=True)
    assert os.readlink(latest) == 'versions/1.9.0'
    mounted.version('m', '1.10.0', {'f': b'1100'}, sealed=True)
    assert os.readlink(latest) == 'versions/1.10.0'
    mounted.version('m', '1.2.0+build.7', {'f': b'120'}, sealed=True)
    assert os.readlink(latest) == 'versions/1.10.0'
    mounted.version('m', '1.11.0-rc.1', {'f': b'rc'}, sealed=True)
    assert os.readlink(latest) == 'versions/1.10.0'
    assert read_file(pjoin(latest, 'f')) == b'1100'
    # reading through latest into a kernel-cached path, then a move
    os.rmdir(pjoin(mdir, 'versions', '1.10.0'))
    assert os.readlink(latest) == 'versions/1.9.0'
    assert read_file(pjoin(latest, 'f')) == b'190'
    seal_dir = pjoin(mdir, 'versions', '3.0.0')
    util.seal(seal_dir)
    assert os.readlink(latest) == 'versions/3.0.0'
    assert read_file(pjoin(latest, 'f')) == b'draft'
    mounted.remount()
    assert os.readlink(latest) == 'versions/3.0.0'


def test_latest_refuses_writes(mounted, churn):
    latest = pjoin(churn, 'latest')
    assert os.readlink(latest) == 'versions/1.1.0'
    expect_errno(LATEST_REFUSED, os.unlink, latest)
    os.symlink('versions/1.0.0', pjoin(churn, 'tmp'))
    expect_errno(LATEST_REFUSED, os.rename, pjoin(churn, 'tmp'), latest)
    assert os.readlink(pjoin(churn, 'tmp')) == 'versions/1.0.0'
    os.unlink(pjoin(churn, 'tmp'))
    res = run(['ln', '-sfn', 'versions/1.0.0', 'latest'], cwd=churn, check=False)
    assert res.returncode != 0
    os.symlink('versions/1.0.0', pjoin(churn, 'production'))
    expect_errno(LATEST_REFUSED + (errno.EEXIST,), renameat2, pjoin(churn, 'production'),
                 latest, RENAME_EXCHANGE)
    assert os.readlink(latest) == 'versions/1.1.0'
    assert aliases(churn) == {'production': 'versions/1.0.0'}
    assert 'latest' not in util.registry(pjoin(churn, 'versions', '1.1.0'))['aliases']


def test_openat_relative_to_dir_keeps_version(churn):
    run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=churn)
    dfd = os.open(pjoin(churn, 'production'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        run(['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=churn)
        fd = os.open('model.bin', os.O_RDONLY, dir_fd=dfd)
        try:
            assert os.read(fd, 10000) == b'one' * 1000
        finally:
            os.close(fd)
        assert sorted(os.listdir(dfd)) == sorted(
            os.listdir(pjoin(churn, 'versions', '1.0.0')))
        fd = os.open('only-in-1.0', os.O_RDONLY, dir_fd=dfd)
        os.close(fd)
        assert read_file(pjoin(churn, 'production', 'model.bin')) == b'two' * 1000
    finally:
        os.close(dfd)


def test_alias_at_tombstone_is_enoent(churn):
    os.rmdir(pjoin(churn, 'versions', '1.0.0'))
    expect_errno(errno.ENOENT, os.symlink, 'versions/1.0.0', pjoin(churn, 'production'))
    assert aliases(churn) == {}
    os.symlink('versions/1.1.0', pjoin(churn, 'production'))
    expect_errno(errno.ENOENT, os.symlink, 'versions/1.0.0', pjoin(churn, '.tmp'))
    assert aliases(churn) == {'production': 'versions/1.1.0'}


def test_latest_follows_semver_precedence(mounted):
    '''SemVer 2.0.0 §11's example order, sealed shuffled: latest is always
    the highest pre-release sealed so far, until a release appears.'''
    order = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta',
             '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1']
    shuffled = ['1.0.0-beta.2', '1.0.0-alpha.beta', '1.0.0-beta.11', '1.0.0-alpha',
                '1.0.0-rc.1', '1.0.0-alpha.1', '1.0.0-beta']
    mdir = mounted.model('m')
    best = -1
    for v in shuffled:
        mounted.version('m', v, {'v': v.encode()}, sealed=True)
        best = max(best, order.index(v))
        assert os.readlink(pjoin(mdir, 'latest')) == 'versions/' + order[best], v
    assert read_file(pjoin(mdir, 'latest', 'v')) == b'1.0.0-rc.1'
    mounted.version('m', '0.0.1', {'v': b'0.0.1'}, sealed=True)
    assert os.readlink(pjoin(mdir, 'latest')) == 'versions/0.0.1'
    assert sorted(os.listdir(pjoin(mdir, 'versions'))) == sorted(order + ['0.0.1'])


def test_history_records_moves_not_ln_temp_names(churn):
    '''DESIGN §1: `ln -sfn` is one move of production in history.jsonl; ln's
    random temporary name and `latest` never appear.'''
    hist = pjoin(churn, 'history.jsonl')
    run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=churn)
    run(['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=churn)
    # production is protected by the default policy: moved, never removed
    res = run(['rm', 'production'], cwd=churn, check=False)
    assert res.returncode != 0 and b'not permitted' in res.stderr
    run(['ln', '-sfn', 'versions/1.0.0', 'production'], cwd=churn)
    fd = os.open(hist, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = util.read_fd(fd, 4096)
    finally:
        os.close(fd)
    assert size == len(data)
    lines = data.decode().splitlines()
    assert len(lines) == 3, lines
    for ln in lines:
        rec = json.loads(ln)
        names = {v for v in rec.values() if isinstance(v, str)}
        assert 'production' in names, rec
        assert 'latest' not in names, rec
    assert '1.1.0' in lines[1]


def test_concurrent_promotions(churn):
    '''Two promoters racing with ln -sfn: every call succeeds, the alias
    ends on one of the versions, no temporary link is left behind.'''
    run(['ln', '-s', 'versions/1.0.0', 'production'], cwd=churn)
    errors = []

    def promoter(v):
        for _ in range(10):
            res = run(['ln', '-sfn', 'versions/' + v, 'production'], cwd=churn,
                      check=False)
            if res.returncode != 0:
                errors.append(res.stderr)
    ts = [threading.Thread(target=promoter, args=(v,)) for v in ('1.0.0', '1.1.0')]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert errors == []
    al = aliases(churn)
    assert list(al) == ['production']
    assert al['production'] in ('versions/1.0.0', 'versions/1.1.0')
    lines = read_file(pjoin(churn, 'history.jsonl')).decode().splitlines()
    assert len(lines) == 21
