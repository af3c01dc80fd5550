'''examples/lib.py - the plumbing the Python examples share.

The examples are run as scripts (examples/04-formats/formats.py MNT), so
examples/ is not on Python's path by itself; each adds it, then imports
this module:

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import lib

It gives an example its mount point, a model name no earlier run took,
modelctl, a version written and sealed in one call, an alias moved as
`ln -sfn` moves it, and the output every example prints (step, report).
What modelfs itself does is said in each helper's comment; what an example
teaches stays in the example.
'''
import json
import os
import shutil
import subprocess
import sys

EXAMPLES = os.path.dirname(os.path.abspath(__file__))


def mount_point():
    '''The registry's mount point: the script's first argument.'''
    if len(sys.argv) < 2:
        sys.exit('usage: %s MOUNTPOINT' % sys.argv[0])
    return sys.argv[1]


def fresh_name(mnt, base, suffix=''):
    '''BASE, or BASE-2, BASE-3... the first for which MNT/models/BASE<SUFFIX>
    does not exist, so an example runs again on the same registry (what an
    earlier run registered stays there).'''
    name, i = base, 1
    while os.path.exists(os.path.join(mnt, 'models', name + suffix)):
        i += 1
        name = '%s-%d' % (base, i)
    return name


def _modelctl_path():
    '''$MODELCTL, else this tree's build/tools/modelctl, else the one in PATH.'''
    path = os.environ.get('MODELCTL') or os.path.join(EXAMPLES, '..', 'build', 'tools', 'modelctl')
    if os.access(path, os.X_OK):
        return path
    return shutil.which('modelctl') or sys.exit('modelctl not found: set MODELCTL')


def modelctl(mnt, *args):
    '''Run `modelctl -m MNT ARGS...` (its output goes to ours); fail if it
    does. -m names the mount: modelctl reads the store's path from its
    user.modelfs.store attribute, and goes through the mount for what only
    the daemon may do.'''
    subprocess.run([_modelctl_path(), '-m', mnt] + list(args), check=True)


def modelctl_json(mnt, *args):
    '''`modelctl -m MNT --json ARGS...`, parsed: what `find`, `list`, `diff`
    and the others print for a program to read.'''
    out = subprocess.run([_modelctl_path(), '-m', mnt, '--json'] + list(args),
                         check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


def new_version(model_dir, version, files, metadata=None, seal=True):
    '''Make MODEL_DIR/versions/VERSION and return its path. mkdir there
    creates a draft, a writable directory: FILES ({name: str, bytes, or a
    function writing the file at the path it is given}) and METADATA (a
    dict, written as metadata.json, which the registry checks when it is
    closed) are written straight into it. SEAL sets the attribute
    user.modelfs.seal (what `modelctl seal` and `setfattr -n
    user.modelfs.seal -v 1` do): from then on the version never changes.'''
    vdir = os.path.join(model_dir, 'versions', version)
    os.mkdir(vdir)
    for name, content in files.items():
        path = os.path.join(vdir, name)
        if callable(content):
            content(path)
        else:
            with open(path, 'wb' if isinstance(content, bytes) else 'w') as f:
                f.write(content)
    if metadata is not None:
        with open(os.path.join(vdir, 'metadata.json'), 'w') as f:
            json.dump(metadata, f)
    if seal:
        os.setxattr(vdir, 'user.modelfs.seal', b'1')
    return vdir


def move_alias(model_dir, alias, version, check=True):
    '''`ln -sfn versions/VERSION MODEL_DIR/ALIAS`: a new link under a
    temporary name, renamed over the alias - one atomic step, which the
    model's policy may refuse. A draft it points at is sealed first. Returns
    the CompletedProcess (its stderr kept); with CHECK, a refusal ends the
    example with ln's complaint.'''
    res = subprocess.run(['ln', '-sfn', 'versions/' + version, os.path.join(model_dir, alias)],
                         stderr=subprocess.PIPE, universal_newlines=True)
    if check and res.returncode != 0:
        sys.exit(res.stderr.strip())
    return res


def step(text):
    '''A heading in the output, one per thing the example shows.'''
    print('\n== ' + text)


def report(checks):
    '''Print each (what, ok) of CHECKS as "ok: what" or "FAILED: what";
    exit with status 1 if any failed (the example's last word is then not
    its "ok:" line).'''
    for what, ok in checks:
        print('  %s: %s' % ('ok' if ok else 'FAILED', what))
    if not all(ok for _, ok in checks):
        sys.exit(1)
