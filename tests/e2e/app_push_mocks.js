#!/usr/bin/env node
/*  app_push_mocks.js - FCM (HTTP v1, with its OAuth 2 token endpoint) and
    APNs, for the tests: one HTTP/2 server over TLS.

    Usage: node app_push_mocks.js CONFIG.json

    CONFIG: {"cert", "key": the server's TLS files; "fast": counts only;
             "fcm": {"project", "client_email", "public_key": PEM file of
                     the service account's key},
             "apns": {"key_id", "team_id", "topic", "public_key": PEM file}}

    Listens on 127.0.0.1 (a free port) and prints "listening PORT". The
    push routes take HTTP/2 only, as APNs does; the test's own routes
    (script, received, counts) also HTTP/1.1, for Python's urllib.

      POST /token                  Google's OAuth 2 token endpoint: the
                                   jwt-bearer grant, the assertion's RS256
                                   signature checked with the service
                                   account's public key, iss = client_email,
                                   aud = this URL, scope firebase.messaging,
                                   iat now, exp at most an hour on; answers
                                   {access_token, expires_in 3599}
      POST /v1/projects/P/messages:send
                                   FCM: a Bearer token this mock issued,
                                   JSON with message.token, notification
                                   {title, body}, data of strings only,
                                   android {ttl "<n>s", priority}; answers
                                   {"name"} or FCM's error JSON per script
      POST /3/device/TOKEN         APNs: a hex token; authorization: bearer
                                   JWT with alg ES256, kid = key_id, iss =
                                   team_id, iat within the hour, signature
                                   checked with the key's public half;
                                   apns-topic, apns-push-type alert,
                                   apns-priority 10 or 5, apns-expiration a
                                   number, apns-collapse-id <= 64 bytes;
                                   body {aps: {alert: {title, body}}} of at
                                   most 4096 bytes; answers 200 with
                                   apns-id or Apple's {"reason"} per script
      POST /script {"kind": "fcm"|"apns", "token", "statuses": [...]}
                                   what the next pushes to token get: 404
                                   (FCM UNREGISTERED), 400 (FCM
                                   INVALID_ARGUMENT / APNs BadDeviceToken),
                                   410 (APNs Unregistered), 429, 503 ...
      GET /received                every push: {kind, token, status,
                                   headers, body}, and what was wrong
      GET /counts                  {"fcm:TOKEN": 2xx answers, ...,
                                   "tokens": access tokens issued,
                                   "problems": requests refused as wrong}

    A request that breaks a rule is answered as the real service would
    (401, 403 InvalidProviderToken, 400) and listed in "problems", so a
    test can say none was.                                               */
'use strict';
const fs = require('fs');
const http2 = require('http2');
const crypto = require('crypto');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fcmKey = config.fcm ? crypto.createPublicKey(fs.readFileSync(config.fcm.public_key)) : null;
const apnsKey = config.apns ? crypto.createPublicKey(fs.readFileSync(config.apns.public_key)) : null;
const fast = !!config.fast;
const scripts = new Map();          // kind:token -> [status]
const received = [];
const counts = {};
const issued = new Set();
const problems = [];
let tokensIssued = 0;
let port = 0;

function b64json (part) {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

//  {header, claims} of a JWT whose signature key verifies, or throws why.
function verifyJwt (jwt, key, alg) {
    const parts = String(jwt).split('.');
    if (parts.length !== 3)
        throw new Error('not a JWT');
    const header = b64json(parts[0]);
    const claims = b64json(parts[1]);
    if (header.alg !== alg)
        throw new Error('alg is ' + header.alg + ', not ' + alg);
    const data = Buffer.from(parts[0] + '.' + parts[1]);
    const signature = Buffer.from(parts[2], 'base64url');
    const ok = alg === 'RS256'
        ? crypto.verify('RSA-SHA256', data, key, signature)
        : crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    if (!ok)
        throw new Error('bad ' + alg + ' signature');
    return { header, claims };
}

function problem (what, res, status, body) {
    problems.push(what);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
}

function nextStatus (id) {
    const script = scripts.get(id);
    return script && script.length ? script.shift() : 200;
}

function now () {
    return Math.floor(Date.now() / 1000);
}

/* ------------------------------------------------------------- OAuth 2 */

function token (req, res, body) {
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
        return problem('token: grant_type ' + form.get('grant_type'), res, 400,
                       { error: 'unsupported_grant_type' });
    try {
        const { claims } = verifyJwt(form.get('assertion'), fcmKey, 'RS256');
        const audience = 'https://127.0.0.1:' + port + '/token';
        const wrong = claims.iss !== config.fcm.client_email ? 'iss'
                    : claims.aud !== audience ? 'aud ' + claims.aud
                    : claims.scope !== 'https://www.googleapis.com/auth/firebase.messaging' ? 'scope'
                    : Math.abs(claims.iat - now()) > 300 ? 'iat'
                    : !(claims.exp > claims.iat && claims.exp - claims.iat <= 3600) ? 'exp' : null;
        if (wrong)
            return problem('token: ' + wrong, res, 400, { error: 'invalid_grant' });
    } catch (e) {
        return problem('token: ' + e.message, res, 400, { error: 'invalid_grant' });
    }
    const access = 'ya29.' + crypto.randomBytes(24).toString('base64url');
    issued.add(access);
    tokensIssued++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: access, expires_in: 3599, token_type: 'Bearer' }));
}

/* ----------------------------------------------------------------- FCM */

const fcmErrors = {
    400: ['INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token'],
    404: ['UNREGISTERED', 'Requested entity was not found.'],
    429: ['QUOTA_EXCEEDED', 'Quota exceeded'],
    503: ['UNAVAILABLE', 'The service is currently unavailable.'],
};

function fcm (req, res, body, project) {
    const auth = req.headers.authorization || '';
    if (!auth.startsWith('Bearer ') || !issued.has(auth.slice(7)))
        return problem('fcm: authorization ' + auth.slice(0, 12), res, 401,
                       { error: { code: 401, status: 'UNAUTHENTICATED' } });
    let message;
    try {
        message = JSON.parse(body).message;
    } catch (e) {
        return problem('fcm: body is not JSON', res, 400, { error: { code: 400 } });
    }
    const data = message && message.data || {};
    const android = message && message.android || {};
    const wrong = project !== config.fcm.project ? 'project ' + project
        : !(req.headers['content-type'] || '').startsWith('application/json') ? 'content-type'
        : !message || typeof message.token !== 'string' ? 'message.token'
        : !message.notification || !message.notification.title || !message.notification.body
            ? 'notification' 
        : Object.values(data).some(v => typeof v !== 'string') ? 'data values must be strings'
        : Object.keys(data).some(k => k === 'from' || k.startsWith('google') || k.startsWith('gcm'))
            ? 'reserved data key'
        : !/^\d+(\.\d{1,9})?s$/.test(android.ttl || '') ? 'android.ttl ' + android.ttl
        : !['NORMAL', 'HIGH'].includes(android.priority) ? 'android.priority' : null;
    if (wrong)
        return problem('fcm: ' + wrong, res, 400, { error: { code: 400, status: 'INVALID_ARGUMENT',
            details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest',
                        fieldViolations: [{ field: wrong }] }] } });
    const id = 'fcm:' + message.token;
    const status = nextStatus(id);
    received.push({ kind: 'fcm', token: message.token, status, version: req.httpVersion,
                    body: fast ? null : message });
    if (status === 200) {
        counts[id] = (counts[id] || 0) + 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ name: 'projects/' + project + '/messages/0:' + Date.now() }));
    }
    const [code, text] = fcmErrors[status] || ['INTERNAL', 'Internal error'];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: status, message: text, status: status === 404 ? 'NOT_FOUND' : code,
        details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: code }] } }));
}

/* ---------------------------------------------------------------- APNs */

function apnsReason (res, status, reason) {
    res.writeHead(status, { 'content-type': 'application/json', 'apns-id': crypto.randomUUID() });
    res.end(JSON.stringify(status === 410 ? { reason, timestamp: Date.now() } : { reason }));
}

function apns (req, res, body, device) {
    const h = req.headers;
    const auth = h.authorization || '';
    try {
        if (!auth.startsWith('bearer '))
            throw new Error('no bearer token');
        const { header, claims } = verifyJwt(auth.slice(7), apnsKey, 'ES256');
        if (header.kid !== config.apns.key_id)
            throw new Error('kid ' + header.kid);
        if (claims.iss !== config.apns.team_id)
            throw new Error('iss ' + claims.iss);
        if (!(Math.abs(claims.iat - now()) < 3600))
            throw new Error('iat');
    } catch (e) {
        problems.push('apns: ' + e.message);
        return apnsReason(res, 403, 'InvalidProviderToken');
    }
    let payload = null;
    try {
        payload = JSON.parse(body);
    } catch (e) { /* judged below */ }
    const alert = payload && payload.aps && payload.aps.alert;
    const wrong = req.httpVersion !== '2.0' ? 'HTTP/' + req.httpVersion
        : !/^[0-9a-fA-F]{16,200}$/.test(device) ? 'token'
        : h['apns-topic'] !== config.apns.topic ? 'apns-topic ' + h['apns-topic']
        : h['apns-push-type'] !== 'alert' ? 'apns-push-type'
        : !['5', '10'].includes(h['apns-priority']) ? 'apns-priority'
        : !/^\d+$/.test(h['apns-expiration'] || '') ? 'apns-expiration'
        : h['apns-collapse-id'] !== undefined && Buffer.byteLength(h['apns-collapse-id']) > 64
            ? 'apns-collapse-id' 
        : Buffer.byteLength(body) > 4096 ? 'PayloadTooLarge'
        : !alert || !alert.title || !alert.body ? 'aps.alert' : null;
    if (wrong) {
        problems.push('apns: ' + wrong);
        return apnsReason(res, 400, wrong === 'token' ? 'BadDeviceToken' : 'BadRequest');
    }
    const id = 'apns:' + device;
    const status = nextStatus(id);
    received.push({ kind: 'apns', token: device, status, version: req.httpVersion,
                    headers: fast ? null : { topic: h['apns-topic'], priority: h['apns-priority'],
                                             expiration: h['apns-expiration'],
                                             collapse: h['apns-collapse-id'] },
                    body: fast ? null : payload });
    if (status === 200) {
        counts[id] = (counts[id] || 0) + 1;
        res.writeHead(200, { 'apns-id': crypto.randomUUID() });
        return res.end();
    }
    apnsReason(res, status, { 400: 'BadDeviceToken', 410: 'Unregistered', 429: 'TooManyRequests',
                              503: 'ServiceUnavailable' }[status] || 'InternalServerError');
}

/* -------------------------------------------------------------- server */

function reply (res, value) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
}

const server = http2.createSecureServer({ cert: fs.readFileSync(config.cert),
                                          key: fs.readFileSync(config.key), allowHTTP1: true,
                                          settings: { maxConcurrentStreams: 1000 } },
                                        (req, res) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const path = req.url.split('?')[0];
        let m;
        if (req.method === 'POST' && path === '/token')
            return token(req, res, body);
        if (req.method === 'POST' && (m = path.match(/^\/v1\/projects\/([^/]+)\/messages:send$/)))
            return req.httpVersion === '2.0' ? fcm(req, res, body, m[1])
                                             : problem('fcm: HTTP/1.1', res, 400, {});
        if (req.method === 'POST' && (m = path.match(/^\/3\/device\/([^/]*)$/)))
            return apns(req, res, body, m[1]);
        if (req.method === 'POST' && path === '/script') {
            const s = JSON.parse(body);
            scripts.set(s.kind + ':' + s.token, s.statuses.slice());
            return reply(res, { ok: true });
        }
        if (path === '/received')
            return reply(res, received);
        if (path === '/counts')
            return reply(res, Object.assign({}, counts, { tokens: tokensIssued, problems }));
        res.writeHead(404);
        res.end();
    });
});
server.listen(0, '127.0.0.1', () => {
    port = server.address().port;
    console.log('listening ' + port);
});
process.on('SIGTERM', () => process.exit(0));
