"""One query through an engine's own Python client from PyPI (trino, or
presto-python-client for prestodb), as a user would run it.

Usage: client.py ENGINE URL USER PASSWORD CAFILE SQL
URL is http://HOST:PORT or https://HOST:PORT; with https, PASSWORD logs in and only
CAFILE is trusted. Prints the rows as JSON and exits 0, or prints the client's error
on stderr and exits 1. Stopped by SIGTERM (a try given up), it cancels its query
first, as a user's Ctrl-C does, so that no abandoned query is left on the coordinator
(one would count as running until the engine's client timeout).
"""

import json
import logging
import signal
import sys
import time
from urllib.parse import urlsplit

import urllib3.util.connection

# What a failure prints besides the client's error, with the seconds since the start:
# each connection the client opened (the name, the address it resolved to), each
# connection it found dropped or try it made again, and its last requests.
trace = []
started = time.monotonic()


def traced(kind, line):
    trace.append((kind, f"{time.monotonic() - started:7.1f} s  {line}"))


def the_trace():
    requests = [i for i, (kind, _) in enumerate(trace) if kind == "request"]
    shown = [line for i, (kind, line) in enumerate(trace) if kind != "request" or i in requests[-8:]]
    return "\n".join(["the client's connections, tries and last requests:", *shown])


connect = urllib3.util.connection.create_connection


def connect_traced(address, *args, **kwargs):
    sock = connect(address, *args, **kwargs)
    traced("connection", f"connected to {address[0]}:{address[1]} at {sock.getpeername()[0]}")
    return sock


urllib3.util.connection.create_connection = connect_traced


class Traced(logging.Handler):
    def emit(self, record):
        message = record.getMessage()
        if record.name.startswith("urllib3") and '"' in message:
            traced("request", message)
        elif any(word in message.lower() for word in ("retry", "attempt", "dropped", "broken")):
            traced("try", message)


logging.getLogger().addHandler(Traced())
logging.getLogger().setLevel(logging.DEBUG)


class GivenUp(Exception):
    pass


def give_up(signum, frame):
    raise GivenUp()


signal.signal(signal.SIGTERM, give_up)

engine, url, user, password, cafile, sql = sys.argv[1:]
parts = urlsplit(url)
tls = parts.scheme == "https"

try:
    if engine == "trino":
        import trino

        connection = trino.dbapi.connect(
            host=parts.hostname, port=parts.port, user=user, http_scheme=parts.scheme,
            auth=trino.auth.BasicAuthentication(user, password) if tls else None,
            verify=cafile if tls else True)
    else:
        import prestodb

        connection = prestodb.dbapi.connect(
            host=parts.hostname, port=parts.port, user=user, catalog="system",
            schema="runtime", http_scheme=parts.scheme,
            auth=prestodb.auth.BasicAuthentication(user, password) if tls else None)
        if tls:
            connection._http_session.verify = cafile
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    except GivenUp:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cursor.cancel()
        print("given up: the query was cancelled", file=sys.stderr)
        sys.exit(124)
except Exception as error:  # the client's own error, whatever its class
    print(f"{type(error).__name__}: {error}", file=sys.stderr)
    # The engine's failure, cause by cause, with where the last one was thrown.
    failure = getattr(error, "failure_info", None)
    while failure:
        print(f"  {failure.get('type')}: {failure.get('message')}", file=sys.stderr)
        if not failure.get("cause"):
            for frame in failure.get("stack", [])[:8]:
                print(f"    at {frame}", file=sys.stderr)
        failure = failure.get("cause")
    print(the_trace(), file=sys.stderr)
    sys.exit(1)
print(json.dumps(rows, default=str))
