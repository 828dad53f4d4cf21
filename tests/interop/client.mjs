// Drives the unmodified npm `y-websocket` client against a running codeinterview server, the way
// browsers do: each simulated user has a Y.Doc of its own and a WebsocketProvider of its own.
//
// Usage: node client.mjs '<json config>'   (or the JSON config on stdin)
//
// Config:
//   url            the provider's server URL, e.g. "ws://127.0.0.1:8000/ws/sessions"
//   session        the session id (the provider's room name)
//   clients        [{name, color, token, count, mode: "random" | "append", alphabet}]
//                  each types `count` characters of `alphabet` (cycled), one insert at a time,
//                  at random positions or at the end, all clients interleaved
//   initial        (optional) the text every client must see once synced
//   peers          (optional) awareness names every client must also see (e.g. a Python client)
//   markers        (optional) strings typed by someone else that must arrive before finishing;
//                  they are never split by this script's own inserts
//   setLanguage    (optional) client 0 sets ydoc.getMap('meta') 'language' after typing
//   expectLanguage (optional) the language every client must end up with (default setLanguage)
//   probes         (optional) how many server heartbeat probes (queryAwareness, answered by the
//                  provider itself) each client must receive, and outlive, before finishing
//   seed           (optional) PRNG seed for the random positions
//   timeoutMs      (optional) overall bound, default 15000
//
// Waits until every doc holds the same text (same state vector too) of the expected length and
// characters, every client saw the others' awareness names, then prints one JSON line on stdout
// and exits 0. Any failure prints a diagnosis on stderr and exits 1. Nothing here sleeps: every
// wait is on provider, document or awareness events.

import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const config = JSON.parse(process.argv[2] ?? readFileSync(0, 'utf8'))
const timeoutMs = config.timeoutMs ?? 15000
const markers = config.markers ?? []
const seed = config.seed ?? Math.floor(Math.random() * 2 ** 31)
const expectLanguage = config.expectLanguage ?? config.setLanguage
const MESSAGE_QUERY_AWARENESS = 3
let phase = 'starting'
let finished = false

// Anything the libraries log as an error or warning (y-websocket: "Unable to compute message",
// "Permission denied ...") means the server said something the client does not understand.
for (const level of ['error', 'warn']) {
  const original = console[level].bind(console)
  console[level] = (...args) => {
    original(...args)
    fail(`the client library logged a console.${level}: ${args.map(String).join(' ')}`)
  }
}
process.on('uncaughtException', (error) => fail(`uncaught exception: ${error?.stack ?? error}`))
process.on('unhandledRejection', (error) => fail(`unhandled rejection: ${error?.stack ?? error}`))

function mulberry32 (a) {
  return () => {
    a |= 0
    a = (a + 0x6D2B79F5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const random = mulberry32(seed)

const clients = config.clients.map((spec, index) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(config.url, config.session, doc, {
    params: { token: spec.token },
    WebSocketPolyfill: WebSocket,
    // Node 20 has a global BroadcastChannel: without this, two providers of one room in one
    // process would sync through it and bypass the server under test.
    disableBc: true
  })
  const client = {
    index,
    spec,
    doc,
    provider,
    text: doc.getText('code'),
    meta: doc.getMap('meta'),
    typed: [],
    probes: 0,
    closes: [],
    syncedText: null,
    syncedLanguage: null
  }
  provider.on('connection-close', (event) => {
    const close = { code: event?.code, reason: event?.reason ? String(event.reason) : '' }
    client.closes.push(close)
    if (!finished) {
      fail(`${spec.name}: the server closed the connection during "${phase}" ` +
        `(code ${close.code}, reason ${JSON.stringify(close.reason)})`)
    }
  })
  provider.on('connection-error', (event) => {
    if (!finished) fail(`${spec.name}: WebSocket error during "${phase}": ${event?.message ?? event}`)
  })
  return client
})

// -- waiting on events ------------------------------------------------------------------------

const waiters = new Set()
const poke = () => { for (const check of [...waiters]) check() }
for (const client of clients) {
  client.doc.on('update', poke)
  client.provider.awareness.on('change', poke)
  client.provider.on('sync', poke)
}

function until (predicate) {
  return new Promise((resolve) => {
    const check = () => {
      if (predicate()) {
        waiters.delete(check)
        resolve()
      }
    }
    waiters.add(check)
    check()
  })
}

const deadline = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs)

// -- state --------------------------------------------------------------------------------------

const stateVector = (doc) => Buffer.from(Y.encodeStateVector(doc)).toString('hex')

function seenNames (client) {
  const names = []
  client.provider.awareness.getStates().forEach((state, clientID) => {
    if (clientID !== client.doc.clientID && typeof state?.user?.name === 'string') {
      names.push(state.user.name)
    }
  })
  return names.sort()
}

function expectedNames (client) {
  const others = clients.filter((other) => other !== client).map((other) => other.spec.name)
  return [...others, ...(config.peers ?? [])]
}

const sawEveryone = (client) => expectedNames(client).every((name) => seenNames(client).includes(name))

const sortedChars = (text) => Array.from(text).sort().join('')

function expectedText () {
  // The characters (not their order) the final text must hold: what was there at sync, what
  // every client typed, and the markers typed elsewhere.
  return clients[0].syncedText + clients.flatMap((client) => client.typed).join('') + markers.join('')
}

function converged () {
  const [first, ...rest] = clients
  const text = first.text.toString()
  const sv = stateVector(first.doc)
  return rest.every((client) => client.text.toString() === text && stateVector(client.doc) === sv)
}

function describe () {
  return clients.map((client) => ({
    name: client.spec.name,
    clientID: client.doc.clientID,
    wsconnected: client.provider.wsconnected,
    synced: client.provider.synced,
    typed: client.typed.length,
    probes: client.probes,
    length: client.text.length,
    text: client.text.toString().slice(0, 400),
    language: client.meta.get('language') ?? null,
    stateVector: stateVector(client.doc),
    awareness_seen: seenNames(client),
    awareness_expected: expectedNames(client),
    closes: client.closes
  }))
}

function fail (message) {
  if (finished) return
  finished = true
  process.stderr.write(`interop client failed: ${message}\n`)
  process.stderr.write(`phase: ${phase}; seed: ${seed}\n`)
  try {
    process.stderr.write(`clients: ${JSON.stringify(describe(), null, 2)}\n`)
  } catch (error) {
    process.stderr.write(`(could not describe clients: ${error})\n`)
  }
  process.exit(1)
}

// -- typing -------------------------------------------------------------------------------------

function safeIndex (text, index) {
  // Never type inside a marker that arrived from elsewhere, nor between a surrogate pair.
  for (const marker of markers) {
    for (let at = text.indexOf(marker); at !== -1; at = text.indexOf(marker, at + 1)) {
      if (at < index && index < at + marker.length) index = at
    }
  }
  if (index > 0 && index < text.length) {
    const before = text.charCodeAt(index - 1)
    if (before >= 0xd800 && before <= 0xdbff) index -= 1
  }
  return index
}

const nextTick = () => new Promise((resolve) => setTimeout(resolve, 0))

async function type (client) {
  const alphabet = Array.from(client.spec.alphabet ?? 'abcdefghijklmnopqrstuvwxyz')
  for (let n = 0; n < (client.spec.count ?? 0); n++) {
    const char = alphabet[n % alphabet.length]
    const text = client.text.toString()
    const index = client.spec.mode === 'append'
      ? text.length
      : safeIndex(text, Math.floor(random() * (text.length + 1)))
    client.text.insert(index, char)
    client.typed.push(char)
    await nextTick()
  }
}

// -- the scenario -------------------------------------------------------------------------------

phase = 'connecting and syncing'
await until(() => clients.every((client) => client.provider.synced))
for (const client of clients) {
  client.syncedText = client.text.toString()
  client.syncedLanguage = client.meta.get('language') ?? null
  if (config.initial !== undefined && client.syncedText !== config.initial) {
    fail(`${client.spec.name}: synced text is ${JSON.stringify(client.syncedText)}, ` +
      `expected the session's initial code ${JSON.stringify(config.initial)}`)
  }
}
if (new Set(clients.map((client) => client.syncedText)).size !== 1) {
  fail('the clients synced to different texts')
}

for (const client of clients) {
  // Watches (without touching) the provider's socket for the server's heartbeat probes.
  client.provider.ws.addEventListener('message', (event) => {
    if (new Uint8Array(event.data)[0] === MESSAGE_QUERY_AWARENESS) {
      client.probes += 1
      poke()
    }
  })
}

phase = 'setting awareness'
for (const client of clients) {
  client.provider.awareness.setLocalState({ user: { name: client.spec.name, color: client.spec.color } })
}

phase = 'typing concurrently'
await Promise.all(clients.map(type))

phase = 'waiting for convergence'
const wanted = expectedText()
await until(() => {
  if (!converged()) return false
  const text = clients[0].text.toString()
  return text.length === wanted.length &&
    markers.every((marker) => text.includes(marker)) &&
    clients.every(sawEveryone)
})
const text = clients[0].text.toString()
if (sortedChars(text) !== sortedChars(wanted)) {
  fail(`converged on text with the wrong characters: ${JSON.stringify(text)}; ` +
    `expected a permutation of ${JSON.stringify(wanted)}`)
}

if (config.setLanguage !== undefined) {
  phase = `setting the language to ${config.setLanguage}`
  clients[0].meta.set('language', config.setLanguage)
}
if (expectLanguage !== undefined) {
  phase = `waiting for language ${expectLanguage}`
  // Client 0 only gets there once the server's answer (e.g. a revert) is back; the others
  // also need client 0's state vector, so they have seen its change too.
  await until(() => converged() &&
    clients.every((client) => client.meta.get('language') === expectLanguage))
}

if (config.probes !== undefined) {
  phase = `waiting for ${config.probes} heartbeat probes`
  await until(() => clients.every((client) => client.probes >= config.probes))
}

phase = 'done'
finished = true
clearTimeout(deadline)
process.stdout.write(JSON.stringify({
  text: clients[0].text.toString(),
  length: clients[0].text.length,
  awareness_seen: true,
  synced_text: clients[0].syncedText,
  synced_language: clients.map((client) => client.syncedLanguage),
  language: clients[0].meta.get('language') ?? null,
  seed,
  clients: describe().map(({ name, clientID, awareness_seen: seen, typed, probes }) =>
    ({ name, clientID, seen, typed, probes }))
}) + '\n')

// Leave politely: each provider announces its awareness removal and closes its socket.
const sockets = clients.map((client) => client.provider.ws).filter(Boolean)
const closed = sockets.map((socket) => new Promise((resolve) => {
  if (socket.readyState === WebSocket.CLOSED) resolve()
  else socket.addEventListener('close', resolve)
}))
for (const client of clients) {
  client.provider.destroy()
  client.doc.destroy()
}
const bound = new Promise((resolve) => setTimeout(resolve, 2000).unref())
await Promise.race([Promise.all(closed), bound])
process.exit(0)
