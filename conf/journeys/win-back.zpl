#   win-back - a customer who has not ordered for 90 days (the segmenter's
#   lapsed, lapsed-after in conf/pipeline.zpl).
#
#   At 10:00 their time, a "we miss you" by e-mail, else web push; a week
#   later, if they still have not ordered, a unique 15 % code valid 7 days
#   by e-mail, else SMS. At most once per 90 days; an order ends it.
#   Format: nudge-journey(5).
journey
    name = win-back
    description = "Bring back a customer who has not ordered for 90 days"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = segment.entered
        when = "segment = lapsed"
    reentry
        every = 90d
    active = ignore
    exit = order.completed
    steps
        wait = morning
            until = 10:00
        send = miss-you
            channels = "email, push"
            quiet-hours = defer
            over-cap = defer
            max-delay = 48h
        wait = a-week
            for = 7d                    #   from miss-you: the same time of day
        check = still-away
            if = "not ordered"
            else = exit
        send = comeback-code
            channels = "email, sms"
            quiet-hours = defer
            over-cap = defer
            max-delay = 48h
            code
                percent = 15
                valid = 7d
                prefix = BACK
