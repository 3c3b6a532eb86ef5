#   welcome - greet a person the first time they give us a way to reach
#   them (sign-up, newsletter: the segmenter's new_subscriber).
#
#   A welcome by e-mail (else SMS) two hours later, once they are not
#   browsing; three days later, at 10:00 their time, a unique 10 % code for
#   a first order, only if they have not bought meanwhile. Once per person,
#   ever: giving consent again later starts nothing. An order ends it.
#   The welcome never pushes back a cart reminder: the cart's journey has
#   the higher priority, so a reminder due within the cap's window takes
#   its slot, and the welcome then gives way (skip) to the first-order code.
#   Format: nudge-journey(5).
journey
    name = welcome
    description = "A welcome on first contact details, then a first-order code"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = segment.entered
        when = "segment = new_subscriber"
    reentry
        key = segment                   #   always "new_subscriber": once per person, ever
    active = ignore
    exit = order.completed
    steps
        wait = settle-in
            for = 2h
        send = hello
            channels = "email, sms"
            quiet-hours = defer
            over-cap = skip             #   a cart reminder went first: leave it the slot
            max-delay = 48h             #   a welcome days late is no welcome
        wait = few-days
            for = 3d
            until = 10:00
        check = not-a-customer
            if = "not ordered and not in segment customer"
            else = exit
        send = first-order
            channels = "email, sms"
            quiet-hours = defer
            over-cap = skip
            max-delay = 24h
            code
                percent = 10
                valid = 7d
                prefix = HELLO
