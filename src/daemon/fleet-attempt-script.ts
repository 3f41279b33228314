/**
 * One step of a shared attempt (Share = yes doors, issue #14): the Lua
 * script Redis runs per knock, and its twin in TypeScript. Both take the
 * stage stored for (door, source), the knock's token and the door's
 * sequence as tokens, and give the stage reached; they must agree on every
 * input (test/unit/fleet-attempts-lua.test.ts runs both on a table).
 *
 * The transitions are the knock machine's (src/core/knock/machine.ts):
 * - the next knock of the sequence advances; the last one completes (the
 *   stored attempt is deleted and the length returned);
 * - a repeat of the knock just matched changes nothing (a retransmitted SYN);
 * - any other knock ends the attempt, and if it is the first knock of the
 *   sequence it starts a new one at stage 1.
 * Expiry is the key's TTL, set to seq_timeout when stage 1 is stored and kept
 * (KEEPTTL) while it advances: like the machine, the timeout counts from the
 * first knock. Order across servers is the order knocks reach Redis.
 *
 * A token is `t<port>` or `u<port>`. The stored value is untrusted: anything
 * but an integer stage in [1, length) counts as no attempt.
 */

/** KEYS[1]: the attempt; ARGV: the knock's token, the timeout in ms, then the sequence. */
export const STEP_LUA = `
local n = #ARGV - 2
local p = ARGV[1]
local s = tonumber(redis.call('GET', KEYS[1]) or '0')
if s == nil or s < 1 or s >= n or s ~= math.floor(s) then s = 0 end
if s > 0 then
  if ARGV[s + 3] == p then
    if s + 1 >= n then
      redis.call('DEL', KEYS[1])
      return n
    end
    redis.call('SET', KEYS[1], s + 1, 'KEEPTTL')
    return s + 1
  end
  if ARGV[s + 2] == p then return s end
end
if ARGV[3] == p then
  if n == 1 then
    redis.call('DEL', KEYS[1])
    return 1
  end
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[2])
  return 1
end
redis.call('DEL', KEYS[1])
return 0
`;

/** The token of a knock: what the script compares. */
export const knockToken = (proto: 'tcp' | 'udp', port: number): string =>
  `${proto === 'tcp' ? 't' : 'u'}${port}`;

/** The script's step in TypeScript: the stage reached from `stored` by knock `token`. */
export function stepAttempt(stored: number, token: string, sequence: readonly string[]): number {
  const n = sequence.length;
  const s = Number.isInteger(stored) && stored >= 1 && stored < n ? stored : 0;
  if (s > 0) {
    if (sequence[s] === token) return s + 1;
    if (sequence[s - 1] === token) return s;
  }
  return sequence[0] === token ? 1 : 0;
}

/** What the store holds after a step: the stage, or nothing when it is 0 or complete. */
export const storedAfter = (stage: number, length: number): number | null =>
  stage === 0 || stage >= length ? null : stage;
