#!/usr/bin/python3
# examples/10-champion-challenger/champion.py MNT - champion/challenger
# selection, automated.
#
# Two aliases: `champion` serves, `challenger` is the candidate. select()
# is what a nightly job would run: load both through their aliases,
# score them on the same holdout set, tag each version with its score, and
# promote the challenger only if it is strictly better, by exchanging the
# two aliases in one atomic rename (renameat2 RENAME_EXCHANGE): the old
# champion becomes the challenger, ready to swap back. Here a weak
# challenger is kept out, then a strong one wins.
import ctypes
import json
import os
import sys

import joblib
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402  (examples/lib.py: the plumbing every example shares)

MNT = lib.mount_point()
NAME = lib.fresh_name(MNT, 'ex10-spam')        # or ex10-spam-2... if an earlier run took it
M = os.path.join(MNT, 'models', NAME)

X, y = make_classification(n_samples=600, n_features=8, n_informative=5, random_state=3)
Xtr, Xhold, ytr, yhold = train_test_split(X, y, random_state=0)


def register(version, clf):
    '''Train CLF, save it as VERSION, seal it.'''
    lib.new_version(M, version, {'model.joblib': lambda path: joblib.dump(clf.fit(Xtr, ytr), path)},
                    {'description': type(clf).__name__, 'dataset_snapshot_id': 'spam-2026-11'})


def exchange(a, b):
    '''Swap two aliases atomically: renameat2(a, b, RENAME_EXCHANGE).'''
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


def select(model_dir):
    '''Score champion and challenger on the holdout; swap if the challenger
    is strictly better. Returns True when it promoted.'''
    scores = {}
    for alias in ('champion', 'challenger'):
        version = os.readlink(os.path.join(model_dir, alias)).split('/')[-1]
        clf = joblib.load(os.path.join(model_dir, 'versions', version, 'model.joblib'))
        scores[alias] = (version, round(clf.score(Xhold, yhold), 4))
        # Record the score beside the version (a tag: the version itself
        # never changes), so `modelctl find` can list every score later.
        os.setxattr(os.path.join(model_dir, 'versions', version),
                    'user.modelfs.tag.holdout_accuracy', str(scores[alias][1]).encode())
        print('  %-10s %s  holdout accuracy %.4f' % (alias, version, scores[alias][1]))
    if scores['challenger'][1] > scores['champion'][1]:
        exchange(os.path.join(model_dir, 'challenger'), os.path.join(model_dir, 'champion'))
        print('  challenger wins: champion -> %s' % scores['challenger'][0])
        return True
    print('  champion stays: %s' % scores['champion'][0])
    return False


lib.step('%s: a logistic regression is the champion' % NAME)
os.mkdir(M)
register('1.0.0', LogisticRegression())
os.symlink('versions/1.0.0', os.path.join(M, 'champion'))

lib.step('round 1: a depth-2 decision tree challenges it')
register('1.1.0', DecisionTreeClassifier(max_depth=2, random_state=0))
os.symlink('versions/1.1.0', os.path.join(M, 'challenger'))
round1 = select(M)

lib.step('round 2: a random forest challenges it')
register('1.2.0', RandomForestClassifier(n_estimators=50, random_state=0))
tmp = os.path.join(M, '.challenger.new')
os.symlink('versions/1.2.0', tmp)                    # ln -sfn, by hand
os.rename(tmp, os.path.join(M, 'challenger'))
round2 = select(M)

lib.step('history')
hist = [json.loads(line) for line in open(os.path.join(M, 'history.jsonl'))]
for r in hist:
    print('  %3d %-10s %s -> %s' % (r['seq'], r['alias'], r['from'], r['to']))

lib.step('checks')
tags = {v: json.load(open(os.path.join(M, 'versions', v, 'metadata.json')))['registry']['tags']
        for v in ('1.0.0', '1.1.0', '1.2.0')}
checks = [
    ('round 1 kept the champion', round1 is False),
    ('round 2 promoted the challenger', round2 is True),
    ('champion is 1.2.0', os.readlink(os.path.join(M, 'champion')) == 'versions/1.2.0'),
    ('challenger is the old champion', os.readlink(os.path.join(M, 'challenger')) == 'versions/1.0.0'),
    ('the swap is two moves', [(r['alias'], r['from'], r['to']) for r in hist[-2:]] in (
        [('champion', '1.0.0', '1.2.0'), ('challenger', '1.2.0', '1.0.0')],
        [('challenger', '1.2.0', '1.0.0'), ('champion', '1.0.0', '1.2.0')])),
    ('every version tagged with its score', all('holdout_accuracy' in t for t in tags.values())),
    ('the winner scores higher', float(tags['1.2.0']['holdout_accuracy']) >
     float(tags['1.0.0']['holdout_accuracy']) >= float(tags['1.1.0']['holdout_accuracy'])),
]
lib.report(checks)
print('ok: the challenger was promoted only when it scored better, on %s' % NAME)
