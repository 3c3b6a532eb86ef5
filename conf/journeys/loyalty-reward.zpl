#   loyalty-reward - thank a customer whose order made them loyal (the
#   segmenter's loyal: loyal-orders orders, 3 by default, in
#   conf/pipeline.zpl) with a unique 15 % code valid 30 days.
#
#   segment.entered "loyal" comes with the order that made them loyal, at
#   its time, so after-order = continue: that order must not end the
#   journey before its only message. The morning after (at least 12 h
#   later, at 10:00 their time: not on top of the shop's own order
#   confirmation), by e-mail, else SMS. Once per person, ever.
#
#   Caps (1/16h, 3/7d across journeys): right after an order no cart or
#   checkout reminder is pending for that visit, so the slot is nearly
#   always free. The reward comes once in a customer's life and carries a
#   code, so when another message took the slot first it waits for the
#   cap (over-cap = defer), for up to 3 days, and goes out after it
#   instead of taking its place.
#   Format: nudge-journey(5).
journey
    name = loyalty-reward
    description = "A thank-you with a 15 % code for the order that made a customer loyal"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = segment.entered
        when = "segment = loyal"
    reentry
        key = segment                   #   always "loyal": once per person, ever
    active = ignore
    after-order = continue              #   the order that made them loyal does not end it
    steps
        wait = next-morning
            for = 12h
            until = 10:00
        send = thank-you
            channels = "email, sms"
            quiet-hours = defer
            over-cap = defer            #   once in a lifetime: wait for the cap
            max-delay = 72h
            code
                percent = 15
                valid = 30d
                prefix = LOYAL
