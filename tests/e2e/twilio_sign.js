#!/usr/bin/env node
/*  twilio_sign.js - signs a webhook request as Twilio does, with Twilio's
    own Node library (twilio.getExpectedTwilioSignature).

    Usage: echo '{"token": "...", "url": "https://...", "params": {...}}' |
           node twilio_sign.js
    Prints the X-Twilio-Signature value.
*/
'use strict';
const twilio = require('twilio');

let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
    const { token, url, params } = JSON.parse(input);
    console.log(twilio.getExpectedTwilioSignature(token, url, params));
});
