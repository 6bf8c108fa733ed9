// What a plain-format dump may contain before anything of it is loaded. A backup file is treated
// as hostile: psql executes what it reads, and its meta-commands reach the host (`\!`, `\o |cmd`,
// `\copy … program`, backticks in `\set`), while SQL's `COPY … TO/FROM PROGRAM` and server files
// reach the database server. psql's `\restrict` guards only files that carry it, and an attacker
// leaves it out. So every byte is read the way psql's own lexer reads it (quotes, E'' strings,
// dollar quotes, nested comments, parentheses, BEGIN ATOMIC bodies, COPY data) and only what
// pg_dump itself writes is accepted:
//   - psql meta-commands: `\restrict <key>` and `\unrestrict <key>` (pg_dump since 2025), and the
//     `\.` line that ends COPY data; nothing else (pg_dump without --create writes no `\connect`);
//   - COPY: `COPY <table> [(<columns>)] FROM stdin;` alone on its line;
//   - top-level statements: the kinds pg_dump writes (CREATE, ALTER, COMMENT, GRANT, REVOKE, SET,
//     SECURITY LABEL, REFRESH MATERIALIZED VIEW, INSERT, BEGIN/COMMIT around large objects, DROP
//     with --clean) and, of SELECT, only the pg_catalog functions it calls; never a change of the
//     session's identity (SET ROLE, SET SESSION AUTHORIZATION, RESET), nor cluster-wide objects
//     (roles, databases, tablespaces, subscriptions, languages, ALTER SYSTEM).
// The first thing refused is reported with its line. Pure: chunks in, a verdict out.

export interface GuardVerdict {
  /** Why the file must not be loaded, as `line N: …`; null when nothing was refused. */
  refused: string | null;
  line: number | null;
  /** Roles the dump makes owners (`… OWNER TO <role>;`), for choosing the role that loads it. */
  owners: string[];
  /** Extensions it creates (`CREATE EXTENSION [IF NOT EXISTS] <name>`), likewise. */
  extensions: string[];
}

type State = 'normal' | 'squote' | 'equote' | 'quote-end' | 'dquote' | 'dollar' | 'line-comment' | 'block-comment' | 'copy-line' | 'copy-data';

const ALLOWED_META = new Set(['restrict', 'unrestrict']);
/** Statement kinds pg_dump writes (first word). */
const ALLOWED_FIRST = new Set(['CREATE', 'ALTER', 'COMMENT', 'GRANT', 'REVOKE', 'SET', 'SELECT', 'COPY', 'SECURITY', 'REFRESH', 'INSERT', 'BEGIN', 'COMMIT', 'DROP']);
const CLUSTER_OBJECTS =
  /^(?:CREATE|ALTER|DROP) (?:ROLE|USER|GROUP|DATABASE|TABLESPACE|SUBSCRIPTION|SERVER|USER MAPPING)\b|^ALTER SYSTEM\b|^(?:CREATE|ALTER|DROP) (?:OR REPLACE )?(?:TRUSTED |PROCEDURAL )*LANGUAGE\b/;
const SET_IDENTITY = /^SET (?:SESSION |LOCAL )?(?:ROLE|SESSION AUTHORIZATION|SESSION_PRELOAD_LIBRARIES|LOCAL_PRELOAD_LIBRARIES|DYNAMIC_LIBRARY_PATH)\b/;
/** psql lexes strings by this setting; pg_dump always turns it on, and nothing may turn it off. */
const SET_STD_STRINGS = /^SET (?:SESSION |LOCAL )?STANDARD_CONFORMING_STRINGS\b/;
/** pg_dump's own SELECTs, whole: the search path, sequence values, large objects; literals only. */
const LITERAL = "'(?:[^']|'')*'";
const SELECT_ALLOWED = new RegExp(
  `^SELECT pg_catalog\\.(?:set_config\\('search_path', ${LITERAL}, false\\)|setval\\(${LITERAL}, -?\\d+, (?:true|false)\\)|` +
    `lo_create\\('\\d+'\\)|lo_open\\('\\d+', \\d+\\)|lowrite\\(0, ${LITERAL}\\)|lo_close\\(0\\)|lo_unlink\\('\\d+'\\))$`,
  'i',
);
const NAME = `(?:"(?:[^"]|"")+"|[A-Za-z_\\x80-\\xff][\\w$\\x80-\\xff]*)`;
const COPY_FROM_STDIN = new RegExp(`^COPY ${NAME}(?:\\.${NAME})? ?(?:\\([^()]*\\) ?)?FROM stdin$`, 'i');
const WORD_CHAR = /[A-Za-z0-9_$\x80-\xff]/;
const OWNER_TO = new RegExp(`^ALTER .* OWNER TO (${NAME})$`, 'i');
const CREATE_EXTENSION = new RegExp(`^CREATE EXTENSION (?:IF NOT EXISTS )?(${NAME})`, 'i');

/** Pure: an identifier as written in SQL (`"Mixed"`, `plain`) as the name it stands for. */
export function identName(written: string): string {
  return written.startsWith('"') ? written.slice(1, -1).replace(/""/g, '"') : written.toLowerCase();
}
const HEAD_MAX = 4096;

/** Incremental guard; feed it chunks, then call finish(). Pure apart from its own state. */
export class DumpGuard {
  private state: State = 'normal';
  private line = 1;
  private refusedAt: { why: string; line: number } | null = null;
  /** The current top-level statement, quotes' contents left out, blanks collapsed (bounded). */
  private head = '';
  private headLine = 1;
  private parenDepth = 0;
  /** psql's heuristic for BEGIN ATOMIC bodies: words at the start, and BEGIN/CASE…END depth. */
  private words: string[] = [];
  private word = '';
  private beginDepth = 0;
  private prev = '';
  private blockDepth = 0;
  private dollarTag = '';
  private dollarWindow = '';
  /** A `$` possibly opening a dollar quote: `$`, then the tag's characters so far. */
  private dollarStart: string | null = null;
  /** The kind of string a `'` just seen in it may have ended. */
  private quoteOf: 'squote' | 'equote' = 'squote';
  private meta: { name: string; arg: string; line: number; reading: 'name' | 'arg' } | null = null;
  /** In COPY data: the first bytes of the current line (only `\.` matters). */
  private copyStart = '';
  private readonly owners = new Set<string>();
  private readonly extensions = new Set<string>();

  /** Whether something was refused already (the rest of the file is not read). */
  get refused(): boolean {
    return this.refusedAt !== null;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.refusedAt) {
      pos = this.state === 'copy-data' ? this.copyData(chunk, pos) : this.text(chunk, pos);
    }
  }

  finish(): GuardVerdict {
    this.endWord();
    if (this.meta) this.endMeta();
    if (!this.refusedAt && this.head.trim()) this.endStatement();
    const r = this.refusedAt;
    return { refused: r ? `line ${r.line}: ${r.why}` : null, line: r?.line ?? null, owners: [...this.owners].sort(), extensions: [...this.extensions].sort() };
  }

  private refuse(why: string, line = this.line): void {
    this.refusedAt ??= { why, line };
  }

  /** COPY data, skipped by line: only a line that is exactly `\.` ends it. Returns where it stopped. */
  private copyData(chunk: Buffer, from: number): number {
    let pos = from;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (this.copyStart.length < 4) this.copyStart += chunk.toString('latin1', pos, Math.min(end, pos + 4 - this.copyStart.length));
      if (nl < 0) return chunk.length;
      const last = this.copyStart === '\\.' || this.copyStart === '\\.\r';
      this.copyStart = '';
      this.line++;
      pos = nl + 1;
      if (last) {
        this.state = 'normal';
        return pos;
      }
    }
    return pos;
  }

  /** Everything but COPY data, character by character as psql's lexer goes. Returns where it stopped. */
  private text(chunk: Buffer, from: number): number {
    for (let i = from; i < chunk.length; i++) {
      if (this.refusedAt) return chunk.length;
      const c = String.fromCharCode(chunk[i]!);
      this.step(c);
      if (c === '\n') this.line++;
      if (this.state === 'copy-data') return i + 1;
    }
    return chunk.length;
  }

  private step(c: string): void {
    switch (this.state) {
      case 'squote':
      case 'equote':
        // A literal's text is kept in the statement's head: SELECT and SET are judged by their values.
        this.addHead(c);
        if (this.state === 'equote' && this.prev === '\\') this.prev = '';
        else if (c === "'") {
          // `''` inside a string is a quote, not its end: decided by the next character.
          this.quoteOf = this.state;
          this.state = 'quote-end';
        } else this.prev = c;
        return;
      case 'quote-end':
        if (c === "'") {
          this.addHead(c);
          this.state = this.quoteOf;
          this.prev = '';
          return;
        }
        this.state = 'normal';
        this.prev = "'";
        return this.normal(c);
      case 'dquote':
        this.addHead(c);
        if (c === '"') this.state = 'normal';
        return;
      case 'dollar':
        this.dollarWindow = (this.dollarWindow + c).slice(-this.dollarTag.length);
        if (this.dollarWindow === this.dollarTag) this.state = 'normal';
        return;
      case 'line-comment':
        if (c === '\n') this.state = 'normal';
        return;
      case 'block-comment':
        if (this.prev === '/' && c === '*') (this.blockDepth++, (this.prev = ''));
        else if (this.prev === '*' && c === '/') {
          this.blockDepth--;
          this.prev = '';
          if (this.blockDepth === 0) this.state = 'normal';
        } else this.prev = c;
        return;
      case 'copy-line':
        // After `COPY … FROM stdin;` psql reads the data from the next line, and what is left of
        // this one after the data: nothing may be left.
        if (c === '\n') {
          this.state = 'copy-data';
          this.copyStart = '';
        } else if (!/[ \t\r]/.test(c)) this.refuse('text after COPY … FROM stdin; on the same line');
        return;
      default:
        this.normal(c);
    }
  }

  private normal(c: string): void {
    if (this.meta) {
      if (this.meta.reading === 'name' && /[A-Za-z]/.test(c)) {
        this.meta.name += c;
        return;
      }
      if (c === '\n') return this.endMeta();
      this.meta.reading = 'arg';
      this.meta.arg += c;
      return;
    }
    if (this.dollarStart !== null) {
      if (c === '$') {
        this.state = 'dollar';
        this.dollarTag = this.dollarStart + '$';
        this.dollarWindow = '';
        this.dollarStart = null;
        this.addHead(' ');
        return;
      }
      if (/[A-Za-z_\x80-\xff]/.test(c) || (this.dollarStart.length > 1 && /[0-9]/.test(c))) {
        this.dollarStart += c;
        return;
      }
      // Not a dollar quote (`$1`, or a lone `$`): what was held is ordinary text.
      const held = this.dollarStart;
      this.dollarStart = null;
      for (const h of held) this.plain(h);
    }
    this.plain(c);
  }

  /** A character of ordinary SQL text (outside quotes, comments and meta-commands). */
  private plain(c: string): void {
    const p = this.prev;
    this.prev = c;
    if (WORD_CHAR.test(c) && c !== '$') {
      this.word += c;
      this.addHead(c);
      return;
    }
    const word = this.endWord();
    if (c === '\\') {
      this.meta = { name: '', arg: '', line: this.line, reading: 'name' };
      return;
    }
    if (c === "'") {
      // E'…' is an escape string when the E is a word of its own.
      this.state = word.toUpperCase() === 'E' && p.toUpperCase() === 'E' ? 'equote' : 'squote';
      this.prev = '';
      this.addHead("'");
      return;
    }
    if (c === '"') {
      this.state = 'dquote';
      this.addHead(c);
      return;
    }
    if (c === '-' && p === '-') {
      this.state = 'line-comment';
      this.head = this.head.slice(0, -1);
      return;
    }
    if (c === '*' && p === '/') {
      this.state = 'block-comment';
      this.blockDepth = 1;
      this.prev = '';
      this.head = this.head.slice(0, -1);
      return;
    }
    if (c === '$' && !WORD_CHAR.test(p)) {
      this.dollarStart = '$';
      return;
    }
    if (c === '(') this.parenDepth++;
    else if (c === ')') this.parenDepth = Math.max(0, this.parenDepth - 1);
    else if (c === ';' && this.parenDepth === 0 && this.beginDepth === 0) return this.endStatement();
    this.addHead(c);
  }

  /** The word just ended, if any, through psql's BEGIN ATOMIC heuristic. */
  private endWord(): string {
    const w = this.word;
    if (!w) return '';
    this.word = '';
    const lower = w.toLowerCase();
    if (this.words.length < 4) this.words.push(['create', 'function', 'procedure', 'or', 'replace'].includes(lower) ? lower[0]! : '-');
    const [a, b, c2, d] = this.words;
    const routine = a === 'c' && (b === 'f' || b === 'p' || (b === 'o' && c2 === 'r' && (d === 'f' || d === 'p')));
    if (routine && this.parenDepth === 0) {
      if (lower === 'begin') this.beginDepth++;
      else if (lower === 'case' && this.beginDepth >= 1) this.beginDepth++;
      else if (lower === 'end' && this.beginDepth > 0) this.beginDepth--;
    }
    return w;
  }

  private endMeta(): void {
    const m = this.meta!;
    this.meta = null;
    if (m.name === '') {
      // A one-character command: `\!` (a shell), `\\`, `\?`, or `\.` outside COPY data.
      const name = m.arg.charAt(0);
      return this.refuse(name === '.' ? '"\\." outside COPY data' : `psql meta-command "\\${name}", which pg_dump never writes`, m.line);
    }
    if (!ALLOWED_META.has(m.name)) return this.refuse(`psql meta-command "\\${m.name}", which pg_dump never writes`, m.line);
    if (!/^ [A-Za-z0-9]+\s*$/.test(m.arg)) return this.refuse(`"\\${m.name}" with more than its key`, m.line);
  }

  private addHead(c: string): void {
    if (this.head.length === 0) {
      if (/\s/.test(c)) return;
      this.headLine = this.line;
    }
    if (this.head.length >= HEAD_MAX) return;
    if (/\s/.test(c)) {
      if (!this.head.endsWith(' ')) this.head += ' ';
    } else this.head += c;
  }

  private endStatement(): void {
    this.endWord();
    const text = this.head.trim();
    const line = this.headLine;
    this.head = '';
    this.words = [];
    this.beginDepth = 0;
    this.parenDepth = 0;
    if (!text) return;
    const upper = text.toUpperCase();
    const first = /^[A-Z_]+/.exec(upper)?.[0] ?? text.slice(0, 20);
    if (!ALLOWED_FIRST.has(first)) return this.refuse(`a ${first} statement, which pg_dump never writes`, line);
    if (CLUSTER_OBJECTS.test(upper)) return this.refuse(`"${text.slice(0, 60)}" changes the whole server, not one database`, line);
    if (SET_IDENTITY.test(upper)) return this.refuse(`"${text.slice(0, 60)}" changes who the session is`, line);
    if (SET_STD_STRINGS.test(upper) && !/(?:=| TO ) ?(?:ON|TRUE)$/.test(upper)) {
      return this.refuse(`"${text.slice(0, 60)}": pg_dump always writes standard_conforming_strings = on`, line);
    }
    if (first === 'SELECT' && !SELECT_ALLOWED.test(text)) return this.refuse(`"${text.slice(0, 60)}", a query pg_dump never runs`, line);
    if (first === 'COPY') {
      if (!COPY_FROM_STDIN.test(text)) return this.refuse(`"${text.slice(0, 80)}": pg_dump only writes COPY … FROM stdin`, line);
      this.state = 'copy-line';
      return;
    }
    const owner = OWNER_TO.exec(text);
    if (owner) this.owners.add(identName(owner[1]!));
    const ext = CREATE_EXTENSION.exec(text);
    if (ext) this.extensions.add(identName(ext[1]!));
  }
}
