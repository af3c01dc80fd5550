#!/usr/bin/python3
# examples/13-shadow-canary/canary.py MNT - shadow and canary deployments.
#
# Three aliases of one model: `production` answers most requests, `canary`
# answers a sticky 10% of them (chosen by a hash of the request id), and
# `shadow` sees every request but its answers are only logged, never
# returned. The router below is a tiny HTTP server that resolves the
# aliases at each request (readlink, one system call), so moving an alias
# with `ln -sfn` or removing it with `rm` changes the traffic at once,
# with no restart. Here the canary does well and is promoted: production
# takes its version, the canary alias goes, and all traffic follows.
import json
import os
import sys
import threading
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402  (examples/lib.py: the plumbing every example shares)

MNT = lib.mount_point()
NAME = lib.fresh_name(MNT, 'ex13-pricing')     # or ex13-pricing-2... if an earlier run took it
M = os.path.join(MNT, 'models', NAME)
CANARY_PERCENT = 10


class Router:
    '''Routes a request to production or canary, mirrors it to shadow.'''

    def __init__(self, model_dir):
        self.dir = model_dir
        self.cache = {}                 # version -> loaded model
        self.shadow_log = []            # (request id, shadow version, its answer, the answer)
        self.lock = threading.Lock()

    def model(self, alias):
        '''(version, model) the alias names now, or None without the alias.'''
        try:
            version = os.readlink(os.path.join(self.dir, alias)).split('/')[-1]
        except FileNotFoundError:
            return None
        with self.lock:
            if version not in self.cache:   # a version never changes: load it once
                with open(os.path.join(self.dir, 'versions', version, 'model.json')) as f:
                    self.cache[version] = json.load(f)
        return version, self.cache[version]

    def handle(self, rid, x):
        target = 'production'
        if zlib.crc32(rid.encode()) % 100 < CANARY_PERCENT and self.model('canary'):
            target = 'canary'
        version, m = self.model(target)
        price = m['slope'] * x + m['intercept']
        shadow = self.model('shadow')
        if shadow:                      # a real router would do this after replying
            sv, sm = shadow
            with self.lock:
                self.shadow_log.append((rid, sv, sm['slope'] * x + sm['intercept'], price))
        return {'version': version, 'alias': target, 'price': price}


def serve(router):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            q = parse_qs(urlparse(self.path).query)
            body = json.dumps(router.handle(q['id'][0], float(q['x'][0]))).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):   # quiet
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def traffic(port, ids):
    '''Send one request per id; {version: count} of the answers.'''
    counts = {}
    for rid in ids:
        with urllib.request.urlopen('http://127.0.0.1:%d/predict?id=%s&x=%d' % (port, rid, len(rid))) as r:
            v = json.load(r)['version']
        counts[v] = counts.get(v, 0) + 1
    return counts


lib.step('%s: 1.0.0 in production, 1.1.0 as canary, 1.2.0 as shadow' % NAME)
os.mkdir(M)
for v, slope in (('1.0.0', 2.0), ('1.1.0', 2.1), ('1.2.0', 2.5)):
    lib.new_version(M, v, {'model.json': json.dumps({'slope': slope, 'intercept': 1.0})}, seal=False)
for alias, v in (('production', '1.0.0'), ('canary', '1.1.0'), ('shadow', '1.2.0')):
    os.symlink('versions/' + v, os.path.join(M, alias))    # seals each draft
router = Router(M)
server = serve(router)
port = server.server_address[1]
print('  router on 127.0.0.1:%d' % port)

lib.step('400 requests')
ids = ['user-%d' % n for n in range(400)]
first = traffic(port, ids)
want_canary = sum(1 for rid in ids if zlib.crc32(rid.encode()) % 100 < CANARY_PERCENT)
print('  answered by:', first, '(%d expected from the canary)' % want_canary)
diffs = [abs(shadow - served) for _, _, shadow, served in router.shadow_log]
print('  shadow 1.2.0 saw %d requests; mean |shadow - answer given| = %.2f'
      % (len(router.shadow_log), sum(diffs) / len(diffs)))

lib.step('the canary is healthy: promote it, then drop the canary alias')
lib.move_alias(M, 'production', '1.1.0')        # ln -sfn versions/1.1.0 production
os.unlink(os.path.join(M, 'canary'))
second = traffic(port, ids[:100])
print('  answered by:', second)
server.shutdown()

lib.step('checks')
hist = [json.loads(line) for line in open(os.path.join(M, 'history.jsonl'))]
checks = [
    ('the canary answered exactly its share', first.get('1.1.0') == want_canary and 0 < want_canary < 100),
    ('production answered the rest', first.get('1.0.0') == 400 - want_canary),
    ('shadow answered no one', '1.2.0' not in first and '1.2.0' not in second),
    ('shadow saw every request', len(router.shadow_log) == 500 and
     all(v == '1.2.0' for _, v, _, _ in router.shadow_log)),
    ('after the promotion, all traffic on 1.1.0', second == {'1.1.0': 100}),
    ('history: production moved, canary removed',
     [(r['alias'], r['from'], r['to']) for r in hist[-2:]] ==
     [('production', '1.0.0', '1.1.0'), ('canary', '1.1.0', None)]),
]
lib.report(checks)
print('ok: %d%% canary, full shadow, then the canary promoted, on %s' % (CANARY_PERCENT, NAME))
