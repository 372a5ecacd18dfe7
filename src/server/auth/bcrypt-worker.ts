// Worker thread body for password checks: bcrypt is slow on purpose (tens of milliseconds a
// check), and on the server's own thread a burst of wrong logins held up every other request.
import { parentPort } from 'node:worker_threads'
import bcrypt from 'bcryptjs'

export interface BcryptCheck {
  id: number
  hash: string
  password: string
}

parentPort?.on('message', ({ id, hash, password }: BcryptCheck) => {
  let ok = false
  try {
    ok = bcrypt.compareSync(password, hash)
  } catch {
    // a hash bcryptjs cannot read matches nothing
  }
  parentPort!.postMessage({ id, ok })
})
