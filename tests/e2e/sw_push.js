//  sw_push.js: deliver one push to the shop's service worker through the
//  DevTools protocol and wait until its notification shows.
//
//  On two busy cores the worker's registration may be reported late, or
//  reported first without an active version; a push delivered then is lost
//  and nothing says so.  So: wait for an activated registration of the
//  shop's scope, deliver, poll the notifications, and deliver again (up to
//  three times) when none came.  Each wait is bounded.
'use strict';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

//  what the page's registration shows, as plain objects
async function notifications (page) {
    return page.evaluate(() => navigator.serviceWorker.ready.then((r) => r.getNotifications())
        .then((ns) => ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, icon: n.icon,
            image: n.image, actions: n.actions.map((a) => a.action), url: n.data && n.data.url }))));
}

//  Returns { registrationId, shown, tries }; throws if the shop has no worker.
async function deliverPush (context, page, origin, data) {
    const cdp = await context.newCDPSession(page);
    const registrations = new Map();
    const versions = new Map();
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
        for (const r of e.registrations) {
            if (r.isDeleted) registrations.delete(r.registrationId);
            else if (r.scopeURL.startsWith(origin)) registrations.set(r.registrationId, r);
        }
    });
    cdp.on('ServiceWorker.workerVersionUpdated', (e) => {
        for (const v of e.versions) versions.set(v.registrationId, v);
    });
    await cdp.send('ServiceWorker.enable');
    await page.evaluate(() => navigator.serviceWorker.ready);
    const active = () => [...registrations.keys()].find((id) =>
        versions.has(id) && versions.get(id).status === 'activated');
    for (let i = 0; i < 150 && !active(); i++) await sleep(100);
    const id = active() || [...registrations.keys()][0];
    if (!id) throw new Error('no service worker registration for ' + origin);
    let shown = [];
    let tries = 0;
    while (!shown.length && tries < 3) {
        tries++;
        await cdp.send('ServiceWorker.deliverPushMessage',
                       { origin: origin + '/', registrationId: id, data });
        for (let i = 0; i < 100 && !shown.length; i++) {
            await sleep(100);
            shown = await notifications(page);
        }
    }
    return { registrationId: id, shown, tries, cdp };
}

module.exports = { deliverPush };
