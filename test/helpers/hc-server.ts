// A local HTTP server playing Healthchecks.io: records every ping; can fail in chosen ways.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Ping {
  method: string;
  path: string;
  kind: string;
  rid: string | null;
  body: string;
  at: number;
}

export interface HcServer {
  url: string;
  pings: Ping[];
  close(): Promise<void>;
}

export type HcMode = 'ok' | 'error500' | 'hang' | 'notfound' | 'redirect';

export async function startHcServer(mode: HcMode = 'ok', opts: { bodyLimit?: number; redirectTo?: string } = {}): Promise<HcServer> {
  const pings: Ping[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const parts = u.pathname.split('/').filter(Boolean);
      const last = parts[parts.length - 1] ?? '';
      const kind = ['start', 'fail', 'log'].includes(last) || /^\d+$/.test(last) ? last : 'success';
      pings.push({ method: req.method ?? '', path: u.pathname, kind, rid: u.searchParams.get('rid'), body, at: Date.now() });
      if (mode === 'hang') return; // never answers
      const headers: Record<string, string> = {};
      if (opts.bodyLimit) headers['Ping-Body-Limit'] = String(opts.bodyLimit);
      if (mode === 'error500') res.writeHead(500, headers).end('error');
      else if (mode === 'notfound') res.writeHead(404, headers).end('not found');
      else if (mode === 'redirect') res.writeHead(302, { ...headers, location: `${opts.redirectTo ?? 'http://127.0.0.1:9'}${u.pathname}${u.search}` }).end();
      else res.writeHead(200, headers).end('OK');
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/ping/0f6b2a3c-1d4e-4f5a-8b9c-0d1e2f3a4b5c`,
    pings,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
