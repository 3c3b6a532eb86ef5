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
                                    #   on the event clock a stage's time is the low watermark of
                                    #   its clock-inputs (default: the first stage in "input");
                                    #   feedback and side inputs wait for it (README "Time")
    mapsize = 4G                    #   LMDB map size (sparse; raise if "state full")
    sync = 1                        #   1: fsync each commit; 0: survive kill -9 only
    retain = 100000                 #   journal entries kept when no stage reads them
    stall-after = 5m                #   HEALTH says stuck when an input has had entries waiting
                                    #   this long with its position unmoved (not while paused,
                                    #   nor while side inputs wait for the event clock)
    unsubscribe-secret = file:var/unsubscribe.secret    #   signs the e-mails' unsubscribe links
                                    #   (collector and mail-sender); made at first start if
                                    #   absent; or env:NAME. Never the secret itself.
                                    #   Also signs the double opt-in's links and SMS codes
                                    #   (scheduler signs, collector checks).
    click-url = http://127.0.0.1:8080/c/    #   links in e-mails, texts and pushes become signed
                                    #   redirects to the collector's /c/ (as people reach it),
                                    #   which counts the click (feedback.clicked) and adds UTM
                                    #   parameters; "none": links go out as written
    link-hosts = "shop.example, *.shop.example, 127.0.0.1, localhost"  #   the shop's hosts (and the
                                    #   demo shop's): a link to any other is left out of a message
    #   Across hosts: give the stages tcp:// endpoints (out, pub, ctl) and CURVE keys
    #   (README "Across hosts: tcp:// with CURVE"). Per stage, on its own host:
    #   curve = file:/etc/nudge/certs/collector.secret  #   its keypair (bin/nd-cert collector -d DIR):
    #                               #   out, pub and ctl become CURVE servers; its .pub, beside
    #                               #   it by default (or curve-public = FILE), is what the
    #                               #   stages and tools that reach it must have
    #   curve-clients = /etc/nudge/certs/clients        #   the .pub of every stage and operator
    #                               #   let in (tap/nd-ctl --cert); re-read when it changes
    #   A tcp:// endpoint without curve stops the start; "insecure = yes" allows it
    #   (a network you trust), and the log says so at every start.

collector
    http = 127.0.0.1:8080           #   Segment HTTP Tracking API
    write-keys
        key = "nudge-dev-write-key" #   Basic auth user name; add more "key = ..." lines
    browser-keys                    #   public keys of the shop's pages: events say "via": "browser"
        key = "nudge-demo-browser-key"
            origins = "http://127.0.0.1:8000, http://localhost:8000"   #   the pages it is good from
    phone-region = PL               #   as the sessionizer's: /v1/confirm reads a typed "600100200"
                                    #   as the number the code went to, +48600100200
    max-event = 32768               #   bytes, as Segment
    max-batch = 512000
    max-connections = 8192          #   open at once (slow and idle ones too)
    max-connections-per-ip = 256    #   from one address; raise it behind a proxy or CDN
    #   rate-per-ip = 20            #   requests a second from one address (0: none), then 429
    #   rate-per-key = 0            #   and with one write key (a server key: leave it 0)
    #   kit = web                   #   GET /nudge.js, /nudge-sw.js from here (the default; read at start; "off": none)
    vapid-key = file:var/vapid.key  #   the push-sender's: GET /v1/push/key gives pages its public half

sessionizer
    input = collector
    topics = "event., catalogue."   #   the Segment events and the shop's feed (/v1/catalogue);
                                    #   "unsubscribe" is the mail-sender's
    session-timeout = 30m           #   inactivity that ends a session
    browse-views = 3                #   product views, nothing added -> browse.abandoned
    #   visitor-retention = 180d    #   anonymous visitors idle this long are forgotten; 0 or none keeps all
    price-drop = 10%                #   a viewed or carted product this much cheaper -> product.price_dropped
    #   watch-for = 30d             #   views and adds older than this set off no back-in-stock / price-drop
    #   catalogue-file = /var/lib/nudge/feed.csv    #   a feed (Google Merchant CSV or JSON lines) read at start
    phone-region = PL               #   numbers without a country code are Polish: "600 100 200" is
                                    #   made +48600100200 (ISO 3166 alpha-2; the collector's the same)

segmenter
    input = sessionizer
    segments = conf/segments.zpl    #   rule segments; see nudge-segments(5)
    came-to-buy-events = 5          #   came_to_buy: first cart add within this many events
    came-to-buy-within = 10m        #       and this long after the session began
    hesitating-returns = 2          #   hesitating: views of products seen in earlier visits
    hesitating-abandons = 2         #       or sessions that left a cart behind
    loyal-orders = 3                #   loyal: at least this many orders
    lapsed-after = 90d              #   lapsed: a customer with no order for this long
    subscriber-for = 30d            #   new_subscriber: reachable with consent since less than this
    timezone = UTC                  #   birthday: for people whose profile names none (as the scheduler's)
    funnel-keys = 50                #   funnel (nd-report --funnel): sources, referrers, products per day; the rest "other"

chat-bridge
    input = segmenter, sms-sender   #   the visitors' events, for the operators' summary; texts people send
    topics = "event., profile.updated, session.started, cart.updated, order.completed, visitor., segment., sms.received, feedback."
                                    #   what the summary and the texts read (chat_people.c,
                                    #   chat_sms.c): ids, traits, views, cart, the counters
                                    #   that change with visits and orders, segments; the
                                    #   rest (abandonments, session ends) only repeats them
    http = 127.0.0.1:8070           #   the widget: GET /chat/widget.js; /chat/send, /chat/poll, /chat/stream
    allow-origin = "*"              #   CORS: the shop's origin (https://shop.example) once it is known
    widget = conf/chat-widget.js    #   served at /chat/widget.js
    hours = "mon-fri 09:00-18:00, sat 10:00-14:00"  #   business hours ("always", "never")
    timezone = Europe/Warsaw        #   the hours' zone (IANA name)
    support-mailbox = care@shop.example     #   where questions go when nobody is online
    idle-timeout = 30m              #   a conversation nobody speaks in for this long ends
    #   sms-idle-timeout = 24h      #   the same for a conversation by SMS (people answer texts later)
    #   console = none              #   nd-chat's socket; default ipc://<run>/chat-bridge.console
    #   telegram-token = env:NUDGE_TELEGRAM_TOKEN   #   operators in Telegram: the bot's token,
    #   telegram-chat = -1001234567890              #   their chat (group) id,
    #   telegram-operators = "11111111, 22222222"   #   who may answer (default: anyone in the chat)
    #   telegram-api = https://api.telegram.org     #   the Bot API (a proxy, or a mock in tests)
    #   telegram-poll = 25s         #   getUpdates long poll
    #   identity-secret = file:/etc/nudge/chat-identity.key  #   signs shoppers' userIds (the shop's
    #                               #   pages send userHash = hex HMAC-SHA256 (secret, userId)); without
    #                               #   it every chat is unverified: no profile's address is used
    #   rate-per-ip = 60/1m         #   widget POSTs per client address, then 429 (raise behind a proxy)
    #   rate-per-visitor = 20/1m    #   and per anonymousId / userId
    #   max-conversations = 200/1h  #   new chats across the shop, then 503 "try later"
    #   max-support-mails = 20/1h   #   questions mailed one by one; the rest in one digest a period
    #   text-email = "Nobody is online right now. We will answer by e-mail at %s."   #   an address typed in the chat
    #   text-email-known = "Nobody is online right now. We will answer by e-mail at the address we have for you."
    #   text-ask-email = "Nobody is online right now. Leave your e-mail address and we will answer by e-mail."
    #   text-ended = "The chat has ended."

scheduler
    input = segmenter, chat-bridge, push-sender, sms-sender, mail-sender, onsite   #   events, open chats, the senders' feedback
    #   clock-inputs = segmenter    #   event clock: the inputs whose time drives it (default: the first)
    journeys = conf/journeys        #   one .zpl per journey; a bad one stops the start (file:line)
    templates = conf/templates      #   <journey>/<step>[.<variant>]/<locale>/<channel>.<part>.mustache
    locale = en                     #   templates every send step must have
    timezone = UTC                  #   for people whose profile names none (IANA name)
    session-timeout = 30m           #   as the sessionizer's: later activity means "still browsing"
    quiet-hours = 21:00-09:00       #   in each person's own time zone; "none" to send any time
    cap = "1/16h, 3/7d"             #   messages per person across every channel and journey
    cap-sms = "2/7d"                #   and per channel (cap-push, cap-sms, cap-email; default none)
    cap-onsite = "2/1d"             #   on-site banners and cards: not in "cap" above (README "On-site messages")
    attribution = 5d                #   an order this soon after a message is credited to it
    max-delay = 24h                 #   a send step later than this (deferred) is skipped
    chat-recheck = 15m              #   look again this often while a chat is open
    fire-batch = 20000              #   timers fired per transaction at most
    shop-name = "Example Shop"      #   for the templates: {{shop.name}}, {{shop.url}}
    shop-url = "https://shop.example"
    confirm-url = http://127.0.0.1:8080/confirm     #   the collector's /confirm, as people reach it:
                                    #   the link of the double opt-in mail (an address a browser gave)

mail-sender
    input = scheduler, collector, chat-bridge   #   send orders; verified one-click unsubscribes and
                                    #   clicks; chat questions
    topics = "send.email, unsubscribe, click.email"
    #   relay = smtp.example.com:587 #   none: messages go to the Maildir below (make run)
    #   tls = starttls              #   starttls | starttls-optional | implicit (465) | none
    #   tls-ca = /etc/ssl/certs/relay-ca.pem    #   default: the system's trust store
    #   user = nudge                #   AUTH (needs TLS); the password from the environment:
    #   password = env:NUDGE_SMTP_PASSWORD
    timeout = 30s                   #   per SMTP reply; a silent relay costs a retry
    maildir = var/mail              #   without a relay: var/mail/new/<one file a message>
    templates = conf/templates      #   <template>/<locale>/email.{subject,text,html}.mustache
    from = "Example Shop <shop@shop.example>"
    reply-to = "Example Shop Care <care@shop.example>"
    unsubscribe-url = http://127.0.0.1:8080/unsubscribe     #   the collector, as people reach it
    unsubscribe-mailto = unsubscribe@shop.example
    #   return-path = bounces@shop.example     #   VERP: each message from bounces+TOKEN@...,
    #   bounce-intake = 127.0.0.1:8026         #   so late bounces and complaints, through
    #                               #   bin/nd-bounce (the MTA's pipe), suppress the address
    #   dkim-key = file:/etc/nudge/dkim.pem    #   RSA key; sign as dkim-selector._domainkey.<from domain>
    #   dkim-selector = nudge
    rate = 0                        #   messages a second to the relay; 0: as fast as it takes
    connections = 2                 #   SMTP connections at once, each a batch of messages
    batch = 20                      #   messages per connection
    max-inflight = 100              #   handed over and not yet answered (the kill -9 window)
    retry-base = 1m                 #   4xx / no answer: 1m, 2m, 4m ... at most retry-cap
    retry-cap = 1h
    lifetime = 2d                   #   then feedback.failed, as an MTA gives up

push-sender
    input = scheduler, collector    #   send orders; the service worker's reports (clicks)
    topics = "send.push, push., click.push"
    event-url = http://127.0.0.1:8080/v1/push/event    #   the collector, as browsers reach it:
                                    #   notifications carry "report", clicks become feedback.clicked
    vapid-key = file:var/vapid.key  #   or env:NAME; make one with nd-vapid (make run does, once)
    vapid-subject = "mailto:shop@shop.example"  #   how push services reach the shop's operator
    vapid-expiry = 12h              #   JWT lifetime (at most 24h); reused per push service meanwhile
    ttl = 1d                        #   how long a push service keeps a message for an offline browser
    urgency = normal                #   very-low | low | normal | high (an order's "urgency" wins)
    templates = conf/templates      #   <template>/<locale>/push.{title,body,url}.mustache
    locale = en
    #   hosts = "fcm.googleapis.com, *.push.services.mozilla.com, *.notify.windows.com, *.push.apple.com"
    #   spool = var/push            #   a dry run: notifications rendered to var/push/<one JSON file
    #                               #   each>, nothing posted, no key read (nd-backtest sets it)
    timeout = 30s                   #   per request; no answer is retried
    per-host = 8                    #   connections to one push service (HTTP/2 multiplexes)
    #   tls-ca = /etc/ssl/certs/push-ca.pem     #   default: the system's trust store
    #   fcm-key-file = /etc/nudge/firebase-sa.json  #   app push, tried before the browser: FCM's
    #                               #   service account key (a path; fcm-project: its project_id)
    #   apns-key-file = /etc/nudge/AuthKey.p8       #   and APNs: the .p8 key, its id, the team
    #   apns-key-id = ABC123DEFG    #   id and the app's bundle id (apns-base for the sandbox)
    #   apns-team-id = DEF123GHIJ
    #   apns-topic = com.shop.app
    connections = 2                 #   worker threads, each a batch of concurrent requests
    batch = 50                      #   pushes per batch
    max-inflight = 200              #   handed over and not yet answered (the kill -9 window)
    retry-base = 1m                 #   429 / 5xx / no answer: 1m, 2m, 4m ... never before Retry-After
    retry-cap = 1h
    lifetime = 1d                   #   then feedback.failed (a day-old reminder is not worth it)

sms-sender
    input = scheduler, chat-bridge, collector   #   send orders; operators' answers to texts
                                    #   (chat-bridge(1)); clicks on the texts' links
    topics = "send.sms, click.sms"
    link-wrap = no                  #   links to link-hosts as written, others left out: a signed
                                    #   click link is ~200 characters, one or two SMS segments more
                                    #   (yes: tracked clicks, longer texts; see max-segments)
    #   provider = twilio           #   twilio | infobip; none: texts go to the spool below (make run)
    #   api-base = https://xxxxx.api.infobip.com    #   default: the provider's public API
    #   account = AC00000000000000000000000000000000    #   the Twilio Account SID (not secret)
    #   secret = env:NUDGE_SMS_SECRET   #   Twilio Auth Token / Infobip API key: env:NAME or file:PATH
    spool = var/sms                 #   without a provider: var/sms/<one JSON file a text>
    from = "+15550001234"           #   number, alphanumeric sender ID, or a Twilio MG... service
    templates = conf/templates      #   <template>/<locale>/sms.text.mustache
    locale = en
    max-segments = "3, abandoned-cart: 2"       #   default, then per journey; longer fails with the count
    quiet-hours = 21:00-09:00       #   last guard for retries, when an order names the person's "tz"
    http = 127.0.0.1:8090           #   webhooks: POST /sms/inbound (STOP/START/HELP), /sms/status
    webhook-url = "https://sms.shop.example"    #   what the provider calls (your proxy to the above)
    #   webhook-token = env:NUDGE_SMS_WEBHOOK_TOKEN     #   then configure URLs with ?token=...
    #                               #   (required with infobip, which signs nothing; "none" to take any)
    help-text = "Example Shop: cart reminders. Reply STOP to opt out. Help: care@shop.example"
    rate = 10                       #   messages a second: the provider's limit for your number
    connections = 1
    batch = 20
    max-inflight = 100
    retry-base = 1m
    retry-cap = 1h
    lifetime = 12h                  #   a text half a day late is not a reminder

#   WhatsApp: the same program in a section of its own, with the provider
#   account that offers it (sms-sender(1), "WhatsApp"); journeys then list
#   "whatsapp" among their channels, and the scheduler's input names it:
#whatsapp
#    program = sms-sender
#    input = scheduler
#    topics = send.whatsapp
#    channel = whatsapp
#    provider = twilio
#    account = AC...
#    secret = env:NUDGE_WHATSAPP_SECRET
#    from = "+15550001234"          #   the WhatsApp sender number
#    http = 127.0.0.1:8091          #   its own webhooks: inbound (the 24 h session, STOP), receipts
#    webhook-url = https://hooks.shop.example/whatsapp

onsite
    input = scheduler               #   send orders
    topics = send.onsite
    http = 127.0.0.1:8060           #   the page: GET /onsite/poll?visitor=ID&wait=25, POST /onsite/event
    allow-origin = "*"              #   CORS: the shop's origin (https://shop.example) once it is known
    max-connections = 4096          #   open at once (long polls too; none holds a thread)
    max-connections-per-ip = 64
    templates = conf/templates      #   <template>/<locale>/onsite.{title,body,url,image,kind,products}.mustache
    locale = en
    lifetime = 3d                   #   a message not shown by then is dropped (feedback.expired)
