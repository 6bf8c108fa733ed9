// Healthchecks.io ping URLs (https://healthchecks.io/docs/http_api/): what makes one usable, the
// URL of each kind of ping, and the form fit for a message (the URL itself is a secret). Pure.

export type PingKind = 'start' | 'success' | 'fail' | 'log' | number;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why a ping URL cannot be used, or null when it can (for config validation). */
export function checkPingUrl(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'must be an http(s) URL';
  const segments = u.pathname.split('/').filter(Boolean);
  if (segments.length === 0) return 'has no check UUID or <ping-key>/<slug> in its path';
  return null;
}

/** The URL of one ping: success is the check URL itself, the others append a suffix; rid is always set. */
export function pingUrl(base: string, kind: PingKind, rid: string): string {
  const u = new URL(base);
  let suffix = '';
  if (typeof kind === 'number') {
    if (!Number.isInteger(kind) || kind < 0 || kind > 255) throw new RangeError(`exit status must be 0-255, got ${kind}`);
    suffix = `/${kind}`;
  } else if (kind !== 'success') {
    suffix = `/${kind}`;
  }
  u.pathname = u.pathname.replace(/\/+$/, '') + suffix;
  // searchParams.set keeps other parameters such as create=1 (slug auto-provisioning).
  u.searchParams.set('rid', rid);
  return u.toString();
}

/** A URL fit for a message: scheme and host only ("https://hc-ping.com/***"). */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/***`;
  } catch {
    return '***';
  }
}
