#!/usr/bin/python3
# bench.py - the modelfs benchmark suite; tools/bench.sh builds, then runs it
#
# Each scenario runs modelfs and its reference(s) in the same run,
# alternating round by round (the order rotates, so neither side always
# goes first), and reports medians. Time-based figures give a throughput
# ratio = reference time / modelfs time: 1.00 is as fast as the reference,
# higher is better. Every figure becomes one printed line, one row of the
# Markdown table and one record of the JSON file, with the target it is held
# to and whether it met it. This is not a test: it prints numbers; only
# tests/integration/test_bench_smoke.py checks that it runs.
#
# The measured work runs in subprocesses (probe.py or the real commands),
# so the page cache and mappings of one run serve the next only where a
# scenario says "warm". Every mount is unmounted and the scratch directory
# removed on the way out, by a finally here and by tools/bench.sh's trap.

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scenarios  # noqa: E402
from core import HERE, ROOT, BenchError, Ctx, Interrupted, fmt_num, fmt_ratio  # noqa: E402

# name: (default, smoke default, help)
PARAMS = {
    'rounds': (5, 1, 'rounds per comparison (medians are reported)'),
    'meta_rounds': (3, 1, 'rounds of the metadata walks (slow through the mount)'),
    'git_rounds': (1, 1, 'rounds of the git reference for the large file (slow)'),
    'size_mib': (1024, 4, 'MiB of the large file (register, read, dedup, copy, multihost)'),
    'small_files': (2000, 50, 'files in the small-file model directory (register)'),
    'rand_reads': (20000, 500, '4 KiB random reads per read round'),
    'meta_models': (1000, 20, 'models in the metadata registry (metadata, multihost)'),
    'meta_versions': (10, 2, 'versions per model in the metadata registry'),
    'promo_mib': (128, 4, 'MiB of the file the promotion readers stream'),
    'promo_iters': (200, 20, 'alias moves timed (promotion, multihost)'),
    'promo_readers': (4, 2, 'reader processes streaming during promotions'),
    'promo_reg_mib': (1536, 8, 'MiB of the large file registered just before the '
                      'promotions timed after a registration'),
    'promo_reg_files': (2000, 50, 'small files registered with it'),
    'scale_versions': (100000, 200, 'versions in the large scale registry'),
    'scale_small': (1000, 20, 'versions in the small scale registry'),
    'scale_per_model': (100, 10, 'versions per model in the scale registries'),
    'workers': (4, 2, 'parallel registration workers for the cached registries'),
    'dedup_versions': (10, 10, 'versions sharing the large file (dedup)'),
}

SCENARIOS = ['register', 'read', 'metadata', 'promotion', 'scale', 'dedup', 'copy',
             'multihost']
EPILOG = '''scenarios (modelfs against the reference on the same disk, alternating):
  register   cp of a large file / cp -r of many small files into a draft + seal,
             vs cp + sync, dd + sync, cp + sha256sum + JSON registry, git commit
  read       sequential (cold, warm), 4 KiB random, mmap, numpy.load(mmap_mode),
             safetensors-style reads through production/ vs the plain file; with
             and without passthrough when the daemon has -o nopassthrough
  metadata   ls -lR, find, os.stat of every file, modelctl find, over a registry
             of models x versions vs the same tree as plain directories (cached)
  promotion  ln -sfn latency while readers stream production/, right after a
             registration (1.5 GiB + 2,000 files), and when a fresh open sees
             the new version
  scale      start-up time and daemon RSS on a 100,000-version registry vs a
             1,000-version one (both cached), modelctl list times
  dedup      store bytes on disk for versions sharing one large file
  copy       cp -r of a sealed version + seal vs cp -r + sync, and extra bytes
  multihost  the registry in PostgreSQL (two daemons, one database, shared blobs)
             vs in LMDB: ln -sfn, when the other host sees it, seal of a large
             file (blobs on the store's filesystem, and on a tmpfs), modelctl
             find and ls -lR over the metadata registry (migrated from the cache)

ratio = reference time / modelfs time: 1.00 is as fast as the reference (multihost:
LMDB time / PostgreSQL time).'''
ALIASES = {'instant-copy': 'copy', 'promote': 'promotion', 'meta': 'metadata'}


# ----------------------------------------------------------------------------
# Machine and reports

def machine_info(ctx):
    info = {'kernel': os.uname().release, 'nproc': len(os.sched_getaffinity(0))}
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                info['ram_gib'] = round(int(line.split()[1]) / (1 << 20), 1)
    info['cpu'] = ''
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                info['cpu'] = line.split(':', 1)[1].strip()
                break
    r = subprocess.run(['df', '--output=source,fstype,target', ctx.bench_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = r.stdout.decode().split('\n')
    if len(lines) > 1 and lines[1].split():
        src, fstype, target = lines[1].split()[:3]
        info['disk'] = {'device': src, 'fstype': fstype, 'mounted_on': target,
                        'bench_dir': ctx.bench_dir}
    r = subprocess.run(['git', '-C', ROOT, 'describe', '--always', '--dirty'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    info['modelfs_commit'] = r.stdout.decode().strip() or 'unknown'
    return info


def markdown(doc):
    m = doc['machine']
    disk = m.get('disk', {})
    out = ['# modelfs benchmark, %s' % doc['date'], '',
           '- machine: Linux %s, %d CPUs (%s), %.1f GiB RAM, %s %s (%s)' % (
               m['kernel'], m['nproc'], m['cpu'], m['ram_gib'], disk.get('device', '?'),
               disk.get('fstype', '?'), disk.get('bench_dir', '?')),
           '- load average (1, 5, 15 min): %s at the start, %s at the end' % (
               ', '.join('%.2f' % x for x in m['loadavg']['start']),
               ', '.join('%.2f' % x for x in m['loadavg']['end'])),
           '- modelfs %s; kernel passthrough option: %s; read modes: %s' % (
               m['modelfs_commit'], 'yes' if doc['passthrough_option'] else 'no',
               ', '.join(doc['modes'])),
           '- command: `%s`, %.0f s' % (doc['command'], doc['seconds']),
           '- parameters: ' + ', '.join('%s=%s' % kv for kv in sorted(doc['params'].items())),
           '- ratio = reference time / modelfs time (throughput ratio: 1.00 is as fast as '
           'the reference, higher is better); scale rows compare the same daemon on the '
           'large registry (modelfs) with the small one (reference); multihost rows the '
           'registry in PostgreSQL (modelfs) with the registry in LMDB (reference).',
           '', '| scenario | metric | modelfs | reference | ratio (or value) | target | met |',
           '|---|---|---|---|---|---|---|']
    for r in doc['records']:
        ref = '—'
        if r['reference'] is not None:
            ref = '%s (%s)' % (fmt_num(r['reference'], r['unit']), r['reference_name'])
        if r['ratio'] is not None:
            rv = fmt_ratio(r['ratio'])
        else:
            rv = fmt_num(r['modelfs'], r['unit'])
        metric = r['metric'] + (' [%s]' % r['mode'] if r['mode'] else '')
        met = {True: 'met', False: '**missed**', None: '—'}[r['met']]
        out.append('| %s | %s | %s | %s | %s | %s | %s |' % (
            r['scenario'], metric.replace('|', '\\|'), fmt_num(r['modelfs'], r['unit']), ref,
            rv, r['target']['text'] if r['target'] else '—', met))
    for name, err in doc['errors'].items():
        out.append('| %s | (failed: %s) | — | — | — | — | **missed** |' % (
            name, err.replace('|', '/').replace('\n', ' ')[:200]))
    if doc['notes']:
        out += ['', 'Notes:', ''] + ['- ' + n for n in doc['notes']]
    return '\n'.join(out) + '\n'


# ----------------------------------------------------------------------------
# Command line

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog='tools/bench.sh',
        description='Benchmark modelfs against native references on the same disk. '
        'Each size may also come from the environment: MODELFS_BENCH_<NAME> '
        '(e.g. MODELFS_BENCH_SIZE_MIB=256). Scratch data lives under '
        '$MODELFS_BENCH_DIR (default /var/tmp), the cached registries in '
        '$MODELFS_BENCH_DIR/modelfs-bench-cache. The build is $MODELFS_BUILD '
        '(default build/).',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--only', help='comma-separated scenarios: ' + ','.join(SCENARIOS))
    p.add_argument('--smoke', action='store_true',
                   help='tiny sizes and one round: checks that everything runs')
    p.add_argument('--json', help='results file (default tests/bench/results/latest.json)')
    p.add_argument('--markdown', help='table (default tests/bench/results/latest.md)')
    p.add_argument('--no-cache', action='store_true',
                   help='build the cached registries afresh in the scratch directory')
    for name, (dflt, smoke, hlp) in PARAMS.items():
        p.add_argument('--' + name.replace('_', '-'), type=int, default=None,
                       help='%s (default %d, --smoke %d)' % (hlp, dflt, smoke))
    a = p.parse_args(argv)
    for name, (dflt, smoke, _) in PARAMS.items():
        if getattr(a, name) is None:
            env = os.environ.get('MODELFS_BENCH_' + name.upper())
            setattr(a, name, int(env) if env else (smoke if a.smoke else dflt))
        if getattr(a, name) < 1:
            p.error('--%s must be at least 1' % name.replace('_', '-'))
    if a.smoke:
        a.no_cache = True
    sel = SCENARIOS
    if a.only:
        sel = []
        for s in a.only.split(','):
            s = ALIASES.get(s.strip(), s.strip())
            if s not in SCENARIOS:
                p.error('unknown scenario %r (choose from %s)' % (s, ','.join(SCENARIOS)))
            if s not in sel:
                sel.append(s)
        sel = [s for s in SCENARIOS if s in sel]
    a.selected = sel
    a.json = a.json or os.path.join(HERE, 'results', 'latest.json')
    a.markdown = a.markdown or os.path.join(HERE, 'results', 'latest.md')
    return a


def on_signal(signum, frame):
    raise Interrupted('signal %d' % signum)


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    ctx = Ctx(args)
    status = 0
    try:
        ctx.say('modelfs bench: scenarios %s; scratch %s' % (','.join(args.selected), ctx.work))
        if not ctx.root:
            print('bench: error: not root, cannot write /proc/sys/vm/drop_caches: cold '
                  'measurements are skipped and registration rounds start from an '
                  'unequalised page cache', file=sys.stderr, flush=True)
            ctx.note('not run as root: cold measurements skipped')
        if ctx.passthrough:
            ctx.say('daemon has -o nopassthrough: read scenarios run as "modelfs" (default, '
                    'passthrough) and "modelfs-fallback" (nopassthrough)')
        else:
            ctx.say('daemon has no -o nopassthrough: read scenarios run as "modelfs" only')
        for name in args.selected:
            ctx.say('== %s' % name)
            t0 = time.perf_counter()
            try:
                getattr(scenarios, 'run_' + name)(ctx)
            except BenchError as e:
                ctx.errors[name] = str(e)
                ctx.say('[%s] FAILED: %s' % (name, e))
                status = 1
            finally:
                ctx.discard(os.path.join(ctx.work, name))
            ctx.say('== %s done in %.1f s' % (name, time.perf_counter() - t0))
    except (KeyboardInterrupt, Interrupted):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print('bench: interrupted, cleaning up', file=sys.stderr, flush=True)
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        ctx.close()
    if status == 130:
        return status
    secs = time.perf_counter() - t_start
    load = {'start': [round(x, 2) for x in load_start],
            'end': [round(x, 2) for x in os.getloadavg()]}
    busy = max(load['start'][0], load['end'][0])
    if busy > 0.5 * len(os.sched_getaffinity(0)):
        ctx.note('other work was running (1-minute load average %.1f at the start, %.1f at '
                 'the end, on %d CPUs): these figures are noisier than on a quiet machine'
                 % (load['start'][0], load['end'][0], len(os.sched_getaffinity(0))))
    doc = {
        'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        'command': ' '.join(['tools/bench.sh'] + argv),
        'seconds': round(secs, 1),
        'machine': dict(machine_info(ctx), loadavg=load),
        'passthrough_option': ctx.passthrough,
        'modes': [m for m, _ in ctx.modes],
        'root': ctx.root,
        'params': {k: getattr(args, k) for k in PARAMS},
        'smoke': args.smoke,
        'scenarios': {},
        'records': ctx.records,
        'errors': ctx.errors,
        'notes': ctx.notes,
    }
    for name in args.selected:
        doc['scenarios'][name] = {
            'metrics': [r for r in ctx.records if r['scenario'] == name],
            'facts': ctx.facts.get(name, {}),
            'error': ctx.errors.get(name),
        }
    for path, text in ((args.json, json.dumps(doc, indent=1) + '\n'),
                       (args.markdown, markdown(doc))):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
    print()
    print(markdown(doc), end='')
    print('\nwrote %s and %s (%.0f s)' % (args.json, args.markdown, secs))
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
