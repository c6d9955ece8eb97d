// node-postgres (`pg`, default configuration) against pgrelay — or any Postgres endpoint.
// Target from env: PGRELAY_HOST (127.0.0.1), PGRELAY_PORT (required), PGRELAY_USER (app),
// PGRELAY_PASSWORD (app), PGRELAY_DATABASE (app). Run: `npm ci && PGRELAY_PORT=6432 node --test`.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Client } = require('pg');

const { target: base, skip } = require('./target');
const target = { ...base, connectionTimeoutMillis: 10000, query_timeout: 30000 };
const TEST_TIMEOUT = 60000;

async function connect() {
  const client = new Client(target);
  // A dropped connection must fail the test, not crash the runner with an unhandled 'error'.
  client.on('error', (err) => { client.lastError = err; });
  await client.connect();
  return client;
}

async function withClient(fn) {
  const client = await connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('node-postgres basics', { skip, timeout: TEST_TIMEOUT * 3 }, () => {
  const suffix = crypto.randomBytes(6).toString('hex');
  const items = `node_items_${suffix}`;
  const events = `node_events_${suffix}`;
  const totals = `node_totals_${suffix}`;

  before(async () => {
    await withClient(async (c) => {
      await c.query(`CREATE TABLE ${items} (id int PRIMARY KEY, note text)`);
      await c.query(`CREATE TABLE ${events} (client int NOT NULL, seq int NOT NULL, PRIMARY KEY (client, seq))`);
      await c.query(`CREATE TABLE ${totals} (id int PRIMARY KEY, n bigint NOT NULL)`);
      await c.query(`INSERT INTO ${totals} VALUES (1, 0)`);
    });
  });

  after(async () => {
    await withClient(async (c) => {
      await c.query(`DROP TABLE IF EXISTS ${items}, ${events}, ${totals}`);
    });
  });

  it('runs simple queries', { timeout: TEST_TIMEOUT }, async () => {
    await withClient(async (c) => {
      const r = await c.query('SELECT 1 AS one, current_user AS who, current_database() AS db');
      assert.deepEqual(r.rows, [{ one: 1, who: target.user, db: target.database }]);
      // Several statements in one simple query: pg returns one result per statement.
      const multi = await c.query('SELECT 1 AS a; SELECT 2 AS b');
      assert.equal(multi.length, 2);
      assert.deepEqual(multi[1].rows, [{ b: 2 }]);
    });
  });

  it('runs parameterized and named prepared queries', { timeout: TEST_TIMEOUT }, async () => {
    await withClient(async (c) => {
      const r = await c.query('SELECT $1::int + $2::int AS sum, $3::text AS t, $4::text IS NULL AS isnull',
        [2, 3, 'héllo', null]);
      assert.deepEqual(r.rows, [{ sum: 5, t: 'héllo', isnull: true }]);
      for (let i = 0; i < 5; i++) {
        const p = await c.query({ name: 'square', text: 'SELECT $1::int * $1::int AS sq', values: [i] });
        assert.equal(p.rows[0].sq, i * i);
      }
      const many = await c.query('SELECT g FROM generate_series(1, $1::int) g', [1000]);
      assert.equal(many.rowCount, 1000);
      assert.equal(many.rows[999].g, 1000);
    });
  });

  it('rolls back a transaction', { timeout: TEST_TIMEOUT }, async () => {
    await withClient(async (c) => {
      await c.query('BEGIN');
      await c.query(`INSERT INTO ${items} VALUES ($1, $2)`, [1, 'rolled back']);
      const inside = await c.query(`SELECT count(*)::int AS n FROM ${items}`);
      assert.equal(inside.rows[0].n, 1);
      await c.query('ROLLBACK');
      const outside = await c.query(`SELECT count(*)::int AS n FROM ${items}`);
      assert.equal(outside.rows[0].n, 0);

      await c.query('BEGIN');
      await c.query(`INSERT INTO ${items} VALUES ($1, $2)`, [2, 'committed']);
      await c.query('COMMIT');
      const after = await c.query(`SELECT id, note FROM ${items}`);
      assert.deepEqual(after.rows, [{ id: 2, note: 'committed' }]);
    });
    // Visible from another connection too.
    await withClient(async (c) => {
      const r = await c.query(`SELECT count(*)::int AS n FROM ${items} WHERE id = 2`);
      assert.equal(r.rows[0].n, 1);
    });
  });

  it('reports errors with their SQLSTATE and keeps the client usable', { timeout: TEST_TIMEOUT }, async () => {
    await withClient(async (c) => {
      await assert.rejects(c.query('SELECT 1/0'), (err) => {
        assert.equal(err.code, '22012');
        assert.match(err.message, /division by zero/);
        return true;
      });
      const r = await c.query('SELECT 42 AS answer');
      assert.equal(r.rows[0].answer, 42);

      // Extended protocol error, then a working extended query.
      await assert.rejects(c.query('SELECT $1::int / 0', [1]), { code: '22012' });
      assert.equal((await c.query('SELECT $1::int AS v', [7])).rows[0].v, 7);

      // An error inside a transaction aborts it until ROLLBACK.
      await c.query('BEGIN');
      await assert.rejects(c.query('SELECT 1/0'), { code: '22012' });
      await assert.rejects(c.query('SELECT 1'), { code: '25P02' });
      await c.query('ROLLBACK');
      assert.equal((await c.query('SELECT 1 AS ok')).rows[0].ok, 1);

      await assert.rejects(c.query('SELECT * FROM no_such_table_here'), { code: '42P01' });
      assert.equal((await c.query('SELECT 2 AS ok')).rows[0].ok, 2);
      assert.equal(c.lastError, undefined);
    });
  });

  it('serves 50 concurrent clients doing 20 transactions each', { timeout: TEST_TIMEOUT * 2 }, async () => {
    const CLIENTS = 50;
    const TXNS = 20;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect()));
    try {
      await Promise.all(clients.map(async (c, id) => {
        for (let seq = 0; seq < TXNS; seq++) {
          await c.query('BEGIN');
          await c.query(`INSERT INTO ${events} (client, seq) VALUES ($1, $2)`, [id, seq]);
          await c.query(`UPDATE ${totals} SET n = n + 1 WHERE id = 1`);
          const mine = await c.query(`SELECT count(*)::int AS n FROM ${events} WHERE client = $1`, [id]);
          assert.equal(mine.rows[0].n, seq + 1, `client ${id} sees its own rows in its transaction`);
          await c.query('COMMIT');
        }
      }));
      for (const c of clients) assert.equal(c.lastError, undefined);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
    }
    await withClient(async (c) => {
      const total = await c.query(`SELECT count(*)::int AS n, count(DISTINCT client)::int AS clients FROM ${events}`);
      assert.deepEqual(total.rows[0], { n: CLIENTS * TXNS, clients: CLIENTS });
      const per = await c.query(
        `SELECT client, count(*)::int AS n, max(seq)::int AS last FROM ${events} GROUP BY client HAVING count(*) <> $1`,
        [TXNS]);
      assert.deepEqual(per.rows, [], 'every client committed exactly its transactions');
      const t = await c.query(`SELECT n::int AS n FROM ${totals} WHERE id = 1`);
      assert.equal(t.rows[0].n, CLIENTS * TXNS);
    });
  });
});
