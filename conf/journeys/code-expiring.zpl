#   code-expiring - "your code expires tomorrow", once per unused code.
#
#   A discount code a journey gave that is valid three days or more
#   (welcome's, win-back's, birthday's, loyalty-reward's: not the carts'
#   48 h codes, whose message said when they end) has a timer a day
#   before it expires. Then,
#   if the code is still unused and its person has not ordered since it
#   was issued, the scheduler makes code.expiring {code: {code, percent,
#   expires, journey, step}}, which starts this journey: one reminder,
#   e-mail else SMS, with the code and when it ends (code.expires_text,
#   for the person's locale and time zone). An order meanwhile ends it.
#
#   A journey rather than a built-in message, so that a shop can change
#   its channels, wording, quiet hours and caps, test it (split), or turn
#   it off by removing this file, as it does any other message; the
#   scheduler only decides when a code is about to lapse unused.
#   Format: nudge-journey(5).
journey
    name = code-expiring
    description = "A reminder the day before an unused discount code expires"
    trigger
        topic = code.expiring
    reentry
        key = code.code                 #   once per code
    active = ignore                     #   two codes lapsing the same day: one reminder
    exit = order.completed
    limits
        attribution = 2d
    steps
        send = expires-tomorrow
            channels = "email, sms"
            quiet-hours = defer
            over-cap = defer            #   the code will be gone: this should not wait for long
            max-delay = 12h
