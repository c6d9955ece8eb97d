// postgres.js (npm `postgres`) in its default configuration (prepare: true — every query runs as a
// named prepared statement, prepared once per connection and then reused) against pgrelay in
// transaction mode, or any Postgres endpoint.
// Target from env: PGRELAY_HOST (127.0.0.1), PGRELAY_PORT (required), PGRELAY_USER (app),
// PGRELAY_PASSWORD (app), PGRELAY_DATABASE (app). Run: `PGRELAY_PORT=6432 node --test postgresjs.test.js`.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const postgres = require('postgres');

const { target, skip } = require('./target');
const TEST_TIMEOUT = 45000;

// A promise that rejects after ms, so a stuck query fails its test instead of hanging.
function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

describe('postgres.js default configuration', { skip, timeout: TEST_TIMEOUT * 3 }, () => {
  let sql;

  before(() => {
    // Defaults apart from the target (max: 10 connections, prepare: true); connect_timeout only
    // bounds the test.
    sql = postgres({ ...target, connect_timeout: 10 });
  });

  after(async () => {
    await sql.end({ timeout: 5 });
  });

  it('runs 10 concurrent workers x 20 parameterized queries', { timeout: TEST_TIMEOUT }, async () => {
    const WORKERS = 10;
    const ITERATIONS = 20;
    await within(TEST_TIMEOUT - 5000, Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = 0; i < ITERATIONS; i++) {
        const v = w * 1000 + i;
        const rows = await sql`select ${v}::int as n, ${'w' + w}::text as who`;
        assert.equal(rows.length, 1);
        assert.deepEqual({ ...rows[0] }, { n: v, who: 'w' + w }, `worker ${w} iteration ${i}`);
      }
    })), 'concurrent queries');
  });

  it('runs transactions with sql.begin', { timeout: TEST_TIMEOUT }, async () => {
    const WORKERS = 10;
    const TXNS = 5;
    await within(TEST_TIMEOUT - 5000, Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      for (let t = 0; t < TXNS; t++) {
        const out = await sql.begin(async (tx) => {
          const [a] = await tx`select ${w}::int + ${t}::int as sum`;
          const [x1] = await tx`select txid_current()::text as x`;
          const [b] = await tx`select ${w}::int * ${t}::int as product`;
          const [x2] = await tx`select txid_current()::text as x`;
          return { sum: a.sum, product: b.product, sameXid: x1.x === x2.x };
        });
        assert.deepEqual(out, { sum: w + t, product: w * t, sameXid: true }, `worker ${w} txn ${t}`);
      }
    })), 'transactions');
    // Rollback: an error inside sql.begin rolls back and the connection stays usable.
    await assert.rejects(sql.begin(async (tx) => {
      await tx`select 1`;
      await tx`select 1/0`;
    }), (err) => { assert.equal(err.code, '22012'); return true; });
    const [ok] = await sql`select ${42}::int as answer`;
    assert.equal(ok.answer, 42);
  });
});
