/*  nudge.js - nudge on the shop's page: tracking (the analytics.js calls),
    Web Push, prompts, on-site messages. Served by the collector; how to
    use it: README "Put nudge on your shop". No framework, no build step. */
(function () {
    "use strict";
    var stub = window.nudge;
    if (stub && stub.VERSION) return;
    var VERSION = "1.0.0";
    var MAX_QUEUE = 200, MAX_BATCH = 20, KEEPALIVE_BYTES = 60000;
    var config = null, ready = [], flushTimer = 0, sending = false, attempt = 0;
    var retryAt = 0, hiddenAt = 0, pending = [], memory = {}, storageOk = true;

    /* ------------------------------------------------------ storage */
    //  localStorage first, the cookie for the ids; memory where storage fails
    function load(name) {
        if (!storageOk && name in memory) return memory[name];
        try {
            var value = localStorage.getItem(name);
            if (value !== null) return JSON.parse(value);
        } catch (e) { /* private mode, or not JSON */ }
        var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
        if (!match) return null;
        var text = decodeURIComponent(match[1]);
        try { return JSON.parse(text); } catch (e) { return text; }
    }
    function store(name, value, cookie) {
        memory[name] = value;
        try {
            if (value === null) localStorage.removeItem(name);
            else localStorage.setItem(name, JSON.stringify(value));
        } catch (e) { storageOk = false; }
        if (!cookie) return;
        var domain = config && config.cookieDomain ? "; domain=" + config.cookieDomain : "";
        document.cookie = name + "=" + (value === null ? "" : encodeURIComponent(value)) +
            "; path=/; SameSite=Lax" + domain + (value === null ? "; max-age=0" : "; max-age=31536000") +
            (location.protocol === "https:" ? "; Secure" : "");
    }
    function uuid() {
        if (crypto.randomUUID) return crypto.randomUUID();
        return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, function (c) {
            return (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16);
        });
    }
    function anonymousId() {
        var id = load("ajs_anonymous_id");
        if (typeof id !== "string" || !id) id = uuid();
        store("ajs_anonymous_id", id, true);
        return id;
    }
    function userId() {
        var id = load("ajs_user_id");
        return typeof id === "string" && id ? id : (typeof id === "number" ? String(id) : null);
    }
    function traits() {
        var t = load("ajs_user_traits");
        return t && typeof t === "object" ? t : {};
    }
    function assign(to) {
        for (var i = 1; i < arguments.length; i++)
            for (var k in arguments[i])
                if (Object.prototype.hasOwnProperty.call(arguments[i], k)) to[k] = arguments[i][k];
        return to;
    }
    function safeUrl(url) {
        try {
            var u = new URL(String(url), location.href);
            return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
        } catch (e) { return null; }
    }

    /* ------------------------------------------------------ context */
    function pageProps() {
        var link = document.querySelector("link[rel='canonical']");
        var url = link ? link.href : location.href.replace(/#.*$/, "");
        return { path: location.pathname, referrer: document.referrer, search: location.search,
                 title: document.title, url: url };
    }
    function campaign() {
        var out = {}, any = false, params = new URLSearchParams(location.search);
        params.forEach(function (value, key) {
            var m = /^utm_(source|medium|term|content|campaign)$/.exec(key);
            if (m) { out[m[1] === "campaign" ? "name" : m[1]] = value; any = true; }
        });
        if (any) store("nudge_campaign", out);      // for the later pages
        return any ? out : load("nudge_campaign");
    }
    function context() {
        var c = { library: { name: "nudge.js", version: VERSION }, page: pageProps(),
                  userAgent: navigator.userAgent, locale: navigator.language };
        try { c.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* old */ }
        var camp = campaign();
        if (camp) c.campaign = camp;
        return c;
    }

    /* -------------------------------------------------------- queue */
    function queue() {
        var q = load("nudge_queue");
        return Array.isArray(q) ? q : [];
    }
    function enqueue(type, fields, options) {
        if (!config) { pending.push([type, fields, options]); return null; }
        var event = assign({ type: type, messageId: "nudge-" + uuid(),
                             timestamp: new Date().toISOString(), anonymousId: anonymousId(),
                             context: context() }, fields);
        var user = userId();
        if (user && !event.userId) event.userId = user;
        if (options && options.context) assign(event.context, options.context);
        if (options && options.timestamp) event.timestamp = new Date(options.timestamp).toISOString();
        var q = queue();
        q.push(event);
        store("nudge_queue", q.slice(-MAX_QUEUE));  // bounded: the oldest go first
        schedule(q.length >= MAX_BATCH ? 0 : config.flushInterval);
        return event;
    }
    function schedule(ms) {
        if (flushTimer) return;
        ms = Math.max(ms, retryAt - Date.now());
        flushTimer = setTimeout(function () { flushTimer = 0; flush(false); }, ms);
    }
    function forget(sent) {
        var ids = {};
        sent.forEach(function (e) { ids[e.messageId] = 1; });
        store("nudge_queue", queue().filter(function (e) { return !ids[e.messageId]; }));
    }
    function body(batch) {
        return JSON.stringify({ batch: batch, sentAt: new Date().toISOString(), writeKey: config.writeKey });
    }
    //  The oldest events: at most MAX_BATCH, and about `bytes` of JSON
    function take(q, bytes) {
        var batch = [], size = 0;
        for (var i = 0; i < q.length && batch.length < MAX_BATCH; i++) {
            size += JSON.stringify(q[i]).length;
            if (batch.length && size > bytes) break;
            batch.push(q[i]);
        }
        return batch;
    }
    function post(batch, keepalive) {
        var abort = window.AbortController && new AbortController();
        if (abort) setTimeout(function () { abort.abort(); }, 20000);
        return fetch(config.host + "/v1/batch", { method: "POST", body: body(batch), keepalive: keepalive,
            credentials: "omit", headers: { "Content-Type": "text/plain" }, signal: abort && abort.signal });
    }
    //  hidden: the page may be going away; send now, keep the queue until a
    //  200 (the next page sends again; the collector drops repeats)
    function flush(hidden) {
        if (!config || (sending && !hidden)) return;
        var q = queue();
        if (!q.length || navigator.onLine === false) return;
        if (hidden) {
            if (Date.now() - hiddenAt < 1000) return;       // visibilitychange, then pagehide
            hiddenAt = Date.now();
            var last = take(q, KEEPALIVE_BYTES);            // a page's keepalive bodies share 64 KB
            post(last, true).then(answered(last), function () {
                if (navigator.sendBeacon)
                    navigator.sendBeacon(config.host + "/v1/batch", new Blob([body(last)], { type: "text/plain" }));
            });
            return;
        }
        var batch = take(q, 400000);
        sending = true;
        post(batch, false)
            .then(answered(batch), function () { retry(null); })
            .then(function () { sending = false; if (!retryAt && queue().length) schedule(0); });
    }
    function answered(batch) {
        return function (response) {
            var s = response.status;
            if (s === 429 || s >= 500) return retry(response.headers.get("Retry-After"));
            if (s >= 400) console.warn("nudge: batch refused (" + s + ")");
            attempt = 0;
            retryAt = 0;
            forget(batch);
        };
    }
    function retry(after) {
        var wait = Math.min(60000, 1000 * Math.pow(2, attempt++)) * (0.5 + Math.random());
        var seconds = parseInt(after, 10);
        if (seconds >= 0) wait = Math.max(wait, seconds * 1000);
        else if (after && Date.parse(after)) wait = Math.max(wait, Date.parse(after) - Date.now());
        retryAt = Date.now() + wait;
        sending = false;
        schedule(wait);
    }

    /* ------------------------------------------------ analytics calls */
    function isObject(x) { return x && typeof x === "object" && !Array.isArray(x); }
    function page(category, name, properties, options) {
        if (isObject(category)) { options = name; properties = category; name = category = null; }
        else if (isObject(name)) { options = properties; properties = name; name = category; category = null; }
        else if (name === undefined) { name = category; category = null; }
        var fields = { properties: assign(pageProps(), properties || {}) };
        if (name) fields.name = fields.properties.name = name;
        if (category) fields.category = fields.properties.category = category;
        return enqueue("page", fields, options);
    }
    function track(event, properties, options) {
        return enqueue("track", { event: String(event), properties: properties || {} }, options);
    }
    function identify(id, newTraits, options) {
        if (isObject(id) || id === null || id === undefined) { options = newTraits; newTraits = id; id = userId(); }
        if (id !== null && id !== undefined && String(id) !== userId()) {
            store("ajs_user_id", String(id), true);
            tellWorker();
        }
        var all = assign(traits(), newTraits || {});
        store("ajs_user_traits", all);
        var fields = { traits: assign({}, newTraits || {}) };
        if (id !== null && id !== undefined) fields.userId = String(id);
        return enqueue("identify", fields, options);
    }
    function alias(to, from, options) {
        return enqueue("alias", { userId: String(to), previousId: String(from || userId() || anonymousId()) },
                       options);
    }
    function reset() {
        store("ajs_user_id", null, true);
        store("ajs_user_traits", null);
        store("ajs_anonymous_id", null, true);
        anonymousId();
        tellWorker();
    }

    /* --------------------------------------------------- shadow view */
    function el(tag, attrs, text) {
        var e = document.createElement(tag);
        for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
        if (text !== undefined && text !== null) e.textContent = String(text);
        return e;
    }
    function shadowHost(name, css) {
        var host = el("div", { "data-nudge": name });
        var root = host.attachShadow({ mode: "open" });
        root.appendChild(el("style", null, ":host{all:initial}*{box-sizing:border-box;" +
            "font:15px/1.4 system-ui,sans-serif;color:#222}button{cursor:pointer;border:0;" +
            "border-radius:6px;padding:9px 16px;background:#1f6feb;color:#fff}" +
            "button.plain{background:none;color:#444}a{color:#1f6feb}" + css));
        document.body.appendChild(host);
        return { host: host, root: root };
    }

    //  A modal dialog: focus kept inside, Esc closes, focus goes back
    var dialogOpen = null;
    function dialog(name, title, build, onclose) {
        if (dialogOpen) return null;
        var before = document.activeElement;
        var view = shadowHost(name, ".back{position:fixed;inset:0;background:rgba(0,0,0,.45);" +
            "z-index:2147483600;display:flex;align-items:center;justify-content:center}" +
            ".box{background:#fff;max-width:420px;width:calc(100% - 32px);border-radius:10px;" +
            "padding:22px;box-shadow:0 8px 30px rgba(0,0,0,.3)}h2{font-size:20px;font-weight:600;" +
            "margin:0 0 8px}p{margin:0 0 12px}.offer{font-weight:600;color:#0a7}" +
            "label{display:block;margin:10px 0 4px}input[type=email],input[type=tel],input[type=text]" +
            "{width:100%;padding:8px;border:1px solid #999;border-radius:6px}" +
            ".consent{display:flex;gap:8px;font-size:13px;margin-top:6px}.row{display:flex;gap:8px;" +
            "justify-content:flex-end;margin-top:16px}.error{color:#b00;min-height:1em;font-size:13px}" +
            ":focus-visible{outline:3px solid #f90;outline-offset:2px}");
        var back = el("div", { "class": "back" });
        var box = el("div", { "class": "box", role: "dialog", "aria-modal": "true",
                              "aria-labelledby": "nudge-title", "aria-describedby": "nudge-text" });
        box.appendChild(el("h2", { id: "nudge-title" }, title));
        back.appendChild(box);
        view.root.appendChild(back);
        function close(reason) {
            if (!view.host.parentNode) return;
            view.host.remove();
            document.removeEventListener("keydown", keys, true);
            dialogOpen = null;
            if (before && before.focus) before.focus();
            if (onclose) onclose(reason);
        }
        function keys(e) {
            if (e.key === "Escape") { e.preventDefault(); close("dismissed"); return; }
            if (e.key !== "Tab") return;
            var all = box.querySelectorAll("input,button,a[href],select,textarea,[tabindex]");
            var focusable = Array.prototype.filter.call(all, function (x) {
                return !x.disabled && x.offsetParent !== null && x.tabIndex >= 0;
            });
            if (!focusable.length) return;
            var first = focusable[0], last = focusable[focusable.length - 1];
            var active = view.root.activeElement;
            if (e.shiftKey && (active === first || !active)) { e.preventDefault(); last.focus(); }
            else if (!e.shiftKey && (active === last || !active)) { e.preventDefault(); first.focus(); }
        }
        document.addEventListener("keydown", keys, true);
        back.addEventListener("click", function (e) { if (e.target === back) close("dismissed"); });
        build(box, close);
        var first = box.querySelector("input,button");
        if (first) first.focus();
        dialogOpen = close;
        return close;
    }

    /* ------------------------------------------------------ prompts */
    var TEXTS = {
        title: "Stay in touch", text: "Get news and offers from us.", offer: "",
        email: "E-mail", emailConsent: "E-mail me news and offers; unsubscribe at any time.",
        phone: "Mobile number", phoneConsent: "Text me news and offers; reply STOP to end.",
        submit: "Sign up", later: "No, thanks", close: "Close",
        need: "Give an e-mail address or a mobile number, with its box ticked.",
        check: "Almost done: check your inbox for our link.",
        code: "We sent a code to your phone. Type it here:", confirm: "Confirm",
        codeBad: "That code is not right or has expired.", codeMany: "Too many tries; wait a while.",
        confirmed: "Thank you! Your number is confirmed.", failed: "That did not work; try again."
    };
    function promptConfig(kind) {
        var p = config.prompts || {};
        var own = p[kind] === true ? {} : p[kind];
        return own ? assign({}, TEXTS, p.texts || {}, own) : null;
    }
    function gaveAddress() {
        var t = traits();
        return !!(load("nudge_contact") || t.email || t.phone);
    }
    function checkout() {
        var p = config.prompts || {}, path = location.pathname;
        var type = config.pageType || (document.querySelector("meta[name='nudge:page-type']") || {}).content;
        if (type === "checkout") return true;
        return (p.checkout || ["/checkout"]).some(function (pattern) {
            return pattern instanceof RegExp ? pattern.test(path) : path.indexOf(pattern) === 0;
        });
    }

    function signup(kind) {
        var t = promptConfig(kind || "signup") || assign({}, TEXTS);
        var withEmail = t.email !== false, withPhone = t.phone !== false;
        return dialog("prompt-" + (kind || "signup"), t.title, function (box, close) {
            box.appendChild(el("p", { id: "nudge-text" }, t.text));
            if (t.offer) box.appendChild(el("p", { "class": "offer" }, t.offer));
            var form = el("form", { novalidate: "" });
            function field(type, name, label, consent) {
                var id = "nudge-" + name;
                form.appendChild(el("label", { "for": id }, label));
                form.appendChild(el("input", { type: type, id: id, name: name,
                    autocomplete: type === "email" ? "email" : "tel" }));
                var line = el("label", { "class": "consent" });
                line.appendChild(el("input", { type: "checkbox", name: name + "_consent", id: id + "-consent" }));
                line.appendChild(el("span", null, consent));
                form.appendChild(line);
            }
            if (withEmail) field("email", "email", t.email, t.emailConsent);
            if (withPhone) field("tel", "phone", t.phone, t.phoneConsent);
            var error = el("p", { "class": "error", role: "alert" });
            form.appendChild(error);
            var row = el("div", { "class": "row" });
            var later = el("button", { type: "button", "class": "plain" }, t.later);
            later.addEventListener("click", function () { close("dismissed"); });
            row.appendChild(later);
            row.appendChild(el("button", { type: "submit" }, t.submit));
            form.appendChild(row);
            box.appendChild(form);
            form.addEventListener("submit", function (e) {
                e.preventDefault();
                var f = form.elements, give = {};
                var email = withEmail && f.email.value.trim(), phone = withPhone && f.phone.value.replace(/[\s().-]/g, "");
                if (email && f.email_consent.checked && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))
                    assign(give, { email: email, email_consent: true });
                if (phone && f.phone_consent.checked && /^\+?[0-9]{6,15}$/.test(phone))
                    assign(give, { phone: phone, sms_consent: true });
                if (!give.email && !give.phone) { error.textContent = t.need; return; }
                identify(give);
                store("nudge_contact", Date.now());
                flush(false);
                form.remove();
                box.appendChild(el("p", null, give.email ? t.check : ""));
                if (give.phone) askCode(box, close, give.phone, t);
                else doneButton(box, close, t);
            });
        }, function (reason) {
            if (reason === "dismissed") track("Prompt Dismissed", { prompt: kind || "signup" });
        });
    }
    function doneButton(box, close, t) {
        var b = el("button", { type: "button" }, t.close);
        b.addEventListener("click", function () { close("done"); });
        var row = el("div", { "class": "row" });
        row.appendChild(b);
        box.appendChild(row);
        b.focus();
    }
    function askCode(box, close, phone, t) {
        var form = el("form");
        form.appendChild(el("label", { "for": "nudge-code" }, t.code));
        var input = el("input", { type: "text", id: "nudge-code", inputmode: "numeric",
                                  autocomplete: "one-time-code", maxlength: "8" });
        form.appendChild(input);
        var error = el("p", { "class": "error", role: "alert" });
        form.appendChild(error);
        var row = el("div", { "class": "row" });
        var later = el("button", { type: "button", "class": "plain" }, t.close);
        later.addEventListener("click", function () { close("done"); });
        row.appendChild(later);
        row.appendChild(el("button", { type: "submit" }, t.confirm));
        form.appendChild(row);
        box.appendChild(form);
        input.focus();
        form.addEventListener("submit", function (e) {
            e.preventDefault();
            var code = input.value.replace(/\s/g, "");
            if (!code) return;
            var message = { writeKey: config.writeKey, anonymousId: anonymousId(), phone: phone, code: code };
            if (userId()) message.userId = userId();
            fetch(config.host + "/v1/confirm", { method: "POST", body: JSON.stringify(message),
                headers: { "Content-Type": "text/plain" }, credentials: "omit" })
                .then(function (r) {
                    if (r.status === 200) {
                        form.remove();
                        box.appendChild(el("p", { role: "status" }, t.confirmed));
                        doneButton(box, close, t);
                    } else error.textContent = r.status === 429 ? t.codeMany : t.codeBad;
                }, function () { error.textContent = t.failed; });
        });
    }

    //  Exit intent: the pointer leaving through the top of the window on a
    //  desktop; a fast scroll up or the back button on a touch screen.
    function exitIntent() {
        var t = promptConfig("exitIntent");
        if (!t || checkout() || gaveAddress()) return;
        var period = (t.period || (config.prompts.period) || 30) * 86400000;
        var shown = load("nudge_exit_shown");
        if (shown && Date.now() - shown < period) return;
        var armed = false, lastY = scrollY, lastT = Date.now(), coarse = matchMedia("(pointer: coarse)").matches;
        function fire() {
            if (!armed || dialogOpen || gaveAddress() || checkout()) return;
            armed = false;
            store("nudge_exit_shown", Date.now());
            track("Prompt Shown", { prompt: "exitIntent" });
            signup("exitIntent");
        }
        setTimeout(function () {
            armed = true;
            if (coarse && !history.state) {
                history.pushState({ nudge: 1 }, "");
                window.addEventListener("popstate", function once() {
                    window.removeEventListener("popstate", once);
                    fire();
                });
            }
        }, t.delay === undefined ? 3000 : t.delay);
        document.addEventListener("mouseout", function (e) {
            if (!e.relatedTarget && e.clientY < 5) fire();
        });
        if (coarse) addEventListener("scroll", function () {
            var now = Date.now(), y = scrollY;
            if (lastY - y > innerHeight / 3 && now - lastT < 250 && y > 100) fire();   // fast, not at the top
            if (now - lastT > 100) { lastY = y; lastT = now; }
        }, { passive: true });
    }

    /* ---------------------------------------------------- web push */
    function base64url(text) {
        var b = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
        return Uint8Array.from(b, function (c) { return c.charCodeAt(0); });
    }
    function worker() {
        if (!("serviceWorker" in navigator)) return Promise.reject(new Error("no service workers here"));
        return navigator.serviceWorker.register(config.serviceWorker || "/sw.js")
            .then(function () { return navigator.serviceWorker.ready; });
    }
    //  For pushsubscriptionchange: the worker has no localStorage
    function tellWorker() {
        if (!config || !config.serviceWorker || !navigator.serviceWorker) return;
        navigator.serviceWorker.ready.then(function (reg) {
            if (reg.active) reg.active.postMessage({ nudge: { host: config.host, writeKey: config.writeKey,
                anonymousId: anonymousId(), userId: userId() } });
        });
    }
    function sendSubscription(sub) {
        var json = sub.toJSON();
        store("nudge_push", json.endpoint);
        identify({ push_subscription: { endpoint: json.endpoint, keys: json.keys }, push_consent: true });
        flush(false);
        return sub;
    }
    function softPrompt(options) {
        var t = assign({ title: "Get notified?", text: "Notifications about your cart, your orders " +
            "and offers. Turn them off at any time.",
            allow: "Allow notifications", later: "Not now" }, (config.prompts || {}).push || {}, options || {});
        return new Promise(function (resolve) {
            var answered = false;
            var opened = dialog("push", t.title, function (box, close) {
                box.appendChild(el("p", { id: "nudge-text" }, t.text));
                var row = el("div", { "class": "row" });
                var later = el("button", { type: "button", "class": "plain" }, t.later);
                var allow = el("button", { type: "button" }, t.allow);
                later.addEventListener("click", function () { close("dismissed"); });
                //  the click on Allow is the gesture requestPermission needs
                allow.addEventListener("click", function () {
                    answered = true;
                    close("done");
                    resolve(Notification.requestPermission());
                });
                row.appendChild(later);
                row.appendChild(allow);
                box.appendChild(row);
            }, function () { if (!answered) resolve("default"); });
            if (!opened) resolve("default");
        });
    }
    var push = {
        //  Call from a click: a soft prompt first, then the browser's own.
        subscribe: function (options) {
            if (!config) return Promise.reject(new Error("nudge.init first"));
            if (!("PushManager" in window) || !window.Notification)
                return Promise.reject(new Error("no Web Push here"));
            if (Notification.permission === "denied") return Promise.resolve(null);
            if (navigator.userActivation && !navigator.userActivation.isActive && Notification.permission !== "granted")
                return Promise.reject(new Error("nudge.push.subscribe() needs a visitor's click"));
            var asked = Notification.permission === "granted" ? Promise.resolve("granted") : softPrompt(options);
            return asked.then(function (permission) {
                if (permission !== "granted") return null;
                return Promise.all([worker(), fetch(config.host + "/v1/push/key", { credentials: "omit" })
                    .then(function (r) { if (!r.ok) throw new Error("no push key: " + r.status); return r.json(); })])
                    .then(function (both) {
                        return both[0].pushManager.subscribe({ userVisibleOnly: true,
                            applicationServerKey: base64url(both[1].publicKey) });
                    }).then(sendSubscription);
            });
        },
        unsubscribe: function () {
            return worker().then(function (reg) { return reg.pushManager.getSubscription(); })
                .then(function (sub) {
                    store("nudge_push", null);
                    identify({ push_subscription: null, push_consent: false });
                    return sub ? sub.unsubscribe() : false;
                });
        }
    };
    //  One the browser renewed while no page was open
    function checkSubscription() {
        if (!config.serviceWorker || !("PushManager" in window) || Notification.permission !== "granted") return;
        worker().then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
            if (sub && sub.endpoint !== load("nudge_push")) sendSubscription(sub);
        }, function () { /* no worker: nothing to check */ });
    }

    /* --------------------------------------------- on-site messages */
    var shownIds = {};
    function report(message, action) {
        fetch(config.onsite + "/onsite/event", { method: "POST", keepalive: true, credentials: "omit",
            headers: { "Content-Type": "text/plain" },
            body: JSON.stringify({ id: message.id, visitor: anonymousId(), action: action }) })
            .catch(function () { /* the stage expires what it never heard of */ });
    }
    function expired(message) {
        var e = message.expires;
        if (!e) return false;
        var when = typeof e === "number" ? (e < 1e12 ? e * 1000 : e) : Date.parse(e);
        return when && when < Date.now();
    }
    function showMessage(message) {
        if (!message || !message.id || shownIds[message.id] || expired(message)) return;
        shownIds[message.id] = 1;
        var card = message.kind === "card";
        var view = shadowHost("onsite", ".m{position:fixed;z-index:2147483500;background:#fff;" +
            "box-shadow:0 4px 18px rgba(0,0,0,.25);padding:14px 40px 14px 16px}" +
            ".banner{top:0;left:0;right:0;border-bottom:3px solid #1f6feb;text-align:center}" +
            ".card{left:16px;bottom:16px;width:320px;border-radius:10px}" +
            ".x{position:absolute;top:6px;right:6px;background:none;color:#444;padding:4px 10px;font-size:18px}" +
            "strong{display:block;font-weight:600;margin-bottom:4px}ul{list-style:none;margin:8px 0 0;padding:0}" +
            "li a{display:flex;gap:10px;align-items:center;text-decoration:none;margin:6px 0}" +
            "img{width:56px;height:56px;object-fit:cover;border-radius:6px}.price{color:#555;font-size:13px}");
        var box = el(card ? "aside" : "div", { "class": "m " + (card ? "card" : "banner"), role: card ? "complementary" : "region",
                                             "aria-label": message.title || "Message" });
        var x = el("button", { type: "button", "class": "x", "aria-label": "Close" }, "\u00d7");
        function clicked() { report(message, "clicked"); }
        x.addEventListener("click", function () { view.host.remove(); report(message, "dismissed"); });
        box.appendChild(x);
        box.appendChild(el("strong", null, message.title));
        if (message.body) box.appendChild(el("span", null, message.body + " "));
        var url = message.url && safeUrl(message.url);
        if (url) {
            var a = el("a", { href: url }, message.cta || "Have a look");
            a.addEventListener("click", clicked);
            box.appendChild(a);
        }
        var image = message.image && safeUrl(message.image);
        if (image && !card) box.insertBefore(el("img", { src: image, alt: "" }), x.nextSibling);
        if (Array.isArray(message.products) && message.products.length) {
            var list = el("ul");
            message.products.slice(0, 4).forEach(function (p) {
                var href = safeUrl(p.url), img = p.image_url && safeUrl(p.image_url);
                var item = el("li"), link = el(href ? "a" : "div", href ? { href: href } : {});
                if (img) link.appendChild(el("img", { src: img, alt: "" }));
                var text = el("span");
                text.appendChild(el("span", null, p.name));
                if (p.price !== undefined) {
                    var price = Number(p.price);
                    var shown = isFinite(price) && p.currency ?
                        new Intl.NumberFormat(navigator.language, { style: "currency", currency: p.currency }).format(price) :
                        String(p.price);
                    text.appendChild(el("div", { "class": "price" }, shown));
                }
                link.appendChild(text);
                if (href) link.addEventListener("click", clicked);
                item.appendChild(link);
                list.appendChild(item);
            });
            box.appendChild(list);
        }
        view.root.appendChild(box);
        report(message, "shown");
    }
    var polling = false, pollDelay = 0;
    function poll() {
        if (polling || !config.onsite || document.visibilityState === "hidden") return;
        polling = true;
        var abort = window.AbortController ? new AbortController() : null;
        var timer = setTimeout(function () { if (abort) abort.abort(); }, 35000);
        fetch(config.onsite + "/onsite/poll?visitor=" + encodeURIComponent(anonymousId()) + "&wait=25",
              { credentials: "omit", signal: abort && abort.signal })
            .then(function (r) { if (r.status !== 200) throw new Error(r.status); return r.json(); })
            .then(function (answer) {
                pollDelay = 0;
                (answer.messages || []).forEach(showMessage);
            }, function () { pollDelay = Math.min(60000, (pollDelay || 2000) * 2); })
            .then(function () {
                clearTimeout(timer);
                polling = false;
                setTimeout(poll, pollDelay * (0.5 + Math.random()));
            });
    }

    /* --------------------------------------------------------- init */
    function init(options) {
        if (config) return api;
        if (!options || !options.writeKey || !options.host) throw new Error("nudge.init: writeKey and host, please");
        config = assign({ flushInterval: 1000, prompts: {} }, options);
        config.host = String(config.host).replace(/\/+$/, "");
        if (config.onsite) config.onsite = String(config.onsite).replace(/\/+$/, "");
        anonymousId();
        pending.splice(0).forEach(function (p) { enqueue(p[0], p[1], p[2]); });
        addEventListener("visibilitychange", function () {
            if (document.visibilityState === "hidden") flush(true);
            else poll();
        });
        addEventListener("pagehide", function () { flush(true); });
        addEventListener("online", function () { attempt = 0; retryAt = 0; flush(false); });
        var whenBody = function (fn) {
            if (document.body) fn(); else document.addEventListener("DOMContentLoaded", fn);
        };
        whenBody(function () {
            exitIntent();
            document.addEventListener("click", function (e) {
                var on = e.target.closest && e.target.closest("[data-nudge-signup],[data-nudge-push]");
                if (!on) return;
                e.preventDefault();
                if (on.hasAttribute("data-nudge-signup")) signup("signup");
                else push.subscribe().catch(function (err) { console.warn("nudge:", err.message); });
            });
            poll();
        });
        if (config.serviceWorker && navigator.serviceWorker) {
            worker().then(function () { tellWorker(); checkSubscription(); },
                          function (e) { console.warn("nudge: service worker:", e.message); });
        }
        if (queue().length) schedule(0);      // what an earlier page left
        var fns = ready;
        ready = null;
        fns.forEach(function (fn) { setTimeout(fn, 0); });
        return api;
    }
    var api = {
        VERSION: VERSION, init: init, page: page, track: track, identify: identify, alias: alias,
        reset: reset, push: push,
        ready: function (fn) { if (ready) ready.push(fn); else setTimeout(fn, 0); },
        user: function () { return { anonymousId: anonymousId(), userId: userId(), traits: traits() }; },
        flush: function () { flush(false); },
        prompt: function (kind) { return signup(kind || "signup"); }
    };
    window.nudge = api;
    //  Calls made through the snippet's stub before this file arrived
    var early = (stub && stub.q) || [];
    early.forEach(function (call) { api[call[0]].apply(api, call[1]); });
})();
