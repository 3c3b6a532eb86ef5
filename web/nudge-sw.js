/*  nudge-sw.js - nudge's part of the shop's service worker.

    Served by the collector at /nudge-sw.js. The shop's own worker (for
    example /sw.js at the root of the shop, so it controls every page)
    is one line:

        importScripts("https://collector.shop.example/nudge-sw.js");

    push: shows the push-sender's notification. Its payload is JSON
        {"title","body","icon","image","url","tag",
         "actions":[{"action","title","url"}], "report":"<collector>/v1/push/event?t=TOKEN"}
    notificationclick: opens (or focuses) the notification's URL, or the
        URL of the action clicked, and POSTs report + "&action=clicked";
    notificationclose: POSTs report + "&action=dismissed";
    pushsubscriptionchange: subscribes again with the same key and sends
        the new subscription to the collector as an identify with the
        trait push_subscription, for the visitor nudge.js told this worker
        about (it has no localStorage: the page posts {nudge: {host,
        writeKey, anonymousId, userId}} and the worker keeps it in the
        Cache API).

    Only http(s) URLs are opened or shown.                              */
(function () {
    "use strict";
    var CACHE = "nudge", WHO = "/__nudge/visitor";

    function safeUrl(url) {
        try {
            var u = new URL(String(url), self.location.origin);
            return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
        } catch (e) { return null; }
    }
    function report(data, action) {
        var url = data && safeUrl(data.report);
        if (!url) return Promise.resolve();
        return fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "action=" + action,
                     { method: "POST", credentials: "omit" })
            .catch(function () { /* a lost report only loses a statistic */ });
    }

    self.addEventListener("push", function (event) {
        var data = {};
        try { data = event.data ? event.data.json() : {}; }
        catch (e) { data = { body: event.data ? event.data.text() : "" }; }
        var options = { body: String(data.body || ""), data: data };
        if (safeUrl(data.icon)) options.icon = safeUrl(data.icon);
        if (safeUrl(data.image)) options.image = safeUrl(data.image);
        if (safeUrl(data.badge)) options.badge = safeUrl(data.badge);
        if (data.tag) { options.tag = String(data.tag); options.renotify = true; }
        if (Array.isArray(data.actions))
            options.actions = data.actions.filter(function (a) { return !a.url || safeUrl(a.url); })
                .slice(0, 2).map(function (a) {
                    var one = { action: String(a.action || ""), title: String(a.title || "") };
                    if (safeUrl(a.icon)) one.icon = safeUrl(a.icon);
                    return one;
                });
        event.waitUntil(self.registration.showNotification(String(data.title || "News"), options));
    });

    self.addEventListener("notificationclick", function (event) {
        var data = event.notification.data || {};
        var url = data.url;
        (data.actions || []).forEach(function (a) {
            if (event.action && a.action === event.action && a.url) url = a.url;
        });
        url = safeUrl(url);
        event.notification.close();
        event.waitUntil(Promise.all([report(data, "clicked"), url && self.clients
            .matchAll({ type: "window", includeUncontrolled: true })
            .then(function (windows) {
                for (var i = 0; i < windows.length; i++)
                    if (windows[i].url === url && windows[i].focus) return windows[i].focus();
                return self.clients.openWindow(url);
            })]));
    });

    self.addEventListener("notificationclose", function (event) {
        event.waitUntil(report(event.notification.data, "dismissed"));
    });

    //  Who this is, for pushsubscriptionchange: nudge.js tells every page load
    self.addEventListener("message", function (event) {
        var who = event.data && event.data.nudge;
        if (!who || !who.host || !who.writeKey) return;
        event.waitUntil(caches.open(CACHE).then(function (cache) {
            return cache.put(WHO, new Response(JSON.stringify(who)));
        }));
    });
    function visitor() {
        return caches.open(CACHE).then(function (cache) { return cache.match(WHO); })
            .then(function (r) { return r ? r.json() : null; });
    }
    function base64url(text) {
        var b = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
        return Uint8Array.from(b, function (c) { return c.charCodeAt(0); });
    }

    self.addEventListener("pushsubscriptionchange", function (event) {
        event.waitUntil(visitor().then(function (who) {
            if (!who) return null;
            var old = event.oldSubscription && event.oldSubscription.options;
            var key = old && old.applicationServerKey ? Promise.resolve(old.applicationServerKey) :
                fetch(who.host + "/v1/push/key", { credentials: "omit" })
                    .then(function (r) { return r.json(); })
                    .then(function (k) { return base64url(k.publicKey); });
            var fresh = event.newSubscription ? Promise.resolve(event.newSubscription) :
                key.then(function (k) {
                    return self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: k });
                });
            return fresh.then(function (sub) {
                var json = sub.toJSON();
                var message = { writeKey: who.writeKey, type: "identify", anonymousId: who.anonymousId,
                    messageId: "nudge-sw-" + Date.now() + "-" + Math.random().toString(36).slice(2),
                    timestamp: new Date().toISOString(),
                    traits: { push_subscription: { endpoint: json.endpoint, keys: json.keys }, push_consent: true },
                    context: { library: { name: "nudge-sw.js", version: "1.0.0" } } };
                if (who.userId) message.userId = who.userId;
                return fetch(who.host + "/v1/identify", { method: "POST", credentials: "omit",
                    headers: { "Content-Type": "text/plain" }, body: JSON.stringify(message) });
            });
        }).catch(function () { /* the next page load sends the subscription (nudge.js) */ }));
    });
})();
