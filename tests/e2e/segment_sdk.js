#!/usr/bin/env node
/*  segment_sdk.js - a shop's backend, as Segment's own Node SDK sees it.

    Usage: node segment_sdk.js HOST WRITE_KEY ANONYMOUS_ID USER_ID

    Points the real @segment/analytics-node at HOST (nudge's collector) and
    sends what a shop sends for one visitor: an identify with contact
    details, a page, and the E-commerce v2 funnel (Product Viewed, Product
    Added, Cart Viewed, Checkout Started, Order Completed). The SDK batches
    them and posts /v1/batch with the write key as HTTP Basic user name.
    Prints one JSON line: {"responses":[{"status":...,"url":...}],
    "errors":[...], "sent":N}; exits 1 if the SDK reported an error.
*/
'use strict';
const { Analytics } = require('@segment/analytics-node');

async function main () {
    const [host, writeKey, anonymousId, userId] = process.argv.slice(2);
    if (!userId) {
        console.error('usage: segment_sdk.js HOST WRITE_KEY ANONYMOUS_ID USER_ID');
        process.exit(2);
    }
    //  Small batches and a short interval, so a test run sees several
    //  /v1/batch requests rather than one
    const analytics = new Analytics({
        writeKey, host, flushAt: 3, flushInterval: 200, maxRetries: 2, httpRequestTimeout: 5000
    });
    const responses = [];
    const errors = [];
    analytics.on('http_response', (r) => responses.push({ status: r.status, url: r.url }));
    analytics.on('error', (e) => errors.push(String((e && (e.reason || e.message)) || e)));

    const shoe = { product_id: 'sku-shoe-42', sku: 'SHOE-42-BLK', name: 'Trail Runner 42',
                   price: 89.9, quantity: 1, category: 'Shoes', currency: 'EUR' };
    const socks = { product_id: 'sku-socks-3', sku: 'SOCK-3P', name: 'Running Socks (3 pack)',
                    price: 12.5, quantity: 2, category: 'Accessories', currency: 'EUR' };
    const calls = [
        () => analytics.identify({ anonymousId, userId,
            traits: { email: 'jane.doe@example.com', firstName: 'Jane', phone: '+4915112345678' } }),
        () => analytics.page({ anonymousId, category: 'Shoes', name: 'Trail Runner 42',
            properties: { url: 'https://shop.example/p/trail-runner-42', path: '/p/trail-runner-42' } }),
        () => analytics.track({ anonymousId, event: 'Product Viewed', properties: shoe }),
        () => analytics.track({ anonymousId, event: 'Product Added',
            properties: Object.assign({ cart_id: 'cart-77' }, shoe) }),
        () => analytics.track({ anonymousId, event: 'Product Added',
            properties: Object.assign({ cart_id: 'cart-77' }, socks) }),
        () => analytics.track({ anonymousId, event: 'Cart Viewed',
            properties: { cart_id: 'cart-77', products: [shoe, socks] } }),
        () => analytics.track({ anonymousId, userId, event: 'Checkout Started',
            properties: { order_id: 'order-1001', value: 114.9, currency: 'EUR',
                          products: [shoe, socks] } }),
        () => analytics.track({ anonymousId, userId, event: 'Order Completed',
            properties: { order_id: 'order-1001', total: 114.9, revenue: 114.9, shipping: 0,
                          tax: 18.35, currency: 'EUR', products: [shoe, socks] } })
    ];
    calls.forEach((call) => call());
    await analytics.closeAndFlush({ timeout: 15000 });
    console.log(JSON.stringify({ responses, errors, sent: calls.length }));
    process.exit(errors.length ? 1 : 0);
}

main().catch((e) => {
    console.log(JSON.stringify({ responses: [], errors: [String(e)], sent: 0 }));
    process.exit(1);
});
