#   cart-returned - a visitor comes back with the cart of an earlier visit
#   still full: a banner on the page, "your cart is waiting", with its
#   items (the sessionizer's cart.returned). On-site only; at most once a
#   day. Ordering ends it. Format: nudge-journey(5).
journey
    name = cart-returned
    description = "A banner on the page: your cart is waiting"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = cart.returned
        when = "cart.value > 0"
    reentry
        every = 1d
    active = ignore
    exit = order.completed
    exit = order.placed                 #   ordered, not paid yet: the cart is gone all the same
    steps
        send = waiting
            channels = onsite           #   on-site only: never push, SMS or e-mail
            over-cap = skip
            max-delay = 1h
