/**
 * @module crypto
 * restic's cryptography (repository format §2), byte-exact with restic 0.14.
 *
 * Terms:
 * - **Master key**: the repository's secret, three parts: `encrypt` (AES-256 key), `mac.k`
 *   (AES-128 key) and `mac.r` (Poly1305 r). Every encrypted file and blob uses it.
 * - **Seal / open**: authenticated encryption of one file or blob. Sealed bytes are
 *   `IV(16) || AES-256-CTR(plaintext) || Poly1305-AES tag(16)`, so sealing adds CRYPTO_OVERHEAD
 *   (32) bytes. The tag covers the ciphertext only and is checked before anything is decrypted.
 * - **Key file**: a plain-JSON file under `keys/` that wraps the master key with a **user key**
 *   derived from a password by scrypt. Several key files (passwords) can wrap one master key.
 *
 * @example
 * const master = newMasterKey()
 * const { bytes } = await createKeyFile('secret', master, { params: await calibrateScrypt(), username: 'ann', hostname: 'nas' })
 * const again = await openKeyFile(bytes, 'secret')
 * const sealed = seal(again, Buffer.from('{"version":2}'))
 * open(master, sealed).toString() // '{"version":2}'
 */
export { type MasterKey, newMasterKey, masterKeyToJSON, masterKeyFromJSON } from './master-key.js'
export { CRYPTO_OVERHEAD, Sealable, seal, sealInPlace, sealInto, open, openInOrder, openInto, type CiphertextReader } from './seal.js'
export { MAC_SIZE, NONCE_SIZE } from './poly1305-aes.js'
export { type ScryptParams, calibrateScrypt } from './scrypt.js'
export { type KeyFileInfo, type CreateKeyFileOptions, createKeyFile, openKeyFile, parseKeyFile } from './key-file.js'
