#   birthday - wish a person a happy birthday, with a present.
#
#   The segmenter's birthday group begins at midnight of their birthday in
#   their own time zone (trait birthday; timezone, else the stage's), by
#   the clock. At 10:00 their time that day, a greeting with a unique 15 %
#   code valid 7 days: e-mail, else SMS, else web push. At most once a year
#   (every = 300d: a birthday is a year after the last). Someone who orders
#   that morning still gets it (after-order = continue).
#
#   A birthday that becomes known only after 10:00 on the day would wait
#   for 10:00 the next day: the check lets the greeting go only while it
#   is still their birthday. Caps (1/16h, 3/7d across journeys): it comes
#   once a year and means something only on the day, so when another
#   message took the slot it waits for the cap (over-cap = defer) for at
#   most 12 h, to 22:00 their time; the quiet hours (from 21:00) end the
#   day sooner, and a greeting that would go out the day after is skipped.
#   Format: nudge-journey(5).
journey
    name = birthday
    description = "A birthday greeting with a 15 % code, at 10:00 on the day"
    priority = normal               #   carts, checkouts and browsing go first
    trigger
        topic = segment.entered
        when = "segment = birthday"
    reentry
        every = 300d                    #   once a year
    active = ignore
    after-order = continue              #   an order that morning does not cancel a greeting
    steps
        wait = morning
            until = 10:00
        check = still-their-birthday
            if = "in segment birthday"
            else = exit
        send = greeting
            channels = "email, sms, push"
            quiet-hours = defer
            over-cap = defer            #   once a year: wait for the cap, but only that day
            max-delay = 12h
            code
                percent = 15
                valid = 7d
                prefix = BDAY
