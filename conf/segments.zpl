#   segments.zpl - rule segments, read by the segmenter at start.
#
#   Each top-level name is a segment. A visitor is in it while every
#   match under it holds. A match is a condition (nudge-conditions(5)):
#   "and", "or", "not", parentheses, comparisons = != < <= > >=, exists,
#   and "in segment NAME". Its names come from the visitor's profile:
#
#   visits, orders, spend, cart_value, product_views, cart_adds,
#   abandoned_carts, returns          counters (0 until it happened)
#   days_since_last_order, days_since_first_seen, days_since_last_seen,
#   days_since_subscribed             whole days; not there (so every
#                                     comparison but != is false) when
#                                     it never happened
#   category.NAME                     views and cart adds in that category
#   trait.NAME                        a profile trait, trait.a.b nested
#   in segment NAME                   a built-in group, or a segment above
#
#   Built-in groups (thresholds in conf/pipeline.zpl): just_looking,
#   came_to_buy, hesitating, customer, loyal, lapsed, new_subscriber,
#   birthday. A bad rule stops the segmenter at start with
#   "file:line: reason". The file's format: nudge-segments(5).

big_spender
    description = "spent 500 or more in all"
    match = "spend >= 500"

window_shopper
    description = "keeps coming back, has never bought"
    match = "visits >= 3 and orders = 0"

win_back
    description = "bought before, nothing for 60 days, reachable by e-mail"
    match = "days_since_last_order >= 60 and trait.email exists"

shoe_fan
    description = "looks at shoes, or told us shoes are their thing"
    match = "category.shoes >= 3 or trait.favorite_category = shoes"

first_timer_full_cart
    description = "a cart worth 100 or more from someone who never ordered"
    match = "cart_value >= 100 and not in segment customer"

cart_just_looking
    description = "left a cart after looking around: not straight to the cart (came_to_buy), not hesitating"
    match = "cart_value > 0 and not in segment came_to_buy and not in segment hesitating"
