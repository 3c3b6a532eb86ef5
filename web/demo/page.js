/*  The head every demo page shares, so that each page's file holds only
    what is its own: its title, its data-page (on <html>) and, on checkout,
    the nudge:page-type meta. Loaded without defer from the page's head;
    config.js runs before shop.js (inserted scripts with async off keep
    their order), and shop.js builds the body once the page is parsed. */
(function () {
    "use strict";
    var head = document.head;
    function add(tag, attrs) {
        var e = document.createElement(tag);
        Object.keys(attrs).forEach(function (k) { e[k] = attrs[k]; });
        head.appendChild(e);
    }
    add("meta", { name: "viewport", content: "width=device-width, initial-scale=1" });
    add("link", { rel: "stylesheet", href: "style.css" });
    add("script", { src: "config.js", async: false });
    add("script", { src: "shop.js", async: false });
})();
