// The tutorial's RouteGuide server on grpc-js (Node's HTTP/2), written from SEMANTICS.md.
// Usage: node server.js [--addr HOST:PORT]. Prints `listening on HOST:PORT` once serving;
// SIGTERM or SIGINT stops it (exit 0).
'use strict';

const { grpc, routeguide, db, addrArg } = require('./route_guide');

const same = (a, b) => a.latitude === b.latitude && a.longitude === b.longitude;

function getFeature(call, callback) {
  const found = db.find((f) => same(f.location, call.request));
  callback(null, found || { name: '', location: call.request });
}

function listFeatures(call) {
  const { lo, hi } = call.request;
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

const server = new grpc.Server();
server.addService(routeguide.RouteGuide.service, { getFeature, listFeatures, recordRoute, routeChat });
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
