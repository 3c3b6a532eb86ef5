/*  phone.h - phone numbers made E.164 where they enter nudge.

    Layer: rules; phone.c calls only the base (and the runtime's
    nd_phone).                                                            */
#ifndef PHONE_H_INCLUDED
#define PHONE_H_INCLUDED

#include "base.h"

/*  traits (an identify's traits or an event's context.traits) with its
    "phone" made E.164: a new reference, traits itself when it names no
    phone or names it so already. A number that can't be made E.164 is
    replaced by null (the profile forgets an older one) and
    "phone_invalid": {"reason", "given"}; the log says so for visitor
    with the reason and the last two digits, never the number. held: the
    profile's traits, whose phone (or phone_invalid's "given") the same
    text need not be parsed again for (libphonenumber takes some 100 us
    a number, and SDKs repeat their traits).                             */
json_t *phone_traits (sessionizer_t *self, const char *visitor, json_t *traits,
                      const json_t *held);
void phone_test (bool verbose);

#endif
