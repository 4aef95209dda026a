/**
 * Socket-level failures, named the same way for every dependency (Redis, PostgreSQL): the
 * connection factories turn Node's error codes into one short, human reason.
 */
export type NetworkFailureKind = 'unreachable' | 'timeout' | 'tls';

export interface NetworkFailure {
  kind: NetworkFailureKind;
  /** The Node error code, e.g. `ECONNREFUSED`. */
  code: string;
  /** A few words for a message: `connection refused`. */
  reason: string;
}

const REASONS: Record<string, [NetworkFailureKind, string]> = {
  ECONNREFUSED: ['unreachable', 'connection refused'],
  ENOTFOUND: ['unreachable', 'host name not found'],
  EAI_AGAIN: ['unreachable', 'DNS lookup failed (temporary failure)'],
  EHOSTUNREACH: ['unreachable', 'host unreachable'],
  ENETUNREACH: ['unreachable', 'network unreachable'],
  EHOSTDOWN: ['unreachable', 'host is down'],
  ECONNRESET: ['unreachable', 'connection reset by the server'],
  ECONNABORTED: ['unreachable', 'connection aborted'],
  EPIPE: ['unreachable', 'connection closed by the server'],
  ENOENT: ['unreachable', 'no such socket file'],
  EACCES: ['unreachable', 'permission denied'],
  ETIMEDOUT: ['timeout', 'connection timed out'],
  DEPTH_ZERO_SELF_SIGNED_CERT: ['tls', 'the server certificate is self-signed'],
  SELF_SIGNED_CERT_IN_CHAIN: ['tls', 'the certificate chain contains a self-signed certificate'],
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: ['tls', 'the server certificate cannot be verified'],
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: ['tls', 'the issuer of the server certificate is unknown'],
  CERT_HAS_EXPIRED: ['tls', 'the server certificate has expired'],
  ERR_TLS_CERT_ALTNAME_INVALID: ['tls', 'the server certificate does not match the host name'],
};

/**
 * Classifies a socket error by its code. Node 20 may report a failed multi-address connect
 * (`localhost` → ::1 and 127.0.0.1) as an AggregateError; its first classified member counts.
 */
export function classifyNetworkError(error: unknown): NetworkFailure | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    const known = REASONS[code];
    if (known !== undefined) return { kind: known[0], code, reason: known[1] };
    if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) return { kind: 'tls', code, reason: 'TLS handshake failed' };
  }
  if (error instanceof AggregateError) {
    for (const member of error.errors) {
      const failure = classifyNetworkError(member);
      if (failure !== undefined) return failure;
    }
  }
  return undefined;
}

/** `host:port`, with IPv6 literals in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
