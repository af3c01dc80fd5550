#!/usr/bin/env python3
# test_audit.py - the audit trail: record fields, the SHA-256/HMAC chain and
# `modelctl audit verify|head`, tampering found at the right record, merged
# denials, who sees which records, and -o hook.
#
# Tampering edits the stopped registry's audit table from outside, with no
# code of ours (util.rewrite_table): LMDB with lmdb-utils (mdb_dump/mdb_load),
# PostgreSQL with SQL.

import errno
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import time
from os.path import join as pjoin

import pytest

import util

HEX64 = re.compile(r'[0-9a-f]{64}')
ZERO64 = '0' * 64
WAIT = 60           # bound on waits for asynchronous effects (not a timing)


def audit(mounted):
    with open(mounted.path('audit.jsonl'), 'rb') as fh:
        return [json.loads(line) for line in fh.read().splitlines()]


def verify(store, *args):
    return util.modelctl('audit', 'verify', *args, store=store, check=False)


def wait_for(pred, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail('gave up waiting for %s' % what)


def scripted_events(mounted):
    '''mkdir model, version, seal, alias create, alias move (ln -sfn),
    and a denial (a file created in the sealed version).'''
    mounted.version('churn', '1.0.0', {'model.bin': b'one'}, sealed=True)
    mounted.version('churn', '1.1.0', {'model.bin': b'two'}, sealed=True)
    os.symlink('versions/1.0.0', mounted.path('models/churn/production'))
    util.run(['ln', '-sfn', 'versions/1.1.0', mounted.path('models/churn/production')])
    util.expect_errno(errno.EROFS, util.write_file,
                      mounted.path('models/churn/versions/1.0.0/new.txt'), b'x')


# ----------------------------------------------------------------------------
# The registry edited from outside: the engine's own tools.

def rewrite_audit(m, change):
    '''Apply change(records) to the audit table of a stopped registry:
    records is a list of [seq, bytes] pairs, oldest first, edited in place.'''
    def rows(kv):
        recs = [[int.from_bytes(k, 'big'), v] for k, v in kv]
        change(recs)
        kv[:] = [[seq.to_bytes(8, 'big'), v] for seq, v in recs]
    util.rewrite_table(m, 'audit', rows)


def edit(seq, old, new):
    def change(recs):
        for r in recs:
            if r[0] == seq:
                assert old in r[1], r[1]
                r[1] = r[1].replace(old, new, 1)
                return
        raise AssertionError('no record %d' % seq)
    return change


# ----------------------------------------------------------------------------

def test_records_carry_who_what_and_result(mounted):
    scripted_events(mounted)
    recs = audit(mounted)
    assert [r['seq'] for r in recs] == list(range(1, len(recs) + 1))
    for r in recs:
        assert util.rfc3339(r['time'])
        assert r['uid'] == os.getuid() and r['user'] == 'root'
        assert isinstance(r['pid'], int) and r['pid'] > 0
        assert r['chain'] == 'sha256'
        assert HEX64.fullmatch(r['hash']) and HEX64.fullmatch(r['prev'])
        assert list(r)[-1] == 'hash'
    assert recs[0]['prev'] == ZERO64
    for a, b in zip(recs, recs[1:]):
        assert b['prev'] == a['hash']
    events = [(r['event'], r.get('model'), r.get('version'), r['result']) for r in recs]
    assert events[:6] == [('model.create', 'churn', None, 'ok'),
                          ('version.create', 'churn', '1.0.0', 'ok'),
                          ('version.seal', 'churn', '1.0.0', 'ok'),
                          ('version.create', 'churn', '1.1.0', 'ok'),
                          ('version.seal', 'churn', '1.1.0', 'ok'),
                          ('alias.create', 'churn', None, 'ok')]
    assert recs[5]['alias'] == 'production' and recs[5]['to'] == '1.0.0'
    # ln -sfn: a temporary link renamed onto production, one move of it.
    move = [r for r in recs if r['event'] == 'alias.move' and r.get('alias') == 'production']
    assert len(move) == 1 and move[0]['from'] == '1.0.0' and move[0]['to'] == '1.1.0'
    deny = recs[-1]
    assert (deny['event'], deny['result'], deny['errno']) == ('version.write', 'denied', 'EROFS')
    assert (deny['model'], deny['version']) == ('churn', '1.0.0')
    assert 'new.txt' in deny['reason'] and 'sealed' in deny['reason']
    assert 'errno' not in recs[0] and 'count' not in deny


def test_verify_and_head_read_the_store_beside_the_daemon(mounted):
    scripted_events(mounted)
    res = verify(mounted.store)
    assert res.returncode == 0, res.stdout + res.stderr
    recs = audit(mounted)
    head = mounted.modelctl('audit', 'head').stdout.decode().split()
    assert head == [str(recs[-1]['seq']), recs[-1]['hash']]
    j = mounted.modelctl('audit', 'verify', as_json=True).json
    assert j['ok'] and j['records'] == len(recs) and j['head'] == recs[-1]['hash']


@pytest.mark.parametrize('seq', [1, 3])
def test_an_edited_record_is_found_at_its_seq(mounted, seq):
    scripted_events(mounted)
    n = len(audit(mounted))
    mounted.stop()
    rewrite_audit(mounted, edit(seq, b'"uid":0,', b'"uid":1000,'))
    res = verify(mounted.store)
    assert res.returncode == 1
    assert b'broken link at seq %d: hash does not match' % seq in res.stdout, res.stdout
    j = util.modelctl('audit', 'verify', store=mounted.store, as_json=True, check=False)
    assert json.loads(j.stdout)['broken_seq'] == seq
    mounted.start()
    assert len(audit(mounted)) == n


def test_a_removed_or_rechained_record_is_found(mounted):
    scripted_events(mounted)
    recs = audit(mounted)
    mounted.stop()
    rewrite_audit(mounted, lambda rs: rs.pop(2))
    res = verify(mounted.store)
    assert res.returncode == 1
    assert b'broken link at seq 4' in res.stdout, res.stdout
    # Removing a record and renumbering keeps seqs in order, not the links.
    def renumber(rs):
        for r in rs[2:]:
            s = r[0]
            r[1] = r[1].replace(b'"seq":%d,' % s, b'"seq":%d,' % (s - 1), 1)
            r[0] = s - 1
    rewrite_audit(mounted, renumber)
    res = verify(mounted.store)
    assert res.returncode == 1 and b'broken link at seq 3: prev does not match' in res.stdout
    mounted.start()
    assert len(audit(mounted)) == len(recs) - 1


def write_key(path, data, mode=0o600):
    with open(path, 'wb') as fh:
        fh.write(data)
    os.chmod(path, mode)
    return path


def test_hmac_chain_needs_the_key(mounted, tmp_path):
    mounted.model('before')            # plain SHA-256 records first
    key = write_key(pjoin(str(tmp_path), 'audit.key'), os.urandom(32))
    other = write_key(pjoin(str(tmp_path), 'other.key'), os.urandom(32))
    mounted.remount(['audit_key=' + key])
    scripted_events(mounted)
    recs = audit(mounted)
    assert recs[0]['chain'] == 'sha256'
    assert {r['chain'] for r in recs[1:]} == {'hmac-sha256'}
    assert recs[1]['prev'] == recs[0]['hash']
    res = verify(mounted.store, '--key', key)
    assert res.returncode == 0, res.stdout + res.stderr
    res = verify(mounted.store)
    assert res.returncode == 0 and b'not authenticated: give --key' in res.stdout
    res = verify(mounted.store, '--key', other)
    assert res.returncode == 1 and b'broken link at seq 2: HMAC does not match' in res.stdout
    # An edit recomputing the plain SHA-256 link does not pass as HMAC.
    mounted.stop()
    rewrite_audit(mounted, edit(3, b'"uid":0,', b'"uid":7,'))
    assert verify(mounted.store, '--key', key).returncode == 1
    # A keyed trail is extended with its key or not at all.
    res = util.run([util.MODELFS, '-o', 'store=' + mounted.store, mounted.mnt], check=False)
    assert res.returncode != 0 and b'is keyed (HMAC); give -o audit_key' in res.stderr
    assert not os.path.ismount(mounted.mnt)
    mounted.start()


def test_a_direct_write_never_downgrades_a_keyed_trail(mounted, tmp_path):
    '''modelctl writing the registry itself (no daemon serves the store;
    on a shared registry, daemons of other hosts may) has no key: it may
    not append plain SHA-256 records after HMAC ones.'''
    key = write_key(pjoin(str(tmp_path), 'audit.key'), os.urandom(32))
    mounted.remount(['audit_key=' + key])
    mounted.version('churn', '1.0.0', {'model.bin': b'one'}, sealed=True)
    n = len(audit(mounted))
    mounted.stop()
    res = mounted.modelctl('tag', 'churn', '1.0.0', 'stage=qa', check=False)
    assert res.returncode != 0
    assert b'audit trail is keyed (HMAC) and this writer has no key' in res.stderr, res.stderr
    assert verify(mounted.store, '--key', key).returncode == 0
    mounted.start()
    assert len(audit(mounted)) == n
    assert 'stage' not in util.read_json(
        mounted.path('models/churn/versions/1.0.0/metadata.json'))['registry'].get('tags', {})


def test_a_chain_built_without_the_key_fails_verify_with_it(mounted, tmp_path):
    scripted_events(mounted)
    key = write_key(pjoin(str(tmp_path), 'k'), b'secret\n')
    res = verify(mounted.store, '--key', key)
    assert res.returncode == 1
    assert b'does not end in an HMAC record' in res.stdout


def test_a_world_readable_key_stops_the_start(tmp_path):
    key = write_key(pjoin(str(tmp_path), 'k'), b'secret', 0o644)
    mnt = pjoin(str(tmp_path), 'mnt')
    os.mkdir(mnt)
    res = util.run([util.MODELFS, '-o', 'store=%s,audit_key=%s' % (pjoin(str(tmp_path), 's'), key),
                    mnt], check=False)
    assert res.returncode != 0
    assert b'readable by every user' in res.stderr and b'refusing to start' in res.stderr
    assert not os.path.ismount(mnt)


def test_records_of_older_stores_keep_verifying(mounted, tmp_path):
    '''Stores from before SHA-256 hold XXH3-128 links (32 hex digits, over
    the record as cJSON prints it): the chain switches scheme there.'''
    mounted.stop()

    def legacy(recs):
        prev = '0' * 32
        for seq in (1, 2):
            r = {'seq': seq, 'time': '2026-11-20T10:00:00.000Z', 'event': 'model.create',
                 'uid': 0, 'pid': 42, 'model': 'old%d' % seq, 'prev': prev}
            line = json.dumps(r, separators=(',', ':')).encode()
            r['hash'] = prev = util.xxh_bytes(line, tmp_path)
            recs.append([seq, json.dumps(r, separators=(',', ':')).encode()])
    rewrite_audit(mounted, legacy)
    mounted.start()
    mounted.model('new')
    recs = audit(mounted)
    assert [len(r['hash']) for r in recs] == [32, 32, 64]
    assert recs[2]['prev'] == recs[1]['hash'] and recs[2]['chain'] == 'sha256'
    assert verify(mounted.store).returncode == 0
    mounted.stop()
    rewrite_audit(mounted, edit(2, b'"old2"', b'"old9"'))
    res = verify(mounted.store)
    assert res.returncode == 1 and b'broken link at seq 2' in res.stdout
    mounted.start()


# ----------------------------------------------------------------------------
# Denials

PROBE = r'''
import os, sys
for i in range(int(sys.argv[2])):
    try:
        os.mkdir(os.path.join(sys.argv[1], '__pycache__'))
    except OSError as e:
        assert e.errno == 30, e
'''


def test_repeated_denials_are_one_record_with_a_count(mounted):
    v = mounted.version('m', '1.0.0', {'a.py': b'x = 1\n'}, sealed=True)
    before = len(audit(mounted))
    util.run([sys.executable, '-c', PROBE, v, '50'])
    recs = audit(mounted)
    assert len(recs) == before + 1
    d = recs[-1]
    assert (d['event'], d['errno'], d['count']) == ('version.write', 'EROFS', 50)
    assert d['seq'] == before + 1 and util.rfc3339(d['last_time'])
    assert verify(mounted.store).returncode == 0
    # Another process, or another refusal, is a record of its own.
    util.run([sys.executable, '-c', PROBE, v, '2'])
    util.expect_errno(errno.EINVAL, os.mkdir, mounted.path('models/m/versions/final'))
    recs = audit(mounted)
    assert [(r['event'], r.get('count'), r['errno']) for r in recs[-2:]] == [
        ('version.write', 2, 'EROFS'), ('version.create', None, 'EINVAL')]
    assert recs[-1]['version'] == 'final' and recs[-1]['result'] == 'denied'
    assert recs[-1]['prev'] == recs[-2]['hash']
    assert verify(mounted.store).returncode == 0


def test_permission_refusals_are_recorded(mounted, users):
    util.open_path(mounted.mnt)
    alice, dave = users['mfs_alice'], users['mfs_dave']
    assert util.run_as(alice, ['mkdir', mounted.path('models/a')]).returncode == 0
    os.chmod(mounted.path('models/a'), 0o755)
    res = util.run_as(dave, ['mkdir', mounted.path('models/a/versions/1.0.0')])
    assert res.returncode != 0 and b'Permission denied' in res.stderr
    d = audit(mounted)[-1]
    assert (d['event'], d['model'], d['version'], d['errno'], d['uid'], d['user']) == (
        'version.create', 'a', '1.0.0', 'EACCES', dave.uid, 'mfs_dave')


# ----------------------------------------------------------------------------
# Who sees what

def cat_as(user, path):
    res = util.run_as(user, ['cat', path])
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_each_user_sees_the_records_of_the_models_they_own(mounted, users):
    util.open_path(mounted.mnt)
    alice, bob, dave, erin = (users[n] for n in ('mfs_alice', 'mfs_bob', 'mfs_dave', 'mfs_erin'))
    for u, m in ((alice, 'a'), (bob, 'b')):
        assert util.run_as(u, ['mkdir', mounted.path('models', m)]).returncode == 0
        assert util.run_as(u, ['mkdir', mounted.path('models', m, 'versions/1.0.0')]).returncode == 0
    # dave's refusal on alice's model belongs to alice's records.
    assert util.run_as(dave, ['mkdir', mounted.path('models/a/versions/2.0.0')]).returncode != 0
    # dave's own refusal that names no model
    assert util.run_as(dave, ['mkdir', mounted.path('models/.hidden')]).returncode != 0
    path = mounted.path('audit.jsonl')
    everything = audit(mounted)
    assert {r.get('model') for r in everything} >= {'a', 'b'}
    seen = cat_as(alice, path)
    assert seen and {r['model'] for r in seen} == {'a'}
    assert [r for r in everything if r.get('model') == 'a'] == seen
    assert any(r['uid'] == dave.uid and r['result'] == 'denied' for r in seen)
    assert {r['model'] for r in cat_as(bob, path)} == {'b'}
    mine = cat_as(dave, path)
    assert mine and mine == [r for r in everything
                             if r['uid'] == dave.uid and r.get('model') not in ('a', 'b')]
    assert cat_as(erin, path) == []
    mounted.remount(['admin_group=mfs_admin'])
    assert cat_as(erin, path) == audit(mounted)
    assert {r['model'] for r in cat_as(alice, path)} == {'a'}


def test_an_unknown_admin_group_stops_the_start(tmp_path):
    mnt = pjoin(str(tmp_path), 'mnt')
    os.mkdir(mnt)
    res = util.run([util.MODELFS, '-o', 'store=%s,admin_group=mfs_no_such_group'
                    % pjoin(str(tmp_path), 's'), mnt], check=False)
    assert res.returncode != 0 and b"no group 'mfs_no_such_group'" in res.stderr


# ----------------------------------------------------------------------------
# Hooks

HOOK = '''#!%s
import sys
rec = sys.stdin.read()
with open(%r, 'a') as fh:
    fh.write(rec if rec.endswith('\\n') else rec + '\\n')
'''


def make_hook(tmp_path, body):
    p = pjoin(str(tmp_path), 'hook')
    with open(p, 'w') as fh:
        fh.write(body)
    os.chmod(p, 0o755)
    return p


def read_hook(out):
    if not os.path.exists(out):
        return []
    with open(out) as fh:
        return [json.loads(line) for line in fh.read().splitlines()]


def test_the_hook_receives_every_event_in_order(mounted, tmp_path):
    out = pjoin(str(tmp_path), 'events.jsonl')
    hook = make_hook(tmp_path, HOOK % (sys.executable, out))
    mounted.remount(['hook=' + hook])
    scripted_events(mounted)
    # the same denial twice more: merged, not handed on again
    for _ in range(2):
        util.expect_errno(errno.EROFS, util.write_file,
                          mounted.path('models/churn/versions/1.0.0/new.txt'), b'x')
    mounted.model('last')                  # ends the run of denials
    recs = audit(mounted)
    got = wait_for(lambda: (lambda g: g if len(g) >= len(recs) + 1 else None)(read_hook(out)),
                   'the hook to see every event')
    # The merged denial comes twice: as first recorded, and final (count 3)
    # before the record that follows it, which links to its final hash.
    deny = [i for i, r in enumerate(got) if r['result'] == 'denied']
    assert len(deny) == 2 and got[deny[0]]['seq'] == got[deny[1]]['seq']
    assert 'count' not in got[deny[0]] and got[deny[1]]['count'] == 3
    final = got[:deny[0]] + got[deny[1]:]
    assert final == recs
    assert [r['seq'] for r in got[:deny[0]]] == list(range(1, deny[0] + 1))
    assert [r['event'] for r in final] == [r['event'] for r in recs]
    assert final[-1]['prev'] == final[-2]['hash']


def test_a_hanging_or_failing_hook_never_blocks_the_filesystem(mounted, tmp_path,
                                                                output_checker):
    hang = make_hook(tmp_path, '#!/bin/sh\nexec sleep 100000\n')
    mounted.remount(['hook=' + hang, 'hook_timeout=1'])
    output_checker.register_output(r"hook '.*' killed after 1 s")
    output_checker.register_output(r"hook '.*': queue full, \d+ events dropped")
    output_checker.register_output(r"hook '.*': \d+ events not delivered at exit")
    mark = mounted.log_mark()
    # More events than the queue holds, each answered at once.
    for i in range(300):
        os.mkdir(mounted.path('models', 'm%03d' % i))
    scripted_events(mounted)
    wait_for(lambda: 'killed after 1 s' in mounted.log_since(mark), 'the timeout to kill the hook')
    wait_for(lambda: 'events dropped' in mounted.log_since(mark), 'the dropped events to be logged')
    assert verify(mounted.store).returncode == 0

    fail = make_hook(tmp_path, '#!/bin/sh\ncat >/dev/null\nexit 3\n')
    output_checker.register_output(r"hook '.*' exited with status 3")
    mounted.remount(['hook=' + fail])
    mark = mounted.log_mark()
    mounted.model('after')
    wait_for(lambda: 'exited with status 3' in mounted.log_since(mark), 'the failure to be logged')
    assert audit(mounted)[-1]['model'] == 'after'


def test_audit_jsonl_is_streamed_by_offset(mounted):
    '''audit.jsonl is read by offset from the store, never held whole: what
    any pattern of reads returns is the snapshot taken at open, records
    appended later included in the next open only.'''
    vdir = mounted.version('big', '1.0.0', {'a': b'a'}, sealed=True)
    for i in range(1500):
        os.setxattr(vdir, 'user.modelfs.tag.t%04d' % i, b'v' * (i % 37))
    path = os.path.join(mounted.mnt, 'audit.jsonl')
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        whole = util.read_fd(fd, 4096)
        assert len(whole) == size and size > 200000
        lines = whole.decode().splitlines()
        assert [json.loads(l)['seq'] for l in lines] == list(range(1, len(lines) + 1))
        # later records do not change this open's snapshot
        os.setxattr(vdir, 'user.modelfs.tag.late', b'x')
        rng = random.Random(7)
        for _ in range(200):
            off = rng.randrange(0, size)
            n = rng.randrange(1, 70000)
            assert os.pread(fd, n, off) == whole[off:off + n], (off, n)
        assert os.pread(fd, 100, size) == b''
        assert os.pread(fd, 100, size - 10) == whole[-10:]
    finally:
        os.close(fd)
    again = util.read_file(path)
    assert again.startswith(whole) and b'"tag":"late"' in again[len(whole):]
    # stat without an open file answers the whole trail's size
    assert os.stat(path).st_size == len(again)


def test_a_lazy_alias_creation_reaches_hook_and_log_once_durable(mounted, tmp_path):
    '''A new alias no rule names (ln's temporary link; here `canary`) is
    committed without waiting for the disk, and made durable within
    moments by the daemon: its audit record reaches the hook then, in order
    with what follows, and audit.jsonl, read at once, already holds it (a
    reader makes the registry durable first).'''
    out = pjoin(str(tmp_path), 'events.jsonl')
    hook = make_hook(tmp_path, HOOK % (sys.executable, out))
    mounted.remount(['hook=' + hook])
    mounted.version('churn', '1.0.0', {'w': b'w'}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'churn', 'canary'))
    got = wait_for(lambda: [r for r in read_hook(out) if r.get('alias') == 'canary'] or None,
                   'the hook to see the lazy creation')
    assert got[0]['event'] == 'alias.create'
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'churn', 'shadow'))
    recs = audit(mounted)                  # read at once
    assert (recs[-1]['event'], recs[-1]['alias']) == ('alias.create', 'shadow')
    mounted.model('after')                 # a durable commit follows
    hooked = wait_for(lambda: (lambda g: g if any(r.get('event') == 'model.create' and
                                                   r.get('model') == 'after'
                                                   for r in g) else None)(read_hook(out)),
                      'the hook to see the commit after')
    assert [r['seq'] for r in hooked] == sorted(r['seq'] for r in hooked)
    assert [r['seq'] for r in hooked] == [r['seq'] for r in audit(mounted)]
