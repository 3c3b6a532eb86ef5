#   browse-abandoned - a visitor looked at products again and again but
#   added nothing: one gentle note with what they looked at, two hours
#   after the visit, by web push or e-mail. Not for someone who adds to
#   the cart or orders meanwhile, at most once a week.
#   Format: nudge-journey(5).
journey
    name = browse-abandoned
    description = "One note with the products a visitor kept looking at"
    priority = 60                   #   below carts, above welcome and the rest
    trigger
        topic = browse.abandoned
        when = "products_viewed >= 3"
    qualify
        not-segment = came_to_buy        #   they are about to buy: leave them be
    reentry
        every = 7d
    active = ignore
    exit = cart.updated
    exit = order.completed
    exit = order.placed                 #   ordered, not paid yet: the cart is gone all the same
    steps
        wait = after-leaving
            for = 2h
        send = viewed
            channels = "push, email"
            quiet-hours = defer
            over-cap = skip             #   not worth a place in the cap later
            max-delay = 12h
