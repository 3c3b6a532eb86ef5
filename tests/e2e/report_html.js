#!/usr/bin/env node
/*  report_html.js - nd-report's --html page in Debian's chromium.

    Usage: node report_html.js FILE

    Opens FILE (file://) in headless chromium and reads back, from the DOM,
    what the page shows: every figure's data attributes (variants, A/B
    intervals, daily points, funnel bars) and the "no data" texts. Prints
    one JSON line: {"journeys": {name: {"variants": {variant: {metric:
    value}}, "intervals": {variant: {diff, lo, hi}}, "daily": {series:
    {day: value}}}}, "funnel": {step: reached}, "empty": [texts],
    "svgs": count, "errors": [console errors, page errors, failed or
    outside requests]}.
*/
'use strict';
const { run, launch } = require('./harness');

const [file] = process.argv.slice(2);
const out = { errors: [] };

run(out, 60000, async () => {
    const browser = await launch();
    const page = await (await browser.newContext()).newPage();
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') out.errors.push('console: ' + m.text()); });
    page.on('pageerror', (e) => out.errors.push('page: ' + e.message));
    page.on('requestfailed', (r) => out.errors.push('request failed: ' + r.url()));
    page.on('request', (r) => { if (!r.url().startsWith('file://')) out.errors.push('fetched: ' + r.url()); });
    await page.goto('file://' + file);
    Object.assign(out, await page.evaluate(() => {
        const num = (el, name) => parseFloat(el.getAttribute(name));
        const journeys = {};
        for (const section of document.querySelectorAll('section.journey')) {
            const j = { variants: {}, intervals: {}, daily: {} };
            for (const row of section.querySelectorAll('tr[data-variant]')) {
                const v = j.variants[row.dataset.variant] = {};
                for (const cell of row.querySelectorAll('td[data-metric]')) {
                    if (cell.hasAttribute('data-value')) v[cell.dataset.metric] = num(cell, 'data-value');
                    else v[cell.dataset.metric] = cell.textContent;
                    if (cell.hasAttribute('data-lo')) { v.lo = num(cell, 'data-lo'); v.hi = num(cell, 'data-hi'); }
                }
            }
            for (const g of section.querySelectorAll('g.ci'))
                j.intervals[g.dataset.variant] = { diff: num(g, 'data-diff'), lo: num(g, 'data-lo'), hi: num(g, 'data-hi') };
            for (const c of section.querySelectorAll('circle[data-series]'))
                (j.daily[c.dataset.series] = j.daily[c.dataset.series] || {})[c.dataset.day] = num(c, 'data-value');
            journeys[section.dataset.journey] = j;
        }
        const funnel = {};
        for (const bar of document.querySelectorAll('#funnel rect[data-step]'))
            funnel[bar.dataset.step] = num(bar, 'data-reached');
        return { journeys, funnel, svgs: document.querySelectorAll('svg').length,
                 empty: [...document.querySelectorAll('.empty')].map((e) => e.textContent),
                 title: document.title };
    }));
    await browser.close();
});
