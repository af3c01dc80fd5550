#!/usr/bin/python3
# examples/03-metadata/metadata.py MNT - what to record about a version,
# and how to find versions by it.
#
# A version's metadata.json (written into the draft before the seal) holds
# the facts that make a model reproducible: when it was trained, on which
# dataset snapshot and feature set version, with which hyperparameters and
# library versions, and how well it did. The registry checks the known
# keys' types when the file is closed, adds its own facts under "registry"
# once the version is sealed, and answers queries over all of it:
# `modelctl find EXPR` and MNT/index.json.
# MODELCTL names modelctl (default: this tree's build, else PATH).
import datetime
import errno
import json
import os
import platform
import shutil
import sys

import joblib
import numpy
import sklearn
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402  (examples/lib.py: the plumbing every example shares)

MNT = lib.mount_point()
NAME = lib.fresh_name(MNT, 'ex03-metadata')    # or ex03-metadata-2... if an earlier run took it
M = os.path.join(MNT, 'models', NAME)

lib.step('train three versions of %s, with their metadata' % NAME)
os.mkdir(M)
# The model's own metadata.json: facts about the model, not a version.
with open(os.path.join(M, 'metadata.json'), 'w') as f:
    json.dump({'description': 'churn classifier (example 03)', 'owner': 'ml-team'}, f)

X, y = make_classification(n_samples=400, n_features=6, random_state=0)
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
for version, C in (('1.0.0', 0.001), ('1.1.0', 0.1), ('1.2.0', 10.0)):
    clf = LogisticRegression(C=C, max_iter=500).fit(Xtr, ytr)
    vdir = os.path.join(M, 'versions', version)
    os.mkdir(vdir)
    joblib.dump(clf, os.path.join(vdir, 'model.joblib'))
    meta = {
        'training_date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'dataset_snapshot_id': 'churn-snap-2026-11-01',
        'feature_set_version': 'fs-3' if version != '1.0.0' else 'fs-2',
        'features': ['f%d' % k for k in range(6)],
        'hyperparameters': {'C': C, 'max_iter': 500, 'solver': clf.solver},
        'library_versions': {'python': platform.python_version(), 'numpy': numpy.__version__,
                             'scikit-learn': sklearn.__version__, 'joblib': joblib.__version__},
        'metrics': {'accuracy': round(clf.score(Xte, yte), 4)},
        'run_id': 'run-%s' % version,
        'tags': ['churn', 'example'],
    }
    with open(os.path.join(vdir, 'metadata.json'), 'w') as f:
        json.dump(meta, f, indent=2)
    os.setxattr(vdir, 'user.modelfs.seal', b'1')     # or: modelctl seal
    print('  %s  C=%-6g accuracy %.4f' % (version, C, meta['metrics']['accuracy']))

lib.step('the registry checks the known keys: a metric must be a number')
bad = os.path.join(M, 'versions', '1.3.0')
os.mkdir(bad)
try:
    with open(os.path.join(bad, 'metadata.json'), 'w') as f:
        f.write('{"metrics": {"accuracy": "high"}}')   # refused at close()
    sys.exit('an invalid metadata.json was accepted')
except OSError as e:
    assert e.errno == errno.EINVAL, e
    print('  refused at close(): %s' % e.strerror)
shutil.rmtree(bad)                                     # drafts go with rm -rf

lib.step('a sealed version: your keys, plus what the registry knows')
sealed = json.load(open(os.path.join(M, 'versions', '1.1.0', 'metadata.json')))
print('  hyperparameters:', sealed['hyperparameters'])
print('  library_versions:', sealed['library_versions'])
print('  registry: state %(state)s, sealed %(sealed)s by %(created_user)s, %(size)d bytes, '
      'formats %(formats)s' % sealed['registry'])

lib.step('find: which versions are good enough, on the current feature set?')
q = 'model == "%s" and feature_set_version == "fs-3" and metrics.accuracy >= 0.8' % NAME
print('  modelctl find \'%s\' --sort -metrics.accuracy' % q)
good = lib.modelctl_json(MNT, 'find', q, '--sort', '-metrics.accuracy')
for v in good:
    print('    %s@%s accuracy %s' % (v['model'], v['version'], v['metadata']['metrics']['accuracy']))
q2 = 'model == "%s" and hyperparameters.C < 1' % NAME
small_c = [v['version'] for v in lib.modelctl_json(MNT, 'find', q2)]
print('  %s: %s' % (q2, small_c))
q3 = 'model == "%s" and library_versions.scikit-learn == "%s"' % (NAME, sklearn.__version__)
same_lib = [v['version'] for v in lib.modelctl_json(MNT, 'find', q3)]
print('  %s: %s' % (q3, same_lib))

lib.step('index.json: the inventory, one entry per model')
index = json.load(open(os.path.join(MNT, 'index.json')))
entry = [e for e in index['models'] if e['model'] == NAME][0]
print('  ' + json.dumps(entry))

lib.step('checks')
accs = [v['metadata']['metrics']['accuracy'] for v in good]
model_meta = json.load(open(os.path.join(M, 'metadata.json')))
checks = [
    ('found 1.1.0 and 1.2.0', sorted(v['version'] for v in good) == ['1.1.0', '1.2.0']),
    ('sorted by accuracy', accs == sorted(accs, reverse=True)),
    ('1.0.0 left out (old feature set)', '1.0.0' not in accs),
    ('C < 1 finds 1.0.0 and 1.1.0', small_c == ['1.0.0', '1.1.0']),
    ('library versions queryable', same_lib == ['1.0.0', '1.1.0', '1.2.0']),
    ('sealed metadata keeps the keys', sealed['dataset_snapshot_id'] == 'churn-snap-2026-11-01'
     and sealed['registry']['state'] == 'sealed' and 'joblib' in sealed['registry']['formats']),
    ('index.json lists the model', entry['versions'] == 3 and entry['latest'] == '1.2.0'),
    ('the invalid draft is gone', not os.path.exists(bad)),
    ('the model\'s own metadata', model_meta.get('owner') == 'ml-team'),
]
lib.report(checks)
print('ok: metadata recorded, validated and queried on %s' % NAME)
