#   nudge pipeline - the stages, their links and their state.
#
#   Each top-level section is one stage (section name = stage name; the
#   program is "program", default the section name). A stage reads the
#   durable output of the stages listed in "input". Endpoints default to
#   ipc://<run>/<stage>.{out,pub,ctl}; use tcp://host:port across hosts.
#   Values here override the [pipeline] defaults for that stage.
#
pipeline
    state = var/state               #   each stage keeps its LMDB in <state>/<stage>
    run = var/run                   #   ipc:// sockets live here
    clock = wall                    #   wall | event (event time: replays and tests)
    mapsize = 4G                    #   LMDB map size (sparse; raise if "state full")
    sync = 1                        #   1: fsync each commit; 0: survive kill -9 only
    retain = 100000                 #   journal entries kept when no stage reads them

collector
    http = 127.0.0.1:8080           #   Segment HTTP Tracking API
    write-keys
        key = "nudge-dev-write-key" #   Basic auth user name; add more "key = ..." lines
    max-event = 32768               #   bytes, as Segment
    max-batch = 512000

sessionizer
    input = collector
    session-timeout = 30m           #   inactivity that ends a session
    browse-views = 3                #   product views, nothing added -> browse.abandoned

segmenter
    input = sessionizer
    segments = conf/segments.zpl    #   rule segments; see segmenter(1)
    came-to-buy-events = 5          #   came_to_buy: first cart add within this many events
    came-to-buy-within = 10m        #       and this long after the session began
    hesitating-returns = 2          #   hesitating: views of products seen in earlier visits
    hesitating-abandons = 2         #       or sessions that left a cart behind
    loyal-orders = 3                #   loyal: at least this many orders
    lapsed-after = 90d              #   lapsed: a customer with no order for this long
    subscriber-for = 30d            #   new_subscriber: reachable with consent since less than this
