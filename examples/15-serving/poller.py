#!/usr/bin/python3
# examples/15-serving/poller.py MNT - what TensorFlow Serving and Triton do
# with MNT/serving/production/<model>/.
#
# Those servers do not read production/: they poll a model repository of
# integer version directories and load the highest. The registry shows
# one: MNT/serving/<alias>/<model>/<N>, where N is the seq of the history
# record that set the alias, so every promotion - a rollback too - appears
# as a new, higher N. An earlier N stays listed while a file of it is open
# (the server drains it), then leaves the listing. The Poller below is that
# server's version source: list, take the highest integer, load it, then
# release the old one. A server calls poll() every few seconds; here it is
# called after each step, so what it sees can be checked.
# MODELCTL names modelctl (default: this tree's build, else PATH).
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402  (examples/lib.py: the plumbing every example shares)

MNT = lib.mount_point()
NAME = lib.fresh_name(MNT, 'ex15-churn')       # or ex15-churn-2... if an earlier run took it
M = os.path.join(MNT, 'models', NAME)
REPO = os.path.join(MNT, 'serving', 'production', NAME)    # --model_base_path


def listing():
    '''The integer versions the repository lists now.'''
    return sorted(int(n) for n in os.listdir(REPO) if n.isdigit())


class Poller:
    '''TF Serving's file system source, in a few lines.'''

    def __init__(self, base):
        self.base = base
        self.n = None           # the N being served
        self.model = None       # what was loaded
        self.held = None        # its open file (a real server maps the weights)

    def poll(self):
        ns = [int(n) for n in os.listdir(self.base) if n.isdigit()]
        if not ns or max(ns) == self.n:
            return False
        n = max(ns)
        held = open(os.path.join(self.base, str(n), 'model.json'))   # load the new one...
        model = json.load(held)
        old, self.held = self.held, held
        self.n, self.model = n, model
        if old:
            old.close()                                   # ...then unload the old one
        print('  poller: loaded %d (%s)' % (n, model['version']))
        return True


def until_drained(n, seconds=60):
    '''The listing once N has left it. The kernel tells the registry that a
    file was closed just after close() returns (FUSE's RELEASE is
    asynchronous), so this may take a moment; a server's next poll sees it.'''
    deadline = time.monotonic() + seconds
    while n in listing() and time.monotonic() < deadline:
        time.sleep(0.02)
    return listing()


def last_seq():
    with open(os.path.join(M, 'history.jsonl')) as f:
        return json.loads(f.readlines()[-1])['seq']


lib.step('%s: two versions, each with its Triton config.pbtxt' % NAME)
os.mkdir(M)
for v in ('1.0.0', '1.1.0'):
    lib.new_version(M, v, {'model.json': json.dumps({'version': v, 'weights': [0.1, 0.2, 0.3]}),
                           'config.pbtxt': 'name: "%s"  # %s\nplatform: "onnxruntime_onnx"\n' % (NAME, v)})
lib.move_alias(M, 'production', '1.0.0')        # ln -sfn versions/1.0.0 production
n1 = last_seq()
print('  ls %s: %s' % (os.path.relpath(REPO, MNT), sorted(os.listdir(REPO))))
print('  %d -> %s' % (n1, os.readlink(os.path.join(REPO, str(n1)))))

lib.step('the server starts and loads the highest N')
server = Poller(REPO)
server.poll()

lib.step('promote 1.1.0: a new, higher N; the old one drains')
lib.move_alias(M, 'production', '1.1.0')
n2 = last_seq()
during = listing()
print('  listed after the promotion: %s (%d still open by the server)' % (during, n1))
server.poll()
after = until_drained(n1)
print('  listed once the server let go: %s' % after)
with open(os.path.join(REPO, 'config.pbtxt')) as f:
    config = f.read()
print('  config.pbtxt: ' + config.splitlines()[0])

lib.step('roll back: also a new N, so the server follows')
lib.modelctl(MNT, 'rollback', NAME, 'production')
n3 = last_seq()
server.poll()
idle = server.poll()            # nothing new: nothing reloaded
served = server.model['version']
server.held.close()

lib.step('checks')
checks = [
    ('each move a higher N', n1 < n2 < n3),
    ('the old N listed while open', during == [n1, n2]),
    ('gone once closed', after == [n2]),
    ('config.pbtxt is the served version\'s', '# 1.1.0' in config),
    ('the rollback is the highest N', listing() == [n3]),
    ('the server serves 1.0.0 again', (server.n, served) == (n3, '1.0.0')),
    ('a poll with nothing new loads nothing', idle is False),
    ('serving/ is read-only', subprocess.run(['rm', '-f', os.path.join(REPO, str(n3))],
                                             stderr=subprocess.DEVNULL).returncode != 0),
]
lib.report(checks)
print('ok: a TF Serving-style poller followed a promotion and a rollback of %s' % NAME)
