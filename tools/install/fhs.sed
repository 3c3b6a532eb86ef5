#   tools/install/fhs.sed - conf/pipeline.zpl's paths as installed (make install).
#
#   The working tree's pipeline names paths relative to the checkout
#   (var/state, conf/journeys, web); an installed one names where the FHS
#   puts them:
#       var/run/...     ipc:// sockets         -> /run/nudge/...
#       var/...         what nudge writes: state, Maildir, spools, and the
#                       secrets it makes at first start or nd-vapid makes
#                       once (they go with the state: back them up
#                       together)               -> /var/lib/nudge/...
#       conf/...        what the operator edits: journeys, templates,
#                       segments, the chat widget -> /etc/nudge/...
#       kit             the browser kit        -> @DATADIR@/web
#   The Makefile gives @DATADIR@ (PREFIX/share/nudge). A path in a comment
#   is rewritten too, so the comments stay true.
1a\
#   (As installed: state in /var/lib/nudge, sockets in /run/nudge, what you edit in /etc/nudge.)
s,\([ =:]\)var/run\b,\1/run/nudge,g
s,\([ =:]\)var/,\1/var/lib/nudge/,g
s,\([ =:]\)conf/,\1/etc/nudge/,g
s,^\( *\)#   kit = web \( *\)#   GET,\1kit = @DATADIR@/web\2#   GET,
s,(make run does\, once),(make install does\, once),
