#!/usr/bin/env node
/*  browser_journey.js - one shopper in a real Chromium, against the whole
    pipeline (tests/integration/test_browser_journey.py starts it).

    Usage: node browser_journey.js PHASE CONFIG-JSON

    CONFIG: {"shop": the demo shop's origin, "profile": a directory for
             Chromium's profile (kept between phases: the same visitor),
             "push": the decrypted push the push-sender sent (phase push)}

    Phases (each prints one JSON object on its last line):
      shop   the demo shop: a product added to the cart, then three more
             products viewed (the page shows the on-site card the onsite
             stage holds), then the pointer leaves at the top: the
             exit-intent prompt, answered with an e-mail address and its
             consent box; the next page, where it does not come again
      push   the same profile: the push delivered to the service worker
             through the DevTools protocol, the notification it shows,
             and a click on it (the worker reports it to the collector)

    Debian's chromium (/usr/bin/chromium), headless, playwright-core.   */
'use strict';
const { run, launchPersistent, sleep } = require('./harness');
const { deliverPush } = require('./sw_push');

const phase = process.argv[2];
const cfg = JSON.parse(process.argv[3] || '{}');
const out = { errors: [] };
let context;

async function loaded (page) {
    await page.waitForFunction(() => window.nudge && window.nudge.VERSION, null, { timeout: 15000 });
}
async function drained (page) {
    await page.waitForFunction(() => !JSON.parse(localStorage.getItem('nudge_queue') || '[]').length,
                               null, { timeout: 15000 });
}
async function view (page, id) {
    await page.goto(cfg.shop + '/product.html?id=' + id);
    await loaded(page);
    await drained(page);
}
//  The on-site messages the page shows, as a shopper reads them
function onsiteShown (page) {
    return page.evaluate(() => Array.prototype.map.call(
        document.querySelectorAll('[data-nudge="onsite"]'), (host) => {
            const m = host.shadowRoot.querySelector('.m');
            return { kind: m.className, text: m.textContent,
                     links: Array.prototype.map.call(m.querySelectorAll('[href]'), (a) => a.getAttribute('href')) };
        }));
}
function prompt (page, name) {
    return page.evaluate((name) => {
        const host = document.querySelector('[data-nudge="' + name + '"]');
        const box = host && host.shadowRoot.querySelector('[role=dialog]');
        return box ? box.textContent : null;
    }, name);
}

const phases = {
    async shop (page) {
        //  the visitor the test chose (one the journeys' split treats), as
        //  a returning visitor's browser would already hold it
        await page.addInitScript((id) => {
            if (!localStorage.getItem('ajs_anonymous_id'))
                localStorage.setItem('ajs_anonymous_id', JSON.stringify(id));
        }, cfg.anonymousId);
        await page.goto(cfg.shop + '/index.html?utm_source=newsletter&utm_medium=email&utm_campaign=winter');
        await loaded(page);
        out.anonymousId = await page.evaluate(() => nudge.user().anonymousId);
        await view(page, 'trail-runner');
        await page.click('#add-to-cart');
        await drained(page);
        //  she keeps browsing with a full cart: three more products
        for (const id of ['rain-jacket', 'water-bottle', 'head-lamp'])
            await view(page, id);
        try {
            await page.waitForFunction(() => document.querySelectorAll('[data-nudge="onsite"]').length > 0,
                                       null, { timeout: 30000 });
        } catch (e) { out.errors.push('no on-site message: ' + e.message.split('\n')[0]); }
        await sleep(500);
        out.onsite = await onsiteShown(page);
        out.sameVisitor = await page.evaluate(() => nudge.user().anonymousId) === out.anonymousId;
        //  the worker, registered by nudge.js on the shop's page
        out.worker = await page.evaluate(() => navigator.serviceWorker.ready.then((r) =>
            ({ script: r.active && r.active.scriptURL, scope: r.scope })));

        //  leaving: the pointer goes out at the top
        await sleep(600);
        await page.mouse.move(600, 300);
        await page.mouse.move(600, 40, { steps: 4 });
        await page.mouse.move(600, -10, { steps: 2 });
        await sleep(400);
        out.exitPrompt = await prompt(page, 'prompt-exitIntent');
        const inside = (sel) => `[data-nudge="prompt-exitIntent"] >> ${sel}`;
        if (out.exitPrompt) {
            await page.fill(inside('#nudge-email'), cfg.email);
            await page.check(inside('#nudge-email-consent'));
            await page.click(inside('button[type=submit]'));
            await sleep(300);
            out.afterSubmit = await prompt(page, 'prompt-exitIntent');
            await drained(page);
        }
        //  the next page: the pointer leaves again, and no prompt comes
        await page.goto(cfg.shop + '/index.html');
        await loaded(page);
        await sleep(600);
        await page.mouse.move(600, 300);
        await page.mouse.move(600, -10, { steps: 3 });
        await sleep(400);
        out.exitPromptAgain = await prompt(page, 'prompt-exitIntent');
    },

    async push (page) {
        await page.goto(cfg.shop + '/index.html');
        await loaded(page);
        out.anonymousId = await page.evaluate(() => nudge.user().anonymousId);
        await context.grantPermissions(['notifications'], { origin: cfg.shop });
        const { shown, tries } = await deliverPush(context, page, cfg.shop, cfg.push);
        out.pushTries = tries;
        out.notifications = shown;
        //  the shopper clicks it: the browser hands the worker a notificationclick
        const worker = context.serviceWorkers().find((w) => w.url().startsWith(cfg.shop));
        out.clicked = worker ? await worker.evaluate(async () => {
            const [n] = await self.registration.getNotifications();
            if (!n) return 'no notification';
            self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
            return 'clicked';
        }) : 'no worker';
        await sleep(1500);              //  the worker's report on its way
    }
};

run(out, 120000, async () => {
    try {
        context = await launchPersistent(cfg.profile);
        const page = context.pages()[0] || await context.newPage();
        page.on('pageerror', (e) => out.errors.push('page: ' + e.message));
        await phases[phase](page);
    } finally {
        if (context) await context.close().catch(() => {});
    }
});
