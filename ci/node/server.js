// The tutorial's services on grpc-js (Node's HTTP/2), written from SEMANTICS.md: RouteGuide
// and the Greeter, on one port.
// Usage: node server.js [--addr HOST:PORT] [--conformance-hook]. Prints `listening on HOST:PORT`
// once serving; SIGTERM or SIGINT stops it (exit 0).
//
// --conformance-hook: a call whose metadata carries `faultline-abort-code` (a status code number)
// and `faultline-abort-message-bin` (UTF-8) is answered with that status instead of running its
// handler, as `faultline serve --conformance-hook` and ci/recorder/conformance_server.py do: how
// the conformance suite's status-special-characters case gets a server to send a status message
// of its choosing. Test machinery, not service semantics; off unless asked for.
'use strict';

const path = require('path');
const protoLoader = require('@grpc/proto-loader');
const { grpc, routeguide, db, addrArg } = require('./route_guide');

const helloworld = grpc.loadPackageDefinition(
  protoLoader.loadSync(path.join(__dirname, '..', '..', 'proto', 'helloworld.proto'), { keepCase: true, defaults: true }),
).helloworld;

// An unset message field decodes as null here (proto-loader), where proto3 reads it as the
// message with every field at its default: Point (0, 0).
const point = (p) => p || { latitude: 0, longitude: 0 };
const same = (a, b) => point(a).latitude === point(b).latitude && point(a).longitude === point(b).longitude;

function getFeature(call, callback) {
  const found = db.find((f) => same(f.location, call.request));
  callback(null, found || { name: '', location: call.request });
}

function listFeatures(call) {
  const [lo, hi] = [point(call.request.lo), point(call.request.hi)];
  const [left, right] = [Math.min(lo.longitude, hi.longitude), Math.max(lo.longitude, hi.longitude)];
  const [bottom, top] = [Math.min(lo.latitude, hi.latitude), Math.max(lo.latitude, hi.latitude)];
  for (const f of db) {
    const { latitude, longitude } = f.location;
    if (longitude >= left && longitude <= right && latitude >= bottom && latitude <= top) {
      call.write(f);
    }
  }
  call.end();
}

// Haversine, operation for operation as the Python reference (SEMANTICS.md).
function distance(start, end) {
  const rad = (deg) => (deg * Math.PI) / 180;
  const [lat1, lon1] = [start.latitude / 1e7, start.longitude / 1e7];
  const [lat2, lon2] = [end.latitude / 1e7, end.longitude / 1e7];
  const dlat = rad(lat2 - lat1);
  const dlon = rad(lon2 - lon1);
  const a = Math.sin(dlat / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dlon / 2) ** 2;
  const c = 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
  return 6371000 * c;
}

function recordRoute(call, callback) {
  const start = process.hrtime.bigint();
  let [points, features, metres, previous] = [0, 0, 0, null];
  call.on('data', (point) => {
    points += 1;
    if (db.some((f) => same(f.location, point))) features += 1;
    if (previous) metres += distance(previous, point);
    previous = point;
  });
  call.on('end', () => {
    const seconds = Number((process.hrtime.bigint() - start) / 1000000000n);
    callback(null, { point_count: points, feature_count: features, distance: Math.trunc(metres), elapsed_time: seconds });
  });
  call.on('error', () => {});
}

function routeChat(call) {
  const notes = [];
  call.on('data', (note) => {
    for (const earlier of notes) {
      if (same(earlier.location, note.location)) call.write(earlier);
    }
    notes.push(note);
  });
  call.on('end', () => call.end());
  call.on('error', () => {});
}

function sayHello(call, callback) {
  callback(null, { message: `Hello, ${call.request.name}!` });
}

function sayHelloAgain(call, callback) {
  callback(null, { message: `Hello again, ${call.request.name}!` });
}

// The abort hook (see the top): the status the call's metadata asks for, if it asks.
function abortStatus(call) {
  const [code] = call.metadata.get('faultline-abort-code');
  if (code === undefined) return null;
  const [message] = call.metadata.get('faultline-abort-message-bin');
  return { code: Number(code), details: message ? message.toString('utf8') : '' };
}

// `handler` behind the abort hook: unary and client-streaming handlers answer through their
// callback, streaming responses through the call's 'error'.
function hooked(handler) {
  return (call, callback) => {
    const status = abortStatus(call);
    if (status === null) return handler(call, callback);
    if (callback) return callback(status);
    return call.emit('error', status);
  };
}

const hook = process.argv.includes('--conformance-hook');
const withHook = (handlers) =>
  hook ? Object.fromEntries(Object.entries(handlers).map(([name, h]) => [name, hooked(h)])) : handlers;

const server = new grpc.Server();
server.addService(routeguide.RouteGuide.service, withHook({ getFeature, listFeatures, recordRoute, routeChat }));
server.addService(helloworld.Greeter.service, withHook({ sayHello, sayHelloAgain }));
server.bindAsync(addrArg('127.0.0.1:50051'), grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    console.error(`error: cannot listen: ${error.message}`);
    process.exit(2);
  }
  const host = addrArg('127.0.0.1:50051').replace(/:\d+$/, '');
  console.log(`listening on ${host}:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.tryShutdown(() => process.exit(0)));
}
