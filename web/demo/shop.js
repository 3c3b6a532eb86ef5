/*  The demo shop: a catalog, a cart in localStorage, and nudge on every
    page through the snippet README "Put nudge on your shop" gives, with
    the E-commerce v2 events a shop sends. Static files, no server code. */
(function () {
    "use strict";
    var demo = window.NUDGE_DEMO;

    /* The snippet: a stub that queues calls until nudge.js has loaded */
    !function(h){var n=window.nudge=window.nudge||{q:[]};if(n.VERSION)return;["init","page","track","identify","alias","reset","ready"].forEach(function(m){n[m]=n[m]||function(){n.q.push([m,[].slice.call(arguments)])}});var s=document.createElement("script");s.async=true;s.src=h+"/nudge.js";document.head.appendChild(s)}(demo.kit || demo.collector);
    nudge.init({
        writeKey: demo.writeKey, host: demo.collector, onsite: demo.onsite, serviceWorker: "/sw.js",
        prompts: {
            checkout: ["/checkout", "/done"],
            period: 7,                              // days between two exit-intent prompts
            exitIntent: { title: "Before you go…", text: "Join our list and get trail news first.",
                          offer: "10 % off your first order: code WELCOME10", delay: demo.promptDelay },
            signup: { title: "Sign up", text: "News and offers from Trail & Co., by e-mail or SMS." }
        }
    });

    var CURRENCY = "EUR";
    var PRODUCTS = [
        { id: "trail-runner", sku: "SHOE-42-BLK", name: "Trail Runner 42", price: 89.9, category: "Shoes",
          text: "A light shoe with a deep tread for muddy paths.", related: ["running-socks", "trail-cap"] },
        { id: "running-socks", sku: "SOCK-3P", name: "Running Socks (3 pack)", price: 12.5, category: "Accessories",
          text: "Seamless toes, no blisters.", related: ["trail-runner"] },
        { id: "rain-jacket", sku: "JKT-RAIN-M", name: "Rain Jacket", price: 129, category: "Clothing",
          text: "Packs into its own pocket; sheds a storm.", related: ["trail-cap", "head-lamp"] },
        { id: "water-bottle", sku: "BTL-750", name: "Water Bottle 750 ml", price: 18, category: "Accessories",
          text: "Keeps water cold for twelve hours.", related: ["head-lamp"] },
        { id: "head-lamp", sku: "LAMP-300", name: "Head Lamp 300 lm", price: 39.5, category: "Gear",
          text: "For runs that start before sunrise.", related: ["water-bottle", "rain-jacket"] },
        { id: "trail-cap", sku: "CAP-TRL", name: "Trail Cap", price: 22, category: "Clothing",
          text: "Sun off your face, sweat off your eyes.", related: ["rain-jacket"] }
    ];
    function product(id) { return PRODUCTS.filter(function (p) { return p.id === id; })[0]; }
    function image(p) { return new URL("img/" + p.id + ".svg", location.href).href; }
    function money(n) { return new Intl.NumberFormat("en-IE", { style: "currency", currency: CURRENCY }).format(n); }
    function spec(p, quantity) {        // a product as the E-commerce v2 spec names its fields
        return { product_id: p.id, sku: p.sku, name: p.name, price: p.price, category: p.category,
                 quantity: quantity || 1, currency: CURRENCY, url: new URL("product.html?id=" + p.id, location.href).href,
                 image_url: image(p) };
    }

    /* ------------------------------------------------------------ cart */
    function cart() {
        try { var c = JSON.parse(localStorage.getItem("demo_cart")); if (c && c.items) return c; } catch (e) { /* new */ }
        return { id: "cart-" + Math.random().toString(36).slice(2, 10), items: [] };
    }
    function saveCart(c) { localStorage.setItem("demo_cart", JSON.stringify(c)); badge(); }
    function lines(c) {
        return c.items.map(function (i) { return { p: product(i.product_id), quantity: i.quantity }; })
                      .filter(function (l) { return l.p; });
    }
    function total(c) { return lines(c).reduce(function (s, l) { return s + l.p.price * l.quantity; }, 0); }
    function add(p) {
        var c = cart(), line = c.items.filter(function (i) { return i.product_id === p.id; })[0];
        if (line) line.quantity++; else c.items.push({ product_id: p.id, quantity: 1 });
        saveCart(c);
        nudge.track("Product Added", Object.assign({ cart_id: c.id }, spec(p, 1)));
    }
    function remove(p) {
        var c = cart();
        c.items = c.items.filter(function (i) { return i.product_id !== p.id; });
        saveCart(c);
        nudge.track("Product Removed", Object.assign({ cart_id: c.id }, spec(p, 1)));
    }
    function badge() {
        var n = cart().items.reduce(function (s, i) { return s + i.quantity; }, 0);
        var b = document.getElementById("cart-count");
        if (b) b.textContent = String(n);
    }

    /* ----------------------------------------------------------- views */
    function el(tag, attrs, text) {
        var e = document.createElement(tag);
        Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
        if (text !== undefined) e.textContent = text;
        return e;
    }
    function card(p) {
        var box = el("div", { "class": "product" }), a = el("a", { href: "product.html?id=" + p.id });
        a.appendChild(el("img", { src: "img/" + p.id + ".svg", alt: p.name, width: 200, height: 200 }));
        a.appendChild(el("h3", {}, p.name));
        box.appendChild(a);
        box.appendChild(el("div", { "class": "price" }, money(p.price)));
        return box;
    }
    var views = {
        index: function (main) {
            nudge.page("Home");
            main.appendChild(el("h1", {}, "Gear for the trail"));
            var grid = el("div", { "class": "grid" });
            PRODUCTS.forEach(function (p) { grid.appendChild(card(p)); });
            main.appendChild(grid);
            nudge.track("Product List Viewed", { list_id: "home", category: "All",
                products: PRODUCTS.map(function (p, i) { return Object.assign(spec(p), { position: i + 1 }); }) });
        },
        product: function (main) {
            var p = product(new URLSearchParams(location.search).get("id")) || PRODUCTS[0];
            document.title = p.name + " - Trail & Co.";
            nudge.page(p.category, p.name);
            nudge.track("Product Viewed", spec(p));
            var detail = el("div", { "class": "detail" });
            detail.appendChild(el("img", { src: "img/" + p.id + ".svg", alt: p.name }));
            var text = el("div");
            text.appendChild(el("h1", {}, p.name));
            text.appendChild(el("p", {}, p.text));
            text.appendChild(el("p", { "class": "price" }, money(p.price)));
            var buy = el("button", { "class": "buy", id: "add-to-cart" }, "Add to cart");
            buy.addEventListener("click", function () { add(p); buy.textContent = "Added ✓"; });
            text.appendChild(buy);
            detail.appendChild(text);
            main.appendChild(detail);
            main.appendChild(el("h2", {}, "Goes well with"));
            var grid = el("div", { "class": "grid" });
            p.related.map(product).forEach(function (r) { grid.appendChild(card(r)); });
            main.appendChild(grid);
        },
        cart: function (main) {
            var c = cart();
            nudge.page("Cart");
            nudge.track("Cart Viewed", { cart_id: c.id, products: lines(c).map(function (l) { return spec(l.p, l.quantity); }) });
            main.appendChild(el("h1", {}, "Your cart"));
            if (!c.items.length) { main.appendChild(el("p", {}, "Your cart is empty.")); return; }
            var table = el("table");
            lines(c).forEach(function (l) {
                var tr = el("tr"), x = el("button", {}, "Remove");
                tr.appendChild(el("td", {}, l.p.name));
                tr.appendChild(el("td", {}, "× " + l.quantity));
                tr.appendChild(el("td", {}, money(l.p.price * l.quantity)));
                var td = el("td");
                x.addEventListener("click", function () { remove(l.p); tr.remove(); });
                td.appendChild(x);
                tr.appendChild(td);
                table.appendChild(tr);
            });
            main.appendChild(table);
            main.appendChild(el("p", {}, "Total: " + money(total(c))));
            var go = el("a", { href: "checkout.html", id: "checkout" }, "Go to checkout");
            main.appendChild(go);
        },
        checkout: function (main) {
            var c = cart();
            var order = { order_id: "order-" + c.id.slice(5), value: total(c), currency: CURRENCY,
                          products: lines(c).map(function (l) { return spec(l.p, l.quantity); }) };
            nudge.page("Checkout");
            nudge.track("Checkout Started", order);
            main.appendChild(el("h1", {}, "Checkout"));
            main.appendChild(el("p", {}, "Total: " + money(total(c))));
            var form = el("form", { "class": "pay" });
            [["name", "Name", "text"], ["card", "Card number (any digits)", "text"]].forEach(function (f) {
                form.appendChild(el("label", { "for": f[0] }, f[1]));
                form.appendChild(el("input", { id: f[0], name: f[0], type: f[2], required: "" }));
            });
            form.appendChild(el("p"));
            form.appendChild(el("button", { "class": "buy", type: "submit" }, "Pay"));
            form.addEventListener("submit", function (e) {
                e.preventDefault();
                nudge.track("Payment Info Entered", { order_id: order.order_id, payment_method: "card" });
                nudge.track("Order Completed", Object.assign({ total: order.value, revenue: order.value,
                    shipping: 0, tax: Math.round(order.value * 19 / 119 * 100) / 100 }, order));
                localStorage.removeItem("demo_cart");
                nudge.ready(function () { nudge.flush(); location.href = "done.html"; });
            });
            main.appendChild(form);
        },
        done: function (main) {
            nudge.page("Order Done");
            main.appendChild(el("h1", {}, "Thank you!"));
            main.appendChild(el("p", {}, "Your order is on its way. Want to know when it ships?"));
            main.appendChild(el("button", { "class": "buy", "data-nudge-push": "" }, "Notify me"));
        }
    };

    /* Every page's header, main and footer, so that each page's file holds
       only what is its own (its title and data-page; page.js its head) */
    function frame(main) {
        var header = el("header"), footer = el("footer");
        var cartLink = el("a", { href: "cart.html", id: "cart-link" }, "Cart (");
        cartLink.appendChild(el("span", { id: "cart-count" }, "0"));
        cartLink.appendChild(document.createTextNode(")"));
        [el("a", { "class": "brand", href: "index.html" }, "Trail & Co."),
         el("a", { href: "index.html" }, "Shop"), cartLink,
         el("button", { type: "button", "data-nudge-push": "" }, "Get notified")]
            .forEach(function (e) { header.appendChild(e); });
        footer.appendChild(el("p", {}, "A demo shop for nudge: every page sends its events to the collector."));
        footer.appendChild(el("button", { type: "button", "data-nudge-signup": "" }, "Sign up for news"));
        main.parentNode.insertBefore(header, main);
        main.parentNode.insertBefore(footer, main.nextSibling);
    }

    function mount() {
        var main = document.body.appendChild(el("main"));
        frame(main);
        badge();
        var view = views[document.documentElement.getAttribute("data-page")];
        if (view) view(main);
        //  the chat widget after nudge.js, so both tell the same visitor
        if (demo.chat) nudge.ready(function () {
            document.body.appendChild(el("script", { src: demo.chat + "/chat/widget.js", async: "" }));
        });
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount); else mount();
})();
