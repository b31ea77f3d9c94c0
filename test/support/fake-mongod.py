#!/usr/bin/python3
"""A stand-in `mongod` for tests of `start`'s embedded MongoDB, where no real mongod exists.

Point MONGOMS_SYSTEM_BINARY at this file: mongodb-memory-server-core runs it as it runs mongod
(`--version`, then `--port N --dbpath D ...`), and it runs the wire emulator (mongo-emulator/
server.py) on that port, printing the "Waiting for connections" line the library waits for.
SIGINT/SIGTERM stop the emulator; so does this process's stdin closing (its parent died).
"""
import os
import signal
import subprocess
import sys

if '--version' in sys.argv:
    print('db version v7.0.0')
    sys.exit(0)

port = sys.argv[sys.argv.index('--port') + 1]
server = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mongo-emulator', 'server.py')
emulator = subprocess.Popen(
    [sys.executable, server, '--host', '127.0.0.1', '--port', port],
    stdout=subprocess.PIPE,
    text=True,
)


def stop(signum, frame):
    emulator.send_signal(signal.SIGTERM)
    emulator.wait()
    sys.exit(0)


signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)

for line in emulator.stdout:
    if line.startswith('READY '):
        print('{"msg":"Waiting for connections","attr":{"port":%s}}' % port, flush=True)
sys.exit(emulator.wait())
