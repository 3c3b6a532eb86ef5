#!/usr/bin/env node
/*  browser_segment.js - Segment's own browser SDK, @segment/analytics-next, against nudge.

    Usage: node browser_segment.js PAGE-URL COLLECTOR WRITE_KEY

    Opens PAGE-URL (tests/integration/shoptest.py's /segment.html, which
    loads the SDK's UMD bundle from tests/e2e/node_modules) in Debian's
    chromium, headless, and loads the SDK unchanged, pointed at the
    collector: cdnSettings name the Segment.io integration's apiHost, so
    no settings are fetched from Segment's CDN, and cdnURL is the test's
    server, where any lazy bundle comes from. Sends page, identify and
    track, then loads nudge.js on the same page to see whether both agree
    on the visitor. Prints one JSON line: {"anonymousId", "nudgeAnonymousId",
    "requests": [{url, status, contentType}], "elsewhere": [URLs not on
    127.0.0.1], "errors": [...]}.
*/
'use strict';
const { run, launch } = require('./harness');

const [pageUrl, collector, writeKey] = process.argv.slice(2);
const out = { requests: [], errors: [] };

run(out, 60000, async () => {
    const browser = await launch();
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => out.errors.push('page: ' + e.message));
    page.on('response', (r) => {
        if (r.url().startsWith(collector)) {
            out.requests.push({ url: r.url(), status: r.status(),
                                contentType: r.request().headers()['content-type'] });
        }
    });
    page.on('request', (r) => {
        const url = new URL(r.url());
        if (url.hostname !== '127.0.0.1' && url.protocol !== 'data:') (out.elsewhere = out.elsewhere || []).push(r.url());
    });
    page.on('requestfailed', (r) => out.errors.push('request failed: ' + r.url() + ' ' + r.failure().errorText));
    await page.goto(pageUrl);
    const origin = new URL(pageUrl).origin;
    const host = new URL(collector).host;
    Object.assign(out, await page.evaluate(async ({ writeKey, host, origin }) => {
        const [analytics] = await window.AnalyticsNext.AnalyticsBrowser.load({
            writeKey, cdnURL: origin,
            cdnSettings: { integrations: { 'Segment.io': { apiKey: writeKey, apiHost: host + '/v1', protocol: 'http' } } }
        });
        await analytics.page('Shoes', 'Trail Runner 42', { product_id: 'trail-runner' });
        await analytics.identify('user-next-1', { firstName: 'Ada' });
        await analytics.track('Product Added', { product_id: 'trail-runner', sku: 'SHOE-42-BLK', price: 89.9,
                                                 quantity: 1, currency: 'EUR' });
        return { anonymousId: analytics.user().anonymousId(), userId: analytics.user().id() };
    }, { writeKey, host, origin }));
    //  nudge.js on the same page finds the same visitor
    await page.addScriptTag({ url: origin + '/nudge.js' });
    out.nudge = await page.evaluate((cfg) => { nudge.init(cfg); return nudge.user(); },
                                    { writeKey, host: collector, flushInterval: 100000 });
    await browser.close();
    return out.errors.length ? 1 : 0;
});
