// js-libp2p, a libp2p implementation nobody here wrote, against a real `weft up`.
//
//   node interop.mjs WEFT_MULTIADDR
//
// Dials the weft node over TCP with Noise and, separately, with TLS (Yamux both times) and
// checks identify (agent, protocols, listen addresses), ping, a /weft/pex/1 exchange read
// to its clean end (naming at least one peer), and a /weft/search/1 query answered and closed. Then it listens on
// 127.0.0.1, prints `LISTEN <multiaddr>` and waits (at most 60 s) for a weft node to dial it.
// Every check prints `CHECK name ok` or throws; the process exits non-zero on any failure.
import './shim.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { tls } from '@libp2p/tls'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'

const target = process.argv[2]
if (!target) {
  console.error('usage: node interop.mjs WEFT_MULTIADDR')
  process.exit(2)
}

function check (name, ok, detail = '') {
  if (!ok) throw new Error(`check ${name} failed ${detail}`)
  console.log(`CHECK ${name} ok ${detail}`.trim())
}

function withTimeout (promise, ms, what) {
  let timer
  const t = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)
  })
  return Promise.race([promise, t]).finally(() => clearTimeout(timer))
}

async function node (encrypter, listen = []) {
  return createLibp2p({
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [encrypter()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() }
  })
}

// Everything the remote writes on `stream` until both ends have closed it; a reset (what a
// dropped weft stream used to be) rejects, and js-libp2p discards the data it carried. Call
// it before closing our end, so that no message is emitted before the listener is there.
function readAll (stream) {
  return new Promise((resolve, reject) => {
    const parts = []
    stream.addEventListener('message', e => parts.push(e.data.subarray()))
    stream.addEventListener('close', e => {
      if (e.error) {
        reject(new Error(`stream ended by ${e.error.name}: ${e.error.message}`))
        return
      }
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
      let at = 0
      for (const p of parts) { out.set(p, at); at += p.length }
      resolve(out)
    })
  })
}

function frame (payload) {
  const out = new Uint8Array(4 + payload.length)
  new DataView(out.buffer).setUint32(0, payload.length)
  out.set(payload, 4)
  return out
}

function unframe (bytes, what) {
  check(`${what}_frame_header`, bytes.length >= 4, `(${bytes.length} bytes)`)
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)
  check(`${what}_frame_complete`, bytes.length === 4 + len, `(announced ${len}, got ${bytes.length - 4})`)
  return bytes.subarray(4)
}

// postcard: unsigned varints, length-prefixed byte strings
function reader (bytes) {
  let at = 0
  const varint = () => {
    let v = 0; let shift = 0
    for (;;) {
      if (at >= bytes.length) throw new Error('varint past the end')
      const b = bytes[at++]
      v += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return v
      shift += 7
      if (shift > 63) throw new Error('varint too long')
    }
  }
  const blob = () => {
    const n = varint()
    if (at + n > bytes.length) throw new Error('bytes past the end')
    const b = bytes.subarray(at, at + n); at += n; return b
  }
  return { varint, blob, byte: () => bytes[at++], done: () => at === bytes.length }
}

async function againstWeft (name, encrypter) {
  const js = await node(encrypter)
  try {
    const identified = new Promise(resolve => js.addEventListener('peer:identify', e => resolve(e.detail), { once: true }))
    const conn = await withTimeout(js.dial(multiaddr(target)), 15000, `${name} dial`)
    check(`${name}_dial`, conn.status === 'open', `(${conn.encryption ?? ''} ${conn.multiplexer ?? ''})`)
    const id = await withTimeout(identified, 15000, `${name} identify`)
    check(`${name}_identify_agent`, (id.agentVersion ?? '').startsWith('weft/'), `(${id.agentVersion})`)
    for (const p of ['/weft/kad/1', '/weft/flood/1', '/weft/pex/1', '/ipfs/ping/1.0.0']) {
      check(`${name}_identify_protocol ${p}`, id.protocols.includes(p))
    }
    check(`${name}_identify_listen_addrs`, id.listenAddrs.length > 0, `(${id.listenAddrs.map(a => a.toString()).join(' ')})`)
    const rtt = await withTimeout(js.services.ping.ping(conn.remotePeer), 10000, `${name} ping`)
    check(`${name}_ping`, rtt >= 0, `(${rtt} ms)`)

    // PEX: no request, one framed reply, then a clean end of stream.
    const pex = await conn.newStream('/weft/pex/1')
    const pexRead = readAll(pex)
    await pex.close()
    const reply = unframe(await withTimeout(pexRead, 10000, `${name} pex`), `${name}_pex`)
    const r = reader(reply)
    check(`${name}_pex_version`, r.byte() === 1)
    const peers = r.varint()
    for (let i = 0; i < peers; i++) {
      r.blob()
      const addrs = r.varint()
      for (let j = 0; j < addrs; j++) multiaddr(r.blob())
    }
    check(`${name}_pex_read_completely`, r.done(), `(${peers} peers, ${reply.length} bytes)`)
    // the second weft node the test connected to the target is in the reply
    check(`${name}_pex_peers`, peers >= 1, `(${peers} peers)`)

    // Search: a framed query, a framed answer, then a clean end of stream.
    const search = await conn.newStream('/weft/search/1')
    const text = new TextEncoder().encode('nothing-is-shared')
    const query = new Uint8Array([1, text.length, ...text, 10])
    const searchRead = readAll(search)
    search.send(frame(query))
    await search.close()
    const answer = unframe(await withTimeout(searchRead, 10000, `${name} search`), `${name}_search`)
    // Version 1, no results, `more` false (postcard: a bool is one byte).
    const a = reader(answer)
    check(`${name}_search_answer`, a.byte() === 1 && a.varint() === 0 && a.byte() === 0 && a.done(), `(${answer.length} bytes)`)
    return peers
  } finally {
    await js.stop()
  }
}

async function dialedByWeft () {
  const js = await node(noise, ['/ip4/127.0.0.1/tcp/0'])
  try {
    const identified = new Promise(resolve => js.addEventListener('peer:identify', e => {
      if ((e.detail.agentVersion ?? '').startsWith('weft/')) resolve(e.detail)
    }))
    const addr = js.getMultiaddrs().find(a => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
    console.log(`LISTEN ${addr.toString()}`)
    const id = await withTimeout(identified, 60000, 'weft dialing js')
    const conns = js.getConnections(id.peerId)
    check('dialed_by_weft', conns.some(c => c.direction === 'inbound'), `(${id.agentVersion})`)
    // stay until the weft side has seen us too (it closes stdin then), at most 30 s
    await withTimeout(new Promise(resolve => process.stdin.on('close', resolve).resume()), 30000, 'the test to finish')
  } finally {
    await js.stop()
  }
}

try {
  const noisePeers = await againstWeft('noise', noise)
  const tlsPeers = await againstWeft('tls', tls)
  await dialedByWeft()
  console.log(`RESULT js_interop noise=ok tls=ok pex_peers_noise=${noisePeers} pex_peers_tls=${tlsPeers} dialed_by_weft=ok`)
  process.exit(0)
} catch (e) {
  console.error(`FAIL ${e.stack ?? e}`)
  process.exit(1)
}
