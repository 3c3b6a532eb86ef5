#!/usr/bin/env node
/*  rudder_sdk.js - a shop's backend, as RudderStack's Node SDK sees it.

    Usage: node rudder_sdk.js DATA_PLANE_URL WRITE_KEY ANONYMOUS_ID USER_ID

    Points the real @rudderstack/rudder-sdk-node at nudge's collector on its
    defaults, which gzip every batch (Content-Encoding: gzip) and never
    retry a 4xx, and sends an identify and two tracks. Prints one JSON
    line: {"errors":[...], "sent":N}; exits 1 if the SDK reported an error.
*/
'use strict';
const Analytics = require('@rudderstack/rudder-sdk-node');

async function main () {
    const [dataPlaneUrl, writeKey, anonymousId, userId] = process.argv.slice(2);
    if (!userId) {
        console.error('usage: rudder_sdk.js DATA_PLANE_URL WRITE_KEY ANONYMOUS_ID USER_ID');
        process.exit(2);
    }
    const errors = [];
    const client = new Analytics(writeKey, {
        dataPlaneUrl, flushInterval: 200, logLevel: 'error',
        errorHandler: (e) => errors.push(String((e && (e.message || e.code)) || e))
    });
    const product = { product_id: 'sku-shoe-42', name: 'Trail Runner 42', price: 89.9,
                      quantity: 1, currency: 'EUR' };
    client.identify({ anonymousId, userId, traits: { firstName: 'Jane', email: 'jane@example.com' } });
    client.track({ anonymousId, userId, event: 'Product Viewed', properties: product });
    client.track({ anonymousId, userId, event: 'Product Added', properties: product });
    await new Promise((resolve) => client.flush((err) => {
        if (err)
            errors.push(String(err.message || err));
        resolve();
    }));
    console.log(JSON.stringify({ errors, sent: 3 }));
    process.exit(errors.length ? 1 : 0);
}

main ().catch((e) => {
    console.log(JSON.stringify({ errors: [String(e && e.message || e)], sent: 0 }));
    process.exit(1);
});
