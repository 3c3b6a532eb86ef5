#!/usr/bin/env node
/*  browser_shop.js - a shopper in a real Chromium on the demo shop (web/demo).

    Usage: node browser_shop.js CONFIG-JSON

    CONFIG: {"shop": "http://127.0.0.1:PORT" (tests/integration/shoptest.py),
             "collector": "http://127.0.0.1:PORT",
             "confirmStandIn": true|false,  answer POST /v1/confirm in the
                 browser (page.route) while the collector has no such route
             "steps": ["browse", "exit", "signup", "push", "onsite", "offline", "retry"]}

    Debian's chromium (/usr/bin/chromium), headless, driven by
    playwright-core. Each step records what the page showed in one JSON
    object printed on the last line; the Python test checks it next to
    what the collector received. A step that throws records its error
    and the others still run.
*/
'use strict';
const { run, launch, sleep } = require('./harness');
const { deliverPush } = require('./sw_push');

const cfg = JSON.parse(process.argv[2] || '{}');
const out = { errors: [], console: [] };
let browser;

async function loaded (page) {
    await page.waitForFunction(() => window.nudge && window.nudge.VERSION, null, { timeout: 10000 });
}
//  Waits until what nudge.js queued has reached the collector
async function drained (page) {
    await page.waitForFunction(() => !JSON.parse(localStorage.getItem('nudge_queue') || '[]').length,
                               null, { timeout: 15000 });
}
async function leaveAtTop (page) {
    await page.mouse.move(600, 300);
    await page.mouse.move(600, 40, { steps: 4 });
    await page.mouse.move(600, -10, { steps: 2 });
    await sleep(300);
}
//  What the open dialog (in its shadow root) looks like and where focus is
async function dialogState (page, name) {
    return page.evaluate((name) => {
        const host = document.querySelector('[data-nudge="' + name + '"]');
        if (!host) return null;
        const root = host.shadowRoot;
        const box = root.querySelector('[role=dialog]');
        const active = root.activeElement;
        const label = box && root.getElementById(box.getAttribute('aria-labelledby'));
        return {
            role: box && box.getAttribute('role'),
            modal: box && box.getAttribute('aria-modal'),
            label: label ? label.textContent : null,
            described: box && !!root.getElementById(box.getAttribute('aria-describedby')),
            focus: active ? (active.id || active.textContent || active.name || active.tagName) : null,
            text: box ? box.textContent : '',
            shopCss: getComputedStyle(root.querySelector('h2')).color   // the shop styles h2 red
        };
    }, name);
}
async function focusWalk (page, name, keys) {
    const seen = [];
    for (const key of keys) {
        await page.keyboard.press(key);
        seen.push((await dialogState(page, name) || {}).focus);
    }
    return seen;
}

const steps = {
    //  index (with a campaign) -> product -> add to cart -> cart
    async browse (page) {
        await page.goto(cfg.shop + '/index.html?utm_source=newsletter&utm_medium=email&utm_campaign=spring');
        await loaded(page);
        out.anonymousId = await page.evaluate(() => nudge.user().anonymousId);
        out.cookie = await page.evaluate(() => document.cookie);
        await page.click('a[href="product.html?id=trail-runner"]');
        await loaded(page);
        await page.click('#add-to-cart');
        await page.click('#cart-link');
        await loaded(page);
        await drained(page);
        out.sameVisitor = await page.evaluate(() => nudge.user().anonymousId);
        if (cfg.chat) {
            await page.waitForFunction(() => window.nudgeChat, null, { timeout: 10000 });
            out.chatVisitor = await page.evaluate(() => JSON.parse(localStorage.getItem('nudge_chat')).anonymousId);
        }
    },
    //  the pointer leaves at the top: the prompt, once; keyboard and focus
    async exit (page) {
        if (cfg.debug) await page.evaluate(() => document.addEventListener('mouseout', (e) =>
            console.log('mouseout', e.clientY, String(e.relatedTarget), localStorage.getItem('nudge_exit_shown'))));
        await page.addStyleTag({ content: 'h2{color:rgb(255, 0, 0)!important}' });
        await page.focus('#checkout');
        await sleep(600);                       // the prompt arms itself after promptDelay
        await leaveAtTop(page);
        const shown = await dialogState(page, 'prompt-exitIntent');
        out.exit = { shown };
        if (!shown) return;
        out.exit.tabs = await focusWalk(page, 'prompt-exitIntent', ['Tab', 'Tab', 'Tab', 'Tab', 'Tab', 'Tab']);
        out.exit.shiftTabs = await focusWalk(page, 'prompt-exitIntent', ['Shift+Tab']);
        await page.keyboard.press('Escape');
        out.exit.afterEsc = await dialogState(page, 'prompt-exitIntent');
        out.exit.focusBack = await page.evaluate(() => document.activeElement && document.activeElement.id);
        //  the next page: the pointer leaves again, no prompt
        await page.click('a.brand');
        await loaded(page);
        await sleep(600);
        await leaveAtTop(page);
        out.exit.nextPage = await dialogState(page, 'prompt-exitIntent');
        //  the checkout never shows it, even to a visitor not yet prompted
        await page.evaluate(() => localStorage.removeItem('nudge_exit_shown'));
        await page.goto(cfg.shop + '/checkout.html');
        await loaded(page);
        await sleep(600);
        await leaveAtTop(page);
        out.exit.checkout = await dialogState(page, 'prompt-exitIntent');
        await page.evaluate(() => localStorage.setItem('nudge_exit_shown', String(Date.now())));
        await drained(page);
    },
    //  the sign-up form: e-mail and phone, each with its box; then the code
    async signup (page) {
        const confirms = [];
        if (cfg.confirmStandIn) {
            await page.route('**/v1/confirm', async (route) => {
                const body = JSON.parse(route.request().postData() || '{}');
                confirms.push({ body, contentType: route.request().headers()['content-type'] });
                const good = body.code === '123456';
                await route.fulfill({ status: good ? 200 : 400, contentType: 'application/json',
                    headers: { 'Access-Control-Allow-Origin': '*' },
                    body: JSON.stringify(good ? { confirmed: true } : { error: 'wrong code' }) });
            });
        }
        await page.goto(cfg.shop + '/index.html');
        await loaded(page);
        await page.click('footer [data-nudge-signup]');
        const form = await dialogState(page, 'prompt-signup');
        out.signup = { opened: form };
        const inside = (sel) => `[data-nudge="prompt-signup"] >> ${sel}`;
        await page.fill(inside('#nudge-email'), 'jane.doe@example.com');
        await page.click(inside('button[type=submit]'));
        out.signup.noConsent = (await dialogState(page, 'prompt-signup') || {}).text;
        await page.check(inside('#nudge-email-consent'));
        await page.fill(inside('#nudge-phone'), '+49 151 1234 5678');
        await page.check(inside('#nudge-phone-consent'));
        await page.click(inside('button[type=submit]'));
        out.signup.after = (await dialogState(page, 'prompt-signup') || {}).text;
        out.signup.traits = await page.evaluate(() => nudge.user().traits);
        await page.fill(inside('#nudge-code'), '000000');
        await page.click(inside('button[type=submit]'));
        await sleep(500);
        out.signup.wrongCode = (await dialogState(page, 'prompt-signup') || {}).text;
        await page.fill(inside('#nudge-code'), '123456');
        await page.click(inside('button[type=submit]'));
        await sleep(500);
        out.signup.rightCode = (await dialogState(page, 'prompt-signup') || {}).text;
        out.signup.confirms = confirms;
        await page.keyboard.press('Escape');
        await drained(page);
        //  a visitor who gave an address is not asked again
        await page.evaluate(() => localStorage.removeItem('nudge_exit_shown'));
        await page.reload();
        await loaded(page);
        await sleep(600);
        await leaveAtTop(page);
        out.signup.exitAfter = await dialogState(page, 'prompt-exitIntent');
        await page.unroute('**/v1/confirm');
    },
    //  the service worker, a push through the DevTools protocol, click and close
    async push (page, context) {
        await page.goto(cfg.shop + '/done.html');
        await loaded(page);
        out.push = {};
        out.push.onLoad = await dialogState(page, 'push');          // never on page load
        out.push.worker = await page.evaluate(() => navigator.serviceWorker.ready.then((r) =>
            ({ script: r.active && r.active.scriptURL, scope: r.scope })));
        await page.click('main [data-nudge-push]');
        out.push.soft = await dialogState(page, 'push');
        await page.keyboard.press('Escape');
        out.push.softClosed = await dialogState(page, 'push');

        await context.grantPermissions(['notifications'], { origin: cfg.shop });
        const payload = { title: 'Your cart misses you', body: 'The Trail Runner 42 is still in your cart.',
            icon: cfg.shop + '/img/trail-runner.svg', image: cfg.shop + '/img/trail-runner.svg',
            url: cfg.shop + '/cart.html', tag: 'cart-1',
            actions: [{ action: 'cart', title: 'See my cart', url: cfg.shop + '/cart.html' },
                      { action: 'evil', title: 'Evil', url: 'javascript:alert(1)' }],
            report: cfg.shop + '/push-report?t=TOKEN' };
        const { shown, tries } = await deliverPush(context, page, cfg.shop, JSON.stringify(payload));
        out.push.pushTries = tries;
        out.push.notifications = shown;
        //  a click and a close, as the browser would send them to the worker
        const worker = context.serviceWorkers().find((w) => w.url().startsWith(cfg.shop));
        out.push.workerSeen = !!worker;
        if (worker) {
            out.push.dispatched = await worker.evaluate(async () => {
                const [n] = await self.registration.getNotifications();
                if (!n) return 'no notification';
                const errors = [];
                self.addEventListener('error', (e) => errors.push(e.message));
                try { self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n, action: 'cart' })); }
                catch (e) { errors.push(String(e)); }
                try { self.dispatchEvent(new NotificationEvent('notificationclose', { notification: n })); }
                catch (e) { errors.push(String(e)); }
                return 'dispatched';
            });
        }
        //  who the visitor is, for pushsubscriptionchange (the worker has no localStorage)
        if (worker) {
            out.push.workerKnows = await worker.evaluate(() => caches.open('nudge')
                .then((c) => c.match('/__nudge/visitor')).then((r) => (r ? r.json() : null)));
        }
        await sleep(500);
        //  permission given: a click goes straight to the key and the browser's
        //  push service (none here: headless chromium has no FCM to register with)
        const keys = [];
        page.on('request', (r) => { if (r.url().endsWith('/v1/push/key')) keys.push(r.url()); });
        if (!cfg.pushKey) {
            await page.route('**/v1/push/key', (route) => route.fulfill({ status: 200, contentType: 'application/json',
                headers: { 'Access-Control-Allow-Origin': '*' }, body: JSON.stringify({ publicKey: cfg.vapidKey }) }));
        }
        await page.evaluate(() => {
            const button = document.body.appendChild(document.createElement('button'));
            button.id = 'probe';
            button.textContent = 'Subscribe';
            window.subscribed = new Promise((resolve) => button.addEventListener('click', () => nudge.push.subscribe()
                .then((s) => resolve(s ? 'subscribed' : 'no'), (e) => resolve('error: ' + e.message))));
        });
        await page.click('#probe');
        out.push.subscribe = await page.evaluate(() => window.subscribed);
        out.push.softAfterGrant = await dialogState(page, 'push');
        out.push.keyRequests = keys;
        await page.unroute('**/v1/push/key');
    },
    //  on-site messages, through the stand-in or the onsite stage
    async onsite (page) {
        await page.goto(cfg.shop + '/index.html');
        await loaded(page);
        const visitor = await page.evaluate(() => nudge.user().anonymousId);
        const send = (message) => page.evaluate((m) => fetch('/__test/onsite-send',
            { method: 'POST', body: JSON.stringify(m) }), { visitor, message });
        await send({ id: 'm-banner', kind: 'banner', title: '<img src=x onerror="window.pwned=1">Your cart is waiting',
            body: 'Free shipping today & tomorrow', url: 'javascript:window.pwned=2', image: 'javascript:1',
            expires: Date.now() / 1000 + 600 });
        await send({ id: 'm-card', kind: 'card', title: 'Goes well with your cart', body: 'Picked for you',
            url: cfg.shop + '/cart.html',
            products: [{ name: 'Running Socks', url: cfg.shop + '/product.html?id=running-socks',
                         image_url: cfg.shop + '/img/running-socks.svg', price: 12.5, currency: 'EUR' },
                       { name: 'Bad link', url: 'javascript:window.pwned=3', image_url: 'data:image/svg+xml,<svg/>',
                         price: 1, currency: 'EUR' }] });
        await send({ id: 'm-old', kind: 'banner', title: 'Expired', expires: Date.now() / 1000 - 60 });
        await page.waitForFunction(() => document.querySelectorAll('[data-nudge="onsite"]').length >= 2,
                                   null, { timeout: 15000 });
        await sleep(300);
        out.onsite = await page.evaluate(() => Array.prototype.map.call(
            document.querySelectorAll('[data-nudge="onsite"]'), (host) => {
                const root = host.shadowRoot;
                return { text: root.querySelector('.m').textContent,
                         kind: root.querySelector('.m').className,
                         hrefs: Array.prototype.map.call(root.querySelectorAll('[href]'), (a) => a.getAttribute('href')),
                         imgs: Array.prototype.map.call(root.querySelectorAll('img'), (i) => i.getAttribute('src')),
                         elements: root.querySelectorAll('.m *').length };
            }));
        out.onsitePwned = await page.evaluate(() => window.pwned || null);
        //  close the banner, click the card's first product
        await page.click('[data-nudge="onsite"] >> .banner >> button.x');
        await page.click('[data-nudge="onsite"] >> .card >> li a');
        await page.waitForURL('**/product.html?id=running-socks');
        await loaded(page);
    },
    //  offline: events wait in localStorage, and leave when the browser is back online
    async offline (page, context) {
        await page.goto(cfg.shop + '/product.html?id=head-lamp');
        await loaded(page);
        await drained(page);
        await context.setOffline(true);
        await page.click('#add-to-cart');
        await sleep(1500);
        out.offline = { queued: await page.evaluate(() => JSON.parse(localStorage.getItem('nudge_queue') || '[]')
            .map((e) => e.event || e.type)) };
        await context.setOffline(false);
        await drained(page);
        out.offline.after = await page.evaluate(() => JSON.parse(localStorage.getItem('nudge_queue') || '[]').length);
        //  a long time offline: the queue keeps the newest 200
        await context.setOffline(true);
        out.offline.flood = await page.evaluate(() => {
            for (let i = 0; i < 250; i++) nudge.track('Flood', { i });
            const q = JSON.parse(localStorage.getItem('nudge_queue') || '[]');
            return { length: q.length, first: q[0].properties.i, last: q[q.length - 1].properties.i };
        });
        await context.setOffline(false);
        await drained(page);
    },
    //  a phone: the back button and a fast scroll up are the exit intent
    async mobile (page, context) {
        const phone = await browser.newContext({ viewport: { width: 390, height: 700 }, isMobile: true,
                                                 hasTouch: true });
        const mpage = await phone.newPage();
        out.mobile = {};
        await mpage.goto(cfg.shop + '/index.html');
        await loaded(mpage);
        out.mobile.coarse = await mpage.evaluate(() => matchMedia('(pointer: coarse)').matches);
        out.mobile.visitors = [await mpage.evaluate(() => nudge.user().anonymousId)];
        await sleep(600);
        await mpage.goBack({ timeout: 2000 }).catch(() => {});
        await sleep(300);
        out.mobile.back = await dialogState(mpage, 'prompt-exitIntent');
        out.mobile.stayed = mpage.url().startsWith(cfg.shop + '/index.html');
        await mpage.keyboard.press('Escape');
        //  a new visitor on a phone: a fast scroll up
        const phone2 = await browser.newContext({ viewport: { width: 390, height: 700 }, isMobile: true,
                                                  hasTouch: true });
        const p2 = await phone2.newPage();
        await p2.goto(cfg.shop + '/index.html');
        await loaded(p2);
        out.mobile.visitors.push(await p2.evaluate(() => nudge.user().anonymousId));
        await sleep(600);
        //  Both scrolls inside the page, a frame apart: a round trip from
        //  here between them can take longer than the kit's 250 ms on a
        //  busy machine, and a slow scroll is rightly not exit intent. A
        //  shopper who is not caught scrolls again: up to three tries.
        for (let i = 0; i < 3 && !(out.mobile.scrollUp && out.mobile.scrollUp.role); i++) {
            await p2.evaluate(() => new Promise((done) => {
                document.body.style.minHeight = '5000px';
                window.scrollTo(0, 3000);
                requestAnimationFrame(() => requestAnimationFrame(() => {
                    window.scrollTo(0, 600);
                    requestAnimationFrame(() => requestAnimationFrame(done));
                }));
            }));
            await sleep(300);
            out.mobile.scrollUp = await dialogState(p2, 'prompt-exitIntent');
        }
        await phone.close();
        await phone2.close();
    },
    //  an event right before the visitor leaves goes out with keepalive
    async leave (page) {
        await page.goto(cfg.shop + '/product.html?id=water-bottle');
        await loaded(page);
        await drained(page);
        await page.click('#add-to-cart');
        await page.goto('about:blank');
    },
    //  a 503 with Retry-After, then 200: sent again; a 400: dropped, not retried
    async retry (page) {
        await page.goto(cfg.shop + '/product.html?id=rain-jacket');
        await loaded(page);
        await drained(page);
        const seen = [];
        const answers = [503, 400];
        await page.route('**/v1/batch', async (route) => {
            const body = JSON.parse(route.request().postData());
            const status = answers.shift();
            seen.push({ status: status || 'collector', events: body.batch.map((e) => e.event || e.type),
                        writeKey: !!body.writeKey, contentType: route.request().headers()['content-type'],
                        at: Date.now() });
            if (status) {
                //  a cross-origin page reads Retry-After only if it is exposed
                return route.fulfill({ status, body: '{}', headers: { 'Retry-After': '1',
                    'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Retry-After' } });
            }
            return route.continue();
        });
        await page.evaluate(() => nudge.track('Retry Probe', { n: 1 }));
        for (let i = 0; i < 100 && seen.length < 2; i++) await sleep(100);
        //  the 400 dropped the batch: the next one carries only what came after
        await page.evaluate(() => nudge.track('After Drop', { n: 2 }));
        await drained(page);
        await page.unroute('**/v1/batch');
        out.retry = seen;
    },
    //  identify, alias and reset, as analytics.js does them
    async identity (page) {
        await page.goto(cfg.shop + '/index.html');
        await loaded(page);
        out.identity = await page.evaluate(() => new Promise((resolve) => nudge.ready(() => {
            const before = nudge.user().anonymousId;
            nudge.identify('user-42', { firstName: 'Jane' });
            nudge.track('Identified Probe');
            nudge.alias('user-42b');
            const known = nudge.user();
            const cookie = document.cookie;
            nudge.reset();
            nudge.track('Reset Probe');
            resolve({ before, known, cookie, after: nudge.user() });
        })));
        await drained(page);
    }
};

run(out, 150000, async () => {
    browser = await launch();
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, locale: 'de-DE',
                                               timezoneId: 'Europe/Berlin' });
    const page = await context.newPage();
    page.on('console', (m) => {
        if (cfg.debug || m.type() === 'error' || m.type() === 'warning') out.console.push(m.text());
    });
    page.on('pageerror', (e) => out.errors.push('page: ' + e.message));
    //  in the order written: identity is last, as its reset makes a new visitor
    for (const name of cfg.steps || Object.keys(steps)) {
        try { await steps[name](page, context); }
        catch (e) { out.errors.push(name + ': ' + String(e.message || e).split('\n')[0]); }
    }
    //  the shopper leaves: pagehide sends what is left
    await page.goto('about:blank').catch(() => {});
    await context.close();
    await browser.close();
});
