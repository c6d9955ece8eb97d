// node-postgres (`pg`, default configuration): named prepared statements
// (`{ name, text, values }`) reused across pool checkouts, against pgrelay in transaction mode
// (or any Postgres endpoint). pg prepares a named statement once per *client connection* and
// afterwards only sends Bind/Execute for it, so through a transaction pooler the statement must
// be usable on whichever server connection serves the next transaction.
// Target from env: PGRELAY_HOST (127.0.0.1), PGRELAY_PORT (required), PGRELAY_USER (app),
// PGRELAY_PASSWORD (app), PGRELAY_DATABASE (app). Run: `PGRELAY_PORT=6432 node --test prepared.test.js`.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Pool } = require('pg');

const { target: base, skip } = require('./target');
const target = { ...base, connectionTimeoutMillis: 10000, query_timeout: 20000 };
const TEST_TIMEOUT = 45000;
const POOL_CLIENTS = 10;

describe('node-postgres named prepared statements', { skip, timeout: TEST_TIMEOUT * 3 }, () => {
  let pool;
  const poolErrors = [];

  before(() => {
    pool = new Pool({ ...target, max: POOL_CLIENTS });
    // An idle client losing its connection must fail the test, not crash the runner.
    pool.on('error', (err) => { poolErrors.push(err); });
  });

  after(async () => {
    await pool.end();
  });

  it('reuses a named statement across 200 pool.query() checkouts', { timeout: TEST_TIMEOUT }, async () => {
    const N = 200;
    const results = await Promise.all(Array.from({ length: N }, (_, i) =>
      pool.query({ name: 'get-n', text: 'select $1::int as n', values: [i] })));
    results.forEach((r, i) => assert.deepEqual(r.rows, [{ n: i }], `query ${i}`));
    // Every one of the pool's clients was used (and so prepared `get-n` once, then reused it).
    assert.equal(pool.totalCount, POOL_CLIENTS);
  });

  it('reuses named statements inside explicit transactions on checked-out clients', { timeout: TEST_TIMEOUT }, async () => {
    const WORKERS = POOL_CLIENTS;
    const TXNS = 20;
    await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      for (let t = 0; t < TXNS; t++) {
        const client = await pool.connect();
        let broken;
        try {
          await client.query('BEGIN');
          const a = await client.query({ name: 'get-n', text: 'select $1::int as n', values: [w * 1000 + t] });
          assert.deepEqual(a.rows, [{ n: w * 1000 + t }]);
          const b = await client.query({ name: 'add-n', text: 'select $1::int + $2::int as sum', values: [w, t] });
          assert.deepEqual(b.rows, [{ sum: w + t }]);
          // Both statements ran in one transaction (same backend, same xid).
          const x1 = await client.query({ name: 'xid', text: 'select txid_current()::text as x' });
          const x2 = await client.query({ name: 'xid', text: 'select txid_current()::text as x' });
          assert.equal(x1.rows[0].x, x2.rows[0].x);
          await client.query('COMMIT');
        } catch (err) {
          broken = err;
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        } finally {
          client.release(broken);
        }
      }
    }));
    assert.deepEqual(poolErrors, []);
  });
});
