//  harness.js - what every browser script here does around its own steps.
//
//  Each script prints one JSON line on stdout with what it saw (the test
//  reads it), also when it fails or runs out of time, and drives Debian's
//  chromium, headless, through playwright-core.
//
//      run(out, 60000, async () => { const browser = await launch(); ... });
'use strict';
const { chromium } = require('playwright-core');

const CHROMIUM = { executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true };

//  Runs body within ms; then prints out and exits with body's code (0 if
//  it returned none), or 1 after an error (added to out.errors) or the
//  deadline ('timeout').
function run (out, ms, body) {
    const deadline = setTimeout(() => { out.errors.push('timeout'); finish(1); }, ms);
    function finish (code) {
        clearTimeout(deadline);
        console.log(JSON.stringify(out));
        process.exit(code);
    }
    Promise.resolve().then(body).then((code) => finish(code || 0),
        (e) => { out.errors.push(String((e && e.stack) || e)); finish(1); });
}

const launch = (options) => chromium.launch(Object.assign({}, CHROMIUM, options));
const launchPersistent = (dir, options) => chromium.launchPersistentContext(dir, Object.assign({}, CHROMIUM, options));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = { run, launch, launchPersistent, sleep };
