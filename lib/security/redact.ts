// Secret scrubbing for anything that leaves the process: logs (lib/logger.ts), API responses and
// WebSocket frames (lib/http/respond.ts json(), the realtime hub). Owns the list of secret shapes:
// credentials inside URLs (`scheme://user:pw@host`), `key=`/`password=`/`secret=`/`token=` options
// (QEMU's rbd and curl drivers: `rbd:pool/img:id=admin:key=AQB…`), JSON options of a `json:{…}` disk
// filename, `Authorization: Bearer …` and Snapfleet's own tokens.
// Invariants: every pattern is linear (no nested or adjacent unbounded quantifiers over the same
// characters), so a hostile string cannot stall the event loop; values are replaced, keys stay, so
// a redacted line still says which option was set.
const MASK = "***";

const PATTERNS: Array<[RegExp, string]> = [
  // scheme://userinfo@  → scheme://***@   (userinfo never contains '/', '@' or whitespace)
  [/\b([a-z][a-z0-9+.-]{0,31}:\/\/)[^/@\s"'<>]{1,512}@/gi, `$1${MASK}@`],
  // key=value options, value ending at a separator used by URLs, QEMU option strings or shells
  [
    /\b(key|password|passwd|pass|pwd|secret|token|auth|access[_-]?key|secret[_-]?key|api[_-]?key|sig|signature)=[^&:;,\s"'<>]{1,4096}/gi,
    `$1=${MASK}`,
  ],
  // "password": "…" inside JSON text (json:{…} disk filenames)
  // (also when that text is itself inside a JSON string: \"password\":\"…\")
  [
    /(\\?"(?:key|password|passwd|secret|token|auth|access-key|secret-key|key-secret|password-secret)\\?"\s{0,8}:\s{0,8}\\?")[^"\\]{0,4096}/gi,
    `$1${MASK}`,
  ],
  // Authorization headers
  [/\b(bearer|basic)\s{1,8}[A-Za-z0-9._~+/=-]{8,4096}/gi, `$1 ${MASK}`],
  // Snapfleet's own tokens (api, session, setup)
  [/\bsf(?:t|s|u)_[A-Za-z0-9_-]{16,128}/g, `${MASK}`],
];

/** The string with every secret value masked. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [re, replacement] of PATTERNS) {
    re.lastIndex = 0;
    out = out.replace(re, replacement);
  }
  return out;
}

const SECRET_KEYS =
  /^(password|passwordHash|privateKey|secret|token|tokenHash|authorization|cookie|set-cookie|connectionString|passphrase)$/i;

/** A deep copy with secret-shaped strings masked and secret-named fields replaced; cycles cut. */
export function scrubDeep<T>(value: T, depth = 0, seen = new WeakSet<object>()): T {
  if (typeof value === "string") return redactSecrets(value) as T;
  if (value === null || typeof value !== "object" || depth > 32) return value;
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  if (seen.has(value as object)) return "[Circular]" as T;
  seen.add(value as object);
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1, seen)) as T;
  if (value instanceof Error) {
    const copy: Record<string, unknown> = { type: value.name, message: redactSecrets(value.message) };
    if (value.stack) copy.stack = redactSecrets(value.stack);
    for (const [k, v] of Object.entries(value)) copy[k] = SECRET_KEYS.test(k) ? MASK : scrubDeep(v, depth + 1, seen);
    if (value.cause !== undefined) copy.cause = scrubDeep(value.cause, depth + 1, seen);
    return copy as T;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEYS.test(k) && v !== null && v !== undefined ? MASK : scrubDeep(v, depth + 1, seen);
  }
  return out as T;
}
