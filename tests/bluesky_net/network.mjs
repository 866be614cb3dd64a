// A local AT Protocol network for tests: PLC + PDS, and the app view when a PostgreSQL URL is given.
//
//   node network.mjs --data-dir DIR [--postgres-url URL | --postgres-url-on-stdin] [--postgres-schema NAME]
//                    [--pds-public-url URL] [--rate-limits] [--repo-write-points-per-hour N]
//
// Every server listens on 127.0.0.1 only. Files go under DIR (TMPDIR is moved there too, because the
// dev-env creates random folders in the temp dir). Prints exactly one JSON line on stdout when ready,
// {"event":"ready", ...URLs and DIDs}, then stays up until SIGTERM/SIGINT or until stdin closes (the
// parent died), and closes every server before exiting. Errors go to stderr; stdout carries only JSON.
//
// --postgres-url-on-stdin: load the code first (the slow part, ~3 s) and read the PostgreSQL URL from the
// first line of stdin, so the caller can start PostgreSQL meanwhile.
//
// Secrets are taken from the environment (BSKY_NET_ADMIN_PASSWORD, BSKY_NET_JWT_SECRET) and never printed.
//
// --pds-public-url: the URL written into account DID documents (default: the PDS's own URL). Clients such
// as the Python SDK switch to that URL after login, so pointing it at a fault-injecting proxy keeps every
// client request on the proxy. The app view and the PDS itself resolve it back to the PDS directly.
//
// --rate-limits turns on the PDS's own rate limiter (in memory); --repo-write-points-per-hour N turns it on
// with N write points an hour instead of 5000 (a create costs 3, a put 2, a delete 1).

import { randomBytes } from 'node:crypto'
import dns from 'node:dns'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import { parseArgs } from 'node:util'

const LOOPBACK = '127.0.0.1'
const startedAt = performance.now()

const { values: options } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'postgres-url': { type: 'string' },
    'postgres-url-on-stdin': { type: 'boolean', default: false },
    'postgres-schema': { type: 'string', default: 'bsky' },
    'pds-public-url': { type: 'string' },
    'rate-limits': { type: 'boolean', default: false },
    'repo-write-points-per-hour': { type: 'string' },
  },
  strict: true,
})

function fail(message) {
  process.stderr.write(`network.mjs: ${message}\n`)
  process.exit(2)
}

if (!options['data-dir']) fail('--data-dir is required')
const dataDir = path.resolve(options['data-dir'])
const tmpDir = path.join(dataDir, 'tmp')
fs.mkdirSync(tmpDir, { recursive: true })
// os.tmpdir() reads TMPDIR at each call: the dev-env's random folders now land in our data dir.
process.env.TMPDIR = tmpDir

// The dev-env servers call listen(port) on every interface; force loopback for all of them (and for
// get-port's probes, so that a port it reports free is free on the address we bind).
const originalListen = net.Server.prototype.listen
net.Server.prototype.listen = function listenOnLoopback(...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const [port, ...rest] = args
    const maybeHost = rest[0]
    if (typeof maybeHost === 'string') rest.shift()
    return originalListen.call(this, Number(port), LOOPBACK, ...rest)
  }
  if (args[0] && typeof args[0] === 'object' && args[0].path === undefined) {
    return originalListen.call(this, { ...args[0], host: LOOPBACK }, ...args.slice(1))
  }
  if (args.length === 0 || typeof args[0] === 'function') {
    return originalListen.call(this, 0, LOOPBACK, ...args)
  }
  return originalListen.apply(this, args)
}
// Internal URLs say "localhost"; make it mean 127.0.0.1 since nothing listens on ::1.
dns.setDefaultResultOrder('ipv4first')

const require = createRequire(import.meta.url)

const writePointsOption = options['repo-write-points-per-hour']
const repoWritePointsPerHour = writePointsOption === undefined ? undefined : Number(writePointsOption)
if (repoWritePointsPerHour !== undefined && !(repoWritePointsPerHour >= 1)) {
  fail('--repo-write-points-per-hour must be a positive number')
}
if (repoWritePointsPerHour !== undefined) {
  // The PDS hard-codes 5000 write points an hour (a create costs 3) and 35000 a day. Lower them by
  // wrapping the XRPC server factory the PDS calls (xrpc-server's index re-exports it through a getter
  // that reads this module's export at call time).
  const xrpcServerModule = require(require.resolve('@atproto/xrpc-server/dist/server.js', {
    paths: [path.dirname(require.resolve('@atproto/pds'))],
  }))
  const createServer = xrpcServerModule.createServer
  xrpcServerModule.createServer = function createServerWithLowerWriteLimits(lexicons, serverOptions) {
    const shared = serverOptions?.rateLimits?.shared
    if (shared) {
      serverOptions.rateLimits.shared = shared.map((limit) =>
        limit.name === 'repo-write-hour'
          ? { ...limit, points: repoWritePointsPerHour }
          : limit.name === 'repo-write-day'
            ? { ...limit, points: Math.min(limit.points, repoWritePointsPerHour * 7) }
            : limit,
      )
    }
    return createServer.call(this, lexicons, serverOptions)
  }
}

// Only the parts of the dev-env we use: its index also loads ozone, bsync and more (and bsky only when
// the app view runs: it is the slowest to load).
const wantAppView = Boolean(options['postgres-url'] || options['postgres-url-on-stdin'])
const { TestPlc } = require('@atproto/dev-env/dist/plc.js')
const { TestPds } = require('@atproto/dev-env/dist/pds.js')
const { mockNetworkUtilities } = require('@atproto/dev-env/dist/util.js')
const TestBsky = wantAppView ? require('@atproto/dev-env/dist/bsky.js').TestBsky : undefined
const pdsModule = require('@atproto/pds')
const { Secp256k1Keypair } = require('@atproto/crypto')
const ui8 = require('uint8arrays')
const getPort = require('get-port')

const adminPassword = process.env.BSKY_NET_ADMIN_PASSWORD || randomBytes(16).toString('hex')
const jwtSecret = process.env.BSKY_NET_JWT_SECRET || randomBytes(16).toString('hex')

// Mirrors TestPds.create (dev-env 0.3.215) with our own data dir, secrets, public URL and rate limits.
async function createPds({ plcUrl, port, publicUrl, appView }) {
  const plcRotationKey = await Secp256k1Keypair.create({ exportable: true })
  const recoveryKey = (await Secp256k1Keypair.create()).did()
  const pdsDir = path.join(dataDir, 'pds')
  fs.mkdirSync(pdsDir, { recursive: true })
  const env = {
    devMode: true,
    port,
    hostname: 'localhost',
    dataDirectory: pdsDir,
    blobstoreDiskLocation: path.join(pdsDir, 'blobs'),
    blobstoreDiskTmpLocation: path.join(pdsDir, 'blobs-tmp'),
    recoveryDidKey: recoveryKey,
    adminPassword,
    jwtSecret,
    serviceHandleDomains: ['.test'],
    didPlcUrl: plcUrl,
    bskyAppViewUrl: appView ? appView.url : 'https://appview.invalid',
    bskyAppViewDid: appView ? appView.did : 'did:example:invalid',
    bskyAppViewCdnUrlPattern: 'http://cdn.appview.invalid/%s/%s/%s',
    modServiceUrl: 'https://moderator.invalid',
    modServiceDid: 'did:example:invalid',
    plcRotationKeyK256PrivateKeyHex: ui8.toString(await plcRotationKey.export(), 'hex'),
    inviteRequired: false,
    disableSsrfProtection: true,
    serviceName: 'Campaign scheduler test PDS',
    rateLimitsEnabled: options['rate-limits'] || repoWritePointsPerHour !== undefined,
  }
  const cfg = pdsModule.envToCfg(env)
  if (publicUrl) cfg.service.publicUrl = publicUrl
  const secrets = pdsModule.envToSecrets(env)
  const server = await pdsModule.PDS.create(cfg, secrets)
  await server.start()
  return new TestPds(`http://localhost:${port}`, port, server)
}

// What to close on the way out, in order. The app view's firehose subscription goes first, and is not
// waited for long: aborting it lands in a 3 s reconnect back-off that its destroy() waits out, for nothing
// (we exit right after).
const closers = []
let shuttingDown = false

function settleWithin(promise, ms) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms).unref())])
}

async function shutdown(reason, exitCode = 0) {
  if (shuttingDown) return
  shuttingDown = true
  const timer = setTimeout(() => {
    process.stderr.write('network.mjs: close timed out, exiting\n')
    process.exit(exitCode || 1)
  }, 10_000)
  timer.unref()
  const ordered = [...closers].sort((a, b) => a.order - b.order)
  for (const { name, close } of ordered) {
    const closeStarted = performance.now()
    try {
      await close()
      process.stderr.write(`network.mjs: closed ${name} in ${Math.round(performance.now() - closeStarted)} ms\n`)
    } catch (error) {
      process.stderr.write(`network.mjs: closing ${name} after ${reason}: ${error?.stack ?? error}\n`)
    }
  }
  process.exit(exitCode)
}

process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
// The parent keeps our stdin open; if it dies without stopping us, stdin closes and we go too. Lines it
// sends are kept until read (a flowing stream drops data nobody listens to).
const stdinLines = []
let stdinWaiter = null
let stdinBuffer = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  stdinBuffer += chunk
  for (let end = stdinBuffer.indexOf('\n'); end >= 0; end = stdinBuffer.indexOf('\n')) {
    const line = stdinBuffer.slice(0, end)
    stdinBuffer = stdinBuffer.slice(end + 1)
    if (stdinWaiter) {
      const deliver = stdinWaiter
      stdinWaiter = null
      deliver(line)
    } else {
      stdinLines.push(line)
    }
  }
})
process.stdin.on('end', () => shutdown('stdin closed'))
process.stdin.on('error', () => shutdown('stdin error'))

function readStdinLine() {
  if (stdinLines.length > 0) return Promise.resolve(stdinLines.shift())
  return new Promise((resolve) => {
    stdinWaiter = resolve
  })
}

async function main() {
  const plc = await TestPlc.create({})
  closers.push({ name: 'plc', order: 9, close: () => plc.close() })

  const pdsPort = await getPort()
  const publicUrl = options['pds-public-url'] || `http://localhost:${pdsPort}`
  let bsky
  if (wantAppView) {
    const postgresUrl = options['postgres-url'] || (await readStdinLine()).trim()
    bsky = await TestBsky.create({
      port: await getPort(),
      plcUrl: plc.url,
      repoProvider: `ws://localhost:${pdsPort}`,
      dbPostgresUrl: postgresUrl,
      dbPostgresSchema: options['postgres-schema'],
    })
    // TestBsky.close() in this order, with the subscription first (see closers above).
    closers.push({ name: 'app view subscription', order: 0, close: () => settleWithin(bsky.sub.destroy(), 300) })
    closers.push({ name: 'app view', order: 2, close: () => bsky.server.destroy() })
    closers.push({ name: 'bsync', order: 3, close: () => bsky.bsync.destroy() })
    closers.push({ name: 'data plane', order: 4, close: () => bsky.dataplane.destroy() })
    closers.push({ name: 'app view database', order: 5, close: () => bsky.db.close() })
  }
  const pds = await createPds({
    plcUrl: plc.url,
    port: pdsPort,
    publicUrl,
    appView: bsky ? { url: bsky.url, did: bsky.ctx.cfg.serverDid } : undefined,
  })
  closers.push({ name: 'pds', order: 1, close: () => pds.close() })
  // Handles under .test resolve through the PDS, and the public URL maps back to the PDS itself.
  mockNetworkUtilities(pds, bsky)

  const ready = {
    event: 'ready',
    pid: process.pid,
    plc_url: plc.url,
    pds_url: publicUrl,
    pds_direct_url: pds.url,
    pds_did: pds.ctx.cfg.service.did,
    handle_domain: '.test',
    appview_url: bsky ? bsky.url : null,
    appview_did: bsky ? bsky.ctx.cfg.serverDid : null,
    rate_limits: pds.ctx.cfg.rateLimits.enabled,
    repo_write_points_per_hour: repoWritePointsPerHour ?? null,
    started_ms: Math.round(performance.now() - startedAt),
  }
  process.stdout.write(`${JSON.stringify(ready)}\n`)
}

main().catch((error) => {
  process.stderr.write(`network.mjs: start failed: ${error?.stack ?? error}\n`)
  shutdown('start failure', 1)
})
