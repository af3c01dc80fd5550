#!/usr/bin/env python3
# test_cli.py - modelctl's conventions, the same for every verb
#
# README "modelctl": `modelctl VERB --help` describes each verb; exit
# status 0 when done, 1 when something is not found, refused or failed
# (diff: the versions differ), 2 for a usage error, with the verb's usage
# on stderr.

import errno
import json
import os
import pty
import re
from os.path import join as pjoin

import util
from util import read_json, write_file

# A call of each verb that is wrong in its arguments.
BAD = {
    'list': ['a', 'b'], 'show': [], 'seal': ['m'], 'fsck': ['--bogus'], 'find': [],
    'diff': ['m', 'a'], 'lineage': ['no-version'], 'backup': [], 'restore': ['dir'],
    'migrate': ['--bogus'], 'approve': ['m', '1.0.0'], 'deprecate': ['m'], 'archive': ['m'],
    'activate': ['m'], 'tag': ['m', '1.0.0'], 'audit': ['bogus'], 'history': [],
    'promote': ['m', '1.0.0'], 'rollback': ['m'], 'gc': ['--bogus'],
    'register': ['src', 'no-version'], 'export': ['m'], 'import': ['bogus', 'x'],
}


def verbs():
    '''The verbs modelctl --help lists.'''
    out = util.run([util.MODELCTL, '--help']).stdout.decode()
    block = out.split('verbs:\n')[1].split('\n\n')[0]
    return sorted({m.group(1) for m in re.finditer(r'^  ([a-z]+)\b', block, re.M)})


def test_every_verb_is_covered_here():
    assert verbs() == sorted(BAD)


def test_every_verb_has_help(mounted):
    for verb in verbs():
        res = mounted.modelctl(verb, '--help')
        out = res.stdout.decode()
        assert out.startswith('usage: modelctl %s' % verb), (verb, out)
        assert 'Exit status: 0 done' in out, verb
        assert mounted.modelctl(verb, '-h').stdout.decode() == out


def test_usage_errors_exit_2_with_the_verbs_usage(mounted):
    for verb, args in sorted(BAD.items()):
        res = mounted.modelctl(verb, *args, check=False)
        err = res.stderr.decode()
        assert res.returncode == 2, (verb, res.returncode, err)
        assert err.startswith('usage: modelctl %s' % verb), (verb, err)
    for args in ([], ['no-such-verb'], ['find', 'metrics.auc >=']):
        res = mounted.modelctl(*args, check=False)
        assert res.returncode == 2, (args, res.stderr)


def test_not_found_and_refused_exit_1(mounted):
    mounted.version('cli', '1.0.0', {'w': b'w'}, sealed=True)
    for args in (['show', 'cli@9.9.9'], ['show', 'nosuch'], ['history', 'nosuch'],
                 ['lineage', 'cli@9.9.9'], ['diff', 'cli', '1.0.0', '9.9.9'],
                 ['promote', 'cli', '9.9.9', 'production']):
        res = mounted.modelctl(*args, check=False, mnt=mounted.mnt)
        assert res.returncode == 1, (args, res.returncode, res.stderr)
        assert res.stderr.strip(), args       # and says why
    assert mounted.modelctl('show', 'cli@1.0.0').returncode == 0


def complete(mounted, *words):
    '''What bash completes for modelctl -m MNT WORDS (the last being
    completed), through dist/modelctl.bash.'''
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _modelctl; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    env = dict(os.environ, PATH=os.path.dirname(util.MODELCTL) + ':' + os.environ['PATH'])
    res = util.run(['bash', '-c', script, 'complete', pjoin(util.basename, 'dist', 'modelctl.bash'),
                    'modelctl', '-m', mounted.mnt] + list(words), env=env)
    return sorted(res.stdout.decode().split())


def test_bash_completes_verbs_models_versions_and_aliases(mounted):
    for v in ('1.0.0', '1.1.0'):
        mounted.version('comp', v, {'w': v.encode()}, sealed=True)
    mounted.version('other', '2.0.0', {'w': b'o'}, sealed=True)
    os.symlink('versions/1.1.0', pjoin(mounted.models, 'comp', 'production'))
    assert complete(mounted, 'pro') == ['promote']
    assert complete(mounted, '') == verbs()
    assert complete(mounted, 'list', '') == ['comp', 'other']
    assert complete(mounted, 'show', 'comp@1.') == ['comp@1.0.0', 'comp@1.1.0']
    assert complete(mounted, 'diff', 'comp', '1.0.0', '') == ['1.0.0', '1.1.0']
    assert complete(mounted, 'rollback', 'comp', '') == ['production']
    assert complete(mounted, 'promote', 'comp', '1.0.0', '') == ['production', 'staging']
    assert complete(mounted, 'lineage', 'comp@1.0.0', '--format', '') == ['dot', 'json', 'mermaid']
    assert complete(mounted, 'register', 'src', 'co') == ['comp@']
    assert complete(mounted, 'register', 'src', 'comp@2.0.0', '--') == [
        '--metadata', '--promote', '--seal']


def test_model_at_version_or_alias_wherever_a_version_is_named(mounted):
    m = pjoin(mounted.models, 'refs')
    for v in ('1.0.0', '1.1.0'):
        mounted.version('refs', v, {'w': v.encode()}, sealed=v == '1.0.0')
    ctl = lambda *a, **kw: mounted.modelctl(*a, mnt=mounted.mnt, **kw)
    ctl('seal', 'refs@1.1.0')                          # MODEL@VERSION
    assert util.is_sealed(pjoin(m, 'versions', '1.1.0'))
    os.symlink('versions/1.0.0', pjoin(m, 'staging'))
    ctl('promote', 'refs@staging', 'production')       # MODEL@ALIAS
    assert os.readlink(pjoin(m, 'production')) == 'versions/1.0.0'
    ctl('promote', 'refs', '1.1.0', 'production')
    assert ctl('show', 'refs@production', as_json=True).json['version'] == '1.1.0'
    assert ctl('diff', 'refs@staging', 'refs@production', check=False).returncode == 1
    assert ctl('diff', 'refs', 'production', '1.1.0').returncode == 0
    ctl('deprecate', 'refs@staging')
    assert read_json(pjoin(m, 'versions', '1.0.0', 'metadata.json'))['registry'][
        'lifecycle'] == 'deprecated'
    ctl('rollback', 'refs', 'production', '--to', 'staging')
    assert os.readlink(pjoin(m, 'production')) == 'versions/1.0.0'
    res = ctl('show', 'refs@nothing', check=False)
    assert res.returncode == 1 and b'nothing' in res.stderr


def test_alias_names_shaped_like_versions_are_refused(mounted):
    '''MODEL@2.0.0 must mean one thing: no alias may be named like a
    version.'''
    mounted.version('shape', '1.0.0', {'w': b'w'}, sealed=True)
    m = pjoin(mounted.models, 'shape')
    for name in ('2.0.0', '1.0.0', '3.1.4-rc.1'):
        util.expect_errno(errno.EINVAL, os.symlink, 'versions/1.0.0', pjoin(m, name))
        assert not os.path.lexists(pjoin(m, name))
    assert "refusing alias 'shape/2.0.0': the name is reserved or shaped like a version" in mounted.log()
    os.symlink('versions/1.0.0', pjoin(m, 'v2'))        # not SemVer: an alias
    assert os.readlink(pjoin(m, 'v2')) == 'versions/1.0.0'


def test_register_copies_seals_and_promotes_through_the_mount(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    meta = tmp_path / 'meta.json'
    meta.write_text(json.dumps({'metrics': {'auc': 0.93}, 'owner': 'ml'}))
    res = mounted.modelctl('register', src, 'reg@1.0.0', '--metadata', str(meta),
                           '--promote', 'production', mnt=mounted.mnt)
    assert res.stdout.decode().startswith('registered reg@1.0.0: 8 files,')
    assert res.stderr == b''                  # no progress in a pipe
    vdir = pjoin(mounted.models, 'reg', 'versions', '1.0.0')
    assert util.is_sealed(vdir)
    assert os.readlink(pjoin(mounted.models, 'reg', 'production')) == 'versions/1.0.0'
    assert util.tree(vdir, skip_root_vfiles=True) == util.tree(src)
    assert read_json(pjoin(vdir, 'metadata.json'))['metrics'] == {'auc': 0.93}
    # One file, a draft, JSON; then -q says nothing.
    one = mounted.modelctl('register', pjoin(src, 'config.yaml'), 'reg@1.1.0',
                           mnt=mounted.mnt, as_json=True).json
    assert one == {'model': 'reg', 'version': '1.1.0', 'files': 1, 'bytes': 20,
                   'sealed': False, 'alias': None}
    assert not util.is_sealed(pjoin(mounted.models, 'reg', 'versions', '1.1.0'))
    assert mounted.modelctl('-q', 'register', src, 'reg@1.2.0', '--seal',
                            mnt=mounted.mnt).stdout == b''


def test_register_leaves_nothing_half_registered(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"metrics": ')
    res = mounted.modelctl('register', src, 'half@1.0.0', '--metadata', str(bad),
                           mnt=mounted.mnt, check=False)
    assert res.returncode == 1
    assert b"removed the draft 'half@1.0.0'" in res.stderr
    assert os.listdir(pjoin(mounted.models, 'half', 'versions')) == []
    # A seal the registry refuses (a draft without a file): the draft goes too.
    os.mkdir(str(tmp_path / 'empty'))
    res = mounted.modelctl('register', str(tmp_path / 'empty'), 'half@1.0.0', '--seal',
                           mnt=mounted.mnt, check=False)
    assert res.returncode == 1 and b"seal 'half@1.0.0'" in res.stderr
    assert os.listdir(pjoin(mounted.models, 'half', 'versions')) == []
    # A promotion a gate refuses: the version stays, sealed, and it says so.
    util.write_file(pjoin(mounted.models, 'half', 'policy.json'), json.dumps(
        {'aliases': {'production': {'gates': {'required_files': ['README.md']}}}}))
    res = mounted.modelctl('register', src, 'half@0.9.0', '--promote', 'production',
                           mnt=mounted.mnt, check=False)
    assert res.returncode == 1 and b'production' in res.stderr
    assert util.is_sealed(pjoin(mounted.models, 'half', 'versions', '0.9.0'))
    assert not os.path.lexists(pjoin(mounted.models, 'half', 'production'))
    mounted.modelctl('register', src, 'half@1.0.0', mnt=mounted.mnt)
    res = mounted.modelctl('register', src, 'half@1.0.0', mnt=mounted.mnt, check=False)
    assert res.returncode == 1 and b'exists already' in res.stderr
    assert mounted.modelctl('register', src, 'half', check=False).returncode == 2
    mounted.stop()
    res = mounted.modelctl('register', src, 'half@2.0.0', check=False)
    assert res.returncode == 1 and b'through the mount' in res.stderr


def on_a_terminal(cmd):
    '''Run cmd with stderr on a pseudo-terminal: (CompletedProcess, what the
    terminal showed).'''
    master, slave = pty.openpty()
    try:
        res = util.run(cmd, check=False, stderr=slave)
        os.close(slave)
        slave = -1
        shown = b''
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return res, shown


def test_register_shows_progress_on_a_terminal_only(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    res, shown = on_a_terminal([util.MODELCTL, '-m', mounted.mnt, 'register', src, 'tty@1.0.0'])
    assert b'registering tty@1.0.0: 8/8 files' in shown
    assert res.stdout.decode().startswith('registered tty@1.0.0')


def test_export_and_import_dir_round_trip(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    meta = tmp_path / 'meta.json'
    meta.write_text(json.dumps({'metrics': {'auc': 0.9}, 'parents': []}))
    ctl = lambda *a, **kw: mounted.modelctl(*a, mnt=mounted.mnt, **kw)
    ctl('register', src, 'exp@1.0.0', '--metadata', str(meta), '--promote', 'production')
    vdir = pjoin(mounted.models, 'exp', 'versions', '1.0.0')
    out = str(tmp_path / 'out')
    res = ctl('export', 'exp@production', out)
    assert res.stdout.decode().startswith('exported exp@1.0.0 to %s: 10 files' % out)
    assert util.tree(out) == util.tree(vdir)     # files, metadata.json, lineage.json
    # Taken back under another name: the same files, the same metadata.
    res = ctl('import', 'dir', out, 'copy@2.0.0', '--promote', 'staging')
    assert res.stdout.decode().startswith('imported copy@2.0.0: 8 files')
    cdir = pjoin(mounted.models, 'copy', 'versions', '2.0.0')
    assert util.is_sealed(cdir)
    assert os.readlink(pjoin(mounted.models, 'copy', 'staging')) == 'versions/2.0.0'
    assert util.tree(cdir, skip_root_vfiles=True) == util.tree(src)
    got = read_json(pjoin(cdir, 'metadata.json'))
    assert got['metrics'] == {'auc': 0.9}
    assert [(f['path'], f['digest']) for f in got['registry']['files']] == \
        [(f['path'], f['digest']) for f in read_json(pjoin(vdir, 'metadata.json'))['registry']['files']]
    # Again: nothing to do, and said; the name holding other files: an error.
    res = ctl('import', 'dir', out, 'copy@2.0.0')
    assert b'nothing imported' in res.stderr
    ctl('register', pjoin(src, 'run.sh'), 'copy@3.0.0', '--seal')
    res = ctl('import', 'dir', out, 'copy@3.0.0', check=False)
    assert res.returncode == 1 and b'exists with other files' in res.stderr
    # A file damaged on its way: refused before anything is written.
    with open(pjoin(out, 'sub', 'weights.npy'), 'r+b') as f:
        f.write(b'X')
    res = ctl('import', 'dir', out, 'damaged@1.0.0', check=False)
    assert res.returncode == 1 and b'is not the file that was exported' in res.stderr
    assert not os.path.exists(pjoin(mounted.models, 'damaged'))
    res = ctl('export', 'exp@1.0.0', out, check=False)
    assert res.returncode == 1 and b'not an empty directory' in res.stderr
    res = ctl('export', 'exp@9.9.9', str(tmp_path / 'none'), check=False)
    assert res.returncode == 1 and not os.path.exists(str(tmp_path / 'none'))


def test_every_verb_answers_json(mounted, tmp_path):
    '''--json on every verb: one JSON document on stdout (tag values and
    comments with quotes too), pretty, with {} and [] for what is empty.'''
    src = util.make_source_tree(str(tmp_path / 'src'))
    ctl = lambda *a: mounted.modelctl('--json', *a, mnt=mounted.mnt, check=False)
    seen = set()

    def js(*args, rc=0):
        res = ctl(*args)
        assert res.returncode == rc, (args, res.stderr)
        text = res.stdout.decode()
        assert not re.search(r'\{\n\s*\}|\[\n\s*\]|\n\s*\n', text), (args, text)
        seen.add(args[0])
        return json.loads(text)

    assert js('register', src, 'js@1.0.0', '--seal')['sealed'] is True
    js('register', src, 'js@1.1.0')
    js('seal', 'js', '1.1.0')
    js('promote', 'js', '1.0.0', 'production')
    js('promote', 'js', '1.1.0', 'production')
    js('rollback', 'js', 'production')
    js('history', 'js')
    js('list')
    js('show', 'js@production')
    js('find', 'state == "sealed"')
    js('diff', 'js', '1.0.0', '1.1.0')
    js('lineage', 'js@1.0.0')
    assert js('tag', 'js', '1.0.0', 'note=say "hi"')
    for verb in ('deprecate', 'activate', 'archive'):
        js(verb, 'js', '1.1.0')
    js('export', 'js@1.0.0', str(tmp_path / 'exp'))
    js('import', 'dir', str(tmp_path / 'exp'), 'js2@1.0.0')
    js('audit', 'head')
    js('audit', 'verify')
    js('fsck')
    js('gc', '--dry-run')
    js('backup', str(tmp_path / 'bk'))
    mounted.stop()
    res = mounted.modelctl('--json', 'restore', str(tmp_path / 'bk'), str(tmp_path / 'st2'))
    json.loads(res.stdout)
    res = mounted.modelctl('--json', 'migrate', '--to', 'lmdb:' + str(tmp_path / 'st3'))
    json.loads(res.stdout)
    # approve answers through the same code as tag and the lifecycle verbs;
    # a version's creator may not approve it (test_governance runs it as
    # another user).
    seen |= {'restore', 'migrate', 'approve'}
    assert seen == set(verbs())


def test_import_takes_only_what_the_export_lists_and_stays_in_the_mount(mounted, tmp_path):
    src = util.make_source_tree(str(tmp_path / 'src'))
    ctl = lambda *a, **kw: mounted.modelctl(*a, mnt=mounted.mnt, **kw)
    # A symlink to the source directory is followed, as cp -r does.
    os.symlink(src, str(tmp_path / 'current'))
    ctl('register', str(tmp_path / 'current'), 'imp@1.0.0', '--seal')
    out = str(tmp_path / 'out')
    os.mkdir(out)                        # an empty directory is used as it is
    ctl('export', 'imp@1.0.0', out)
    # Something added on the way is not imported.
    write_file(pjoin(out, 'sub', 'added.bin'), b'not exported')
    ctl('import', 'dir', out, 'imp2@1.0.0')
    assert not os.path.exists(pjoin(mounted.models, 'imp2', 'versions', '1.0.0', 'sub',
                                    'added.bin'))
    # A bundle naming a path for its model or version: refused, nothing made.
    meta = read_json(pjoin(out, 'metadata.json'))
    for model, version in (('imp3', '../../../../../../../../tmp/mfs-escape'),
                           ('../../../../../tmp', '1.0.0'), ('imp3', '1.0')):
        meta['registry']['model'], meta['registry']['version'] = model, version
        write_file(pjoin(out, 'metadata.json'), json.dumps(meta))
        res = ctl('import', 'dir', out, check=False)
        assert res.returncode == 1 and b'not a model name and a SemVer version' in res.stderr
    assert not os.path.exists('/tmp/mfs-escape')
    assert not os.path.exists(pjoin(mounted.models, 'imp3'))
    # A promotion refused once is tried again by the next run.
    meta['registry']['model'], meta['registry']['version'] = 'imp', '1.0.0'
    write_file(pjoin(out, 'metadata.json'), json.dumps(meta))
    util.write_file(pjoin(mounted.models, 'imp', 'policy.json'), json.dumps(
        {'aliases': {'production': {'gates': {'required_files': ['README.md']}}}}))
    res = ctl('import', 'dir', out, '--promote', 'production', check=False)
    assert res.returncode == 1
    util.write_file(pjoin(mounted.models, 'imp', 'policy.json'), '{}')
    res = ctl('import', 'dir', out, '--promote', 'production')
    assert b'nothing imported' in res.stderr
    assert os.readlink(pjoin(mounted.models, 'imp', 'production')) == 'versions/1.0.0'


def test_long_work_shows_progress_on_a_terminal_only(mounted, tmp_path):
    for v in ('1.0.0', '1.1.0'):
        mounted.version('prog', v, {'a.bin': v.encode() * 1000, 'b.bin': b'b' + v.encode(),
                                    'c/d.bin': b'same'}, sealed=True)
    ctl = [util.MODELCTL, '-s', mounted.store]
    res, shown = on_a_terminal(ctl + ['fsck'])
    assert res.returncode == 0, shown
    assert b"checking blobs' contents: 5/5" in shown
    res = util.run(ctl + ['fsck'])
    assert b'checking' not in res.stderr
    # gc through the mount: the daemon works, modelctl waits
    os.rmdir(pjoin(mounted.models, 'prog', 'versions', '1.0.0'))
    res = util.run(ctl + ['-m', mounted.mnt, 'gc'])
    assert res.stderr == b''
    backup = str(tmp_path / 'backup')
    res, shown = on_a_terminal(ctl + ['backup', backup])
    assert res.returncode == 0, shown
    assert b'copying blobs: 3/3' in shown
    assert b'copying' not in util.run(ctl + ['backup', str(tmp_path / 'b2')]).stderr
    res, shown = on_a_terminal([util.MODELCTL, 'restore', backup, str(tmp_path / 'restored')])
    assert res.returncode == 0, shown
    assert b'copying blobs: 3/3' in shown
    # gc of a store no daemon serves runs here: its steps are shown
    os.rmdir(pjoin(mounted.models, 'prog', 'versions', '1.1.0'))
    mounted.stop()
    res, shown = on_a_terminal(ctl + ['gc'])
    assert res.returncode == 0, shown
    assert b'releasing deleted versions: 1/1' in shown
    assert b'removing blobs: 3/3' in shown
    mounted.start()
