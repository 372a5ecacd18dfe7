/**
 * The Python launcher of the S3 test server (Swift 2.30 + s3api, see ../shared/docs/s3-test-server.md),
 * kept as a string because tsc copies no .py files into dist/: testing.ts writes it to
 * `DIR/launcher.py` on every start. Run it by hand with `/usr/bin/python3 DIR/launcher.py status DIR`.
 * It must contain no backtick and no dollar-brace (this is a template literal).
 */
export const SWIFT_LAUNCHER_PY = String.raw`
"""A loopback S3 endpoint for tests: OpenStack Swift with s3api and tempauth.

Everything lives below one directory DIR (no /etc/swift). Usage, with Debian's python3-swift:

  python3 launcher.py start DIR [--no-tls] [--no-memcached] [--bucket NAME]
      Starts memcached, the account, container and object servers and one or two proxies
      (http, and https with a CA made in DIR/etc/tls), each in its own session. Prints one JSON
      line when every server answers and the bucket exists, then exits 0. On failure it stops
      what it started, prints the reason on stderr and exits 1 (130 on SIGTERM or SIGINT).
  python3 launcher.py stop DIR
      Stops every process named in DIR/run, after checking its command line.
  python3 launcher.py status DIR
      One line per process: its name, pid and whether it runs.
  python3 launcher.py serve DIR NAME
      Internal: runs one Swift server in this process (what /usr/bin/swift-NAME-server does).

The S3 user is "test:tester" with secret "testing"; the region is us-east-1; buckets are
addressed path-style only.
"""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import pwd
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

ACCESS_KEY = 'test:tester'
SECRET_KEY = 'testing'
REGION = 'us-east-1'
SERVERS = ('account', 'container', 'object')
READY_TIMEOUT = 60.0


class LaunchError(Exception):
    pass


def paths(top):
    top = os.path.abspath(top)
    return {
        'top': top,
        'etc': os.path.join(top, 'etc'),
        'tls': os.path.join(top, 'etc', 'tls'),
        'devices': os.path.join(top, 'srv', 'node'),
        'log': os.path.join(top, 'log'),
        'run': os.path.join(top, 'run'),
    }


# ---------------------------------------------------------------- serve (one server process)

def serve(top, name):
    p = paths(top)
    from swift.common import utils
    import logging

    class QuietSysLog(logging.NullHandler):
        """Swift logs to syslog by default; with verbose=True it also logs to stderr."""

        def __init__(self, *args, **kwargs):
            logging.NullHandler.__init__(self)

    utils.ThreadSafeSysLogHandler = QuietSysLog
    utils.set_swift_dir(p['etc'])
    from swift.common import constraints, storage_policy
    storage_policy.reload_storage_policies()
    constraints.reload_constraints()
    from swift.common.wsgi import run_wsgi
    conf = os.path.join(p['etc'], name + '.conf')
    if name == 'object':
        from swift.obj.server import global_conf_callback
        return run_wsgi(conf, 'object-server', verbose=True, global_conf_callback=global_conf_callback)
    section = 'proxy-server' if name.startswith('proxy') else name + '-server'
    return run_wsgi(conf, section, verbose=True)


# ---------------------------------------------------------------- configuration

def free_ports(names):
    # Every socket stays bound until all are picked, so no two names get the same port.
    socks = []
    try:
        for _ in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(('127.0.0.1', 0))
        return {n: s.getsockname()[1] for n, s in zip(names, socks)}
    finally:
        for s in socks:
            s.close()


def write(path, text):
    tmp = path + '.tmp'
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def common_defaults(p, port):
    user = pwd.getpwuid(os.getuid()).pw_name
    return '\n'.join([
        '[DEFAULT]',
        'swift_dir = ' + p['etc'],
        'devices = ' + p['devices'],
        'mount_check = false',
        'bind_ip = 127.0.0.1',
        'bind_port = %d' % port,
        'bind_timeout = 3',
        'workers = 0',
        'user = ' + user,
        'disable_fallocate = true',
        'fallocate_reserve = 0',
        '',
    ])


def backend_conf(p, name, port):
    return common_defaults(p, port) + '\n'.join([
        '',
        '[pipeline:main]',
        'pipeline = healthcheck %s-server' % name,
        '',
        '[app:%s-server]' % name,
        'use = egg:swift#' + name,
        'log_requests = false',
        '',
        '[filter:healthcheck]',
        'use = egg:swift#healthcheck',
        '',
    ])


PROXY_FILTERS = [
    ('catch_errors', 'catch_errors'), ('gatekeeper', 'gatekeeper'), ('healthcheck', 'healthcheck'),
    ('proxy-logging', 'proxy_logging'), ('listing_formats', 'listing_formats'), ('copy', 'copy'),
    ('slo', 'slo'), ('dlo', 'dlo'), ('versioned_writes', 'versioned_writes'),
]


def proxy_conf(p, port, memcache_port, memcached, tls):
    lines = [common_defaults(p, port).rstrip('\n')]
    if tls:
        lines += ['cert_file = ' + os.path.join(p['tls'], 'server.pem'),
                  'key_file = ' + os.path.join(p['tls'], 'server.key')]
    lines += [
        '',
        '[pipeline:main]',
        # s3api must come before the auth middleware, and slo must sit between it and the
        # proxy, or multipart uploads are silently disabled.
        'pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats '
        's3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server',
        '',
        '[app:proxy-server]',
        'use = egg:swift#proxy',
        'account_autocreate = true',
        'node_timeout = 30',
        '',
        '[filter:s3api]',
        'use = egg:swift#s3api',
        'location = ' + REGION,
        '',
        '[filter:tempauth]',
        'use = egg:swift#tempauth',
        'user_test_tester = %s .admin' % SECRET_KEY,
        '',
        '[filter:cache]',
        'use = egg:swift#memcache',
        'memcache_servers = 127.0.0.1:%d' % memcache_port,
    ]
    if not memcached:
        # Nothing listens there: the first refused connect blocks the server for a year, and
        # the "error-limited" line that would follow every request is silenced.
        lines += ['error_suppression_limit = 0', 'error_suppression_interval = 31536000',
                  'set log_level = CRITICAL']
    for name, egg in PROXY_FILTERS:
        lines += ['', '[filter:%s]' % name, 'use = egg:swift#' + egg]
    return '\n'.join(lines) + '\n'


def swift_conf(p):
    path = os.path.join(p['etc'], 'swift.conf')
    if os.path.exists(path):
        return  # the hash prefix and suffix must stay the same for existing data
    write(path, '\n'.join([
        '[swift-hash]',
        'swift_hash_path_prefix = ' + secrets.token_hex(16),
        'swift_hash_path_suffix = ' + secrets.token_hex(16),
        '',
        '[storage-policy:0]',
        'name = Policy-0',
        'default = yes',
        '',
    ]))


def build_rings(p, ports):
    from swift.common.ring import RingBuilder
    for name in SERVERS:
        builder = RingBuilder(6, 1, 0)
        builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': ports[name],
                         'replication_ip': '127.0.0.1', 'replication_port': ports[name],
                         'device': 'd1', 'weight': 1.0, 'meta': ''})
        builder.rebalance()
        builder.get_ring().save(os.path.join(p['etc'], name + '.ring.gz'))


def make_tls(p):
    """A CA and a certificate for 127.0.0.1 and localhost signed by it; kept across restarts."""
    tls = p['tls']
    if os.path.exists(os.path.join(tls, 'server.pem')):
        return
    os.makedirs(tls, exist_ok=True)

    def openssl(*args):
        r = subprocess.run(('openssl',) + args, cwd=tls, capture_output=True, text=True)
        if r.returncode != 0:
            raise LaunchError('openssl %s failed: %s' % (args[0], r.stderr.strip()))

    ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes')
    openssl('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650',
            '-subj', '/CN=cairn test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl('req', *ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
    write(os.path.join(tls, 'server.ext'), '\n'.join([
        'basicConstraints = CA:FALSE',
        'keyUsage = critical,digitalSignature',
        'extendedKeyUsage = serverAuth',
        'subjectAltName = IP:127.0.0.1,DNS:localhost',
        '',
    ]))
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
            '-CAcreateserial', '-out', 'server.pem', '-days', '3650', '-extfile', 'server.ext')


def probe_xattrs(p):
    probe = os.path.join(p['devices'], 'd1', '.xattr-probe')
    with open(probe, 'w'):
        pass
    try:
        os.setxattr(probe, 'user.swift.probe', b'1')
    except OSError as e:
        raise LaunchError('the file system of %s does not take user.* extended attributes (%s); '
                          'Swift stores object metadata in them: use a directory on ext4, xfs '
                          'or tmpfs' % (p['devices'], e.strerror))
    finally:
        os.unlink(probe)


# ---------------------------------------------------------------- processes

def pid_file(p, name):
    return os.path.join(p['run'], name + '.pid')


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return None


def recorded(p):
    """(name, pid, marker) for every pid file in DIR/run."""
    out = []
    if not os.path.isdir(p['run']):
        return out
    for entry in sorted(os.listdir(p['run'])):
        if not entry.endswith('.pid'):
            continue
        name = entry[:-4]
        try:
            with open(os.path.join(p['run'], entry)) as f:
                pid = int(f.read().strip())
            with open(os.path.join(p['run'], name + '.marker')) as f:
                marker = f.read()
        except (OSError, ValueError):
            continue
        out.append((name, pid, marker))
    return out


def alive(pid, marker):
    line = cmdline(pid)
    return line is not None and marker in line


def spawn(p, name, argv, marker):
    log = open(os.path.join(p['log'], name + '.log'), 'ab')
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    finally:
        log.close()
    write(os.path.join(p['run'], name + '.marker'), marker)
    write(pid_file(p, name), '%d\n' % proc.pid)
    return proc


def stop(top, quiet=False):
    p = paths(top)
    procs = [(n, pid, m) for n, pid, m in recorded(p) if alive(pid, m)]
    for name, pid, marker in procs:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 5
    while time.time() < deadline and any(alive(pid, m) for _, pid, m in procs):
        time.sleep(0.05)
    for name, pid, marker in procs:
        if alive(pid, marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for name, pid, marker in recorded(p):
        for suffix in ('.pid', '.marker'):
            try:
                os.unlink(os.path.join(p['run'], name + suffix))
            except FileNotFoundError:
                pass
    if not quiet:
        print('stopped %d processes' % len(procs))


def status(top):
    p = paths(top)
    rows = recorded(p)
    for name, pid, marker in rows:
        print('%-10s %7d %s' % (name, pid, 'running' if alive(pid, marker) else 'NOT RUNNING'))
    return 0 if rows and all(alive(pid, m) for _, pid, m in rows) else 1


# ---------------------------------------------------------------- readiness

def sigv4_headers(method, host, path, body=b''):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime('%Y%m%dT%H%M%SZ')
    day = now.strftime('%Y%m%d')
    payload = hashlib.sha256(body).hexdigest()
    headers = {'host': host, 'x-amz-content-sha256': payload, 'x-amz-date': amz_date}
    names = sorted(headers)
    canonical = '\n'.join([method, urllib.parse.quote(path), '',
                           ''.join('%s:%s\n' % (n, headers[n]) for n in names),
                           ';'.join(names), payload])
    scope = '%s/%s/s3/aws4_request' % (day, REGION)
    to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ('AWS4' + SECRET_KEY).encode()
    for part in (day, REGION, 's3', 'aws4_request'):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers['authorization'] = ('AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s'
                                % (ACCESS_KEY, scope, ';'.join(names), signature))
    return headers


def request(port, method, path, tls_ctx=None, signed=False, timeout=10):
    host = '127.0.0.1:%d' % port
    if tls_ctx is None:
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection('127.0.0.1', port, timeout=timeout, context=tls_ctx)
    try:
        conn.request(method, path, headers=sigv4_headers(method, host, path) if signed else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode('utf-8', 'replace')
    finally:
        conn.close()


def log_tail(p, name, lines=15):
    try:
        with open(os.path.join(p['log'], name + '.log'), errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


def wait_ready(p, procs, checks):
    """Runs each check until it passes, failing fast when a process exits."""
    deadline = time.time() + READY_TIMEOUT
    for label, check in checks:
        last = None
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise LaunchError('%s exited with status %s while starting; the end of %s:\n%s'
                                      % (name, proc.returncode,
                                         os.path.join(p['log'], name + '.log'), log_tail(p, name)))
            try:
                if check():
                    break
            except (OSError, http.client.HTTPException) as e:
                last = e
            if time.time() > deadline:
                raise LaunchError('%s was not ready after %d s (last error: %s)'
                                  % (label, READY_TIMEOUT, last))
            time.sleep(0.1)


def memcached_answers(port):
    with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
        s.sendall(b'version\r\n')
        return s.recv(100).startswith(b'VERSION')


# ---------------------------------------------------------------- start

def start(top, tls, memcached, bucket):
    began = time.time()
    p = paths(top)
    for d in (p['etc'], p['log'], p['run'], os.path.join(p['devices'], 'd1')):
        os.makedirs(d, exist_ok=True)
    probe_xattrs(p)
    ports = free_ports(SERVERS + ('proxy', 'proxy-tls', 'memcached'))
    swift_conf(p)
    if tls:
        make_tls(p)
    build_rings(p, ports)
    for name in SERVERS:
        write(os.path.join(p['etc'], name + '.conf'), backend_conf(p, name, ports[name]))
    write(os.path.join(p['etc'], 'proxy.conf'),
          proxy_conf(p, ports['proxy'], ports['memcached'], memcached, False))
    names = list(SERVERS) + ['proxy']
    if tls:
        write(os.path.join(p['etc'], 'proxy-tls.conf'),
              proxy_conf(p, ports['proxy-tls'], ports['memcached'], memcached, True))
        names.append('proxy-tls')

    procs = {}
    if memcached:
        argv = ['memcached', '-l', '127.0.0.1', '-p', str(ports['memcached']), '-U', '0', '-m', '64']
        if os.getuid() == 0:
            argv += ['-u', 'root']
        procs['memcached'] = spawn(p, 'memcached', argv, ' '.join(argv[:5]))
    script = os.path.abspath(sys.argv[0])
    for name in names:
        argv = [sys.executable, script, 'serve', p['top'], name]
        procs[name] = spawn(p, name, argv, '%s serve %s %s' % (script, p['top'], name))

    tls_ctx = None
    if tls:
        tls_ctx = ssl.create_default_context(cafile=os.path.join(p['tls'], 'ca.pem'))
    checks = []
    if memcached:
        checks.append(('memcached', lambda: memcached_answers(ports['memcached'])))
    for name in names:
        port = ports[name]
        ctx = tls_ctx if name == 'proxy-tls' else None
        checks.append((name, lambda port=port, ctx=ctx: request(port, 'GET', '/healthcheck', ctx)[0] == 200))
    wait_ready(p, procs, checks)

    # The first signed request also creates the account AUTH_test.
    status_code, body = request(ports['proxy'], 'PUT', '/' + bucket, signed=True, timeout=30)
    if status_code != 200 and not (status_code == 409 and 'BucketAlreadyOwnedByYou' in body):
        raise LaunchError('creating bucket "%s" failed: HTTP %d %s' % (bucket, status_code, body.strip()))
    for name in [n for n in names if n.startswith('proxy')]:
        ctx = tls_ctx if name == 'proxy-tls' else None
        status_code, body = request(ports[name], 'HEAD', '/' + bucket, ctx, signed=True)
        if status_code != 200:
            raise LaunchError('HEAD of bucket "%s" through %s failed: HTTP %d' % (bucket, name, status_code))

    info = {
        'dir': p['top'],
        'http_port': ports['proxy'],
        'https_port': ports['proxy-tls'] if tls else None,
        'ca_file': os.path.join(p['tls'], 'ca.pem') if tls else None,
        'access_key': ACCESS_KEY,
        'secret_key': SECRET_KEY,
        'region': REGION,
        'bucket': bucket,
        'pids': {name: proc.pid for name, proc in procs.items()},
        'seconds': round(time.time() - began, 2),
    }
    print(json.dumps(info), flush=True)


def on_signal(signum, frame):
    raise KeyboardInterrupt()


def main(argv):
    if len(argv) < 3 or argv[1] not in ('start', 'stop', 'status', 'serve'):
        sys.stderr.write(__doc__)
        return 2
    command, top = argv[1], argv[2]
    if command == 'serve':
        return serve(top, argv[3])
    if command == 'stop':
        stop(top)
        return 0
    if command == 'status':
        return status(top)
    options = argv[3:]
    bucket = 'cairn-test'
    if '--bucket' in options:
        bucket = options[options.index('--bucket') + 1]
    p = paths(top)
    if any(alive(pid, m) for _, pid, m in recorded(p)):
        # Checked before the try below, whose failure path stops everything in DIR.
        sys.stderr.write('Cannot start the S3 test server in %s: it is running in there already; '
                         'stop it first ("launcher.py stop %s")\n' % (p['top'], p['top']))
        return 1
    signal.signal(signal.SIGTERM, on_signal)
    try:
        start(top, '--no-tls' not in options, '--no-memcached' not in options, bucket)
        return 0
    except KeyboardInterrupt:
        stop(top, quiet=True)
        sys.stderr.write('interrupted; stopped what was started\n')
        return 130
    except LaunchError as e:
        stop(top, quiet=True)
        sys.stderr.write('Cannot start the S3 test server in %s: %s\n' % (top, e))
        return 1
    except BaseException:
        stop(top, quiet=True)
        raise


if __name__ == '__main__':
    sys.exit(main(sys.argv))
`
