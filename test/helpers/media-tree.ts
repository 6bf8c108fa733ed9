// Media trees for the media tests: one with every awkward case a restore must bring back, a
// file-by-file description to compare trees with, and a tiny tar writer for archives that GNU
// tar would refuse to make (hostile ones).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** Names that trip up shells, listings and archivers. */
export const AWKWARD = {
  space: 'with space.jpg',
  unicode: 'café ñandú 日本.png',
  decomposed: 'cafe\u0301.txt',
  newline: 'line\nbreak.txt',
  tab: 'tab\there.txt',
  quotes: `quo"te's \\back.txt`,
  dash: '-rf',
  arrow: 'a -> b',
  linkTo: 'x link to y',
  dot: '.hidden',
};

/**
 * Builds the awkward tree in `dir` (which must exist): nested and empty folders, every kind of
 * name above, symlinks (to a file, to a folder, dangling, climbing with ..), a hardlink pair,
 * unusual modes, old and sub-second mtimes (set last, folders included).
 */
export function makeAwkwardTree(dir: string): void {
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    fs.chmodSync(p, mode);
  };
  w('uploads/2024/01/photo one.jpg', crypto.randomBytes(300_000));
  w('uploads/2024/01/big.bin', crypto.randomBytes(2 * 1024 * 1024 + 17));
  w('uploads/2024/01/empty.txt', '');
  w(`docs/${AWKWARD.space}`, 'space\n');
  w(`docs/${AWKWARD.unicode}`, 'unicode\n');
  w(`docs/${AWKWARD.decomposed}`, 'nfd\n');
  w(`docs/${AWKWARD.newline}`, 'newline\n');
  w(`docs/${AWKWARD.tab}`, 'tab\n');
  w(`docs/${AWKWARD.quotes}`, 'quotes\n');
  w(`docs/${AWKWARD.dash}`, 'dash\n');
  w(`docs/${AWKWARD.arrow}`, 'arrow\n');
  w(`docs/${AWKWARD.linkTo}`, 'link to\n');
  w(AWKWARD.dot, 'dot\n', 0o600);
  w('private/secret.pdf', '%PDF-1.4 secret\n', 0o600);
  w('bin/run.sh', '#!/bin/sh\necho hi\n', 0o755);
  w('modes/group-write', 'gw\n', 0o664);
  w('modes/read-only', 'ro\n', 0o444);
  w('modes/setgid-exec', 'sg\n', 0o2755);
  w('modes/www-data', 'owned by uid 33\n');
  fs.chownSync(path.join(dir, 'modes/www-data'), 33, 33);
  w(`deep/${'n'.repeat(120)}/${'m'.repeat(120)}/${'é'.repeat(60)}.txt`, 'long path\n');
  fs.mkdirSync(path.join(dir, 'empty/nested/empty too'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'sticky'), { mode: 0o1777 });
  fs.chmodSync(path.join(dir, 'sticky'), 0o1777);
  fs.mkdirSync(path.join(dir, 'closed'), { mode: 0o700 });
  fs.chmodSync(path.join(dir, 'closed'), 0o700);
  fs.symlinkSync('uploads/2024/01/photo one.jpg', path.join(dir, 'latest.jpg'));
  fs.symlinkSync('uploads/2024', path.join(dir, 'this year'));
  fs.symlinkSync('does-not-exist', path.join(dir, 'dangling'));
  fs.symlinkSync('../uploads/2024/01/photo one.jpg', path.join(dir, `docs/${AWKWARD.unicode}.lnk`));
  fs.linkSync(path.join(dir, 'private/secret.pdf'), path.join(dir, 'docs/secret-hardlink.pdf'));
  // mtimes last, deepest first, so creating children does not move a folder's time again.
  const all: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
      all.push(r);
    }
  };
  walk('');
  let t = 1_500_000_000;
  for (const r of all) {
    const p = path.join(dir, r);
    t += 3601;
    const when = new Date(t * 1000 + 123); // sub-second part
    if (fs.lstatSync(p).isSymbolicLink()) fs.lutimesSync(p, when, when);
    else fs.utimesSync(p, when, when);
  }
}

export interface Described {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: string;
  mtimeNs: string;
  size?: number;
  sha256?: string;
  link?: string;
  nlink?: number;
  uid: number;
  gid: number;
}

/** Every entry below `dir` (not `dir` itself) by relative path, as a restore must bring it back. */
export function describeTree(dir: string, opts: { skip?: (name: string) => boolean; mtimeSeconds?: boolean } = {}): Record<string, Described> {
  const out: Record<string, Described> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      if (!rel && opts.skip?.(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p, { bigint: true });
      const base = { mode: (Number(st.mode) & 0o7777).toString(8), mtimeNs: String(opts.mtimeSeconds ? (st.mtimeNs / 1_000_000_000n) * 1_000_000_000n : st.mtimeNs), uid: Number(st.uid), gid: Number(st.gid) };
      if (st.isDirectory()) {
        out[r] = { type: 'dir', ...base };
        walk(r);
      } else if (st.isSymbolicLink()) {
        out[r] = { type: 'symlink', ...base, mode: '-', link: fs.readlinkSync(p) };
      } else if (st.isFile()) {
        out[r] = {
          type: 'file',
          ...base,
          size: Number(st.size),
          sha256: crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'),
          nlink: Number(st.nlink),
        };
      } else {
        out[r] = { type: 'other', ...base };
      }
    }
  };
  walk('');
  return out;
}

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  data?: string;
  link?: string;
  mode?: number;
}

const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

/** A ustar archive with exactly these entries, as a crafted archive would have them. */
export function handTar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const h = Buffer.alloc(512);
    const put = (s: string, off: number, len: number) => Buffer.from(s).copy(h, off, 0, len);
    const oct = (n: number, off: number, len: number) => put(n.toString(8).padStart(len - 1, '0') + '\0', off, len);
    put(e.name, 0, 100);
    oct(e.mode ?? (e.type === 'dir' ? 0o755 : 0o644), 100, 8);
    oct(0, 108, 8);
    oct(0, 116, 8);
    oct(e.type === 'file' ? data.length : 0, 124, 12);
    oct(1_700_000_000, 136, 12);
    put('        ', 148, 8);
    put(TYPEFLAG[e.type], 156, 1);
    put(e.link ?? '', 157, 100);
    put('ustar\0', 257, 6);
    put('00', 263, 2);
    if (e.type === 'char' || e.type === 'block') {
      oct(1, 329, 8);
      oct(3, 337, 8);
    }
    let sum = 0;
    for (const b of h) sum += b;
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
    blocks.push(h);
    if (e.type === 'file' && data.length) {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Compress a tar (or any bytes) into `file` with the codec its name implies. */
export function compressTo(file: string, tar: Buffer): void {
  const argv = file.endsWith('.gz') ? ['gzip', '-c'] : ['zstd', '-q', '-c'];
  fs.writeFileSync(file, execFileSync(argv[0]!, argv.slice(1), { input: tar, maxBuffer: 1 << 30 }));
}

/** A described tree as a restore brings it back: setuid and setgid bits are never restored. */
export function withoutSetIds(tree: Record<string, Described>): Record<string, Described> {
  return Object.fromEntries(
    Object.entries(tree).map(([k, v]) => [k, v.mode === '-' ? v : { ...v, mode: (parseInt(v.mode, 8) & ~0o6000).toString(8) }]),
  );
}
