#   abandoned-cart - bring back a visitor who left with a full basket.
#
#   About an hour after the visit ends with something in the cart (the
#   sessionizer's cart.abandoned), a first reminder with the cart's items:
#   push, else SMS, else e-mail. About a day later, if they have not
#   ordered, a unique 10 % code valid 48 h, by e-mail, else SMS. Ordering
#   ends it; nothing while they browse. Format: nudge-journey(5).
journey
    name = abandoned-cart
    description = "Two reminders after a visit that left a cart, the second with a code"
    priority = high                 #   a capped slot goes to the cart first
    trigger
        topic = cart.abandoned
        #   a visit that reached checkout or payment is checkout-abandoned's:
        #   one journey per visit
        when = "cart.value > 0 and not (funnel_step = checkout or funnel_step = payment)"
    reentry
        key = cart.items.product_id     #   once per cart: the same articles never twice
        every = 3d                      #   and at most one cart journey per 3 days
    active = update                     #   a new abandonment meanwhile: newest cart, same timing
    exit = order.completed
    limits
        attribution = 5d                #   orders within 5 days of a message are credited
    steps
        split = subject-test            #   5 % get nothing, to measure what the reminders earn
            holdout = 5%
            variant = a                 #   templates abandoned-cart/reminder-1
                weight = 50
            variant = b                 #   templates abandoned-cart/reminder-1.b
                weight = 50
        wait = after-leaving
            for = 1h
        send = reminder-1
            channels = "push, sms, email"
            quiet-hours = defer
            over-cap = defer            #   another journey's message came first: wait for the cap
            max-delay = 24h             #   later than that it is no longer a reminder: skip it
        wait = next-day
            for = 23h
        check = not-ordered
            if = "not ordered"
            else = exit
        send = reminder-2
            channels = "email, sms"
            quiet-hours = defer
            over-cap = defer
            max-delay = 24h
            code
                percent = 10
                valid = 48h
                prefix = CART
    exit = order.placed                 #   ordered, not paid yet: the cart is gone (unpaid-order follows up)
