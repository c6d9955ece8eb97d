// Where the node driver tests connect, from the environment the pytest wrappers set:
// PGRELAY_HOST (127.0.0.1), PGRELAY_PORT (required), PGRELAY_USER (app), PGRELAY_PASSWORD (app),
// PGRELAY_DATABASE (app). Without a port the tests skip themselves.
'use strict';

const target = {
  host: process.env.PGRELAY_HOST || '127.0.0.1',
  port: Number(process.env.PGRELAY_PORT || 0),
  user: process.env.PGRELAY_USER || 'app',
  password: process.env.PGRELAY_PASSWORD || 'app',
  database: process.env.PGRELAY_DATABASE || 'app',
};

module.exports = { target, skip: target.port ? false : 'PGRELAY_PORT is not set' };
