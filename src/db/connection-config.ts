import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

export interface ConnectionConfig {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  ssl: SslConfig | undefined;
  connectTimeoutMs: number;
  /** The library's: the password comes from the URL only (no MYSQL_PWD, no --password), and messages say so. */
  urlOnly?: boolean;
  /** false where the password was typed at the prompt or came from MYSQL_PWD: no URL-encoding advice then. */
  passwordFromUrl?: boolean;
}

export interface SslConfig {
  ca?: string;
  rejectUnauthorized: boolean;
}

export interface ConnectionInputs {
  url: string | undefined;
  env: NodeJS.ProcessEnv;
  sslCa?: string | undefined;
  /** A password typed at a prompt (`--password` with no value); wins over MYSQL_PWD. */
  password?: string | undefined;
  connectTimeoutMs?: number | undefined;
  /** The library: no MYSQL_PWD or --password to point to in messages (ConnectionConfig.urlOnly). */
  urlOnly?: boolean | undefined;
}

const PROTOCOLS = new Set(['mysql:', 'mariadb:']);
const URL_OPTIONS = new Set(['ssl', 'ssl-ca', 'sslca', 'connectTimeout', 'connect_timeout']);
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/**
 * Ten minutes. Node's timers take at most 2^31-1 ms (about 24.8 days) and fire at once past that
 * (TimeoutOverflowWarning), so an unbounded value turned "wait long" into "give up immediately";
 * no server worth waiting for takes longer than this to answer a TCP connect and handshake.
 */
export const MAX_CONNECT_TIMEOUT_MS = 600_000;

/**
 * Turns `--url` / `DATABASE_URL` (plus MYSQL_PWD, --ssl-ca) into a connection config.
 * Every failure is a UsageError whose message never contains the password.
 */
export function resolveConnectionConfig(inputs: ConnectionInputs): ConnectionConfig {
  const raw = inputs.url ?? inputs.env['DATABASE_URL'];
  if (raw === undefined || raw.trim() === '') {
    throw new UsageError(
      'No database given: pass --url mysql://user@host:3306/dbname or set DATABASE_URL.',
    );
  }
  const trimmed = raw.trim();
  const credentials = credentialSpan(trimmed);
  if (credentials !== null && /[/?#]/.test(trimmed.slice(credentials.userStart, credentials.end))) {
    // A URL parser ends the user:password part at the first '/', '?' or '#', so the rest of the
    // password would be read as host, port, path or query (and echoed in messages): refuse it.
    throw new UsageError(
      `The database URL is ambiguous (${maskUrl(raw)}): a '/', '?' or '#' in the password, or a '@' after the host, must be percent-encoded (%2F %3F %23 %40)${inputs.urlOnly === true ? '' : '; or give the password with MYSQL_PWD or --password'}.`,
    );
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    // Shown only as a URL (scheme://…), whose password maskUrl finds: another form (a DSN such as
    // "host=… password=…", "user/password@host") holds its password where no mask looks.
    const shown = /^\s*[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw) ? maskUrl(raw) : 'not shown: it is not a URL, and may hold a password';
    throw new UsageError(`The database URL is malformed (${shown}); expected mysql://user:password@host:3306/dbname.`);
  }
  if (!PROTOCOLS.has(url.protocol)) {
    throw new UsageError(
      `The database URL must start with mysql:// (got ${url.protocol}//); expected mysql://user:password@host:3306/dbname.`,
    );
  }
  if (url.hostname === '') {
    throw new UsageError(`The database URL names no host (${maskUrl(raw)}).`);
  }
  const database = decode(url.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) {
    throw new UsageError(
      `The database URL names no database (${maskUrl(raw)}); add it as the path: mysql://user@host:3306/dbname.`,
    );
  }
  // A NUL ends the name where the server reads it: the handshake failed (exit 3) on what is a typo.
  if (database.includes('\0')) throw new UsageError(`The database URL's database name holds a NUL character (%00) (${maskUrl(raw)}).`);
  const port = url.port === '' ? 3306 : Number(url.port);
  // Port 0 is no port: the driver connected to 3306 and messages said ":0".
  if (port === 0) throw new UsageError(`The database URL's port is 0 (${maskUrl(raw)}); give the server's port, or leave it out for 3306.`);
  for (const key of url.searchParams.keys()) {
    if (!URL_OPTIONS.has(key)) {
      throw new UsageError(
        `Unknown option '${key}' in the database URL; supported: ssl, ssl-ca, connectTimeout.`,
      );
    }
  }

  const urlPassword = url.password === '' ? undefined : decode(url.password);
  const envPassword = inputs.env['MYSQL_PWD'];
  const password = inputs.password ?? urlPassword ?? (envPassword === '' ? undefined : envPassword);

  const timeoutParam = url.searchParams.get('connectTimeout') ?? url.searchParams.get('connect_timeout');
  let connectTimeoutMs = inputs.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (timeoutParam !== null) {
    const value = /^\d+$/.test(timeoutParam) ? Number(timeoutParam) : NaN;
    if (!(value >= 1 && value <= MAX_CONNECT_TIMEOUT_MS)) {
      throw new UsageError(
        `connectTimeout in the database URL must be a whole number of milliseconds from 1 to ${MAX_CONNECT_TIMEOUT_MS} (10 minutes).`,
      );
    }
    connectTimeoutMs = value;
  }
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1 || connectTimeoutMs > MAX_CONNECT_TIMEOUT_MS) {
    throw new UsageError(`The connect timeout must be a whole number of milliseconds from 1 to ${MAX_CONNECT_TIMEOUT_MS} (10 minutes).`);
  }

  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    user: url.username === '' ? 'root' : decode(url.username),
    password,
    database,
    ssl: resolveSsl(url.searchParams, inputs.sslCa),
    connectTimeoutMs,
    ...(inputs.urlOnly === true ? { urlOnly: true } : {}),
    ...(password !== undefined && (inputs.password !== undefined || urlPassword === undefined) ? { passwordFromUrl: false } : {}),
  };
}

function resolveSsl(params: URLSearchParams, sslCaFlag: string | undefined): SslConfig | undefined {
  const mode = (params.get('ssl') ?? '').toLowerCase();
  const caPath = sslCaFlag ?? params.get('ssl-ca') ?? params.get('sslca') ?? undefined;
  if (mode === 'false' || mode === '0' || mode === 'disabled') {
    if (caPath !== undefined) throw new UsageError('--ssl-ca cannot be combined with ssl=false.');
    return undefined;
  }
  const known = ['', 'true', '1', 'required', 'verify', 'skip-verify'];
  if (!known.includes(mode)) {
    throw new UsageError(
      `ssl=${mode} in the database URL is not understood; use ssl=true, ssl=skip-verify or ssl=false.`,
    );
  }
  if (mode === '' && caPath === undefined) return undefined;
  const ssl: SslConfig = { rejectUnauthorized: mode !== 'skip-verify' };
  if (caPath !== undefined) {
    try {
      ssl.ca = readFileSync(caPath, 'utf8');
    } catch (error) {
      throw new UsageError(`Cannot read the TLS CA file ${caPath}: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`);
    }
    // Else the handshake fails later blaming the server's certificate ("self-signed certificate in
    // certificate chain"), when the file given is what is wrong (a key, a DER file, a typo'd path's neighbour).
    if (!ssl.ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new UsageError(`The TLS CA file ${caPath} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the certificate of the CA that signed the server's.`);
    }
  }
  return ssl;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new UsageError('The database URL has a malformed %-escape.');
  }
}

/**
 * The URL as it may be printed: everything between `://user:` and the LAST `@` replaced by ***,
 * whatever it holds ('/', '@', ':', '#', '?'). Works on the raw text, so parsable and unparsable
 * input are masked alike (a URL parser would end the password at the first '/', '?' or '#' and
 * print the rest as host or path). A '@' after the host (in a query value) widens the mask: too
 * much hidden, never too little.
 */
export function maskUrl(raw: string): string {
  const span = credentialSpan(raw);
  const masked = span === null ? raw : `${raw.slice(0, span.start)}***${raw.slice(span.end)}`;
  // A password given as a query option (?password=…, as some drivers take it): never one of ours,
  // so the URL is refused, and echoed with its value hidden.
  return masked.replace(/([?&;](?:password|passwd|pwd|pass|secret|token)=)[^&;#]*/gi, '$1***');
}

/**
 * Where a password may be in `raw`: from after the first ':' of the user part to the last '@'.
 * The user part starts after `scheme://` (or at the start when there is none). Null when there
 * is no '@' or no ':' before it (no password).
 */
function credentialSpan(raw: string): { userStart: number; start: number; end: number } | null {
  const end = raw.lastIndexOf('@');
  if (end === -1) return null;
  const scheme = /^\s*[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(raw);
  const userStart = scheme === null ? 0 : scheme[0].length;
  const colon = raw.indexOf(':', userStart);
  if (colon === -1 || colon >= end) return null;
  return { userStart, start: colon + 1, end };
}

/** How the target is named in messages: user@host:port/db, no password. */
export function describeTarget(config: ConnectionConfig): string {
  return `${config.user}@${config.host}:${config.port}/${config.database}`;
}

/**
 * `--replica-url`: parsed like --url; the user, password and TLS it does not give are --url's
 * (a replica usually has the same accounts).
 */
export function resolveReplicaConfig(raw: string, primary: ConnectionConfig, inputs: { sslCa?: string | undefined } = {}): ConnectionConfig {
  if (raw.trim() === '') throw new UsageError('--replica-url is empty; expected mysql://user:password@replica-host:3306/dbname.');
  let replica: ConnectionConfig;
  try {
    replica = resolveConnectionConfig({ url: raw, env: {}, sslCa: inputs.sslCa, connectTimeoutMs: primary.connectTimeoutMs, urlOnly: primary.urlOnly });
  } catch (error) {
    // Its messages say "The database URL …": which of the two, the run's own or the replica's?
    if (error instanceof UsageError) throw new UsageError(`--replica-url: ${error.message}`);
    throw error;
  }
  // A replica holds the primary's database under its name: another name is a typo that would
  // scan some other database and report it clean.
  // Compared without case: where the servers fold names (lower_case_table_names), case is no typo.
  if (replica.database.toLowerCase() !== primary.database.toLowerCase()) {
    throw new UsageError(
      `--replica-url names the database '${replica.database}', --url '${primary.database}': a replica holds the primary's database under the same name; ` +
        'give the same database (a replica that renames it, replicate-rewrite-db, is not supported: run without --replica-url there).',
    );
  }
  const url = new URL(raw.trim());
  return {
    ...replica,
    user: url.username === '' ? primary.user : replica.user,
    password: replica.password ?? primary.password,
    // An ssl= of its own (ssl=false included) or --ssl-ca decides; otherwise --url's TLS.
    ssl: url.searchParams.has('ssl') || inputs.sslCa !== undefined ? replica.ssl : (replica.ssl ?? primary.ssl),
  };
}
