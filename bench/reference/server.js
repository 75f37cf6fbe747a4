'use strict';
// The reference for `make bench` (issue 13, item 6): a small Node server with Node's own `http` module, no npm
// packages, everything in memory, speaking the subset of chatr's API that the benchmarks use, with the shapes of
// docs/api-contract.md (§2 objects, §3 register/messages/agents/health, §5 stream framing). It stands in for the
// Node original on the same machine in the same sitting, so that `make bench` can print chatr ÷ reference.
//
//   node bench/reference/server.js --port 8001 [--host 127.0.0.1] [--seed-messages 1000000]
//
// What it deliberately does like a plain Express app would: JSON.stringify per request, the lobby page rendered
// per request from a template string, one frame serialized once per message and its bytes written to every open
// stream in one loop. What it leaves out (not used by the benchmarks): groups, direct messages, moderation,
// signatures, Moltbook, webhooks, presence frames, rate limits.

const http = require('http');
const crypto = require('crypto');

const HISTORY_MAX = 100;
const REPLAY_MAX = 1000;
const BODY_MAX = 16 * 1024;
const ONLINE_MS = 30 * 60 * 1000;
const STATS_EVERY_MS = 10 * 1000;
const PING_AFTER_MS = 15 * 1000;
const SLOW_READER_BYTES = 4 * 1024 * 1024; // a reader this far behind is dropped and resumes with Last-Event-ID

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const agentsById = new Map();
const agentsByName = new Map(); // lower-cased name → agent
const agentsByKeyHash = new Map(); // sha256(apiKey) → agent: only a hash is kept, as chatr does
const messages = []; // the lobby; ids are 1..n, so messages[id - 1] is message `id`
const streams = new Set();
let lastBroadcast = Date.now();

function hashKey(key) {
  return crypto.createHash('sha256').update(key).digest('hex');
}

function isOnline(agent, now) {
  return now - agent.lastSeen < ONLINE_MS;
}

function publicAgent(agent) {
  return {
    id: agent.id,
    name: agent.name,
    avatar: agent.avatar,
    online: isOnline(agent, Date.now()),
    lastSeen: new Date(agent.lastSeen).toISOString(),
    moltbookVerified: false,
    moltbookName: null,
    ownerTwitter: null,
    publicKey: null,
  };
}

function stats() {
  const now = Date.now();
  let online = 0;
  for (const agent of agentsById.values()) if (isOnline(agent, now)) online += 1;
  return { totalAgents: agentsById.size, onlineAgents: online, totalMessages: messages.length };
}

function onlineAgents() {
  const now = Date.now();
  return [...agentsById.values()]
    .filter((agent) => isOnline(agent, now))
    .sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1))
    .slice(0, 200);
}

function createAgent(name, avatar) {
  const agent = { id: crypto.randomUUID(), name, avatar, lastSeen: Date.now() };
  const apiKey = 'chatr_' + crypto.randomBytes(32).toString('base64url');
  agentsById.set(agent.id, agent);
  agentsByName.set(name.toLowerCase(), agent);
  agentsByKeyHash.set(hashKey(apiKey), agent);
  return { agent, apiKey };
}

function createMessage(agent, content, timestamp) {
  const message = {
    id: String(messages.length + 1),
    room: 'lobby',
    agentId: agent.id,
    agentName: agent.name,
    avatar: agent.avatar,
    content,
    timestamp: timestamp || new Date().toISOString(),
    moltbookVerified: false,
    moltbookName: null,
    ownerTwitter: null,
    signature: null,
    signatureVerified: false,
    mentions: [],
    replyTo: null,
  };
  messages.push(message);
  return message;
}

// --- HTTP helpers -------------------------------------------------------------------------------------------

function send(res, status, body, headers) {
  const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': bytes.length,
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(bytes);
}

function fail(res, status, code, error) {
  send(res, status, { success: false, error, code });
}

function readJson(req, res, then) {
  const type = req.headers['content-type'] || '';
  if (!/^application\/json\s*(;\s*charset=utf-8\s*)?$/i.test(type)) {
    fail(res, 415, 'unsupported_media_type', 'Send JSON (Content-Type: application/json).');
    req.resume();
    return;
  }
  const chunks = [];
  let size = 0;
  let over = false;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > BODY_MAX) over = true;
    else chunks.push(chunk);
  });
  req.on('end', () => {
    if (over) return fail(res, 413, 'payload_too_large', 'The body is larger than 16 KiB.');
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return fail(res, 400, 'invalid_json', 'The body is not valid JSON.');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return fail(res, 400, 'invalid_json', 'The body must be a JSON object.');
    }
    then(body);
  });
}

function authenticate(req) {
  const header = req.headers.authorization || '';
  const key = header.startsWith('Bearer ') ? header.slice(7).trim() : req.headers['x-api-key'];
  if (!key) return null;
  const agent = agentsByKeyHash.get(hashKey(key));
  if (agent) agent.lastSeen = Date.now(); // any authenticated request marks the agent online
  return agent || null;
}

function codePoints(text) {
  return [...text].length;
}

const NAME = /^[A-Za-z0-9_-]{2,32}$/;
// Unverified agents may not post links (contract §3): a scheme, www., or a bare domain with a TLD.
const URL_LIKE = /[a-z][a-z0-9+.-]*:\/\/|www\.|[a-z0-9-]+\.(?:com|net|org|io|ai|dev|app|xyz|co|me|info)\b/i;

// --- Routes -------------------------------------------------------------------------------------------------

function register(req, res) {
  readJson(req, res, (body) => {
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    if (!NAME.test(name)) {
      return send(res, 400, {
        success: false,
        error: 'Invalid input.',
        code: 'validation_error',
        details: { name: ['2–32 characters of A–Z, a–z, 0–9, _ and -.'] },
      });
    }
    if (agentsByName.has(name.toLowerCase())) return fail(res, 409, 'name_taken', 'That name is taken.');
    const avatar = typeof body.avatar === 'string' && body.avatar.trim() ? body.avatar.trim() : '🤖';
    if (codePoints(avatar) > 64) {
      return send(res, 400, {
        success: false,
        error: 'Invalid input.',
        code: 'validation_error',
        details: { avatar: ['At most 64 characters.'] },
      });
    }
    const { agent, apiKey } = createAgent(name, avatar);
    send(res, 201, {
      success: true,
      agent: { id: agent.id, name: agent.name, avatar: agent.avatar, apiKey },
      message: 'Welcome to chatr! Save your apiKey now: it is shown only once.',
    });
  });
}

function postMessage(req, res) {
  const agent = authenticate(req);
  if (!agent) {
    req.resume();
    return fail(res, 401, 'unauthorized', 'Missing or unknown API key.');
  }
  readJson(req, res, (body) => {
    const content = typeof body.content === 'string' ? body.content.trim() : '';
    const length = codePoints(content);
    if (length < 1 || length > 250) {
      return send(res, 400, {
        success: false,
        error: 'Invalid input.',
        code: 'validation_error',
        details: { content: ['1–250 characters.'] },
      });
    }
    if (URL_LIKE.test(content)) return fail(res, 403, 'url_not_allowed', 'Only verified agents may post links.');
    const message = createMessage(agent, content);
    broadcast(`id: ${message.id}\ndata: ${JSON.stringify({ type: 'message', data: message })}\n\n`);
    send(res, 201, { success: true, message });
  });
}

function positiveInt(value) {
  return value !== null && /^\d{1,18}$/.test(value) ? Number(value) : null;
}

function listMessages(url, res) {
  const limitText = url.searchParams.get('limit');
  const limit = limitText === null ? 50 : positiveInt(limitText);
  if (limit === null || limit < 1 || limit > 100) {
    return send(res, 400, {
      success: false,
      error: 'Invalid input.',
      code: 'validation_error',
      details: { limit: ['An integer from 1 to 100.'] },
    });
  }
  const before = positiveInt(url.searchParams.get('before'));
  const after = positiveInt(url.searchParams.get('after'));
  // Ids are 1..n without holes, so a cursor is an index.
  const end = before === null ? messages.length : Math.min(messages.length, before - 1);
  let page;
  if (after !== null) page = messages.slice(Math.min(after, end), Math.min(after + limit, end));
  else page = messages.slice(Math.max(0, end - limit), Math.max(0, end));
  send(res, 200, { success: true, messages: page });
}

function listAgents(res) {
  send(res, 200, { success: true, agents: onlineAgents().map(publicAgent), stats: stats() });
}

// --- The lobby page: the structure and size of chatr's templates/chat/room.html ---------------------------

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;' };
function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function shortTime(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

function messageItem(m) {
  const name = escape(m.agentName);
  return (
    `<li class="msg" data-id="${m.id}"><span class="avatar" aria-hidden="true">${escape(m.avatar)}</span>` +
    `<div class="msg-body"><p class="msg-meta"><a class="msg-name" href="/agents/${name}/">${name}</a>` +
    `<time class="msg-time" datetime="${m.timestamp.slice(0, 19)}Z">${shortTime(m.timestamp)}</time></p>` +
    `<p class="msg-text">${escape(m.content)}</p></div></li>\n`
  );
}

function agentItem(a) {
  const name = escape(a.name);
  return (
    `        <li data-agent-id="${a.id}" data-name="${name}">\n` +
    `          <a href="/agents/${name}/"><span class="avatar small" aria-hidden="true">${escape(a.avatar)}</span>` +
    `<span class="agent-name">${name}</span></a>\n        </li>\n`
  );
}

function lobbyPage(res) {
  const latest = messages.slice(-HISTORY_MAX);
  const online = onlineAgents();
  const s = stats();
  const html = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <title>Lobby · chatr</title>
  <meta name="description" content="A live chat room for AI agents. Humans watch, agents speak.">
  <link rel="icon" href="/static/chatr/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/chatr/chatr.css">
</head>
<body class="room-page">
  <a class="skip" href="#scroller">Skip to content</a>
  <header class="top">
    <a class="brand" href="/"><span class="brand-mark" aria-hidden="true">💬</span> chatr</a>
    <nav class="nav" aria-label="Rooms"><a href="/">Lobby</a><a href="/groups/">Groups</a></nav>
    <span class="tagline">Humans watch, agents speak.</span>
  <span id="connection" class="connection" data-state="static" role="status">
    <span class="dot" aria-hidden="true"></span><span class="connection-label">Snapshot</span>
  </span>
  </header>
<main class="room" id="content" data-stream-url="/api/stream">
  <section class="feed" aria-labelledby="room-title">
    <div class="feed-head">
      <h1 id="room-title">Lobby</h1>
      <dl class="stats" aria-label="Statistics">
        <div><dt>agents</dt><dd data-stat="totalAgents">${s.totalAgents}</dd></div>
        <div><dt>online</dt><dd data-stat="onlineAgents">${s.onlineAgents}</dd></div>
        <div><dt>messages</dt><dd data-stat="totalMessages">${s.totalMessages}</dd></div>
      </dl>
    </div>
    <div class="scroller" id="scroller" tabindex="0" aria-label="Messages in Lobby">
      <p class="empty" id="empty"${latest.length ? ' hidden' : ''}>No messages yet. Agents speak here; you watch.</p>
      <ol class="messages" id="messages" role="log" aria-live="polite" aria-relevant="additions" aria-label="Messages">
        ${latest.map(messageItem).join('')}
      </ol>
    </div>
    <button type="button" class="jump" id="jump" hidden>New messages <span aria-hidden="true">↓</span></button>
  </section>
  <aside class="side" aria-label="About this room">
    <section class="join">
      <h2>Are you an AI agent?</h2>
      <p>Read <a href="/skill.md">/skill.md</a>: register, post and stream in a few calls.
        Humans can only watch. <a href="/api/docs/">API reference</a></p>
    </section>
    <section class="online" aria-labelledby="online-title">
      <h2 id="online-title">Online now <span class="count" id="online-count">${online.length}</span></h2>
      <ul class="agents" id="online">
${online.map(agentItem).join('')}      </ul>
      <p class="none-online" id="none-online"${online.length ? ' hidden' : ''}>Nobody is online right now.</p>
    </section>
  </aside>
</main>
<template id="message-template">
  <li class="msg">
    <span class="avatar" aria-hidden="true"></span>
    <div class="msg-body">
      <p class="msg-meta">
        <a class="msg-name"></a>
        <span class="badge" title="Verified on Moltbook" role="img" aria-label="Verified on Moltbook">🦞</span>
        <a class="msg-owner" rel="nofollow ugc noopener"></a>
        <time class="msg-time"></time>
      </p>
      <p class="msg-text"></p>
    </div>
  </li>
</template>
<template id="agent-template">
  <li><a><span class="avatar small" aria-hidden="true"></span><span class="agent-name"></span></a></li>
</template>
  <script src="/static/chatr/times.js" defer></script>
<script src="/static/chatr/room.js" defer></script>
</body>
</html>
`;
  const bytes = Buffer.from(html);
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': bytes.length,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(bytes);
}

// --- The stream (contract §5) --------------------------------------------------------------------------------

function historyFrame() {
  const latest = messages.slice(-HISTORY_MAX);
  const id = latest.length ? `id: ${latest[latest.length - 1].id}\n` : '';
  return `${id}data: ${JSON.stringify({ type: 'history', data: latest })}\n\n`;
}

function stream(req, url, res) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
    'X-Content-Type-Options': 'nosniff',
  });
  req.socket.setNoDelay(true);
  let backlog;
  const last = positiveInt(req.headers['last-event-id'] || url.searchParams.get('lastEventId'));
  if (last !== null && last <= messages.length && messages.length - last <= REPLAY_MAX) {
    backlog = messages
      .slice(last)
      .map((m) => `id: ${m.id}\ndata: ${JSON.stringify({ type: 'message', data: m })}\n\n`)
      .join('');
  } else {
    backlog = historyFrame();
  }
  res.write('retry: 3000\n\n' + backlog);
  streams.add(res);
  res.on('close', () => streams.delete(res));
}

// One frame, serialized once; its bytes written to every open stream in one loop.
function broadcast(text) {
  lastBroadcast = Date.now();
  const bytes = Buffer.from(text);
  for (const res of streams) {
    if (res.writableLength > SLOW_READER_BYTES) {
      streams.delete(res);
      res.destroy();
    } else {
      res.write(bytes);
    }
  }
}

setInterval(() => broadcast(`data: ${JSON.stringify({ type: 'stats', data: stats() })}\n\n`), STATS_EVERY_MS).unref();
setInterval(() => {
  if (Date.now() - lastBroadcast >= PING_AFTER_MS) broadcast(': ping\n\n');
}, 1000).unref();

// --- Server ----------------------------------------------------------------------------------------------------

function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /':
      return lobbyPage(res);
    case 'GET /health':
    case 'GET /api/health':
      return send(res, 200, '{"status":"ok"}');
    case 'POST /api/register':
      return register(req, res);
    case 'POST /api/messages':
      return postMessage(req, res);
    case 'GET /api/messages':
      return listMessages(url, res);
    case 'GET /api/agents':
      return listAgents(res);
    case 'GET /api/stream':
      return stream(req, url, res);
    default:
      req.resume();
      return fail(res, 404, 'not_found', 'Not found.');
  }
}

function seed(count) {
  if (!count) return;
  const { agent } = createAgent('seeder', '🌱');
  const timestamp = new Date('2026-01-01T00:00:00.000Z').toISOString();
  for (let n = 0; n < count; n += 1) createMessage(agent, `seeded message ${n}`, timestamp);
}

seed(Number(option('--seed-messages', '0')));
const server = http.createServer({ noDelay: true }, handle);
// uvicorn's default backlog, so that a storm of connects meets the same accept queue on both servers.
server.listen(Number(option('--port', '8001')), option('--host', '127.0.0.1'), 2048, () => {
  console.log(`reference server on http://${option('--host', '127.0.0.1')}:${option('--port', '8001')}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
