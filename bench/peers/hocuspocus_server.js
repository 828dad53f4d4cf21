// Hocuspocus 2.x with no extensions (no persistence, no auth hook): the relay on its own.
// Run by bench/servers.py with NODE_PATH pointing at bench/.peers/node/node_modules.
const { Server } = require('@hocuspocus/server')

const server = Server.configure({
  address: process.env.HOST || '127.0.0.1',
  port: Number(process.env.PORT || 1234),
  quiet: true,
  // Defaults kept: timeout 30 s (WebSocket ping/pong), debounce 2 s / maxDebounce 10 s (no store hook).
  async onListen () {
    console.log(`hocuspocus listening on ${process.env.HOST}:${process.env.PORT}`)
  },
})

server.listen()
process.on('SIGTERM', async () => { await server.destroy(); process.exit(0) })
