#   price-drop - a product someone viewed or put in the cart is cheaper by
#   at least the sessionizer's price-drop share (10 % shipped) of the
#   price they saw (product.price_dropped: only for what the shop's
#   server, feed or catalogue-file says, once per person and product,
#   never for someone who bought it). One note with the old and new
#   price and what goes with it, by web push or e-mail, at once.
#   Format: nudge-journey(5).
journey
    name = price-drop
    description = "The product they looked at costs less now"
    trigger
        topic = product.price_dropped
    reentry
        key = product.product_id        #   once per product
        every = 1d                      #   and at most one such note a day
    active = ignore
    exit = order.completed
    limits
        attribution = 3d
    steps
        send = cheaper
            channels = "push, email"
            quiet-hours = defer
            over-cap = defer
            max-delay = 24h
