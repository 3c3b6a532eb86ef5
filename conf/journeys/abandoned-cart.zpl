#   abandoned-cart - bring back a visitor who left with a full basket.
#
#   About an hour after the visit ends with something in the cart (the
#   sessionizer's cart.abandoned), a first reminder with the cart's items:
#   push, else SMS, else e-mail. What it says depends on the kind of
#   visitor, as the segmenter sees them then (conf/segments.zpl):
#     hesitating      came back to products seen before, or left carts
#                     before: an offer of answers, a link that opens the
#                     shop's chat with the cart as its context;
#     just looking    looked around before adding (cart_just_looking):
#                     the 10 % code now, in the first reminder;
#     came to buy     everyone else: the plain reminder.
#   About a day later, if they have not ordered, a unique 10 % code valid
#   48 h, by e-mail, else SMS (not again for whoever has one). Ordering
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
        branch = kind                   #   the first arm whose "when" holds; the
                                        #   default for whoever no arm took
            arm = hesitating            #   steps named reminder-1.hesitating...
                when = "in segment hesitating"
                send = reminder-1       #   templates abandoned-cart/reminder-1.hesitating
                    channels = "push, sms, email"
                    quiet-hours = defer
                    over-cap = defer
                    max-delay = 24h
            arm = just-looking
                when = "in segment cart_just_looking"
                send = reminder-1       #   templates abandoned-cart/reminder-1.just-looking
                    channels = "push, sms, email"
                    quiet-hours = defer
                    over-cap = defer
                    max-delay = 24h
                    code
                        percent = 10
                        valid = 48h
                        prefix = CART
            default                     #   came to buy: the journey as it was, its
                                        #   step names and templates unchanged
                send = reminder-1
                    channels = "push, sms, email"
                    quiet-hours = defer
                    over-cap = defer    #   another journey's message came first: wait for the cap
                    max-delay = 24h     #   later than that it is no longer a reminder: skip it
        wait = next-day
            for = 23h
        check = not-ordered
            if = "not ordered"
            else = exit
        check = no-code-yet             #   just looking had theirs in reminder-1
            if = "arm != just-looking"
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
