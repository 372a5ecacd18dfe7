/** The three things rest-server counts per user, repository and type. */
export type BlobOperation = 'read' | 'write' | 'delete'

/** rest-server's labels: the user, the repository path (`alice/laptop`) and the file type. */
export interface BlobLabels {
  user: string
  repo: string
  type: string
}

const BLOB_HELP: Record<BlobOperation, [string, string]> = {
  read: ['Total number of blobs read', 'Total number of bytes read from blobs'],
  write: ['Total number of blobs written', 'Total number of bytes written to blobs'],
  delete: ['Total number of blobs deleted', 'Total number of bytes of blobs deleted'],
}

/** Request latency buckets in seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

interface Histogram {
  counts: number[]
  sum: number
  count: number
}

/**
 * Prometheus metrics in the text exposition format (0.0.4): rest-server's counters
 * `rest_server_blob_{read,write,delete}_total` and `…_bytes_total` (labels user, repo, type),
 * plus `cairn_rest_request_duration_seconds` (histogram by method and status code) and
 * `cairn_rest_requests_in_flight`.
 */
export class Metrics {
  readonly #blobs = new Map<string, { op: BlobOperation; labels: BlobLabels; count: number; bytes: number }>()
  readonly #latency = new Map<string, { method: string; code: string; h: Histogram }>()
  #inFlight: () => number = () => 0

  /** Where the in-flight gauge reads from. */
  setInFlightSource(fn: () => number): void {
    this.#inFlight = fn
  }

  /** Counts one object read, written or deleted, and its bytes. */
  blob(op: BlobOperation, labels: BlobLabels, bytes: number): void {
    const k = `${op}\0${labels.user}\0${labels.repo}\0${labels.type}`
    let e = this.#blobs.get(k)
    if (e === undefined) {
      e = { op, labels, count: 0, bytes: 0 }
      this.#blobs.set(k, e)
    }
    e.count++
    e.bytes += bytes
  }

  /** Records one finished request's latency. */
  request(method: string, status: number, seconds: number): void {
    const code = String(status)
    const k = `${method}\0${code}`
    let e = this.#latency.get(k)
    if (e === undefined) {
      e = { method, code, h: { counts: BUCKETS.map(() => 0), sum: 0, count: 0 } }
      this.#latency.set(k, e)
    }
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) e.h.counts[i]++
    })
    e.h.sum += seconds
    e.h.count++
  }

  /** The exposition text. */
  render(): string {
    const out: string[] = []
    for (const op of ['read', 'write', 'delete'] as const) {
      const rows = [...this.#blobs.values()].filter((e) => e.op === op)
      out.push(`# HELP rest_server_blob_${op}_total ${BLOB_HELP[op][0]}`, `# TYPE rest_server_blob_${op}_total counter`)
      for (const r of rows) out.push(`rest_server_blob_${op}_total${labels(r.labels)} ${r.count}`)
      out.push(`# HELP rest_server_blob_${op}_bytes_total ${BLOB_HELP[op][1]}`, `# TYPE rest_server_blob_${op}_bytes_total counter`)
      for (const r of rows) out.push(`rest_server_blob_${op}_bytes_total${labels(r.labels)} ${r.bytes}`)
    }
    out.push('# HELP cairn_rest_request_duration_seconds Time from request start to the end of the response', '# TYPE cairn_rest_request_duration_seconds histogram')
    for (const { method, code, h } of this.#latency.values()) {
      const base = { method, code }
      BUCKETS.forEach((b, i) => out.push(`cairn_rest_request_duration_seconds_bucket${labels({ ...base, le: String(b) })} ${h.counts[i]}`))
      out.push(`cairn_rest_request_duration_seconds_bucket${labels({ ...base, le: '+Inf' })} ${h.count}`)
      out.push(`cairn_rest_request_duration_seconds_sum${labels(base)} ${h.sum}`)
      out.push(`cairn_rest_request_duration_seconds_count${labels(base)} ${h.count}`)
    }
    out.push('# HELP cairn_rest_requests_in_flight Requests being served', '# TYPE cairn_rest_requests_in_flight gauge')
    out.push(`cairn_rest_requests_in_flight ${this.#inFlight()}`)
    return out.join('\n') + '\n'
  }
}

function labels(l: object): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return `{${parts.join(',')}}`
}
