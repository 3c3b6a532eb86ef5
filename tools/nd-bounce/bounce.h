/*  bounce.h - nd-bounce's parts: reading a report (bounce_report.c).  */
#ifndef BOUNCE_H_INCLUDED
#define BOUNCE_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include "nd.h"
#include "nd_token.h"

/*  What a DSN or an ARF report says about the message nudge sent.       */
typedef struct {
    char type [16];             //  "bounce" or "complaint"
    char kind [8];              //  a bounce's: "hard" or "soft"
    char action [32];           //  the DSN's Action: failed, delayed
    char status [32];           //  the DSN's Status: 5.1.1
    char feedback_type [32];    //  ARF's Feedback-Type: abuse
    char reason [512];          //  Diagnostic-Code, or what stands for it
    char token [ND_TOKEN_MAX];  //  from the return path nudge sent with
    char why [200];             //  when it is no report, or a bad one
} bounce_report_t;

/*  Reads message (size bytes, a whole RFC 5322 message); recipient is the
    envelope recipient the MTA names, or NULL. 1: a report about one of
    nudge's messages; 0: no failure to report (an auto-reply, a success
    DSN), why says which; -1: a bad report (no token), why says why.     */
int bounce_parse (const char *message, size_t size, const char *recipient,
                  bounce_report_t *report);

#endif
