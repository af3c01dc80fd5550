#!/usr/bin/env python3
# test_history.py - alias history, rollback and time travel (issue 7)
#
# history.jsonl records every alias move (seq, time, alias, from, to, uid,
# user, approvals, rollback); `modelctl history` prints it; `modelctl
# rollback` moves an alias back through the mount (or the store when no
# daemon serves it); MNT/models/<m>/@<time>/ and @h<N>/ show the aliases as
# they were, read-only, and are never listed.

import errno
import json
import os
import pwd
import time
from os.path import join as pjoin

import pytest

import util
from util import expect_errno, read_file, run


@pytest.fixture()
def churn(mounted):
    '''churn with sealed 1.0.0, 1.1.0 and 1.2.0, each file naming it.'''
    for v in ('1.0.0', '1.1.0', '1.2.0'):
        mounted.version('churn', v, {'model.bin': v.encode() * 100, 'v': v.encode()},
                        sealed=True)
    return pjoin(mounted.models, 'churn')


def history(mdir):
    return [json.loads(ln) for ln in
            read_file(pjoin(mdir, 'history.jsonl')).decode().splitlines()]


def promote(mdir, v, alias='production'):
    run(['ln', '-sfn', 'versions/' + v, alias], cwd=mdir)


def me():
    return pwd.getpwuid(os.getuid()).pw_name


def test_history_records_have_every_field(churn):
    promote(churn, '1.0.0', 'canary')
    promote(churn, '1.1.0', 'canary')
    run(['rm', 'canary'], cwd=churn)      # production could not be removed
    recs = history(churn)
    assert [(r['alias'], r['from'], r['to']) for r in recs] == [
        ('canary', None, '1.0.0'), ('canary', '1.0.0', '1.1.0'),
        ('canary', '1.1.0', None)]
    seqs = [r['seq'] for r in recs]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    for r in recs:
        assert set(r) == {'seq', 'time', 'alias', 'from', 'to', 'uid', 'user',
                          'approvals', 'rollback'}, r
        util.rfc3339(r['time'])
        assert r['uid'] == os.getuid()
        assert r['user'] == me()
        assert r['approvals'] == []
        assert r['rollback'] is False
    times = [util.rfc3339(r['time']) for r in recs]
    assert times == sorted(times)


def test_ln_sfn_promotion_is_one_move(churn):
    promote(churn, '1.0.0')
    before = len(history(churn))
    promote(churn, '1.1.0')
    recs = history(churn)[before:]
    assert len(recs) == 1, recs
    assert (recs[0]['alias'], recs[0]['from'], recs[0]['to']) == ('production', '1.0.0', '1.1.0')


def test_move_back_to_an_earlier_target_is_marked_rollback(churn):
    promote(churn, '1.0.0')
    promote(churn, '1.1.0')
    promote(churn, '1.2.0')
    promote(churn, '1.0.0')
    promote(churn, '1.0.0', alias='staging')
    assert [r['rollback'] for r in history(churn)] == [False, False, False, True, False]


def test_mv_of_a_moved_alias_ends_its_history(churn):
    '''A renamed alias that had moved leaves a removal record, so a replay
    of the history does not keep showing it.'''
    promote(churn, '1.0.0', alias='staging')
    promote(churn, '1.1.0', alias='staging')
    os.rename(pjoin(churn, 'staging'), pjoin(churn, 'production'))
    recs = history(churn)[-2:]
    assert [(r['alias'], r['from'], r['to']) for r in recs] == [
        ('staging', '1.1.0', None), ('production', None, '1.1.0')]
    last = history(churn)[-1]['seq']
    assert os.listdir(pjoin(churn, '@h%d' % last)) == ['production']


def test_rollback_through_the_mount(mounted, churn):
    promote(churn, '1.0.0')
    promote(churn, '1.1.0')
    before = len(history(churn))
    res = mounted.modelctl('rollback', 'churn', 'production', mnt=mounted.mnt)
    assert res.stdout.decode() == 'production: 1.1.0 -> 1.0.0\n'
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.0.0'
    assert read_file(pjoin(churn, 'production', 'v')) == b'1.0.0'
    recs = history(churn)[before:]
    assert len(recs) == 1, recs
    assert (recs[0]['from'], recs[0]['to'], recs[0]['rollback']) == ('1.1.0', '1.0.0', True)
    # No temporary link is left, and a second rollback goes forward again.
    assert sorted(n for n in os.listdir(churn) if os.path.islink(pjoin(churn, n))) == [
        'latest', 'production']
    res = mounted.modelctl('rollback', 'churn', 'production', mnt=mounted.mnt, as_json=True)
    assert res.json == {'model': 'churn', 'alias': 'production', 'from': '1.0.0',
                        'to': '1.1.0'}
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.1.0'


def test_rollback_to_a_version(mounted, churn):
    promote(churn, '1.2.0')
    res = mounted.modelctl('rollback', 'churn', 'production', '--to', '1.0.0',
                           mnt=mounted.mnt)
    assert res.stdout.decode() == 'production: 1.2.0 -> 1.0.0\n'
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.0.0'
    rec = history(churn)[-1]
    assert (rec['from'], rec['to'], rec['rollback']) == ('1.2.0', '1.0.0', False)
    res = mounted.modelctl('rollback', 'churn', 'production', '--to', '9.9.9',
                           mnt=mounted.mnt, check=False)
    assert res.returncode == 1
    assert b'No such file or directory' in res.stderr, res.stderr
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.0.0'


def test_rollback_without_a_daemon(mounted, churn):
    promote(churn, '1.0.0')
    promote(churn, '1.2.0')
    mounted.stop()
    res = mounted.modelctl('rollback', 'churn', 'production')
    assert res.stdout.decode() == 'production: 1.2.0 -> 1.0.0\n'
    res = mounted.modelctl('history', 'churn', 'production', as_json=True)
    last = res.json[-1]
    assert (last['from'], last['to'], last['rollback']) == ('1.2.0', '1.0.0', True)
    assert last['user'] == me()
    res = mounted.modelctl('rollback', 'churn', 'production', '--to', '1.1.0')
    assert res.stdout.decode() == 'production: 1.0.0 -> 1.1.0\n'
    mounted.start()
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.1.0'
    assert read_file(pjoin(churn, 'production', 'v')) == b'1.1.0'


def test_rollback_with_no_history_fails_cleanly(mounted, churn):
    promote(churn, '1.0.0')

    def refused(alias, **kw):
        res = mounted.modelctl('rollback', 'churn', alias, check=False, **kw)
        assert res.returncode == 1
        assert res.stdout == b''
        assert res.stderr.decode() == (
            "modelctl: rollback 'churn/%s': no previous target in its history\n" % alias)
    # Only created (production), or never set (staging).
    refused('production', mnt=mounted.mnt)
    refused('staging', mnt=mounted.mnt)
    mounted.stop()
    refused('production')
    refused('staging')
    res = mounted.modelctl('rollback', 'nosuch', 'production', check=False)
    assert res.returncode == 1
    assert b'no such model' in res.stderr
    mounted.start()
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.0.0'
    assert len(history(churn)) == 1


def test_history_cli_filters_by_alias(mounted, churn, users):
    promote(churn, '1.0.0')
    promote(churn, '1.1.0', alias='staging')
    promote(churn, '1.1.0')
    res = mounted.modelctl('history', 'churn', as_json=True)
    assert res.json == history(churn)
    assert len(res.json) == 3
    res = mounted.modelctl('history', 'churn', 'staging', as_json=True)
    assert [(r['alias'], r['to']) for r in res.json] == [('staging', '1.1.0')]
    res = mounted.modelctl('history', 'churn', 'production')
    lines = res.stdout.decode().splitlines()
    assert lines[0].split() == ['SEQ', 'TIME', 'ALIAS', 'FROM', '->', 'TO', 'USER']
    assert len(lines) == 3
    assert lines[1].split()[2:] == ['production', '-', '->', '1.0.0', me()]
    assert lines[2].split()[2:] == ['production', '1.0.0', '->', '1.1.0', me()]
    # A user who may not open the store reads through the mount: the same.
    util.open_path(mounted.mnt)
    res = util.run_as(users['mfs_dave'], [os.path.abspath(util.MODELCTL), '-m', mounted.mnt,
                                          '--json', 'history', 'churn', 'production'])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [r for r in history(churn) if r['alias'] == 'production']
    res = mounted.modelctl('history', 'nosuch', check=False)
    assert res.returncode == 1 and b'no such model' in res.stderr


def stamp(rec):
    '''A record's time as the text of an @ view name.'''
    return rec['time']


def test_time_travel_by_time_and_by_seq(mounted, churn):
    promote(churn, '1.0.0')
    time.sleep(0.01)
    promote(churn, '1.0.0', alias='staging')
    time.sleep(0.01)
    promote(churn, '1.1.0')
    time.sleep(0.01)
    run(['rm', 'staging'], cwd=churn)
    time.sleep(0.01)
    promote(churn, '1.2.0')
    recs = history(churn)
    assert len(recs) == 5
    for i, rec in enumerate(recs):
        want = {}
        for r in recs[:i + 1]:
            if r['to'] is None:
                want.pop(r['alias'], None)
            else:
                want[r['alias']] = r['to']
        for name in ('@' + stamp(rec), '@h%d' % rec['seq']):
            view = pjoin(churn, name)
            assert os.path.isdir(view), name
            got = {n: os.readlink(pjoin(view, n)) for n in os.listdir(view)}
            assert got == {a: '../versions/' + v for a, v in want.items()}, (name, recs)
            for a, v in want.items():
                assert read_file(pjoin(view, a, 'v')) == v.encode()
                assert os.path.realpath(pjoin(view, a)) == pjoin(
                    os.path.realpath(churn), 'versions', v)
    # Before the first record: an empty view; @h0 too.
    first = util.rfc3339(recs[0]['time'])
    early = first.replace(year=first.year - 1).strftime('%Y-%m-%dT%H:%M:%SZ')
    assert os.listdir(pjoin(churn, '@' + early)) == []
    assert os.listdir(pjoin(churn, '@h0')) == []
    # Date alone (midnight UTC) and numeric offsets name the same moments.
    assert os.listdir(pjoin(churn, '@' + early[:10])) == []
    last = util.rfc3339(recs[-1]['time'])
    later = last.replace(year=last.year + 1)
    assert sorted(os.listdir(pjoin(churn, '@' + later.strftime('%Y-%m-%d')))) == ['production']
    shifted = later.astimezone(__import__('datetime').timezone(
        __import__('datetime').timedelta(hours=2))).isoformat()
    assert '+02:00' in shifted
    assert os.readlink(pjoin(churn, '@' + shifted, 'production')) == '../versions/1.2.0'


def test_time_travel_ls_l_and_cat(mounted, churn):
    promote(churn, '1.0.0')
    promote(churn, '1.1.0')
    seq0 = history(churn)[0]['seq']
    view = pjoin(churn, '@h%d' % seq0)
    out = run(['ls', '-l', view]).stdout.decode()
    assert 'production -> ../versions/1.0.0' in out, out
    assert out.splitlines()[1].startswith('lrwxrwxrwx'), out
    assert run(['cat', pjoin(view, 'production', 'model.bin')]).stdout == b'1.0.0' * 100
    assert run(['readlink', '-f', pjoin(view, 'production')]).stdout.decode().strip() == \
        pjoin(os.path.realpath(churn), 'versions', '1.0.0')
    st = os.stat(view)
    assert st.st_mode & 0o777 == 0o555
    assert os.lstat(pjoin(view, 'production')).st_size == len('../versions/1.0.0')
    # The present is unchanged.
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.1.0'


def test_views_are_not_listed_and_malformed_names_do_not_exist(mounted, churn):
    promote(churn, '1.0.0')
    os.stat(pjoin(churn, '@h1'))
    names = os.listdir(churn)
    assert not [n for n in names if n.startswith('@')], names
    found = run(['find', churn]).stdout.decode().splitlines()
    assert not [p for p in found if '/@' in p], found
    for bad in ('@xyz', '@h', '@h01', '@2026-13-01', '@2026-11-20T10:00:00',
                '@now', '@2026-11-20T10:00:00+0200'):
        expect_errno(errno.ENOENT, os.stat, pjoin(churn, bad))
    expect_errno(errno.ENOENT, os.stat, pjoin(churn, '@h1', 'staging'))
    expect_errno(errno.ENOENT, os.stat, pjoin(mounted.models, 'nosuch', '@h1'))


def test_writes_into_a_view_are_erofs(mounted, churn):
    promote(churn, '1.0.0')
    view = pjoin(churn, '@h1')
    link = pjoin(view, 'production')
    before = util.snapshot(mounted.mnt, exclude=('audit.jsonl', 'index.json'))
    mark = mounted.log_mark()
    expect_errno(errno.EROFS, os.mkdir, pjoin(view, 'd'))
    expect_errno(errno.EROFS, os.open, pjoin(view, 'f'), os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(errno.EROFS, os.symlink, 'versions/1.1.0', pjoin(view, 'staging'))
    expect_errno(errno.EROFS, os.symlink, '../versions/1.1.0', link + 'x')
    expect_errno(errno.EROFS, os.rename, link, pjoin(view, 'canary'))
    expect_errno(errno.EROFS, os.rename, pjoin(churn, 'production'), pjoin(view, 'canary'))
    expect_errno(errno.EROFS, os.unlink, link)
    expect_errno(errno.EROFS, os.rmdir, view)
    # A view exists (for any moment): the kernel answers EEXIST itself.
    expect_errno(errno.EEXIST, os.mkdir, pjoin(churn, '@h7'))
    log = mounted.log_since(mark)
    assert log.count('read-only') == 8, log
    assert util.snapshot(mounted.mnt, exclude=('audit.jsonl', 'index.json')) == before
    assert os.readlink(link) == '../versions/1.0.0'


def test_tombstoned_version_shows_a_dangling_link(mounted, churn):
    promote(churn, '1.0.0')
    promote(churn, '1.1.0')
    os.rmdir(pjoin(churn, 'versions', '1.0.0'))
    view = pjoin(churn, '@h1')
    assert os.readlink(pjoin(view, 'production')) == '../versions/1.0.0'
    assert not os.path.exists(pjoin(view, 'production'))


def test_rollback_refused_prints_the_errno(mounted, churn, users):
    '''A user who may not move the alias: EACCES, said in the errno's words,
    and nothing moves.'''
    promote(churn, '1.0.0')
    promote(churn, '1.1.0')
    util.open_path(mounted.mnt)
    before = history(churn)
    res = util.run_as(users['mfs_dave'], [os.path.abspath(util.MODELCTL), '-m', mounted.mnt,
                                          'rollback', 'churn', 'production'])
    assert res.returncode == 1
    assert res.stderr.decode() == (
        "modelctl: rollback 'churn/production' to '1.0.0': Permission denied\n")
    assert os.readlink(pjoin(churn, 'production')) == 'versions/1.1.0'
    assert history(churn) == before
    assert not [n for n in os.listdir(churn) if 'rollback' in n]
