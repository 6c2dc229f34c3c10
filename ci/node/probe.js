// The probe client of ci/proxy-live.sh on grpc-js: one case of calls, one JSON line per call
// ({"call", "code", "received", "result"}), the same lines ci/checks/proxy_probe.py and the
// Rust probe (cli/examples/proxy_probe.rs) print. Usage: node probe.js --addr HOST:PORT CASE
//   clean         GetFeature, ListFeatures, RecordRoute, RouteChat as the tutorial makes them
//   list          ListFeatures over the tutorial's rectangle
//   chat          RouteChat in lock step: note k at one place, then wait for its k-1 replies
//                 (20 notes, 190 replies), then GetFeature on the same channel
//   record-cut    RecordRoute of 5 points left open, ListFeatures on the same connection,
//                 then RecordRoute half-closed
'use strict';

const { grpc, routeguide, db, addrArg } = require('./route_guide');

const codeName = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));
const deadline = () => Date.now() + 20000;
const print = (call, error, received, result) =>
  console.log(JSON.stringify({ call, code: error ? codeName[error.code] : 'OK', received, result: error ? null : result }));

const rectangle = { lo: { latitude: 400000000, longitude: -750000000 }, hi: { latitude: 420000000, longitude: -730000000 } };
const ROUNDS = 20;

const client = new routeguide.RouteGuide(addrArg(), grpc.credentials.createInsecure());

function getFeature(point) {
  return new Promise((resolve) => {
    client.getFeature(point, { deadline: deadline() }, (error, feature) => {
      print('GetFeature', error, error ? 0 : 1, feature && feature.name);
      resolve();
    });
  });
}

function listFeatures() {
  return new Promise((resolve) => {
    const names = [];
    const call = client.listFeatures(rectangle, { deadline: deadline() });
    call.on('data', (f) => names.push(f.name));
    // 'status' comes once, after every message; a failed call also emits 'error' (and 'end').
    call.on('error', () => {});
    call.on('status', (status) => {
      print('ListFeatures', status.code === grpc.status.OK ? null : status, names.length, names);
      resolve();
    });
  });
}

// RecordRoute of `points`; with `between`, awaited after the points are written and before
// the half-close.
function recordRoute(points, between) {
  return new Promise((resolve) => {
    const call = client.recordRoute({ deadline: deadline() }, (error, summary) => {
      print('RecordRoute', error, error ? 0 : 1, summary && [summary.point_count, summary.feature_count, summary.distance]);
      resolve();
    });
    let written = 0;
    for (const point of points) {
      // The callback runs once the message went to the HTTP/2 stream.
      call.write(point, () => {
        written += 1;
        if (written === points.length) {
          Promise.resolve(between && between()).then(() => call.end());
        }
      });
    }
  });
}

function routeChat(notes, lockStep) {
  return new Promise((resolve) => {
    const got = [];
    const call = client.routeChat({ deadline: deadline() });
    let sent = 0;
    // Lock step: note k goes once the replies to notes 1..k-1 (k-1 choose 2 of them) are in.
    const sendDue = () => {
      while (sent < notes.length && (!lockStep || got.length >= (sent * (sent - 1)) / 2)) {
        call.write(notes[sent]);
        sent += 1;
        if (sent === notes.length) call.end();
      }
    };
    call.on('data', (note) => {
      got.push(note.message);
      sendDue();
    });
    call.on('error', () => {});
    call.on('status', (status) => {
      print('RouteChat', status.code === grpc.status.OK ? null : status, got.length, lockStep ? null : got);
      resolve();
    });
    sendDue();
  });
}

const note = (message, latitude, longitude) => ({ message, location: { latitude, longitude } });

const cases = {
  clean: async () => {
    await getFeature({ latitude: 409146138, longitude: -746188906 });
    await listFeatures();
    await recordRoute(db.slice(0, 10).map((f) => f.location));
    await routeChat([note('First message', 0, 0), note('Second message', 0, 1), note('Third message', 1, 0),
      note('Fourth message', 0, 0), note('Fifth message', 1, 0)], false);
  },
  list: listFeatures,
  chat: async () => {
    await routeChat(Array.from({ length: ROUNDS }, (_, k) => note(`note ${k + 1}`, 1, 1)), true);
    await getFeature({ latitude: 409146138, longitude: -746188906 });
  },
  'record-cut': () => recordRoute(db.slice(0, 5).map((f) => f.location), listFeatures),
};

const which = process.argv[process.argv.length - 1];
if (!cases[which]) {
  console.error(`error: unknown case ${which} (one of ${Object.keys(cases).join(', ')})`);
  process.exit(2);
}
cases[which]().then(() => {
  client.close();
  process.exit(0);
});
