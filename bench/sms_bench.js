#!/usr/bin/env node
/*  sms_bench.js - the quickest SMS API a benchmark can talk to.

    Answers Twilio-style POST .../Messages.json with 201 and Infobip-style
    POST /sms/2/text/advanced with 200, as the real APIs do, without
    checking anything (tests/integration/sendtest.py checks the format);
    GET /count says how many it took. Prints "listening PORT".        */
'use strict';
const http = require('http');

let count = 0;
const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
        if (req.method === 'GET') {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            return res.end(JSON.stringify({ count }));
        }
        count++;
        const twilio = req.url.endsWith('/Messages.json');
        res.writeHead(twilio ? 201 : 200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(twilio ? { sid: 'SM' + count, status: 'queued' }
            : { bulkId: 'b' + count, messages: [{ messageId: 'm' + count,
                status: { groupId: 1, groupName: 'PENDING', name: 'PENDING_ACCEPTED' } }] }));
    });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
