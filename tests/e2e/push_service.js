#!/usr/bin/env node
/*  push_service.js - a Web Push service and its browsers, for the tests.

    Usage: node push_service.js [--fast] [--tls CERT KEY]

    Listens on 127.0.0.1 (a free port) and prints one line, "listening
    PORT", when ready. With --tls it serves https as the real push
    services do: HTTP/2 (node http2.createSecureServer) for clients that
    offer it by ALPN, HTTP/1.1 for the others. It plays both ends a
    push-sender talks to:

      POST /subscribe {"id"}     a browser subscribing: makes a P-256 key
                                 pair (node crypto ECDH) and an auth
                                 secret, answers the PushSubscription JSON
                                 {endpoint, keys: {p256dh, auth}}
      POST /script {"id", "statuses": [410] | [429, 201], "retryAfter"}
                                 what the next pushes to id are answered
                                 (then 201); id "*" for every subscription
      POST /push/<id>            the push service: answers per the script
                                 and records the request; unless --fast,
                                 decrypts the body with the npm http_ece
                                 package and the subscription's private
                                 key, and verifies the VAPID JWT (ES256,
                                 JOSE r||s, with node crypto)
      GET /received              every recorded push, as JSON
      GET /counts                {"<id>": pushes answered 2xx, ...}
      GET /transport             {"pushes", "connections": how many
                                 connections carried them, "versions":
                                 {"2.0": pushes over HTTP/2, "1.1": ...}}

    --fast records counts only (no decryption), for benchmarks and the
    10k kill tests.
*/
'use strict';
const fs = require('fs');
const http = require('http');
const http2 = require('http2');
const crypto = require('crypto');
const ece = require('http_ece');

const fast = process.argv.includes('--fast');
const tlsAt = process.argv.indexOf('--tls');
const tls = tlsAt < 0 ? null : { cert: fs.readFileSync(process.argv[tlsAt + 1]),
                                 key: fs.readFileSync(process.argv[tlsAt + 2]) };
const scheme = tls ? 'https' : 'http';
const subscriptions = new Map();      // id -> {ecdh, auth}
const scripts = new Map();            // id -> [{status, retryAfter}]
const received = [];
const counts = {};
let port = 0;
//  What the pushes came over: a connection is an HTTP/2 session or an
//  HTTP/1.1 socket, so reuse is counted the same way for both
const connections = new WeakMap();   // session or socket -> number
let connectionsSeen = 0;
const pushConnections = new Set();
const versions = {};
let pushes = 0;

function connectionOf (req) {
    const key = req.stream ? req.stream.session : req.socket;
    if (!connections.has(key))
        connections.set(key, ++connectionsSeen);
    return connections.get(key);
}

function countTransport (req) {
    pushes++;
    pushConnections.add(connectionOf(req));
    versions[req.httpVersion] = (versions[req.httpVersion] || 0) + 1;
}

function b64url (buffer) {
    return Buffer.from(buffer).toString('base64url');
}

function subscribe (id) {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = crypto.randomBytes(16);
    subscriptions.set(id, { ecdh, auth });
    return { endpoint: `${scheme}://127.0.0.1:${port}/push/${id}`,
             keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) } };
}

//  RFC 8292: "vapid t=<jwt>, k=<key>"; checks the signature and claims.
function checkVapid (header, endpoint) {
    const result = { valid: false };
    const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header || '');
    if (!m) {
        result.error = 'no "vapid t=..., k=..." Authorization: ' + header;
        return result;
    }
    const [head, claims, signature] = m[1].split('.');
    const point = Buffer.from(m[2], 'base64url');
    const jwk = { kty: 'EC', crv: 'P-256', x: b64url(point.subarray(1, 33)),
                  y: b64url(point.subarray(33, 65)) };
    const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
    result.header = JSON.parse(Buffer.from(head, 'base64url').toString());
    Object.assign(result, JSON.parse(Buffer.from(claims, 'base64url').toString()));
    result.signatureOk = crypto.verify('sha256', Buffer.from(head + '.' + claims),
        { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
    result.k = m[2];
    const now = Date.now() / 1000;
    result.audOk = result.aud === new URL(endpoint).origin;
    result.expOk = result.exp > now && result.exp <= now + 24 * 3600;
    result.subOk = /^(mailto:|https:)/.test(result.sub || '');
    result.valid = result.signatureOk && result.audOk && result.expOk && result.subOk
                && result.header.alg === 'ES256';
    return result;
}

function decrypt (id, body) {
    const subscription = subscriptions.get(id);
    if (!subscription)
        return { error: 'unknown subscription ' + id };
    try {
        const plain = ece.decrypt(body, { version: 'aes128gcm', privateKey: subscription.ecdh,
                                          authSecret: b64url(subscription.auth) });
        return { payload: plain.toString('utf8') };
    } catch (e) {
        return { error: String(e.message || e) };
    }
}

function nextAnswer (id) {
    for (const key of [id, '*']) {
        const script = scripts.get(key);
        if (script && script.length)
            return script.shift();
    }
    return { status: 201 };
}

function push (req, res, id, body) {
    countTransport(req);
    const answer = nextAnswer(id);
    const headers = {};
    if (answer.retryAfter !== undefined)
        headers['Retry-After'] = String(answer.retryAfter);
    if (answer.status >= 200 && answer.status < 300) {
        counts[id] = (counts[id] || 0) + 1;
        headers.Location = `${scheme}://127.0.0.1:${port}/message/${crypto.randomUUID()}`;
    }
    if (!fast) {
        const record = { id, status: answer.status, method: req.method, bytes: body.length,
                         httpVersion: req.httpVersion, connection: connectionOf(req),
                         headers: { ttl: req.headers.ttl, urgency: req.headers.urgency,
                                    topic: req.headers.topic,
                                    'content-encoding': req.headers['content-encoding'],
                                    'content-type': req.headers['content-type'] } };
        const endpoint = `${scheme}://127.0.0.1:${port}/push/${id}`;
        record.vapid = checkVapid(req.headers.authorization, endpoint);
        Object.assign(record, decrypt(id, body));
        received.push(record);
    }
    res.writeHead(answer.status, headers);
    res.end(answer.status === 410 ? 'push subscription has unsubscribed or expired.\n' : '');
}

function json (res, status, value) {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(value));
}

function serve (req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url, 'http://x');
        const m = /^\/push\/([^/]+)$/.exec(url.pathname);
        if (m && req.method === 'POST')
            return push(req, res, decodeURIComponent(m[1]), body);
        if (url.pathname === '/subscribe' && req.method === 'POST')
            return json(res, 200, subscribe(JSON.parse(body).id));
        if (url.pathname === '/script' && req.method === 'POST') {
            const s = JSON.parse(body);
            scripts.set(s.id, s.statuses.map((status) => ({ status, retryAfter: s.retryAfter })));
            return json(res, 200, { ok: true });
        }
        if (url.pathname === '/received')
            return json(res, 200, received);
        if (url.pathname === '/counts')
            return json(res, 200, counts);
        if (url.pathname === '/transport')
            return json(res, 200, { pushes, connections: pushConnections.size, versions });
        json(res, 404, { error: 'no such path' });
    });
}

const server = tls ? http2.createSecureServer({ ...tls, allowHTTP1: true }, serve)
                   : http.createServer(serve);
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
    port = server.address().port;
    console.log('listening ' + port);
});
