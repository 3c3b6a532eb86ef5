#   checkout-abandoned - a visit reached checkout or payment and ended
#   without an order: an unfinished order (the sessionizer's
#   checkout.abandoned). abandoned-cart leaves these sessions to it.
#
#   About an hour after the visit, a note that the order is not finished,
#   with its items: e-mail (given at checkout), else push, else SMS. About
#   a day later, if they have not ordered, a unique 10 % code valid 48 h
#   by e-mail, else SMS. Ordering ends it; nothing while they browse.
#   Re-entry as abandoned-cart: the same articles once, at most every 3 days.
#   Format: nudge-journey(5).
journey
    name = checkout-abandoned
    description = "Two reminders after a checkout left unfinished, the second with a code"
    priority = high                 #   as the cart: they were about to pay
    trigger
        topic = checkout.abandoned
        when = "cart.value > 0"
    reentry
        key = cart.items.product_id
        every = 3d
    active = update
    exit = order.completed
    exit = order.placed                 #   ordered, not paid yet: the cart is gone all the same
    steps
        wait = after-leaving
            for = 1h
        send = reminder
            channels = "email, push, sms"
            quiet-hours = defer
            over-cap = defer
            max-delay = 24h
        wait = next-day
            for = 23h
        check = not-ordered
            if = "not ordered"
            else = exit
        send = last-call
            channels = "email, sms"
            quiet-hours = defer
            over-cap = defer
            max-delay = 24h
            code
                percent = 10
                valid = 48h
                prefix = ORDER
