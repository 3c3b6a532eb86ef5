#   back-in-stock - a product someone viewed or put in the cart was out of
#   stock and is available again (the sessionizer's product.back_in_stock:
#   only for what the shop's server, feed or catalogue-file says, once per
#   person and product, never for someone who bought it). One note with
#   the product and what goes with it, by web push or e-mail, at once.
#   Format: nudge-journey(5).
journey
    name = back-in-stock
    description = "The product they wanted is back in stock"
    trigger
        topic = product.back_in_stock
    reentry
        key = product.product_id        #   once per product
        every = 1d                      #   and at most one such note a day
    active = ignore
    exit = order.completed
    limits
        attribution = 3d                #   orders within 3 days of the note are credited
    steps
        send = available
            channels = "push, email"
            quiet-hours = defer
            over-cap = defer
            max-delay = 24h             #   a day later it may be gone again
