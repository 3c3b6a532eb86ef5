#!/usr/bin/env node
/*  chat_link.js - a chat link from a message, followed in a real Chromium.

    Usage: node chat_link.js PAGE-URL QUESTION

    Opens PAGE-URL (a shop page with the chat widget, its address ending
    in #nudge-chat=... as the abandoned-cart journey's hesitating
    reminder links it) in Debian's chromium, headless, and reports what
    the shopper sees: whether the chat opened, what its input holds, the
    address once the widget has read it. Then types QUESTION after what
    the input holds and sends it, and waits for the chat-bridge's answer
    to /chat/send. Prints one JSON line: {"open", "input", "hash",
    "context", "sent": {status, body}, "reloaded": {open, input},
    "errors": [...]}.
*/
'use strict';
const { chromium } = require('playwright-core');

const [pageUrl, question] = process.argv.slice(2);
const out = { errors: [], ms: {} };
const t0 = Date.now();
function lap (name) { out.ms[name] = Date.now() - t0; }
const deadline = setTimeout(() => { out.errors.push('timeout'); finish(1); }, 60000);
function finish (code) {
    clearTimeout(deadline);
    console.log(JSON.stringify(out));
    process.exit(code);
}

function seen (page) {
    return page.evaluate(() => {
        const root = document.getElementById('nudge-chat');
        const input = root && root.querySelector('input');
        return { open: !!root && root.classList.contains('open'), input: input ? input.value : null,
                 hash: window.location.hash, context: root && root.getAttribute('data-context'),
                 focused: !!input && document.activeElement === input };
    });
}

(async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
    lap('launched');
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => out.errors.push('page: ' + e.message));
    page.on('request', (r) => {
        const url = new URL(r.url());
        if (url.hostname !== '127.0.0.1' && url.protocol !== 'data:') (out.elsewhere = out.elsewhere || []).push(r.url());
    });
    lap('page');
    await page.goto(pageUrl, { waitUntil: 'domcontentloaded' });
    lap('loaded');
    await page.waitForSelector('#nudge-chat', { state: 'attached', timeout: 20000 });
    lap('widget');
    await page.waitForFunction(() => window.location.hash === '' ||
                               document.getElementById('nudge-chat').classList.contains('open'),
                               null, { timeout: 20000 });
    Object.assign(out, await seen(page));
    lap('opened');
    //  The shopper finishes the line the link began, and sends it
    const answer = page.waitForResponse((r) => r.url().includes('/chat/send'), { timeout: 20000 });
    await page.focus('#nudge-chat input');
    await page.keyboard.press('End');
    await page.keyboard.insertText(question);
    await page.press('#nudge-chat input', 'Enter');
    const response = await answer;
    out.sent = { status: response.status(), body: response.request().postData() };
    lap('sent');
    //  A reload does not open it again: the fragment is gone
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#nudge-chat', { state: 'attached', timeout: 20000 });
    const again = await seen(page);
    out.reloaded = { open: again.open, input: again.input, hash: again.hash };
    lap('reloaded');
    await browser.close();
    finish(0);
})().catch((e) => { out.errors.push(String(e && e.stack || e)); finish(1); });
