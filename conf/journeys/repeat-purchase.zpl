#   repeat-purchase - remind a customer of what they bought when it is
#   likely running out, about a month after their last order.
#
#   Started by every order (order.completed) with after-order = continue:
#   the order that starts it must not end it, and "ordered" in the check
#   means an order after that one. Each new order restarts it (active =
#   restart), so the clock always runs from the last order. Thirty days
#   later, at 10:00 their time, if they have not ordered again, one note
#   with the last order's articles to order them again: e-mail, else web
#   push. No code: most of these would reorder anyway.
#
#   Caps (1/16h, 3/7d across journeys): it only goes to someone quiet for
#   a month, so the slot is nearly always free. When it is not, the
#   message that came first (a cart or browse reminder: they are shopping
#   already) says more than this one, which gives way (over-cap = skip)
#   rather than defer into the slot of the next reminder.
#   Format: nudge-journey(5).
journey
    name = repeat-purchase
    description = "Their last order's articles again, a month after it"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = order.completed
    active = restart                    #   a new order: the 30 days start again
    after-order = continue              #   the order that started it does not end it
    steps
        wait = a-month
            for = 30d
            until = 10:00
        check = not-reordered
            if = "not ordered"          #   an order after the one that started it
            else = exit
        send = reorder
            channels = "email, push"
            quiet-hours = defer
            over-cap = skip             #   another message came first: let it be
            max-delay = 24h
