#   review-request - thank a customer for an order and ask, two weeks
#   later, how they like what they bought.
#
#   Started by the order itself (order.completed), so after-order =
#   continue: the order that starts it, and any later one, must not end it.
#   Fourteen days after the order, at 10:00 their time (by then the parcel
#   has arrived and been tried), one thank-you with the order's articles
#   and a link to each to review it: e-mail, else web push. Once per order
#   (reentry key = order_id: the same order reported twice starts one, an
#   order without an order_id starts none). A newer order while it waits
#   does not start a second one: it takes the newest order's articles and
#   keeps the timing. No code: a review is asked for, not bought.
#
#   Caps (1/16h, 3/7d across journeys): this is the least urgent message
#   nudge sends, so it never queues for a slot. At 10:00 two weeks on,
#   nothing about that order is pending; should a cart or checkout
#   reminder, a win-back or a loyalty reward have taken the day's slot
#   first, the review gives way (over-cap = skip) rather than defer into
#   the slot the next reminder would need. Format: nudge-journey(5).
journey
    name = review-request
    description = "A thank-you and a review request two weeks after an order"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = order.completed
        when = "order_id"               #   one per order needs the order's id
    reentry
        key = order_id                  #   one per order
    active = update                     #   a newer order meanwhile: its articles, same timing
    after-order = continue              #   the order that started it does not end it
    steps
        wait = two-weeks
            for = 14d
            until = 10:00
        send = review
            channels = "email, push"
            quiet-hours = defer
            over-cap = skip             #   another message came first: let it be
            max-delay = 24h
