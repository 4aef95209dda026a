import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeLuaCall, evalLuaScript, loadLuaScript, luaScript } from '../../src/redis/lua-script.js';
import { useRedis } from '../helpers/redis.js';

const redis = useRedis();
let client: Redis;
const incrBy = luaScript('incr-by', "return redis.call('INCRBY', KEYS[1], ARGV[1])");

beforeAll(() => {
  client = new Redis(redis().url);
});
afterAll(() => client.disconnect());

describe('Lua script loader', () => {
  it('runs by SHA and survives SCRIPT FLUSH (NOSCRIPT falls back to EVAL once)', async () => {
    expect(await evalLuaScript(client, incrBy, ['lua:n'], [2])).toBe(2);
    expect(await client.script('EXISTS', incrBy.sha)).toEqual([1]);
    await client.script('FLUSH');
    expect(await evalLuaScript(client, incrBy, ['lua:n'], [3])).toBe(5);
    // EVAL cached it again, so the next call is an EVALSHA hit.
    expect(await client.script('EXISTS', incrBy.sha)).toEqual([1]);
  });

  it('passes script errors through untouched', async () => {
    const failing = luaScript('fails', "return redis.error_reply('ERR nope')");
    await expect(evalLuaScript(client, failing, [], [])).rejects.toThrow(/nope/);
  });

  it('reads a .lua file beside the module and describes the redis-cli call', () => {
    const dir = mkdtempSync(join(tmpdir(), 'opsctl-lua-'));
    try {
      writeFileSync(join(dir, 'echo.lua'), 'return ARGV[1]\n');
      const script = loadLuaScript(pathToFileURL(join(dir, 'module.js')).href, 'echo');
      expect(script.sha).toMatch(/^[0-9a-f]{40}$/);
      expect(describeLuaCall(script, ['k'], [1])).toBe(`EVALSHA ${script.sha} 1 k 1`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
