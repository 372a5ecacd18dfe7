/**
 * The shared Backend conformance suite run end to end through the protocol: cairn's REST client
 * (RestBackend) → this server → a LocalBackend directory tree, and → a MemoryBackend prefix.
 * Upload verification is off here (rest-server's --no-verify-upload): one case of the suite
 * saves bytes that do not hash to their name, which a verifying server refuses by design
 * (protocol.test.ts checks that refusal).
 */
import { after } from 'node:test'
import { openBackend } from '../../backends/index.js'
import { runConformanceSuite } from '../../backends/testing/conformance.js'
import { makeTempRoot } from '../../../test/helpers/index.js'
import { quickHash, restUrl, startTestServer } from '../testing.js'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const tmp = await makeTempRoot('server-conformance')
await writeFile(join(tmp.path, '.htpasswd'), `c:${quickHash('pw')}\n`)
const local = await startTestServer({ path: tmp.path, privateRepos: true, verifyUpload: false })
const memory = await startTestServer({ backend: 'memory:server-conformance', noAuth: true, verifyUpload: false })
after(async () => {
  await local.close()
  await memory.close()
  await tmp.cleanup()
})

let n = 0
runConformanceSuite('RestBackend → cairn serve rest → LocalBackend', async () => openBackend(restUrl(local.url, `/c/repo${++n}/`, 'c', 'pw')))
runConformanceSuite('RestBackend → cairn serve rest → MemoryBackend', async () => openBackend(restUrl(memory.url, `/m/repo${++n}/`)))
