// A js-libp2p peer for the p2p module's interoperability test (JsLibp2pInteropTest).
// It listens on 127.0.0.1 over TCP with Noise and Yamux, runs identify and ping, and reports what it sees as one
// JSON object per line on stdout. It reads commands from stdin, one per line:
//   dial <multiaddr>   dial that address, then ping it
//   ping <peer id>     ping a peer that is already connected
//   quit               stop and exit
// With the argument --mdns it also runs mDNS discovery (querying every second) and reports each peer it discovers.
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { mdns } from '@libp2p/mdns'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createInterface } from 'node:readline'

const report = (event) => process.stdout.write(JSON.stringify(event) + '\n')

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping() },
  peerDiscovery: process.argv.includes('--mdns') ? [mdns({ interval: 1000 })] : []
})

node.addEventListener('peer:discovery', (evt) => {
  report({ event: 'discovery', peerId: evt.detail.id.toString(), addrs: evt.detail.multiaddrs.map(String) })
})

node.addEventListener('connection:open', (evt) => {
  const c = evt.detail
  report({ event: 'connection', peerId: c.remotePeer.toString(), direction: c.direction, remoteAddr: c.remoteAddr.toString() })
})
node.addEventListener('peer:identify', (evt) => {
  const r = evt.detail
  report({
    event: 'identify',
    peerId: r.peerId.toString(),
    agentVersion: r.agentVersion,
    protocolVersion: r.protocolVersion,
    protocols: r.protocols,
    listenAddrs: r.listenAddrs.map(String),
    observedAddr: r.observedAddr ? r.observedAddr.toString() : null,
    // present only if the peer's signed peer record verified (RecordEnvelope.openAndCertify)
    signedPeerRecord: r.signedPeerRecord ? r.signedPeerRecord.addresses.map(String) : null
  })
})

await node.start()
report({ event: 'listening', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  const [command, arg] = line.trim().split(/\s+/)
  try {
    if (command === 'dial') {
      const connection = await node.dial(multiaddr(arg))
      report({ event: 'dialed', peerId: connection.remotePeer.toString() })
      const rtt = await node.services.ping.ping(connection.remotePeer)
      report({ event: 'ping', peerId: connection.remotePeer.toString(), rttMs: rtt })
    } else if (command === 'ping') {
      const rtt = await node.services.ping.ping(peerIdFromString(arg))
      report({ event: 'ping', peerId: arg, rttMs: rtt })
    } else if (command === 'quit') {
      break
    }
  } catch (e) {
    report({ event: 'error', command, message: String(e && e.stack || e) })
  }
}
await node.stop()
process.exit(0)
