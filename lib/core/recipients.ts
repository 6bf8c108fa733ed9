// age recipients as the config writes them: X25519 public keys (`age1…`) and OpenSSH public keys
// (`ssh-ed25519 …`, `ssh-rsa …`, as in authorized_keys, comment allowed). The server holds only
// these; a private key pasted by mistake is named as such, since it must never be on the server.
// Pure, table-tested.

/** bech32's alphabet: an `age1` key is 58 of these after the prefix. */
const AGE_X25519 = /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/;
const SSH_TYPES = ['ssh-ed25519', 'ssh-rsa'] as const;

/** The recipient as `age -r` takes it (an ssh key without its comment), or why it is not one. */
export type RecipientCheck = { ok: true; recipient: string } | { ok: false; problem: string };

/** The key type an OpenSSH public key's blob names in its first field (length-prefixed). */
function blobType(base64: string): string | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return null;
  const blob = Buffer.from(base64, 'base64');
  if (blob.length < 4) return null;
  const len = blob.readUInt32BE(0);
  if (len > 64 || blob.length < 4 + len) return null;
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function checkRecipient(text: string): RecipientCheck {
  const value = text.trim();
  if (/^AGE-SECRET-KEY-1/i.test(value) || /PRIVATE KEY-----/.test(value)) {
    return { ok: false, problem: 'this is a private key (an identity); the config takes public keys only (age1… or ssh-ed25519 …); keep the identity off the server' };
  }
  if (/^age1/.test(value)) {
    if (AGE_X25519.test(value)) return { ok: true, recipient: value };
    if (/^age1pq/.test(value)) return { ok: false, problem: 'post-quantum age keys need age 1.3 or later; use an X25519 key from age-keygen (age 1.1 and 1.2)' };
    return { ok: false, problem: `"${value.slice(0, 16)}…" is not an age public key (age1 followed by 58 characters, as age-keygen -y prints)` };
  }
  const [type, base64] = value.split(/\s+/);
  if (type && (SSH_TYPES as readonly string[]).includes(type)) {
    if (!base64 || blobType(base64) !== type) return { ok: false, problem: `not a valid ${type} public key (as in id_…pub or authorized_keys)` };
    return { ok: true, recipient: `${type} ${base64}` };
  }
  return { ok: false, problem: `"${value.slice(0, 24)}${value.length > 24 ? '…' : ''}" is not an age recipient: use age1… keys (age-keygen) or ssh-ed25519/ssh-rsa public keys` };
}
