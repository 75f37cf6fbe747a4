// The fan-out benchmark's readers in Node (no packages): R connections to GET /api/stream that only look for the
// stamp ("content":"s<seq>") in each complete frame and note when it arrived. bench/stream_load.py runs it so
// that the readers are not what a fan-out figure measures: one Python process parsing 40,000 frames a second
// takes a whole core, one Node process a fraction of it.
//
//   node bench/readers.js --ports 8000[,8001] --readers 2000
//
// Protocol with the parent, line by line on stdout: `ready <connected>` once every reader has its history frame;
// then, when stdin closes, one line of JSON: {"cpu_seconds": …, "arrivals": [[seq, t, seq, t, …], … per reader]}.
// t is CLOCK_MONOTONIC in seconds (process.hrtime, the clock of Python's time.monotonic()), so the parent
// subtracts its own send times from it directly.
'use strict';

const net = require('net');

const HISTORY = 'data: {"type":"history"';
const STAMP = /"content":"s(\d+)"/g;
const WAVE = 100; // connect in waves: the server's accept queue is finite

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

const ports = option('ports', '8000').split(',').map(Number);
const count = Number(option('readers', '100'));
const host = option('host', '127.0.0.1');

const now = () => Number(process.hrtime.bigint()) / 1e9;

function openReader(port, arrivals) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    let seenHistory = false;
    let tail = '';
    socket.on('connect', () => socket.write(`GET /api/stream HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed before history')));
    socket.on('data', (chunk) => {
      const at = now();
      let data = tail + chunk.toString('latin1');
      if (!seenHistory) {
        const start = data.indexOf(HISTORY);
        if (start < 0) {
          tail = data.slice(-HISTORY.length);
          return;
        }
        seenHistory = true;
        data = data.slice(start + HISTORY.length);
        resolve(socket);
      }
      const cut = data.lastIndexOf('\n\n') + 2;
      if (cut < 2) {
        tail = data;
        return;
      }
      STAMP.lastIndex = 0;
      const complete = data.slice(0, cut);
      let match;
      while ((match = STAMP.exec(complete)) !== null) arrivals.push(Number(match[1]), at);
      tail = data.slice(cut);
    });
  });
}

async function main() {
  const arrivals = [];
  const sockets = [];
  for (let start = 0; start < count; start += WAVE) {
    const wave = [];
    for (let n = start; n < Math.min(start + WAVE, count); n++) {
      const mine = [];
      arrivals.push(mine);
      wave.push(openReader(ports[n % ports.length], mine));
    }
    sockets.push(...(await Promise.all(wave)));
  }
  for (const socket of sockets) {
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    socket.on('error', () => {});
  }
  process.stdout.write(`ready ${sockets.length}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    const usage = process.cpuUsage();
    for (const socket of sockets) socket.destroy();
    const cpu = (usage.user + usage.system) / 1e6;
    process.stdout.write(JSON.stringify({ cpu_seconds: cpu, arrivals }) + '\n', () => process.exit(0));
  });
}

main().catch((error) => {
  process.stderr.write(`readers.js: ${error.message}\n`);
  process.exit(1);
});
