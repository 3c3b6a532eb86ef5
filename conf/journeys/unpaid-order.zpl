#   unpaid-order - an order placed and not paid: a reminder to pay it.
#
#   The sessionizer says order.placed for an Order Placed, or an Order
#   Completed whose payment_status (financial_status) is "pending",
#   "unpaid", "awaiting_payment" or "partially_paid". Payment is
#   order.completed (Order Paid, or an order event whose status is paid):
#   it ends this journey, and the order earns its credit then, not before.
#   Cancellation (Order Cancelled, or a status "cancelled", "voided",
#   "failed", "expired") is order.cancelled and ends it too. The cart
#   journeys end on order.placed: the cart was ordered.
#
#   Two hours after the order (a bank transfer or a payment page may take
#   that long), a reminder with the order's articles and the link to pay
#   (the order's payment_url, else the shop's account page): e-mail, else
#   SMS, else push. A day later, if still unpaid, one last reminder by
#   e-mail. Once per order (reentry key = order_id). Any payment of theirs
#   ends it (nudge-journey(5): exits are per person). Format: nudge-journey(5).
journey
    name = unpaid-order
    description = "Reminders to pay an order placed and not paid"
    trigger
        topic = order.placed
    reentry
        key = order_id                  #   one per order
    active = update                     #   a newer unpaid order meanwhile: its articles, same timing
    exit = order.completed              #   paid
    exit = order.cancelled
    limits
        attribution = 3d                #   a payment within 3 days of a reminder is credited
    steps
        wait = give-time
            for = 2h
        send = reminder
            channels = "email, sms, push"
            quiet-hours = defer
            over-cap = defer            #   a reminder to pay matters more than most
            max-delay = 24h
        wait = next-day
            for = 22h
        send = last-call
            channels = email
            quiet-hours = defer
            over-cap = skip
            max-delay = 24h
