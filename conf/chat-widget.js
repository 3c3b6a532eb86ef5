/*  nudge chat widget - served by the chat-bridge at /chat/widget.js.

    The shop adds one tag to its pages:

        <script src="https://chat.shop.example/chat/widget.js" async></script>

    It ties the chat to the visitor the shop's Segment / RudderStack SDK
    already tracks (ajs_anonymous_id, ajs_user_id), so operators see that
    visitor's cart and history; without an SDK it keeps an id of its own.
    Messages go to POST /chat/send; answers arrive over Server-Sent Events
    (/chat/stream), or by long poll (/chat/poll) where EventSource is
    missing. The conversation and its token live in localStorage, so a
    page change keeps the chat. No framework, no build step.

    A logged-in shopper: the shop's server signs their userId with the
    chat-bridge's identity-secret (hex HMAC-SHA256, as Intercom's
    user_hash) and the page says so, either before the tag

        <script>window.nudgeChat = { userId: "u-42", userHash: "9f2c..." };</script>

    or on it (data-user-id="u-42" data-user-hash="9f2c..."), or later,
    after a login without a page load: nudgeChat.identify("u-42", "9f2c...").
    Only then may the shop answer at the address it has for them; any
    other chat is answered at an address typed into it.

    A link in a message can open the chat: a page whose address ends in
    #nudge-chat opens it at once, and #nudge-chat=TEXT (percent-encoded:
    the abandoned-cart journey puts its cart there, "Trail shoe × 1 ·
    €114.90") also starts the shopper's first message with that line,
    for them to finish and send: nothing leaves the page until they do.
    The fragment is then taken off the address, so a reload or a shared
    link does not open it again. The text is shown as text, never markup,
    and cut to 300 characters: a link is anyone's to write.            */
(function () {
    "use strict";
    var config = window.nudgeChat || {};
    if (config.loaded) return;
    var script = document.currentScript;
    var identity = {
        userId: config.userId || (script && script.getAttribute("data-user-id")) || null,
        userHash: config.userHash || (script && script.getAttribute("data-user-hash")) || null
    };
    var base = script && script.src ? script.src.replace(/\/chat\/widget\.js.*$/, "") : "";
    var KEY = "nudge_chat";

    function stored(name) {
        try {
            var value = localStorage.getItem(name);
            if (value) return JSON.parse(value);
        } catch (e) { /* private mode, or not JSON */ }
        var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
        return match ? decodeURIComponent(match[1]).replace(/^"|"$/g, "") : null;
    }
    function save(state) {
        try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* ignore */ }
    }
    function randomId() {
        var bytes = new Uint8Array(16);
        (window.crypto || window.msCrypto).getRandomValues(bytes);
        return Array.prototype.map.call(bytes, function (b) {
            return ("0" + b.toString(16)).slice(-2);
        }).join("");
    }

    var state = stored(KEY) || {};
    if (typeof state !== "object") state = {};
    state.anonymousId = stored("ajs_anonymous_id") || state.anonymousId || randomId();
    state.after = state.after || 0;
    save(state);

    /* ------------------------------------------------------------ view */
    var css = "#nudge-chat{position:fixed;right:16px;bottom:16px;z-index:2147483000;" +
        "font:14px/1.4 system-ui,sans-serif}" +
        "#nudge-chat button{cursor:pointer;border:0;border-radius:18px;padding:8px 16px;" +
        "background:#1f6feb;color:#fff}" +
        "#nudge-chat .panel{display:none;width:300px;height:400px;background:#fff;" +
        "border:1px solid #ccc;border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.2);" +
        "flex-direction:column;margin-bottom:8px}" +
        "#nudge-chat.open .panel{display:flex}" +
        "#nudge-chat .lines{flex:1;overflow-y:auto;padding:8px}" +
        "#nudge-chat .line{margin:4px 0;padding:6px 8px;border-radius:6px;background:#f0f0f0}" +
        "#nudge-chat .shopper{background:#dbeafe;margin-left:40px}" +
        "#nudge-chat .system{background:none;color:#666;font-style:italic}" +
        "#nudge-chat form{display:flex;border-top:1px solid #ccc}" +
        "#nudge-chat input{flex:1;border:0;padding:8px}";
    var root = document.createElement("div");
    root.id = "nudge-chat";
    root.innerHTML = "<style>" + css + "</style><div class=panel><div class=lines></div>" +
        "<form><input name=text autocomplete=off placeholder='Ask us anything'>" +
        "<button type=submit>Send</button></form></div><button class=toggle>Chat</button>";
    var lines = root.querySelector(".lines");
    var input = root.querySelector("input");

    function show(line) {
        if (line.seq && line.seq <= state.after) return;
        var div = document.createElement("div");
        div.className = "line " + line.from;
        div.textContent = (line.from === "operator" && line.name ? line.name + ": " : "") + line.text;
        lines.appendChild(div);
        lines.scrollTop = lines.scrollHeight;
        if (line.seq) { state.after = line.seq; save(state); }
        if (line.from === "system" && /e-mail address/i.test(line.text)) {
            input.type = "email";
            input.placeholder = "you@example.com";
        }
    }

    /* --------------------------------------------------------- receive */
    var source = null, polling = false;
    function listen() {
        if (!state.conversation) return;
        var query = "conversation=" + encodeURIComponent(state.conversation) +
            "&token=" + encodeURIComponent(state.token) + "&after=" + state.after;
        if (window.EventSource) {
            if (source) return;
            source = new EventSource(base + "/chat/stream?" + query);
            source.addEventListener("line", function (e) { show(JSON.parse(e.data)); });
            source.addEventListener("end", function () { source.close(); source = null; });
            return;
        }
        if (polling) return;
        polling = true;
        var xhr = new XMLHttpRequest();
        xhr.open("GET", base + "/chat/poll?" + query + "&wait=25");
        xhr.onloadend = function () {
            polling = false;
            var answer = null;
            try { answer = JSON.parse(xhr.responseText); } catch (e) { /* retry */ }
            if (answer && answer.lines) answer.lines.forEach(show);
            if (answer && answer.state === "ended") return;
            setTimeout(listen, xhr.status === 200 ? 0 : 3000);
        };
        xhr.send();
    }

    /* ------------------------------------------------------------ send */
    function send(text) {
        var body = { anonymousId: state.anonymousId, id: randomId() };
        var userId = identity.userId || stored("ajs_user_id");
        if (userId) body.userId = String(userId);
        if (identity.userId && identity.userHash) body.userHash = String(identity.userHash);
        if (state.conversation && !state.ended) {
            body.conversation = state.conversation;
            body.token = state.token;
        }
        if (input.type === "email") body.email = text; else body.text = text;
        var xhr = new XMLHttpRequest();
        xhr.open("POST", base + "/chat/send");
        xhr.setRequestHeader("Content-Type", "text/plain");
        xhr.onloadend = function () {
            var answer = null;
            try { answer = JSON.parse(xhr.responseText); } catch (e) { /* below */ }
            if (xhr.status !== 200 || !answer) {
                /* 429, 503: the server says why (too many chats right now) */
                var busy = (xhr.status === 429 || xhr.status === 503) && answer && answer.error;
                show({ from: "system", text: busy ? "Not sent: " + answer.error + "." :
                                                   "Not sent - please try again." });
                return;
            }
            if (answer.conversation !== state.conversation) {
                if (source) { source.close(); source = null; }
                state.conversation = answer.conversation;
                state.token = answer.token;
                state.after = 0;
                lines.textContent = "";
            }
            state.ended = answer.state === "ended";
            save(state);
            input.type = "text";
            input.placeholder = "Ask us anything";
            listen();
        };
        xhr.send(JSON.stringify(body));
    }

    root.querySelector("form").addEventListener("submit", function (e) {
        e.preventDefault();
        var text = input.value.trim();
        if (!text) return;
        input.value = "";
        send(text);
    });
    root.querySelector(".toggle").addEventListener("click", function () {
        root.classList.toggle("open");
        if (root.classList.contains("open")) { input.focus(); listen(); }
    });

    /* ------------------------------------------ opened from a link */
    var LINK = /^#nudge-chat(?:=([^#]*))?$/;
    function fromLink() {
        var match = LINK.exec(window.location.hash);
        if (!match) return;
        var context = "";
        try { context = decodeURIComponent(match[1] || ""); } catch (e) { /* not UTF-8 */ }
        context = context.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim().slice(0, 300);
        try {
            history.replaceState(history.state, "", window.location.pathname + window.location.search);
        } catch (e) { /* a sandboxed page: leave the address */ }
        root.classList.add("open");
        if (context && !input.value) {
            input.value = context + " \u2014 ";
            root.setAttribute("data-context", context);
        }
        input.focus();
        listen();
    }
    window.addEventListener("hashchange", fromLink);

    window.nudgeChat = {
        loaded: true,
        open: function () { root.classList.add("open"); listen(); },
        /* after a login without a page load: the signed userId */
        identify: function (userId, userHash) {
            identity.userId = userId || null;
            identity.userHash = userHash || null;
        }
    };
    function mount() {
        document.body.appendChild(root);
        if (state.conversation && !state.ended) {
            state.after = 0;            /* a new page: the transcript again */
            listen();
        }
        fromLink();
    }
    if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
