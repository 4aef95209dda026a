import type { RateLimitDecision, RateLimiter } from './types.js';

/**
 * Response headers for a decision, per the IETF httpapi "RateLimit header fields" draft
 * (draft-ietf-httpapi-ratelimit-headers-08 and later): one `RateLimit-Policy` item per policy
 * (`"api";q=100;w=60`), one `RateLimit` item per policy (`"api";r=42;t=17`: units left,
 * seconds until the full quota is back) and, on a refusal, `Retry-After` in seconds.
 */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));
  const headers: Record<string, string> = {
    'RateLimit-Policy': decision.policies.map((p) => `"${p.policy}";q=${p.limit};w=${seconds(p.windowMs)}`).join(', '),
    RateLimit: decision.policies.map((p) => `"${p.policy}";r=${Math.max(0, p.remaining)};t=${seconds(p.resetMs)}`).join(', '),
  };
  // A cost that can never pass has no retry time: no Retry-After rather than a false promise.
  if (!decision.allowed && decision.retryAfterMs >= 0) headers['Retry-After'] = String(seconds(decision.retryAfterMs));
  return headers;
}

/** The parts of a Node/Express request and response the middleware touches. */
interface MiddlewareRequest {
  ip?: string | undefined;
  socket?: { remoteAddress?: string | undefined };
}
interface MiddlewareResponse {
  setHeader(name: string, value: string): unknown;
  statusCode: number;
  end(body?: string): unknown;
}

export interface RateLimitMiddlewareOptions<Req extends MiddlewareRequest> {
  /** Policy or policies every request is checked against. */
  policies: string | readonly string[];
  /** The client identity (default: the remote address). */
  key?: (req: Req) => string;
  /** Units a request takes (default 1). */
  cost?: (req: Req) => number;
  /** Set the RateLimit headers on allowed responses too (default true). */
  headersOnAllowed?: boolean;
}

/**
 * connect/Express middleware: refuses with 429 and `Retry-After`, sets the RateLimit headers,
 * and passes limiter errors (a failing Redis with a fail-closed policy is a refusal, not an
 * error) to `next`.
 */
export function rateLimitMiddleware<Req extends MiddlewareRequest>(limiter: RateLimiter, options: RateLimitMiddlewareOptions<Req>) {
  const keyOf = options.key ?? ((req: Req) => req.ip ?? req.socket?.remoteAddress ?? 'unknown');
  return (req: Req, res: MiddlewareResponse, next: (error?: unknown) => void): void => {
    limiter
      .consume(options.policies, keyOf(req), { cost: options.cost?.(req) ?? 1 })
      .then((decision) => {
        if (decision.allowed && options.headersOnAllowed === false) return next();
        for (const [name, value] of Object.entries(rateLimitHeaders(decision))) res.setHeader(name, value);
        if (decision.allowed) return next();
        res.statusCode = 429;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end('Too Many Requests\n');
      })
      .catch(next);
  };
}
