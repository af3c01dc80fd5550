#!/usr/bin/env python3
# test_modelctl_mount.py - read verbs for users who may not open the store
#
# The store is the daemon's (mode 0700). A user who cannot open it gets
# the same answers from modelctl through the mount (index.json, each
# version's metadata.json and lineage.json), with their own permissions.

import json
import os
import shutil
import subprocess
import tempfile
from os.path import join as pjoin

import util
from util import seal

OTHER = 4242


def as_other(mounted, exe, *args):
    '''modelctl run as uid 4242 from inside the mount (pytest's tmp dirs
    are 0700: the mount is reached through the working directory).'''
    return subprocess.run([exe, '-m', '.'] + list(args), cwd=mounted.mnt, user=OTHER,
                          group=OTHER, extra_groups=[], capture_output=True)


def test_read_verbs_through_the_mount_match_the_store(mounted):
    for v, meta in (('1.0.0', {'metrics': {'auc': 0.91}, 'tags': ['eu']}),
                    ('1.1.0', {'metrics': {'auc': 0.95}, 'parents': ['churn@1.0.0']})):
        vdir = mounted.version('churn', v, {'w.bin': v.encode(),
                                            'metadata.json': json.dumps(meta).encode()})
        seal(vdir)
    os.symlink('versions/1.1.0', pjoin(mounted.models, 'churn', 'production'))
    mounted.version('churn', '2.0.0-rc.1', {'d': b'draft'})
    bindir = tempfile.mkdtemp(prefix='modelctl-')
    try:
        os.chmod(bindir, 0o755)
        exe = pjoin(bindir, 'modelctl')
        shutil.copy(util.MODELCTL, exe)
        os.chmod(exe, 0o755)
        cases = [('list',), ('list', 'churn'), ('show', 'churn'),
                 ('find', 'metrics.auc >= 0.9 and alias == "production"'),
                 ('find', 'tags contains "eu" or state == "draft"'),
                 ('diff', 'churn', '1.0.0', '1.1.0'),
                 ('lineage', 'churn@1.1.0', '--format', 'json')]
        for args in cases:
            rc = 1 if args[0] == 'diff' else 0      # diff: the versions differ
            direct = mounted.modelctl('--json', *args, check=False)
            assert direct.returncode == rc, (args, direct.stderr)
            res = as_other(mounted, exe, '--json', *args)
            assert res.returncode == rc, (args, res.stderr)
            assert json.loads(res.stdout) == json.loads(direct.stdout), args
        # and the tables, as people read them
        for args in (('list',), ('list', 'churn')):
            direct = mounted.modelctl(*args).stdout
            res = as_other(mounted, exe, *args)
            assert res.returncode == 0 and res.stdout == direct, (args, res.stdout, direct)
            assert direct.startswith(b'MODEL' if len(args) == 1 else b'VERSION')
        # show MODEL@V: the same registry facts and metadata
        direct = mounted.modelctl('--json', 'show', 'churn@1.1.0', as_json=True).json
        res = as_other(mounted, exe, '--json', 'show', 'churn@1.1.0')
        assert json.loads(res.stdout) == direct
        # fsck needs the store itself
        res = as_other(mounted, exe, 'fsck')
        assert res.returncode == 1 and b'store' in res.stderr
    finally:
        shutil.rmtree(bindir)
