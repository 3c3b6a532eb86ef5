#   never-bought - signed up a month ago and has not bought anything.
#
#   When the segmenter's new_subscriber runs out by the clock (30 days
#   after they became reachable, "cause": "clock") for someone who is not
#   a customer, one note at 10:00 their time: what the shop offers and
#   where to ask. Not when they left new_subscriber by withdrawing
#   consent. Once per person, ever; an order ends it.
#   Format: nudge-journey(5).
journey
    name = never-bought
    description = "One note a month after sign-up to someone who has not bought yet"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = segment.exited
        #   time ran out (cause = clock), not a withdrawn consent
        when = "segment = new_subscriber and cause = clock"
    qualify
        not-segment = customer
    reentry
        key = segment                   #   once per person, ever
    active = ignore
    exit = order.completed
    steps
        wait = morning
            until = 10:00
        send = still-deciding
            channels = "email, push"
            quiet-hours = defer
            over-cap = skip             #   another message came first: let it be
            max-delay = 48h
