#!/usr/bin/python3
"""MongoDB wire-compatible emulator for tests (no mongod, no Docker needed).

Wire protocol (OP_MSG incl. kind-1 document sequences, legacy OP_QUERY handshake)
comes from mockupdb; storage, query matching, update operators and indexes come
from mongomock. This file translates driver commands into mongomock calls and
answers with the reply shapes a real standalone MongoDB 7.0 server produces.

Usage:  /usr/bin/python3 server.py [--host 127.0.0.1] [--port 0] [--verbose]
Prints exactly one line on stdout once listening:  READY <port> mongomock <version>
Exits on SIGTERM/SIGINT and when stdin reaches EOF (the parent died or closed it),
unless --ignore-stdin is given.

Fault hooks, modelled on mongod's test-only `configureFailPoint` admin command (the emulator
serialises every command, so races and server-side refusals must be provoked on purpose):

    db.admin().command({configureFailPoint: NAME, mode: {times: N} | 'alwaysOn' | 'off',
                        data: {ns: 'db.coll', ...}})

`data.ns` scopes the failpoint to one collection of one database; `data.collection` instead
matches that collection name in every database (tests share one emulator: prefer `ns`).
Each time a failpoint fires it spends one of its `times`; once spent it stops firing. The
reply's `count` is how often the failpoint fired since it was last configured.

  upsertInsertRace  data: {ns, document}
      The next update with `upsert: true` into ns that would INSERT (its query matches no
      document) first inserts `data.document`, as a concurrent writer would, then tries its
      own insert and fails with E11000 if the two collide on a unique index. This is what
      mongod answers when another client's insert lands between an upsert's query and its
      insert (mongod retries that itself only for equality queries on the unique key).
  failDocumentWrite  data: {ns, filter, code?, codeName?, errmsg?}
      An insert or update into ns whose document (the inserted document, a replacement, or
      an update's `$set`) matches `filter` fails with that per-document write error, default
      121 DocumentValidationFailure, as a collection validator would; the batch goes on.
"""
import argparse
import datetime
import json
import os
import signal
import sys
import threading
import traceback

import bson
from bson import Decimal128, Int64, ObjectId
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
import mockupdb
import mongomock
from mongomock import filtering, helpers, aggregate as mm_aggregate
from mongomock.collection import Collection
from mongomock.store import CollectionStore
from pymongo.errors import DuplicateKeyError, PyMongoError

MAX_WIRE_VERSION = 21  # MongoDB 7.0; driver v7 needs >= 9
SERVER_VERSION = '7.0.0'

# Decode nested documents as plain (ordered) dicts, and keep every binary subtype
# (incl. UUID subtypes 3/4) as bson.Binary so it is re-encoded byte-for-byte.
# mockupdb reads this module global at unpack time. Dates stay naive UTC.
mockupdb.CODEC_OPTIONS = CodecOptions(document_class=dict,
                                      uuid_representation=UuidRepresentation.UNSPECIFIED)


# ---------------------------------------------------------------- mongomock patches
# 1. mongomock cannot compare Decimal128 ($gt, $lt, sort, $min/$max); compare as decimals.
_orig_bson_compare = filtering.bson_compare


def _bson_compare(op, a, b, can_compare_types=True):
    a, b = [x.to_decimal() if isinstance(x, Decimal128) else x for x in (a, b)]
    return _orig_bson_compare(op, a, b, can_compare_types)


filtering.bson_compare = _bson_compare

# 2. mongomock scans every document with its (slow) generic matcher for every query and
#    runs one more full query per unique index on every write. Keep its semantics but
#    pre-discard documents that cannot match a plain top-level equality, look `_id`
#    up directly, and check unique indexes by comparing key tuples. The pre-filter only
#    rejects when both sides are simple scalars that differ; filter_applies() decides.
_MISSING = object()
_SIMPLE_QUERY_TYPES = (str, ObjectId, int, float, Int64)
_SIMPLE_DOC_TYPES = (str, ObjectId, int, float, Int64, bool, datetime.datetime, type(None))


def _iter_documents(self, filter):
    store = self._store
    if store.is_empty:  # (also expires TTL documents)
        filtering.filter_applies(filter, {})  # still validates the filter, like mongomock
        return iter(())
    eqs = [(k, v) for k, v in filter.items()
           if type(v) in _SIMPLE_QUERY_TYPES and k[:1] != '$' and '.' not in k]
    if '_id' in filter and type(filter['_id']) in _SIMPLE_QUERY_TYPES:
        doc = store._documents.get(filter['_id'])
        candidates = [] if doc is None else [doc]
    else:
        candidates = list(store.documents)
    # Last keys first: in {platform, shop_id, order_id} the last one is the selective one.
    for k, v in reversed(eqs):
        candidates = [d for d in candidates if (dv := d.get(k, _MISSING)) is not _MISSING
                      and (type(dv) not in _SIMPLE_DOC_TYPES or dv == v)]
    return (d for d in candidates if filtering.filter_applies(filter, d))


def _get_path(doc, field):
    if '.' not in field:
        return doc.get(field)
    try:
        return helpers.get_value_by_dot(doc, field)
    except KeyError:
        return None


def _index_key(doc, fields):
    return {field: _get_path(doc, field) for field in fields}


def _ensure_uniques(self, new_data):
    """Like mongomock's, but fast and raising a DuplicateKeyError with real details."""
    for name, index in self._store.indexes.items():
        if not index.get('unique'):
            continue
        fields = [k for k, _ in index['key']]
        key = _index_key(new_data, fields)
        if index.get('sparse') and all(v is None for v in key.values()):
            continue
        partial = index.get('partialFilterExpression')
        if partial is not None and not filtering.filter_applies(partial, new_data):
            continue
        last = fields[-1] if '.' not in fields[-1] else None  # cheap first comparison
        for doc in self._store.documents:
            if last is not None and doc.get(last) != key[last]:
                continue
            if _index_key(doc, fields) == key and doc is not new_data and (
                    doc.get('_id') != new_data.get('_id')) and (
                    partial is None or filtering.filter_applies(partial, doc)):
                raise _dup_key_error(self.full_name, name, dict(index['key']), key)


def _dup_key_error(ns, index_name, key_pattern, key_value):
    shown = ', '.join('%s: %s' % (k, json.dumps(v) if isinstance(v, str) else
                                  "ObjectId('%s')" % v if isinstance(v, ObjectId) else v)
                      for k, v in key_value.items())
    msg = 'E11000 duplicate key error collection: %s index: %s dup key: { %s }' % (
        ns, index_name, shown)
    # Details ride on attributes: pymongo would append them to str(exc) otherwise.
    err = DuplicateKeyError(msg, 11000)
    err.emulator_msg, err.key_info = msg, {'keyPattern': key_pattern, 'keyValue': key_value}
    return err


Collection._iter_documents = _iter_documents
Collection._ensure_uniques = _ensure_uniques

# 3. CollectionStore keeps documents in an OrderedDict, whose C iterator re-hashes every
#    key (ObjectId.__hash__ is Python code). A plain dict keeps insertion order too.
def _with_plain_dict(method):
    def wrapper(self, *args):
        method(self, *args)
        self._documents = {}
    return wrapper


CollectionStore.__init__ = _with_plain_dict(CollectionStore.__init__)
CollectionStore.drop = _with_plain_dict(CollectionStore.drop)

# 4. mockupdb formats every request and reply with repr() (a JSON dump) for its log even
#    when not verbose; make that free.
for _cls in (mockupdb.Request, mockupdb.OpQuery, mockupdb.Reply, mockupdb.OpMsgReply):
    _cls.__repr__ = lambda self: '<%s>' % type(self).__name__


# ---------------------------------------------------------------- errors
class CommandError(Exception):
    def __init__(self, code, code_name, errmsg, **extra):
        super().__init__(errmsg)
        self.reply = dict(ok=0, errmsg=errmsg, code=code, codeName=code_name, **extra)


def _error_fields(exc, coll=None, fallback_id=_MISSING):
    """(code, codeName, errmsg, extra) for an exception raised while executing an op."""
    if isinstance(exc, DuplicateKeyError):
        if not hasattr(exc, 'key_info') and fallback_id is not _MISSING:
            # mongomock raises the plain `_id` collision itself, without details.
            exc = _dup_key_error(coll.full_name if coll else '?', '_id_', {'_id': 1},
                                 {'_id': fallback_id})
        return 11000, 'DuplicateKey', getattr(exc, 'emulator_msg', str(exc)), dict(
            getattr(exc, 'key_info', {}))
    if isinstance(exc, CommandError):
        return exc.reply['code'], exc.reply['codeName'], exc.reply['errmsg'], {}
    if isinstance(exc, NotImplementedError):
        return 238, 'NotImplemented', 'mongomock: %s' % exc, {}
    if isinstance(exc, PyMongoError):  # mongomock's OperationFailure / WriteError / ...
        return getattr(exc, 'code', None) or 2, 'BadValue', str(exc), {}
    if isinstance(exc, (ValueError, TypeError, bson.errors.InvalidDocument)):
        return 2, 'BadValue', '%s: %s' % (type(exc).__name__, exc), {}
    traceback.print_exc(file=sys.stderr)
    return 1, 'InternalError', '%s: %s' % (type(exc).__name__, exc), {}


def _is_operator_update(update):
    return bool(update) and next(iter(update)).startswith('$')


# ---------------------------------------------------------------- command handlers
class Emulator(object):
    def __init__(self, verbose=False):
        self.client = mongomock.MongoClient()
        self.lock = threading.Lock()  # mockupdb runs one thread per connection
        self.verbose = verbose
        self.handlers = {
            'hello': self.hello, 'isMaster': self.hello, 'ismaster': self.hello,
            'ping': lambda db, cmd: {}, 'buildInfo': self.build_info, 'buildinfo': self.build_info,
            'getParameter': lambda db, cmd: {'featureCompatibilityVersion': {'version': '7.0'}},
            'getCmdLineOpts': lambda db, cmd: {'argv': ['mongod'], 'parsed': {}},
            'whatsmyuri': lambda db, cmd: {'you': '127.0.0.1:0'},
            'connectionStatus': lambda db, cmd: {'authInfo': {
                'authenticatedUsers': [], 'authenticatedUserRoles': []}},
            'endSessions': lambda db, cmd: {}, 'refreshSessions': lambda db, cmd: {},
            'killSessions': lambda db, cmd: {}, 'killAllSessions': lambda db, cmd: {},
            'killCursors': lambda db, cmd: {'cursorsKilled': [], 'cursorsAlive': [],
                                            'cursorsUnknown': [],
                                            'cursorsNotFound': list(cmd.get('cursors', []))},
            'getMore': lambda db, cmd: {'cursor': {'id': Int64(0), 'nextBatch': [],
                                                   'ns': '%s.%s' % (db, cmd.get('collection'))}},
            'commitTransaction': self.no_transactions, 'abortTransaction': self.no_transactions,
            'insert': self.insert, 'update': self.update, 'delete': self.delete,
            'find': self.find, 'findAndModify': self.find_and_modify,
            'aggregate': self.aggregate, 'count': self.count, 'distinct': self.distinct,
            'createIndexes': self.create_indexes, 'listIndexes': self.list_indexes,
            'dropIndexes': self.drop_indexes, 'deleteIndexes': self.drop_indexes,
            'create': self.create, 'drop': self.drop, 'dropDatabase': self.drop_database,
            'listCollections': self.list_collections, 'listDatabases': self.list_databases,
            'renameCollection': self.rename_collection,
            'configureFailPoint': self.configure_fail_point,
        }
        self.failpoints = {}  # name -> {'times': int | None (alwaysOn), 'data': dict, 'count': int}

    # -- dispatch (runs on mockupdb's per-connection thread)
    def handle(self, request):
        try:
            if isinstance(request, (mockupdb.OpMsg, mockupdb.Command)):
                # OP_MSG flag bit 1 = moreToCome (w:0 writes, endSessions): send no reply.
                no_reply = isinstance(request, mockupdb.OpMsg) and bool(request.flags & 2)
                reply = self.run_command(request, no_reply)
                if not no_reply:
                    request.replies(reply)
            elif isinstance(request, (mockupdb.OpQuery, mockupdb.OpGetMore)):
                request.fail('legacy opcodes are not supported by the emulator')
            # Legacy OP_INSERT/UPDATE/DELETE/KILL_CURSORS expect no reply.
        except Exception:  # never let mockupdb's connection thread die
            traceback.print_exc(file=sys.stderr)
        return True

    def run_command(self, request, no_reply=False):
        cmd = request.doc
        if '$query' in cmd:  # legacy OP_QUERY wrapping
            cmd = cmd['$query']
        name = next(iter(cmd), '')
        db = cmd.get('$db') or request.namespace or 'admin'
        handler = self.handlers.get(name) or self.handlers.get(name.lower()) if name else None
        try:
            if handler is None:
                raise CommandError(59, 'CommandNotFound', "no such command: '%s'" % name)
            if 'startTransaction' in cmd or 'autocommit' in cmd:
                self.no_transactions(db, cmd)
            if handler == self.hello:
                reply = self.hello(db, cmd, request)
            else:
                with self.lock:
                    reply = handler(db, cmd)
        except CommandError as exc:
            reply = exc.reply
        except Exception as exc:
            code, code_name, errmsg, extra = _error_fields(exc)
            reply = dict(ok=0, errmsg=errmsg, code=code, codeName=code_name, **extra)
        reply.setdefault('ok', 1)
        if self.verbose:
            print('%s %s.%s%s -> ok=%s %s' % (
                type(request).__name__, db, name, ' (moreToCome)' if no_reply else '',
                reply['ok'], reply.get('errmsg', '')), file=sys.stderr, flush=True)
        return reply

    def coll(self, db, cmd, key):
        name = cmd[key]
        if not isinstance(name, str):
            raise CommandError(73, 'InvalidNamespace', 'collection name must be a string')
        return self.client[db][name]

    # -- handshake & admin
    def hello(self, db, cmd, request):
        # connectionId: the client's TCP port is unique per live connection.
        # No topologyVersion on purpose: it would switch the driver to streaming hello.
        return {'helloOk': True, 'ismaster': True, 'isWritablePrimary': True,
                'maxBsonObjectSize': 16777216, 'maxMessageSizeBytes': 48000000,
                'maxWriteBatchSize': 100000, 'localTime': datetime.datetime.utcnow(),
                'logicalSessionTimeoutMinutes': 30, 'connectionId': request.client_port,
                'minWireVersion': 0, 'maxWireVersion': MAX_WIRE_VERSION, 'readOnly': False}

    def build_info(self, db, cmd):
        return {'version': SERVER_VERSION, 'versionArray': [7, 0, 0, 0], 'gitVersion': 'mongomock',
                'bits': 64, 'debug': False, 'maxBsonObjectSize': 16777216,
                'storageEngines': ['mongomock'], 'modules': [],
                'emulator': 'mongomock %s' % mongomock.__version__}

    # -- fault hooks (see the module docstring)
    FAILPOINTS = ('upsertInsertRace', 'failDocumentWrite')

    def configure_fail_point(self, db, cmd):
        name, mode, data = cmd['configureFailPoint'], cmd.get('mode'), cmd.get('data') or {}
        if db != 'admin':
            raise CommandError(13, 'Unauthorized', 'configureFailPoint may only be run against '
                               'the admin database.')
        if name not in self.FAILPOINTS:
            raise CommandError(2, 'BadValue', 'Cannot find failpoint: %s' % name)
        previous = self.failpoints.pop(name, {'count': 0})['count']
        if mode == 'off':
            return {'count': previous}
        if mode == 'alwaysOn':
            times = None
        elif isinstance(mode, dict) and isinstance(mode.get('times'), int) and mode['times'] > 0:
            times = mode['times']
        else:
            raise CommandError(2, 'BadValue', "mode must be 'off', 'alwaysOn' or {times: N > 0}")
        if not isinstance(data.get('ns') or data.get('collection'), str):
            raise CommandError(2, 'BadValue', 'data.ns or data.collection is required')
        self.failpoints[name] = {'times': times, 'data': data, 'count': 0}
        return {'count': previous}

    def _fire(self, name, coll, applies=lambda data: True):
        """The failpoint's data if armed for coll and it applies (spending a use), else None."""
        fp = self.failpoints.get(name)
        if fp is None or fp['times'] == 0:  # kept when spent, for its count
            return None
        data = fp['data']
        if data.get('ns', coll.full_name) != coll.full_name or (
                data.get('collection', coll.name) != coll.name) or not applies(data):
            return None
        fp['count'] += 1
        if fp['times'] is not None:
            fp['times'] -= 1
        return data

    def _check_document_write(self, coll, document):
        data = self._fire('failDocumentWrite', coll,
                          lambda data: filtering.filter_applies(data.get('filter') or {}, document))
        if data is not None:
            raise CommandError(data.get('code', 121),
                               data.get('codeName', 'DocumentValidationFailure'),
                               data.get('errmsg', 'Document failed validation (failDocumentWrite)'))

    def _upsert_insert_race(self, coll, query, update):
        """Lets a "concurrent" insert land between an upsert's query and its own insert."""
        if coll.find_one(query) is not None:
            return
        data = self._fire('upsertInsertRace', coll)
        if data is None:
            return
        theirs = dict(data['document'])
        theirs.setdefault('_id', ObjectId())
        coll.insert_one(theirs)
        # The upsert's own insert: the query's equality fields plus what the update sets.
        ours = {k: v for k, v in query.items() if not k.startswith('$') and not (
            isinstance(v, dict) and any(op.startswith('$') for op in v))}
        ours.update(update.get('$set', {}) if _is_operator_update(update) else update)
        ours.pop('_id', None)
        coll._ensure_uniques(ours)  # raises E11000 when they collide, as mongod would

    def no_transactions(self, db, cmd):
        raise CommandError(20, 'IllegalOperation',
                           'Transaction numbers are only allowed on a replica set member or mongos')

    # -- writes
    def _write_batch(self, coll, cmd, ops, apply_op, id_of=lambda op: _MISSING):
        """Run each op; collect writeErrors like mongod (ordered stops at the first)."""
        write_errors = []
        for i, op in enumerate(ops):
            try:
                apply_op(i, op)
            except Exception as exc:
                code, code_name, errmsg, extra = _error_fields(exc, coll, id_of(op))
                write_errors.append(dict(index=i, code=code, codeName=code_name,
                                         errmsg=errmsg, **extra))
                if cmd.get('ordered', True):
                    break
        return write_errors

    def insert(self, db, cmd):
        coll = self.coll(db, cmd, 'insert')
        counts = {'n': 0}

        def apply_op(i, doc):
            if '_id' not in doc:
                doc['_id'] = ObjectId()
            doc = dict([('_id', doc['_id'])] + [kv for kv in doc.items() if kv[0] != '_id'])
            self._check_document_write(coll, doc)
            coll.insert_one(doc)
            counts['n'] += 1

        errors = self._write_batch(coll, cmd, cmd.get('documents', []), apply_op,
                                   lambda doc: doc.get('_id', _MISSING))
        return dict(counts, **({'writeErrors': errors} if errors else {}))

    def update(self, db, cmd):
        coll = self.coll(db, cmd, 'update')
        counts = {'n': 0, 'nModified': 0}
        upserted = []

        def apply_op(i, op):
            query, update = op.get('q', {}), op.get('u', {})
            upsert, multi = bool(op.get('upsert')), bool(op.get('multi'))
            if isinstance(update, list):
                raise NotImplementedError('pipeline-style updates are not supported')
            if op.get('arrayFilters'):
                raise NotImplementedError('arrayFilters are not supported')
            self._check_document_write(
                coll, update.get('$set', {}) if _is_operator_update(update) else update)
            if upsert:
                self._upsert_insert_race(coll, query, update)
            if _is_operator_update(update):
                fn = coll.update_many if multi else coll.update_one
                raw = fn(query, update, upsert=upsert).raw_result
            elif multi:
                raise CommandError(9, 'FailedToParse', 'multi update is not supported for '
                                   'replacement-style update')
            else:
                raw = coll.replace_one(query, update, upsert=upsert).raw_result
            counts['n'] += raw['n']
            counts['nModified'] += raw['nModified']
            if raw.get('upserted') is not None:
                upserted.append({'index': i, '_id': raw['upserted']})

        errors = self._write_batch(coll, cmd, cmd.get('updates', []), apply_op,
                                   lambda op: (op.get('q') or {}).get('_id', _MISSING))
        return dict(counts, **({'upserted': upserted} if upserted else {}),
                    **({'writeErrors': errors} if errors else {}))

    def delete(self, db, cmd):
        coll = self.coll(db, cmd, 'delete')
        counts = {'n': 0}

        def apply_op(i, op):
            fn = coll.delete_one if op.get('limit', 0) == 1 else coll.delete_many
            counts['n'] += fn(op.get('q', {})).deleted_count

        errors = self._write_batch(coll, cmd, cmd.get('deletes', []), apply_op)
        return dict(counts, **({'writeErrors': errors} if errors else {}))

    def find_and_modify(self, db, cmd):
        coll = self.coll(db, cmd, 'findAndModify')
        query, update, remove = cmd.get('query') or {}, cmd.get('update'), cmd.get('remove')
        projection = cmd.get('fields') or cmd.get('projection') or None
        if isinstance(update, list) or cmd.get('arrayFilters'):
            raise NotImplementedError('pipeline updates / arrayFilters are not supported')
        if (update is None) != bool(remove):
            raise CommandError(9, 'FailedToParse', 'specify exactly one of update or remove')
        old = coll.find_one(query, sort=list((cmd.get('sort') or {}).items()) or None)
        before = old and coll.find_one({'_id': old['_id']}, projection)
        if remove:
            if old:
                coll.delete_one({'_id': old['_id']})
            return {'lastErrorObject': {'n': int(old is not None)}, 'value': before}
        if old is None and not cmd.get('upsert'):
            return {'lastErrorObject': {'n': 0, 'updatedExisting': False}, 'value': None}
        fn = coll.update_one if _is_operator_update(update) else coll.replace_one
        try:
            raw = fn(query if old is None else {'_id': old['_id']}, update,
                     upsert=old is None).raw_result
        except DuplicateKeyError as exc:  # a findAndModify error is a command error
            code, code_name, errmsg, extra = _error_fields(exc, coll, query.get('_id', _MISSING))
            raise CommandError(code, code_name, errmsg, **extra)
        leo = {'n': 1, 'updatedExisting': old is not None}
        if old is None:
            leo['upserted'] = raw['upserted']
        doc_id = raw['upserted'] if old is None else old['_id']
        value = coll.find_one({'_id': doc_id}, projection) if cmd.get('new') else before
        return {'lastErrorObject': leo, 'value': value}

    # -- reads
    @staticmethod
    def _cursor(coll, docs):
        return {'cursor': {'firstBatch': docs, 'id': Int64(0), 'ns': coll.full_name}}

    def find(self, db, cmd):
        coll = self.coll(db, cmd, 'find')
        cursor = coll.find(cmd.get('filter') or {}, cmd.get('projection') or None,
                           skip=cmd.get('skip', 0) or 0, limit=abs(cmd.get('limit', 0) or 0),
                           sort=list((cmd.get('sort') or {}).items()) or None)
        return self._cursor(coll, list(cursor))

    def aggregate(self, db, cmd):
        if not isinstance(cmd['aggregate'], str):
            raise NotImplementedError('database-level aggregate is not supported')
        coll = self.coll(db, cmd, 'aggregate')
        pipeline = list(cmd.get('pipeline', []))
        # A leading $match is a plain find: lets the fast candidate filter do the work
        # instead of copying the whole collection into the pipeline.
        match = pipeline.pop(0)['$match'] if pipeline and '$match' in pipeline[0] else {}
        docs = list(coll.find(match))
        docs = list(mm_aggregate.process_pipeline(docs, coll.database, pipeline, None))
        return self._cursor(coll, docs)

    def count(self, db, cmd):
        coll = self.coll(db, cmd, 'count')
        query = cmd.get('query') or {}
        kwargs = {k: cmd[k] for k in ('skip', 'limit') if cmd.get(k)}
        if not query and not kwargs:
            return {'n': len(coll._store)}
        return {'n': coll.count_documents(query, **kwargs)}

    def distinct(self, db, cmd):
        coll = self.coll(db, cmd, 'distinct')
        return {'values': coll.distinct(cmd['key'], cmd.get('query') or {})}

    # -- indexes
    def create_indexes(self, db, cmd):
        coll = self.coll(db, cmd, 'createIndexes')
        existed = coll.name in coll.database.list_collection_names()
        current = coll.index_information()
        before = len(current) or 1
        for spec in cmd.get('indexes', []):
            key = list(spec['key'].items())
            name = spec.get('name') or helpers.gen_index_name(key)
            options = {k: spec[k] for k in ('unique', 'sparse', 'expireAfterSeconds',
                                            'partialFilterExpression') if k in spec}
            same_key = [n for n, info in current.items() if info['key'] == key and n != name]
            if name in current and current[name]['key'] != key:
                raise CommandError(86, 'IndexKeySpecsConflict', 'An existing index has the same '
                                   'name as the requested index but a different key: %s' % name)
            if same_key:
                raise CommandError(85, 'IndexOptionsConflict', 'Index already exists with a '
                                   'different name: %s' % same_key[0])
            try:
                coll.create_index(key, name=name, **options)
            except DuplicateKeyError as exc:
                raise CommandError(11000, 'DuplicateKey', 'Index build failed: %s' % exc)
            except PyMongoError as exc:  # same name, different options
                raise CommandError(85, 'IndexOptionsConflict', str(exc))
            current = coll.index_information()
        return {'createdCollectionAutomatically': not existed, 'numIndexesBefore': before,
                'numIndexesAfter': len(current)}

    def _existing(self, db, cmd, key):
        coll = self.coll(db, cmd, key)
        if coll.name not in coll.database.list_collection_names():
            raise CommandError(26, 'NamespaceNotFound', 'ns does not exist: %s' % coll.full_name)
        return coll

    def list_indexes(self, db, cmd):
        coll = self._existing(db, cmd, 'listIndexes')
        docs = []
        for name, info in coll.index_information().items():
            doc = {'v': 2, 'key': dict(info['key']), 'name': name}
            doc.update({k: v for k, v in info.items() if k not in ('v', 'key')})
            docs.append(doc)
        return self._cursor(coll, docs)

    def drop_indexes(self, db, cmd):
        coll = self._existing(db, cmd, next(iter(cmd)))
        current = coll.index_information()
        target = cmd.get('index')
        if target == '*':
            coll.drop_indexes()
            return {'nIndexesWas': len(current)}
        by_key = {tuple(info['key']): name for name, info in current.items()}
        names = [by_key.get(tuple(n.items()), n) if isinstance(n, dict) else n
                 for n in (target if isinstance(target, list) else [target])]
        for name in names:
            if name == '_id_':
                raise CommandError(72, 'InvalidOptions', 'cannot drop _id index')
            if not isinstance(name, str) or name not in current:
                raise CommandError(27, 'IndexNotFound', 'index not found: %s' % (name,))
        for name in names:
            coll.drop_index(name)
        return {'nIndexesWas': len(current)}

    # -- collections & databases
    def create(self, db, cmd):
        coll = self.coll(db, cmd, 'create')
        if coll.name in coll.database.list_collection_names():
            raise CommandError(48, 'NamespaceExists', 'Collection %s already exists.' % coll.full_name)
        coll.database.create_collection(coll.name)  # options (validator, capped...) are ignored
        return {}

    def drop(self, db, cmd):
        coll = self.coll(db, cmd, 'drop')
        was = len(coll.index_information())
        coll.drop()
        return {'nIndexesWas': was, 'ns': coll.full_name}

    def drop_database(self, db, cmd):
        self.client.drop_database(db)
        return {'dropped': db}

    def rename_collection(self, db, cmd):
        src_db, _, src = cmd['renameCollection'].partition('.')
        dst_db, _, dst = cmd.get('to', '').partition('.')
        if src_db != dst_db:
            raise NotImplementedError('renaming across databases is not supported')
        self.client[src_db].rename_collection(src, dst, dropTarget=bool(cmd.get('dropTarget')))
        return {}

    def list_collections(self, db, cmd):
        extra = {} if cmd.get('nameOnly') else {
            'options': {}, 'info': {'readOnly': False},
            'idIndex': {'v': 2, 'key': {'_id': 1}, 'name': '_id_'}}
        docs = [dict(name=name, type='collection', **extra)
                for name in sorted(self.client[db].list_collection_names())]
        docs = [d for d in docs if filtering.filter_applies(cmd.get('filter') or {}, d)]
        return {'cursor': {'firstBatch': docs, 'id': Int64(0), 'ns': '%s.$cmd.listCollections' % db}}

    def list_databases(self, db, cmd):
        extra = {} if cmd.get('nameOnly') else {'sizeOnDisk': 0, 'empty': False}
        docs = [dict(name=name, **extra) for name in sorted(self.client.list_database_names())]
        docs = [d for d in docs if filtering.filter_applies(cmd.get('filter') or {}, d)]
        return {'databases': docs, 'totalSize': 0, 'totalSizeMb': 0}


# ---------------------------------------------------------------- process lifetime
def _shutdown(*_args):
    # Everything lives in memory: nothing to save. os._exit skips waiting for mockupdb's
    # connection threads (and its atexit hook, which joins them for up to 10 s each).
    sys.stderr.flush()
    os._exit(0)


def _watch_stdin():
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        return  # no usable stdin: rely on signals only
    _shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0, help='0 picks a free port')
    parser.add_argument('--verbose', action='store_true', help='log every command to stderr')
    parser.add_argument('--ignore-stdin', action='store_true',
                        help='do not exit when stdin reaches EOF')
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    if not args.ignore_stdin:
        threading.Thread(target=_watch_stdin, name='stdin-watch', daemon=True).start()

    emulator = Emulator(verbose=args.verbose)
    server = mockupdb.MockupDB(port=args.port, request_timeout=int(1e6))
    server._address = (args.host, args.port)  # MockupDB binds 'localhost' otherwise
    server.autoresponds(emulator.handle)  # one responder for every request
    port = server.run()
    sys.stdout.write('READY %d mongomock %s\n' % (port, mongomock.__version__))
    sys.stdout.flush()
    threading.Event().wait()


if __name__ == '__main__':
    main()
