#!/usr/bin/env python3
# test_find.py - modelctl find: the filter language over a real registry,
# answers checked exactly, --sort/--limit/--json, column of syntax errors.

import json
import os
from os.path import join as pjoin

from util import seal


def reg(mounted, model, version, meta, files=None, sealed=True):
    files = dict(files or {'w.bin': (model + version).encode()})
    files['metadata.json'] = json.dumps(meta).encode()
    vdir = mounted.version(model, version, files)
    if sealed:
        seal(vdir)
    return vdir


def refs(res):
    return [(o['model'], o['version']) for o in res]


def test_find_answers(mounted):
    reg(mounted, 'churn', '1.0.0', {'metrics': {'auc': 0.81}, 'tags': ['eu']})
    reg(mounted, 'churn', '1.1.0', {'metrics': {'auc': 0.93}, 'tags': ['eu', 'fraud'],
                                    'dataset_snapshot_id': 'snap-9'})
    reg(mounted, 'churn', '2.0.0-rc.1', {'metrics': {'auc': 0.95}}, sealed=False)
    reg(mounted, 'fraud', '3.0.0', {'metrics': {'auc': 0.91}, 'tags': ['fraud']},
        files={'m.json': b'{"a": 1}'})
    os.symlink('versions/1.1.0', pjoin(mounted.models, 'churn', 'production'))

    def find(*args):
        return mounted.modelctl('find', *args, as_json=True).json

    assert refs(find('metrics.auc >= 0.9 and alias == "production"')) == [('churn', '1.1.0')]
    assert refs(find('tags contains "fraud"')) == [('churn', '1.1.0'), ('fraud', '3.0.0')]
    assert refs(find('exists(dataset_snapshot_id)')) == [('churn', '1.1.0')]
    assert refs(find('state == "draft"')) == [('churn', '2.0.0-rc.1')]
    assert refs(find('major == 1 and not (minor == 0)')) == [('churn', '1.1.0')]
    assert refs(find('prerelease != null')) == [('churn', '2.0.0-rc.1')]
    assert refs(find('format == "json"')) == [('fraud', '3.0.0')]
    assert refs(find('metrics.auc > 0', '--sort', '-metrics.auc', '--limit', '2')) == \
        [('churn', '2.0.0-rc.1'), ('churn', '1.1.0')]
    one = find('model == "churn" and version == "1.1.0"')[0]
    assert one['state'] == 'sealed' and one['aliases'] == ['production']
    assert one['metadata']['dataset_snapshot_id'] == 'snap-9'
    # --json may also come first
    res = mounted.modelctl('--json', 'find', 'version == "3.0.0"', as_json=True).json
    assert refs(res) == [('fraud', '3.0.0')]


def test_find_syntax_error_names_the_column(mounted):
    res = mounted.modelctl('find', 'metrics.auc >= 0.9 and alias == production', check=False)
    assert res.returncode == 2
    err = res.stderr.decode()
    assert 'column 33' in err and 'quoted' in err
