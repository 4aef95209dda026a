/**
 * Parsers for the text and array replies of Redis' introspection commands (INFO, CLIENT LIST,
 * CLUSTER NODES, SLOWLOG GET, SENTINEL …). Pure functions over what the server returned, so
 * every format detail is unit-tested without a server.
 */

/** `INFO` text → `{ server: { redis_version: '7.0.15', … }, memory: { … } }` (section names lower-case). */
export function parseInfoSections(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#')) {
      const name = line.slice(1).trim().toLowerCase();
      current = sections[name] ??= {};
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    current ??= sections.default ??= {};
    current[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return sections;
}

/** All sections of parseInfoSections merged into one field map. */
export function flattenInfo(sections: Record<string, Record<string, string>>): Record<string, string> {
  return Object.assign({}, ...Object.values(sections)) as Record<string, string>;
}

/** `ip=10.0.0.2,port=6380,state=online` → `{ ip: '10.0.0.2', port: '6380', state: 'online' }`. */
export function parseFieldList(value: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return fields;
}

/** A replica as its primary's `INFO replication` lists it (`slave0:ip=…,port=…,state=…,offset=…,lag=…`). */
export interface ReplicaLink {
  host: string;
  port: number;
  state: string;
  offset: number;
  /** Seconds since the replica's last acknowledgement. */
  lagSeconds: number;
}

/** The `slaveN:` lines of a primary's INFO fields, in order. */
export function parseReplicaLinks(info: Record<string, string>): ReplicaLink[] {
  const links: ReplicaLink[] = [];
  for (let i = 0; info[`slave${i}`] !== undefined; i += 1) {
    const fields = parseFieldList(info[`slave${i}`]!);
    links.push({
      host: fields.ip ?? '?',
      port: Number(fields.port ?? 0),
      state: fields.state ?? 'unknown',
      offset: Number(fields.offset ?? 0),
      lagSeconds: Number(fields.lag ?? 0),
    });
  }
  return links;
}

/** A connection as `CLIENT LIST` shows it (the fields operators look at). */
export interface ClientInfo {
  id: string;
  addr: string;
  name: string;
  user: string;
  db: number;
  ageSeconds: number;
  idleSeconds: number;
  flags: string;
  cmd: string;
}

/** `CLIENT LIST` text → one record per line. */
export function parseClientList(text: string): ClientInfo[] {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      // Fields are space separated `key=value`; only `name` could hold odd characters, and
      // Redis refuses spaces in client names, so splitting on spaces is exact.
      const fields: Record<string, string> = {};
      for (const part of line.trim().split(' ')) {
        const eq = part.indexOf('=');
        if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
      }
      return {
        id: fields.id ?? '',
        addr: fields.addr ?? '',
        name: fields.name ?? '',
        user: fields.user ?? 'default',
        db: Number(fields.db ?? 0),
        ageSeconds: Number(fields.age ?? 0),
        idleSeconds: Number(fields.idle ?? 0),
        flags: fields.flags ?? '',
        cmd: fields.cmd ?? '',
      };
    });
}

/** An inclusive slot range `[first, last]`. */
export type SlotRange = [number, number];

export const CLUSTER_SLOTS = 16_384;

/** One line of `CLUSTER NODES`. */
export interface ClusterNodeEntry {
  id: string;
  host: string;
  port: number;
  flags: string[];
  /** The primary's node id for a replica, undefined for a primary. */
  primaryId: string | undefined;
  configEpoch: number;
  linkState: string;
  slots: SlotRange[];
  /** Slots this node is moving out (`[slot->-target]`). */
  migrating: { slot: number; nodeId: string }[];
  /** Slots this node is taking in (`[slot-<-source]`). */
  importing: { slot: number; nodeId: string }[];
}

/**
 * `CLUSTER NODES` text → entries. Address forms: `ip:port@cport`, `ip:port@cport,hostname`,
 * and `:0@0` for a node whose address is not known yet.
 */
export function parseClusterNodes(text: string): ClusterNodeEntry[] {
  const entries: ClusterNodeEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const parts = line.trim().split(' ');
    if (parts.length < 8) continue;
    const [id, address, flags, primary, , , epoch, link, ...rest] = parts as [string, string, string, string, string, string, string, string, ...string[]];
    const hostPort = address.split('@')[0]!;
    const colon = hostPort.lastIndexOf(':');
    const entry: ClusterNodeEntry = {
      id,
      host: hostPort.slice(0, colon),
      port: Number(hostPort.slice(colon + 1)),
      flags: flags.split(','),
      primaryId: primary === '-' ? undefined : primary,
      configEpoch: Number(epoch),
      linkState: link,
      slots: [],
      migrating: [],
      importing: [],
    };
    for (const slot of rest) {
      const open = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(slot);
      if (open) {
        (open[2] === '>' ? entry.migrating : entry.importing).push({ slot: Number(open[1]), nodeId: open[3]! });
        continue;
      }
      const range = /^(\d+)(?:-(\d+))?$/.exec(slot);
      if (range) entry.slots.push([Number(range[1]), Number(range[2] ?? range[1])]);
    }
    entries.push(entry);
  }
  return entries;
}

/** Sorted, merged ranges of the slots not in `ranges` (0 … 16383). */
export function uncoveredSlots(ranges: readonly SlotRange[]): SlotRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const gaps: SlotRange[] = [];
  let next = 0;
  for (const [first, last] of sorted) {
    if (first > next) gaps.push([next, first - 1]);
    next = Math.max(next, last + 1);
  }
  if (next < CLUSTER_SLOTS) gaps.push([next, CLUSTER_SLOTS - 1]);
  return gaps;
}

/** `[[0, 5460], [7, 7]]` → `0-5460,7`. */
export function formatSlotRanges(ranges: readonly SlotRange[]): string {
  return ranges.map(([first, last]) => (first === last ? String(first) : `${first}-${last}`)).join(',');
}

/** The number of slots in the ranges. */
export function countSlots(ranges: readonly SlotRange[]): number {
  return ranges.reduce((sum, [first, last]) => sum + last - first + 1, 0);
}

/** SENTINEL MASTER / REPLICAS / SENTINELS reply a flat `[field, value, field, value, …]` per entry. */
export function pairsToRecord(reply: unknown): Record<string, string> {
  const record: Record<string, string> = {};
  if (!Array.isArray(reply)) return record;
  for (let i = 0; i + 1 < reply.length; i += 2) record[String(reply[i])] = String(reply[i + 1]);
  return record;
}

/** One `SLOWLOG GET` entry. */
export interface SlowlogEntry {
  id: number;
  /** When the command ran (ISO 8601). */
  time: string;
  durationMicros: number;
  /** Command and arguments as Redis recorded them (Redis itself truncates long ones). */
  args: string[];
  client: string;
  clientName: string;
}

/** `SLOWLOG GET` reply → entries; the client fields exist from Redis 4.0 on. */
export function parseSlowlog(reply: unknown): SlowlogEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((item) => {
    const entry = item as unknown[];
    return {
      id: Number(entry[0]),
      time: new Date(Number(entry[1]) * 1000).toISOString(),
      durationMicros: Number(entry[2]),
      args: Array.isArray(entry[3]) ? (entry[3] as unknown[]).map(String) : [],
      client: entry[4] === undefined ? '' : String(entry[4]),
      clientName: entry[5] === undefined ? '' : String(entry[5]),
    };
  });
}
