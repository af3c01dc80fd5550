#!/usr/bin/python3
# examples/12-ensemble/ensemble.py MNT - an ensemble pinned to its members.
#
# An ensemble is a model of its own whose version holds only its recipe
# (ensemble.json: members and weights) and names the exact member
# versions in its metadata's "depends_on" ("model@version"). Its policy
# gate `depends_on_sealed` refuses a promotion while a member is missing
# or still a draft. Served, it loads each member from versions/<v>/ - not
# from the member's own production alias - so members move on without
# changing the ensemble; a new mix is a new ensemble version. And
# `modelctl find 'depends_on contains "trees@1.0.0"'` answers "who uses
# this member?".
# MODELCTL names modelctl (default: this tree's build, else PATH).
import json
import os
import sys

import joblib
import numpy
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402  (examples/lib.py: the plumbing every example shares)

MNT = lib.mount_point()
P = lib.fresh_name(MNT, 'ex12', '-ensemble')   # ex12, or ex12-2... if an earlier run took it
TREES, LINEAR, ENS = P + '-trees', P + '-linear', P + '-ensemble'
X, y = make_classification(n_samples=400, n_features=6, random_state=5)


def mdir(model):
    return os.path.join(MNT, 'models', model)


def dump(clf):
    return lambda path: joblib.dump(clf.fit(X, y), path)


def load_ensemble(model, alias='production'):
    '''Load the ensemble ALIAS names and its pinned members; a predict_proba.'''
    edir = os.path.join(mdir(model), alias)
    recipe = json.load(open(os.path.join(edir, 'ensemble.json')))
    members = []
    for m in recipe['members']:
        name, v = m['ref'].split('@')
        clf = joblib.load(os.path.join(mdir(name), 'versions', v, 'model.joblib'))
        members.append((m['weight'], clf))
    return lambda data: sum(w * clf.predict_proba(data)[:, 1] for w, clf in members)


lib.step('the members: %s and %s' % (TREES, LINEAR))
os.mkdir(mdir(TREES))
os.mkdir(mdir(LINEAR))
lib.new_version(mdir(TREES), '1.0.0',
                {'model.joblib': dump(RandomForestClassifier(n_estimators=20, random_state=0))},
                {'hyperparameters': {'n_estimators': 20}})
lib.move_alias(mdir(TREES), 'production', '1.0.0')
lin_dir = lib.new_version(mdir(LINEAR), '2.1.0', {'model.joblib': dump(LogisticRegression())},
                          {'hyperparameters': {'C': 1.0}}, seal=False)     # still a draft

lib.step('the ensemble %s@1.0.0: a recipe, pinned to exact member versions' % ENS)
os.mkdir(mdir(ENS))
with open(os.path.join(mdir(ENS), 'policy.json'), 'w') as f:
    json.dump({'aliases': {'production': {'gates': {'depends_on_sealed': True}}}}, f)
recipe = {'combine': 'weighted mean of P(y=1)',
          'members': [{'ref': TREES + '@1.0.0', 'weight': 0.6}, {'ref': LINEAR + '@2.1.0', 'weight': 0.4}]}
lib.new_version(mdir(ENS), '1.0.0', {'ensemble.json': json.dumps(recipe, indent=2)},
                {'depends_on': [m['ref'] for m in recipe['members']], 'description': 'trees + linear'})
res = lib.move_alias(mdir(ENS), 'production', '1.0.0', check=False)
if res.returncode == 0:
    sys.exit('promoted with a draft member')
print('  refused while %s@2.1.0 is a draft (gate depends_on_sealed): %s'
      % (LINEAR, res.stderr.strip().split(': ')[-1]))
os.setxattr(lin_dir, 'user.modelfs.seal', b'1')
lib.move_alias(mdir(ENS), 'production', '1.0.0')
print('  promoted once every member is sealed')

lib.step('serve it: each member loaded from its pinned version')
predict = load_ensemble(ENS)
before = predict(X[:5])
print('  P(y=1) =', [round(float(p), 3) for p in before])

lib.step('a member moves on; the ensemble does not')
lib.new_version(mdir(TREES), '1.1.0',
                {'model.joblib': dump(RandomForestClassifier(n_estimators=5, random_state=1))}, {})
lib.move_alias(mdir(TREES), 'production', '1.1.0')
after = load_ensemble(ENS)(X[:5])
print('  %s production -> 1.1.0; ensemble P(y=1) =' % TREES, [round(float(p), 3) for p in after])

lib.step('who uses %s@1.0.0?' % TREES)
q = 'depends_on contains "%s@1.0.0"' % TREES
users = lib.modelctl_json(MNT, 'find', q)
print('  modelctl find \'%s\':' % q, ['%(model)s@%(version)s' % u for u in users])

lib.step('checks')
trees = joblib.load(os.path.join(mdir(TREES), 'versions', '1.0.0', 'model.joblib'))
lin = joblib.load(os.path.join(mdir(LINEAR), 'versions', '2.1.0', 'model.joblib'))
by_hand = 0.6 * trees.predict_proba(X[:5])[:, 1] + 0.4 * lin.predict_proba(X[:5])[:, 1]
reg = json.load(open(os.path.join(mdir(ENS), 'production', 'metadata.json')))
checks = [
    ('the ensemble is the weighted mean of its members', numpy.allclose(before, by_hand)),
    ('unchanged when a member\'s production moves', numpy.array_equal(before, after)),
    ('the member did move', os.readlink(os.path.join(mdir(TREES), 'production')) == 'versions/1.1.0'),
    ('production is the ensemble 1.0.0', os.readlink(os.path.join(mdir(ENS), 'production')) == 'versions/1.0.0'),
    ('depends_on kept', reg['depends_on'] == [TREES + '@1.0.0', LINEAR + '@2.1.0']),
    ('find names the ensemble', ['%(model)s@%(version)s' % u for u in users] == [ENS + '@1.0.0']),
]
lib.report(checks)
print('ok: %s served from pinned members, gated on their seals' % ENS)
