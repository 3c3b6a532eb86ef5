#   cart-browsing - a visitor with items in the cart keeps browsing: they
#   are not reminded of the cart (the abandoned-cart reminder waits until
#   they leave), they are shown, on the page, products that other
#   shoppers bought with what is in it, else popular ones of its
#   categories (the sessionizer's cart.browsing, "goes_with"). On-site
#   only: nobody gets a push, a text or a mail from this journey; if they
#   leave, abandoned-cart's reminder-2 mail lists the same ("recommended").
#   At most once a day. Format: nudge-journey(5).
journey
    name = cart-browsing
    description = "A card on the page with products that go well with the cart"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = cart.browsing
        when = "goes_with"              #   nothing learned yet to go with it: nothing to show
    reentry
        every = 1d
    active = ignore
    exit = order.completed
    exit = order.placed                 #   ordered, not paid yet: the cart is gone all the same
    steps
        send = goes-with
            channels = onsite           #   on-site only: never push, SMS or e-mail
            over-cap = skip             #   cap-onsite: not worth showing later
            max-delay = 30m
