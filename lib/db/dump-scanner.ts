// Pure. Reads a plain-format pg_dump as it streams past and records what a checker needs: the
// versions in its header, its table of contents, rows per table in its COPY blocks, and
// whether it ends with pg_dump's completion footer. A dump without that footer was cut short.
export const FOOTER = '-- PostgreSQL database dump complete';

export interface DumpHeader {
  isPlainDump: boolean;
  pgDumpVersion: string | null;
  serverVersion: string | null;
}

/** Pure: what the first lines of a dump say. */
export function parseDumpHeader(text: string): DumpHeader {
  return {
    isPlainDump: /^--\n-- PostgreSQL database dump\n--/m.test(text) || /^-- PostgreSQL database dump/m.test(text),
    pgDumpVersion: /^-- Dumped by pg_dump version (\S+)/m.exec(text)?.[1] ?? null,
    serverVersion: /^-- Dumped from database version (\S+)/m.exec(text)?.[1] ?? null,
  };
}


export interface DumpInfo {
  bytes: number;
  complete: boolean;
  serverVersion: string | null;
  pgDumpVersion: string | null;
  /** Rows in each table's COPY block, keyed "schema.table". */
  rows: Record<string, number>;
  /** Table-of-contents entries by type (TABLE, VIEW, SEQUENCE, …). */
  toc: Record<string, number>;
}

const NL = 0x0a;
const MAX_LINE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** Incremental scanner; feed it chunks, then call finish(). Pure apart from its own state. */
export class DumpScanner {
  private info: DumpInfo = { bytes: 0, complete: false, serverVersion: null, pgDumpVersion: null, rows: {}, toc: {} };
  private copyTable: string | null = null;
  private copyRows = 0;
  /** Start of an unfinished line carried to the next chunk (bounded: only metadata lines matter). */
  private carry: Buffer = EMPTY;
  private tail = '';

  push(chunk: Buffer): void {
    this.info.bytes += chunk.length;
    this.tail = (this.tail + chunk.toString('latin1', Math.max(0, chunk.length - 128))).slice(-128);
    let pos = 0;
    if (this.carry.length) {
      // Only the first line continues the carried start of a line: join just that line (bounded),
      // never the whole chunk, so data is not copied once more on its way through.
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.keepUnfinished(Buffer.concat([this.carry, chunk.subarray(0, this.keepLimit())]));
        return;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, Math.min(nl, MAX_LINE))]);
      this.carry = EMPTY;
      this.line(line, 0, line.length);
      pos = nl + 1;
    }
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      if (nl < 0) {
        this.keepUnfinished(chunk.subarray(pos));
        return;
      }
      this.line(chunk, pos, nl);
      pos = nl + 1;
    }
  }

  /** How much of an unfinished line can matter: inside COPY only whether it is `\.`; else a metadata line. */
  private keepLimit(): number {
    return this.copyTable === null ? MAX_LINE : 3;
  }

  private keepUnfinished(rest: Buffer): void {
    this.carry = Buffer.from(rest.subarray(0, this.keepLimit()));
  }

  /** One complete line, `buf[start, end)` without its newline. */
  private line(buf: Buffer, start: number, end: number): void {
    if (this.copyTable !== null) {
      if (end - start === 2 && buf[start] === 0x5c && buf[start + 1] === 0x2e) {
        this.info.rows[this.copyTable] = (this.info.rows[this.copyTable] ?? 0) + this.copyRows;
        this.copyTable = null;
      } else {
        this.copyRows++;
      }
    } else if (buf[start] === 0x2d || buf[start] === 0x43) {
      // Only lines starting with "-" (comments) or "C" (COPY) carry what we record.
      this.metadataLine(buf.toString('utf8', start, Math.min(end, start + MAX_LINE)));
    }
  }

  private metadataLine(line: string): void {
    let m: RegExpExecArray | null;
    if ((m = /^COPY (.+?) (?:\(.*\) )?FROM stdin;$/.exec(line))) {
      this.copyTable = unquoteQualified(m[1]!);
      this.copyRows = 0;
      this.info.rows[this.copyTable] ??= 0;
    } else if ((m = /^-- Name: .*; Type: ([A-Z][A-Z ]*?); Schema: /.exec(line))) {
      this.info.toc[m[1]!] = (this.info.toc[m[1]!] ?? 0) + 1;
    } else if ((m = /^-- Dumped from database version (\S+)/.exec(line))) {
      this.info.serverVersion = m[1]!;
    } else if ((m = /^-- Dumped by pg_dump version (\S+)/.exec(line))) {
      this.info.pgDumpVersion = m[1]!;
    }
  }

  finish(): DumpInfo {
    // The footer is followed only by blank lines (and, since PG 17.6, a \unrestrict line).
    const end = this.tail.replace(/\n\\unrestrict \S+\n*$/, '\n');
    this.info.complete = this.copyTable === null && /\n-- PostgreSQL database dump complete\n+(?:--\n*)?$/.test(end);
    return this.info;
  }
}

/** Pure: `public."Weird ""name"""` → `public.Weird "name"`. */
export function unquoteQualified(text: string): string {
  const parts: string[] = [];
  const re = /"((?:[^"]|"")*)"|([^."]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!);
  return parts.join('.');
}

/** Pure: total rows in the dump. */
export function totalRows(info: Pick<DumpInfo, 'rows'>): number {
  return Object.values(info.rows).reduce((a, b) => a + b, 0);
}
