// The tutorial's RouteGuide service definition (the repo's proto) and feature database,
// shared by server.js and probe.js.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const root = path.join(__dirname, '..', '..');
const definition = protoLoader.loadSync(path.join(root, 'proto', 'route_guide.proto'), {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const routeguide = grpc.loadPackageDefinition(definition).routeguide;
const db = require(path.join(root, 'services', 'data', 'route_guide_db.json'));

// "host:port" from the command line (`--addr HOST:PORT`), or a default.
function addrArg(fallback) {
  const i = process.argv.indexOf('--addr');
  return i >= 0 ? process.argv[i + 1] : fallback;
}

module.exports = { grpc, routeguide, db, addrArg };
