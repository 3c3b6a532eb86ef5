/*  Where the demo shop finds nudge: the ports "make run" uses
    (conf/pipeline.zpl). A real shop writes these into its own snippet. */
window.NUDGE_DEMO = {
    collector: "http://127.0.0.1:8080",     // nudge.js, nudge-sw.js, /v1/batch, /v1/push/key
    writeKey: "nudge-demo-browser-key",     // a browser key: public, origin-checked
    onsite: "http://127.0.0.1:8060",        // on-site messages (the onsite stage)
    chat: "http://127.0.0.1:8070"           // the chat widget (chat-bridge)
};
