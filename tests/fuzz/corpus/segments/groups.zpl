#   test rules
big_spender
    description = "spent a lot"
    match = "spend >= 500"
shoe_fan
    any
        match = "category:shoes >= 3"
        match = "trait:address.city == 'Oslo'"
    none
        match = segment:big_spender
win_back
    match = segment:customer
    match = "days_since_last_order > 30"
    match = trait:email exists
