#!/usr/bin/env python3
# test_vfiles.py - metadata.json and lineage.json, in drafts and once sealed
#
# DESIGN §1 "Metadata and lineage": in a draft metadata.json is the user's
# (validated as a JSON object at close or rename), lineage.json is accepted
# and discarded; once sealed both are virtual, rendered per open, with
# stat size == read size.

import errno
import json
import os
import time
from os.path import join as pjoin

import pytest

import util
from util import expect_errno, payload, read_file, read_json, run, seal, write_file


def test_draft_metadata_absent_until_written(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a.bin': b'a'})
    expect_errno(errno.ENOENT, os.stat, pjoin(vdir, 'metadata.json'))
    expect_errno(errno.ENOENT, os.stat, pjoin(vdir, 'lineage.json'))
    assert os.listdir(vdir) == ['a.bin']
    doc = {'description': 'd', 'metrics': {'auc': 0.91},
           'hyperparameters': {'lr': 0.01, 'layers': [64, 32]}}
    write_file(pjoin(vdir, 'metadata.json'), json.dumps(doc))
    assert read_json(pjoin(vdir, 'metadata.json')) == doc
    assert sorted(os.listdir(vdir)) == ['a.bin', 'metadata.json']


def test_sealed_metadata_registry_object(mounted, tmp_path):
    files = {'model.bin': payload('m', 123457), 'sub/deep/w.npy': payload('w', 999),
             'empty': b'', 'sub/metadata.json': b'not json at all'}
    vdir = mounted.version('churn', '1.2.0', files)
    os.chmod(pjoin(vdir, 'model.bin'), 0o640)
    doc = {'description': 'churn v1.2', 'run_id': 'abc', 'tags': ['x', 'y'],
           'registry': {'state': 'forged', 'model': 'evil'}}
    write_file(pjoin(vdir, 'metadata.json'), json.dumps(doc))
    seal(vdir)
    os.symlink('versions/1.2.0', pjoin(mounted.models, 'churn', 'production'))
    raw = read_file(pjoin(vdir, 'metadata.json'))
    meta = json.loads(raw)
    assert {k: v for k, v in meta.items() if k != 'registry'} == \
        {'description': 'churn v1.2', 'run_id': 'abc', 'tags': ['x', 'y']}
    reg = meta['registry']
    assert reg['model'] == 'churn'
    assert reg['version'] == '1.2.0'
    assert reg['state'] == 'sealed'
    created, sealed = util.rfc3339(reg['created']), util.rfc3339(reg['sealed'])
    assert created <= sealed
    assert reg['created_uid'] == 0 and reg['sealed_uid'] == 0
    assert reg['size'] == sum(len(v) for v in files.values())
    assert reg['aliases'] == ['production']
    got = {f['path']: f for f in reg['files']}
    assert set(got) == set(files)
    for rel, data in files.items():
        assert got[rel]['size'] == len(data)
        assert got[rel]['digest'] == util.xxh_bytes(data, tmp_path)
        assert got[rel]['digest'] == util.xxhsum(pjoin(vdir, rel))
    mode = got['model.bin']['mode']
    assert (int(mode, 8) if isinstance(mode, str) else mode) & 0o7777 == 0o640
    # a metadata.json below the root is an ordinary file
    assert read_file(pjoin(vdir, 'sub', 'metadata.json')) == b'not json at all'


def test_stat_size_equals_read_size(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a', 'b/c': b'c'})
    write_file(pjoin(vdir, 'metadata.json'), '{"description": "%s"}' % ('x' * 5000))
    seal(vdir)
    for name in ('metadata.json', 'lineage.json'):
        p = pjoin(vdir, name)
        data = read_file(p)
        assert os.stat(p).st_size == len(data), name
        fd = os.open(p, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            got = util.read_fd(fd, 1000)
        finally:
            os.close(fd)
        assert size == len(got) == len(data), name
        json.loads(got)
    # small reads at offsets
    data = read_file(pjoin(vdir, 'metadata.json'))
    with open(pjoin(vdir, 'metadata.json'), 'rb', buffering=0) as fh:
        fh.seek(3)
        assert fh.read(7) == data[3:10]
        fh.seek(len(data) - 2)
        assert fh.read(100) == data[-2:]


def test_open_handle_renders_snapshot(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'}, sealed=True)
    p = pjoin(vdir, 'metadata.json')
    fd = os.open(p, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        os.symlink('versions/1.0.0', pjoin(mounted.models, 'churn', 'production'))
        got = os.pread(fd, size + 4096, 0)
        assert len(got) == size
        assert json.loads(got)['registry']['aliases'] == []
    finally:
        os.close(fd)
    meta = read_json(p)
    assert meta['registry']['aliases'] == ['production']
    assert os.stat(p).st_size == len(read_file(p))


def test_sealed_lineage(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'}, sealed=True)
    lin = read_json(pjoin(vdir, 'lineage.json'))
    assert lin['model'] == 'churn'
    assert lin['version'] == '1.0.0'
    assert lin['parents'] == []


def test_draft_lineage_discarded(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'lineage.json')
    with open(p, 'w') as fh:
        fh.write('{"parents": ["x@1.0.0"], "anything": true}')
    expect_errno(errno.ENOENT, os.stat, p)
    expect_errno(errno.ENOENT, read_file, p)
    assert os.listdir(vdir) == ['a']
    # cp creates with O_EXCL: works too
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b'garbage')
    os.close(fd)
    assert os.listdir(vdir) == ['a']
    seal(vdir)
    assert read_json(p)['parents'] == []


def test_invalid_metadata_einval_at_close_previous_kept(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'metadata.json')
    write_file(p, '{"description": "good"}')
    for bad in (b'not json', b'[1, 2, 3]', b'"string"', b'{"a": 1', b'null'):
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        if bad:
            os.write(fd, bad)
        expect_errno(errno.EINVAL, os.close, fd)
        assert read_json(p) == {'description': 'good'}, bad
    # Python's own close() reports it too
    fh = open(p, 'w')
    fh.write('{oops')
    with pytest.raises(OSError) as ei:
        fh.close()
    assert ei.value.errno == errno.EINVAL
    assert read_json(p) == {'description': 'good'}
    seal(vdir)
    assert read_json(p)['description'] == 'good'


def test_invalid_first_metadata_leaves_none(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'metadata.json')
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b'{broken')
    expect_errno(errno.EINVAL, os.close, fd)
    assert not os.path.exists(p)
    seal(vdir)
    assert set(read_json(p)) == {'registry'}


def test_rsync_style_rename_onto_metadata(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'metadata.json')
    write_file(p, '{"v": 1}')
    tmp = pjoin(vdir, '.metadata.json.Xy12Ab')
    write_file(tmp, '{"v": 2, "run_id": "r2"}')
    os.rename(tmp, p)
    assert read_json(p) == {'v': 2, 'run_id': 'r2'}
    assert sorted(os.listdir(vdir)) == ['a', 'metadata.json']
    write_file(tmp, '{"v": 3')
    expect_errno(errno.EINVAL, os.rename, tmp, p)
    assert read_json(p) == {'v': 2, 'run_id': 'r2'}
    assert read_file(tmp) == b'{"v": 3'
    os.unlink(tmp)
    seal(vdir)
    meta = read_json(p)
    assert meta['v'] == 2 and meta['run_id'] == 'r2'


def test_rsync_tree_with_metadata(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    write_file(pjoin(src, 'metadata.json'), '{"description": "from rsync"}')
    write_file(pjoin(src, 'lineage.json'), '{"parents": []}')
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    run(['rsync', '-a', src + '/', vdir + '/'])
    assert read_json(pjoin(vdir, 'metadata.json')) == {'description': 'from rsync'}
    assert not os.path.lexists(pjoin(vdir, 'lineage.json'))
    seal(vdir)
    assert read_json(pjoin(vdir, 'metadata.json'))['description'] == 'from rsync'


def test_unlink_metadata_in_draft(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'metadata.json')
    write_file(p, '{"description": "gone soon"}')
    os.unlink(p)
    expect_errno(errno.ENOENT, os.stat, p)
    seal(vdir)
    assert set(read_json(p)) == {'registry'}


def test_copied_sealed_metadata_accepted(mounted):
    v1 = mounted.version('churn', '1.0.0', {'a': b'a'})
    write_file(pjoin(v1, 'metadata.json'), '{"description": "orig"}')
    seal(v1)
    v2 = mounted.version('churn', '1.1.0', {'a': b'a2'})
    sealed_doc = read_file(pjoin(v1, 'metadata.json'))
    write_file(pjoin(v2, 'metadata.json'), sealed_doc)
    seal(v2)
    meta = read_json(pjoin(v2, 'metadata.json'))
    assert meta['description'] == 'orig'
    assert meta['registry']['version'] == '1.1.0'
    assert meta['registry']['size'] == 2


def test_metadata_name_mismatch_refused(mounted):
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'metadata.json')
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b'{"model_name": "other", "version": "1.0.0"}')
    expect_errno(errno.EINVAL, os.close, fd)
    write_file(p, '{"model_name": "churn", "version": "1.0.0"}')
    assert read_json(p) == {'model_name': 'churn', 'version': '1.0.0'}


def test_fact_xattrs(mounted):
    '''DESIGN §1 "Extended attributes": read-only facts, listed; controls
    not listed.'''
    vdir = mounted.version('churn', '1.0.0', {'w.bin': payload('x', 5000)})
    seal(vdir)
    f = pjoin(vdir, 'w.bin')
    names = os.listxattr(f)
    assert {'user.modelfs.digest', 'user.modelfs.size'} <= set(names)
    assert 'user.modelfs.seal' not in os.listxattr(vdir)
    assert os.getxattr(f, 'user.modelfs.digest').decode().strip() == util.xxhsum(f)
    assert int(os.getxattr(f, 'user.modelfs.size').decode().strip()) == 5000
    assert os.getxattr(vdir, 'user.modelfs.state').decode().strip() == 'sealed'
    assert os.getxattr(vdir, 'user.modelfs.version').decode().strip() == '1.0.0'
    res = run(['getfattr', '-d', '-m', '-', f])
    assert util.xxhsum(f).encode() in res.stdout


def test_user_metadata_round_trips_exactly(mounted):
    '''The user's keys come back as written: UTF-8, nesting, floats,
    integers, a large document.'''
    doc = {
        'description': 'mod\u00e8le de churn \u6a21\u578b \U0001f680',
        'training_date': '2026-11-25T10:00:00Z',
        'dataset_snapshot_id': 'snap-2026-11-25',
        'epochs': 12, 'seed': 2**53 - 1, 'tiny': 5e-324,
        'metrics': {'auc': 0.9123456789012345, 'loss': 1e-12, 'count': 0,
                    'neg': -3},
        'hyperparameters': {'layers': [512, 256, {'dropout': 0.5}], 'flag': True,
                            'none': None},
        'tags': [],
        'features': ['f%d' % i for i in range(2000)],
    }
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'metadata.json')
    write_file(p, json.dumps(doc, ensure_ascii=False))
    assert read_json(p) == doc
    seal(vdir)
    data = read_file(p)
    assert len(data) > 10000 and os.stat(p).st_size == len(data)
    meta = json.loads(data)
    meta.pop('registry')
    assert meta == doc
    show = mounted.modelctl('show', 'churn@1.0.0', as_json=True).json
    assert show['metadata'] == doc


def test_user_metadata_big_integers_exact(mounted):
    '''An integer beyond 2**53 (a nanosecond timestamp) must not come back
    rounded or as a float.'''
    doc = {'trained_at_ns': 1732528800123456789, 'rows': 2**63 - 1}
    vdir = mounted.version('churn', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'metadata.json')
    write_file(p, json.dumps(doc))
    assert read_json(p) == doc
    seal(vdir)
    meta = read_json(p)
    assert {k: meta[k] for k in doc} == doc
    show = mounted.modelctl('show', 'churn@1.0.0', as_json=True).json
    assert show['metadata'] == doc


def test_second_walk_asks_nothing_about_documents(mounted, tmp_path):
    '''README "Walks": with no change between, a second ls -lR asks the
    daemon nothing about the documents. A listing (readdirplus) of a model
    directory must not hand the kernel their attributes again with no
    timeout, which would make the next stat ask: counted here in the
    requests of a daemon run with -d.'''
    m = mounted.models
    mounted.version('walk', '1.0.0', {'a.bin': b'a'}, sealed=True)
    mounted.version('walk', '1.1.0', {'b.bin': b'bb'}, sealed=True)
    write_file(pjoin(m, 'walk', 'metadata.json'), json.dumps({'owner': 'w'}))
    write_file(pjoin(m, 'walk', 'policy.json'), json.dumps({'retention': {'keep_last': 5}}))
    mounted.serve_debug()
    docs = [pjoin(m, 'walk', n) for n in ('metadata.json', 'history.jsonl', 'policy.json')]
    docs += [pjoin(m, 'walk', 'versions', v, n) for v in ('1.0.0', '1.1.0')
             for n in ('metadata.json', 'lineage.json')]
    inos = {os.stat(p).st_ino: p for p in docs}
    run(['ls', '-lR', mounted.mnt])
    mark = mounted.log_mark()
    run(['ls', '-lR', mounted.mnt])
    asked = mounted.requests_since(mark)
    assert ('READDIRPLUS', os.stat(pjoin(m, 'walk')).st_ino) in asked  # listed again
    assert [inos[n] for op, n in asked if op == 'GETATTR' and n in inos] == []
    # ... and a change is still seen at once.
    write_file(pjoin(m, 'walk', 'metadata.json'), json.dumps({'owner': 'team-walk'}))
    for p in docs:
        assert os.stat(p).st_size == len(read_file(p)), p


def test_document_attributes_are_cached_and_follow_every_change(mounted):
    '''The kernel keeps the documents' attributes (a walk asks once), and
    each commit that changes a document makes it forget them before the
    call that committed returns: stat size == read size after every change,
    without waiting.'''
    m = mounted.models
    mounted.version('churn', '1.0.0', {'a.bin': b'a'}, sealed=True)
    v2 = mounted.version('churn', '2.0.0', {'b.bin': b'b'})
    write_file(pjoin(v2, 'metadata.json'), json.dumps({'parents': ['churn@1.0.0']}))
    docs = [pjoin(m, 'churn', 'versions', v, n) for v in ('1.0.0', '2.0.0')
            for n in ('metadata.json', 'lineage.json')]
    docs += [pjoin(m, 'churn', n) for n in ('metadata.json', 'history.jsonl', 'policy.json')]
    docs += [pjoin(mounted.mnt, n) for n in ('audit.jsonl', 'index.json')]
    sizes = {}

    def check(what):
        for p in docs:
            if not os.path.exists(p):
                continue
            size = os.stat(p).st_size
            assert size == len(read_file(p)), (what, p)
            assert os.stat(p).st_size == size, (what, p)
            sizes.setdefault(p, set()).add(size)

    check('start')
    seal(v2)                        # 1.0.0's lineage.json lists its child
    check('seal')
    os.symlink('versions/1.0.0', pjoin(m, 'churn', 'production'))
    check('alias')
    run(['ln', '-sfn', 'versions/2.0.0', 'production'], cwd=pjoin(m, 'churn'))
    check('promotion')
    mounted.modelctl('tag', 'churn', '1.0.0', 'stage=qa', mnt=mounted.mnt)
    check('tag')
    write_file(pjoin(m, 'churn', 'metadata.json'), json.dumps({'owner': 'team-churn'}))
    check('model metadata')
    write_file(pjoin(m, 'churn', 'policy.json'), json.dumps({'retention': {'keep_last': 5}}))
    check('policy')
    # Each of these documents changed size along the way: the checks
    # above saw the kernel forget a cached size, not a size that never moved.
    for rel in (('churn', 'versions', '1.0.0', 'metadata.json'),
                ('churn', 'versions', '1.0.0', 'lineage.json'),
                ('churn', 'versions', '2.0.0', 'metadata.json'),
                ('churn', 'history.jsonl'), ('churn', 'metadata.json')):
        assert len(sizes[pjoin(m, *rel)]) > 1, rel
    assert len(sizes[pjoin(mounted.mnt, 'audit.jsonl')]) > 1
    # A change whose commit names no document (chown of the model): every
    # cached document's attributes are forgotten.
    meta = pjoin(m, 'churn', 'metadata.json')
    assert os.stat(meta).st_uid == 0
    os.chown(pjoin(m, 'churn'), 4242, -1)
    assert os.stat(meta).st_uid == 4242
    assert os.stat(pjoin(m, 'churn', 'history.jsonl')).st_uid == 4242


def test_a_shells_echo_writes_a_document_without_a_refusal(mounted):
    '''bash opens the file, dup2()s it onto stdout and closes the first
    descriptor before echo writes: that close must not refuse the still
    empty document (a log line and an audit denial for nothing).'''
    vdir = mounted.version('sh', '1.0.0', {'a': b'a'})
    p = pjoin(vdir, 'metadata.json')
    mark = mounted.log_mark()
    util.run(['bash', '-c', 'echo \'{"run_id": "c"}\' > "$1"', 'sh', p])
    assert read_json(p) == {'run_id': 'c'}
    assert 'refusing' not in mounted.log_since(mark)
    audit = [json.loads(line) for line in open(mounted.path('audit.jsonl'))]
    assert not [a for a in audit if a.get('result') == 'denied']
    # Emptied and closed unwritten: refused at the last close, in the log.
    util.run(['bash', '-c', ': > "$1"', 'sh', p])
    end = time.monotonic() + 60
    while 'not valid JSON' not in mounted.log_since(mark) and time.monotonic() < end:
        time.sleep(0.01)
    assert 'not valid JSON' in mounted.log_since(mark)
    assert read_json(p) == {'run_id': 'c'}
