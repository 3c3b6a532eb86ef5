#   segments.zpl - rule segments, read by the segmenter at start (segmenter(1)).
#
#   Each top-level name is a segment. A visitor is in it while every item
#   under it holds. An item is a test, match = "NAME [OP VALUE]", or a group
#   of items: all (every one holds), any (at least one), none (not one).
#
#   NAME   visits, orders, spend, cart_value, product_views, cart_adds,
#          abandoned_carts, returns; days_since_last_order, days_since_first_seen,
#          days_since_last_seen, days_since_subscribed (whole days; unknown, so
#          false, when it never happened); category:NAME (views and cart adds
#          in that category); trait:NAME (a profile trait, a.b for nested);
#          segment:NAME (a built-in group, or a segment defined above)
#   OP     >= > <= < == != exists (no OP: the same as exists, or "is in it")
#   VALUE  a number, or text for traits; quote text with spaces: 'New York'
#
#   Built-in groups (thresholds in conf/pipeline.zpl): just_looking,
#   came_to_buy, hesitating, customer, loyal, lapsed, new_subscriber.
#   A bad rule stops the segmenter at start with "file:line: reason".

big_spender
    description = "spent 500 or more in all"
    match = "spend >= 500"

window_shopper
    description = "keeps coming back, has never bought"
    match = "visits >= 3"
    match = "orders == 0"

win_back
    description = "bought before, nothing for 60 days, reachable by e-mail"
    match = "days_since_last_order >= 60"
    match = "trait:email exists"

shoe_fan
    description = "looks at shoes, or told us shoes are their thing"
    any
        match = "category:shoes >= 3"
        match = "trait:favorite_category == shoes"

first_timer_full_cart
    description = "a cart worth 100 or more from someone who never ordered"
    match = "cart_value >= 100"
    none
        match = "segment:customer"
