"""nd_backtest - what nd-backtest knows about a configuration and makes
of what it read: the library half of nd-backtest (see nd-backtest(1)).

    Node, zpl_read, zpl_write   the pipeline and journey files (czmq ZPL)
    Rules                       what the checks need from a configuration:
                                the scheduler's quiet hours, caps, time
                                zone, and each journey's trigger and limits
    Report                      sections of counts from the messages read:
                                sends, feedback, the scheduler's counters,
                                conversions, and the violations
    print_report, print_compare the plain-text forms
"""
import datetime
import json
import os
import re
import zoneinfo


class Fatal(Exception):
    """A reason to stop, one line."""


# ---------------------------------------------------------------- the file --

class Node:
    """One line of a ZPL file: name, optional value, children."""

    def __init__(self, name, value=None, line=0):
        self.name, self.value, self.line, self.children = name, value, line, []

    def get(self, name, default=None):
        for child in self.children:
            if child.name == name:
                return child.value
        return default

    def child(self, name):
        return next((c for c in self.children if c.name == name), None)

    def set(self, name, value):
        node = self.child(name)
        if node is None:
            self.children.append(Node(name, value))
        else:
            node.value = value

    def drop(self, *names):
        self.children = [c for c in self.children if c.name not in names]


def zpl_read(path):
    """Parses a ZPL file (czmq zconfig: 4-space levels, name = value, # comments)."""
    root, stack = Node("root"), []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise Fatal("%s: %s" % (path, e.strerror))
    for number, text in enumerate(lines, 1):
        body = text.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        level = (len(text) - len(body)) // 4
        match = re.match(r'([^\s=#]+)\s*(?:=\s*("[^"]*"|\'[^\']*\'|[^#]*))?', body)
        if not match or level > len(stack):
            raise Fatal("%s:%d: not ZPL" % (path, number))
        value = match.group(2)
        if value is not None:
            value = value.strip()
            value = value[1:-1] if value[:1] in "\"'" and len(value) > 1 else value
        node = Node(match.group(1), value, number)
        del stack[level:]
        (stack[-1] if stack else root).children.append(node)
        stack.append(node)
    return root


def zpl_write(root, path):
    def lines(node, level):
        for c in node.children:
            quote = "'" if c.value is not None and '"' in c.value else '"'
            yield "    " * level + c.name + ("" if c.value is None else " = %s%s%s" % (quote, c.value, quote))
            yield from lines(c, level + 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write("#   written by nd-backtest; do not edit\n" + "\n".join(lines(root, 0)) + "\n")


def program_of(node):
    return node.get("program", node.name)


def section_of(stage):
    """The section a stage comes from: NAME for a partition NAME.K."""
    name, dot, part = stage.rpartition(".")
    return name if dot and part.isdigit() else stage


def instances(node):
    """The stages a section runs as: itself, or NAME.0 .. NAME.N-1 when it
    says partitions = N (nudge-pipeline(5)), each a Node with its program."""
    parts = int(node.get("partitions", "1") or 1)
    if parts <= 1:
        return [node]
    made = []
    for k in range(parts):
        instance = Node("%s.%d" % (node.name, k))
        instance.set("program", program_of(node))
        made.append(instance)
    return made


# --------------------------------------------------------------- journeys --

class Rules:
    """What the checks need from the operator's configuration."""

    def __init__(self, root):
        scheduler = next((n for n in root.children if program_of(n) == "scheduler"), None)
        if scheduler is None:
            raise Fatal("no scheduler stage: nothing to backtest")
        pipeline = root.child("pipeline")
        option = lambda name, default: scheduler.get(name, pipeline.get(name, default))
        self.scheduler = scheduler.name
        self.segmenter = next((n.name for n in root.children if program_of(n) == "segmenter"), None)
        self.timezone = option("timezone", "UTC")
        self.quiet = self.parse_quiet(option("quiet-hours", "21:00-09:00"))
        self.caps = {"": self.parse_cap(option("cap", "1/16h, 3/7d"))}
        for channel in ("push", "sms", "email"):
            self.caps[channel] = self.parse_cap(option("cap-" + channel, "none"))
        self.caps["onsite"] = self.parse_cap(option("cap-onsite", "2/1d"))
        self.journeys = {}
        directory = option("journeys", "conf/journeys")
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
            if name.endswith(".zpl"):
                journey = zpl_read(os.path.join(directory, name)).child("journey")
                if journey is not None:
                    self.journeys[journey.get("name")] = journey
        self.triggers = sorted({self.trigger(name) for name in self.journeys} - {None})

    @staticmethod
    def parse_quiet(text):
        if not text or text == "none":
            return None
        start, end = text.split("-")
        minutes = lambda hm: int(hm.split(":")[0]) * 60 + int(hm.split(":")[1])
        return minutes(start), minutes(end)

    @staticmethod
    def parse_cap(text):
        rules = []
        for rule in (text or "none").split(","):
            rule = rule.strip()
            if rule and rule != "none":
                count, window = rule.split("/")
                rules.append((int(count), duration_ms(window.strip())))
        return rules

    def ends_on_order(self, journey):
        node = self.journeys.get(journey)
        return node is None or node.get("after-order") != "continue"

    def trigger(self, journey):
        node = self.journeys.get(journey)
        return (node.child("trigger") or Node("")).get("topic") if node is not None else None


def label(*parts):
    """A report row's key: the parts by spaces, "-" for one that is empty
    (a journey without a split has no variant)."""
    return " ".join(str(p) if p not in (None, "") else "-" for p in parts)


def duration_ms(text):
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text.strip())
    if not match:
        raise Fatal("not a duration: %s" % text)
    return int(match.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}[match.group(2)]


def parse_time(text):
    """ISO 8601 UTC -> ms since the epoch; None if it is not one."""
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000)


# ---------------------------------------------------------------- report --

NEGATIVE = ("feedback.failed", "feedback.bounced", "feedback.unreachable")
CONSENT = {"email": "email_consent", "sms": "sms_consent", "push": "push_consent"}


class Person:
    """What the segmenter said about one visitor, in event time."""

    def __init__(self):
        self.orders, self.profiles, self.triggers, self.optouts = [], [], {}, []

    def latest(self, field, before):
        """The last value of a trait set at or before a time, else None."""
        value = None
        for t, traits in self.profiles:
            if t > before:
                break
            if field in traits:
                value = traits[field]
        return value


class Report:
    """Turns what the backtest read into sections of counts."""

    def __init__(self, rules, taken, counters):
        self.rules, self.counters = rules, counters
        self.sends, self.feedback, self.conversions, self.codes = [], {}, [], 0
        self.people = {}
        for upstream, topic, body in taken:
            self.take(upstream, topic, json.loads(body))
        for person in self.people.values():
            person.profiles.sort(key=lambda p: p[0])
        self.zones = {}

    def person(self, user):
        return self.people.setdefault(user, Person())

    def take(self, upstream, topic, body):
        t = parse_time(body.get("time", "")) or 0
        upstream = section_of(upstream)
        if upstream == self.rules.segmenter:
            person = self.person(body.get("user", ""))
            if topic == "order.completed":
                person.orders.append(t)
            if topic == "profile.updated":
                person.profiles.append((t, body.get("traits") or {}))
            if topic in self.rules.triggers:
                person.triggers.setdefault(topic, []).append(t)
        elif upstream == self.rules.scheduler:
            if topic.startswith("send."):
                self.sends.append(dict(body, t=t))
            elif topic == "conversion":
                self.conversions.append(body)
            elif topic == "code.issued":
                self.codes += 1
        elif topic.startswith("feedback."):
            self.feedback.setdefault(body.get("idempotency_key"), []).append((topic, body))
            if topic == "feedback.unsubscribed":
                self.person(body.get("user", "")).optouts.append((t, body.get("channel")))

    # -- sections ------------------------------------------------------------
    def build(self):
        report = {
            "messages": self.messages(),
            "people": self.reach(),
            "feedback": self.outcomes(),
            "deferred": self.counted("deferred:"),
            "skipped": self.counted("skipped:"),
            "exits": self.exits(),
            "conversions": self.credited(),
            "violations": self.violations(),
        }
        orders = sorted(({"time": s.get("time"), "user": s.get("user"), "journey": s.get("journey"),
                          "step": s.get("step"), "channel": s.get("channel"), "variant": s.get("variant")}
                         for s in self.sends),
                        key=lambda o: (o["time"], o["user"], o["journey"], o["step"], o["channel"]))
        return report, orders

    def messages(self):
        counts = {}
        for s in self.sends:
            key = label(s.get("journey"), s.get("step"), s.get("variant"), s.get("channel"))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def reach(self):
        delivered = {s.get("user") for s in self.sends
                     if any(t == "feedback.delivered" for t, _ in self.feedback.get(s.get("idempotency_key"), ()))}
        return {"send orders": len(self.sends), "people sent to": len({s.get("user") for s in self.sends}),
                "people reached (delivered)": len(delivered), "discount codes issued": self.codes}

    def outcomes(self):
        counts = {}
        for events in self.feedback.values():
            for topic, _ in events:
                counts[topic] = counts.get(topic, 0) + 1
        return counts

    def counter_rows(self):
        """(journey, variant, step, channel, metric, count) from nd-report --json."""
        for journey, variants in sorted(self.counters.get("counters", {}).items()):
            for variant, data in sorted(variants.items()):
                for metric, count in sorted(data.get("group", {}).items()):
                    yield journey, variant, "", "", metric, count
                for step, channels in sorted(data.get("steps", {}).items()):
                    for channel, metrics in sorted(channels.items()):
                        for metric, count in sorted(metrics.items()):
                            yield journey, variant, step, channel, metric, count

    def counted(self, prefix):
        """The scheduler's deferrals or skips, by journey, step and reason."""
        counts = {}
        for journey, _, step, _, metric, count in self.counter_rows():
            if step and metric.startswith(prefix) and isinstance(count, int):
                key = label(journey, step, metric[len(prefix):])
                counts[key] = counts.get(key, 0) + count
        return counts

    def exits(self):
        counts = {}
        for journey, variant, step, _, metric, count in self.counter_rows():
            if not step and (metric.startswith("exit:") or metric in ("entered", "done")) and isinstance(count, int):
                key = label(journey, variant, metric)
                counts[key] = counts.get(key, 0) + count
        return counts

    def credited(self):
        counts, orders = {}, {}
        for c in self.conversions:
            key = label(c.get("journey"), c.get("variant"), c.get("step"), c.get("channel")) \
                if c.get("last_touch") else label(c.get("journey"), c.get("variant"), "(not last touch)")
            counts[key] = counts.get(key, 0) + 1
            orders[c.get("order_id")] = c.get("revenue") or 0
        counts["orders credited"] = len(orders)
        counts["revenue credited"] = round(sum(orders.values()), 2)
        return counts

    # -- violations ------------------------------------------------------------
    def violations(self):
        found = {"after an order": [], "in quiet hours": [], "over a cap": [],
                 "to an opted-out person": [], "expired in a sender": []}
        for s in self.sends:
            person = self.people.get(s.get("user")) or Person()
            if self.after_order(s, person):
                found["after an order"].append(s)
            if self.in_quiet_hours(s, person):
                found["in quiet hours"].append(s)
            if self.opted_out(s, person):
                found["to an opted-out person"].append(s)
            if any(t == "feedback.failed" and "too late" in (b.get("reason") or "")
                   for t, b in self.feedback.get(s.get("idempotency_key"), ())):
                found["expired in a sender"].append(s)
        found["over a cap"] = self.over_caps()
        self.examples = {k: sorted(v, key=lambda s: (s["t"], s.get("idempotency_key", "")))[:3]
                         for k, v in found.items()}
        return {k: len(v) for k, v in found.items()}

    def after_order(self, send, person):
        """An order since the journey began (no earlier than its latest
        trigger event before the send): the journey should have ended."""
        journey = send.get("journey")
        if not self.rules.ends_on_order(journey):
            return False
        began = max((t for t in person.triggers.get(self.rules.trigger(journey), ()) if t <= send["t"]),
                    default=None)
        return began is not None and any(began <= o < send["t"] for o in person.orders)

    def limits(self, journey):
        node = self.rules.journeys.get(journey)
        return (node.child("limits") if node is not None else None) or Node("limits")

    def in_quiet_hours(self, send, person):
        if send.get("channel") == "onsite":     # on the page: they are on the site
            return False
        own = self.limits(send.get("journey")).get("quiet-hours")
        quiet = Rules.parse_quiet(own) if own else self.rules.quiet
        if not quiet or quiet[0] == quiet[1]:        # a step defers or skips, never ignores them
            return False
        local = datetime.datetime.fromtimestamp(send["t"] / 1000, self.zone(person.latest("timezone", send["t"])))
        minute = local.hour * 60 + local.minute
        start, end = quiet
        return start <= minute < end if start < end else minute >= start or minute < end

    def zone(self, name):
        """The person's zone; the scheduler's for none or one it cannot know."""
        if name not in self.zones:
            try:
                self.zones[name] = zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
                self.zones[name] = zoneinfo.ZoneInfo(self.rules.timezone)
        return self.zones[name]

    def opted_out(self, send, person):
        channel = send.get("channel")
        if person.latest(CONSENT.get(channel, ""), send["t"]) is False:
            return True
        return any(t <= send["t"] and c == channel for t, c in person.optouts)

    def over_caps(self):
        """Sends beyond a cap, counted over the person's messages that stay
        in the scheduler's history (a failed one that fell back leaves it)."""
        by_user = {}
        for s in self.sends:
            forgotten = not s.get("fallback_of") and any(
                t in NEGATIVE for t, _ in self.feedback.get(s.get("idempotency_key"), ()))
            if not forgotten:
                by_user.setdefault(s.get("user"), []).append(s)
        over = []
        for sends in by_user.values():
            sends.sort(key=lambda s: s["t"])
            for i, s in enumerate(sends):
                if self.breaks_cap(s, sends[:i + 1]):
                    over.append(s)
        return over

    def breaks_cap(self, send, history):
        limits = self.limits(send.get("journey"))
        #   On-site messages are neither held by nor counted in the cross-channel cap
        history = history if send.get("channel") == "onsite" else \
            [h for h in history if h.get("channel") != "onsite"]
        for channel in ("", send.get("channel")):
            if not channel and send.get("channel") == "onsite":
                continue
            option = "cap-" + channel if channel else "cap"
            rules = Rules.parse_cap(limits.get(option)) if limits.get(option) else self.rules.caps.get(channel, [])
            for count, window in rules:
                inside = [h for h in history if h["t"] > send["t"] - window
                          and (not channel or h.get("channel") == channel)]
                if len(inside) > count:
                    return True
        return False


# ---------------------------------------------------------------- output --

TITLES = {
    "messages": "messages (journey step variant channel)",
    "people": "people",
    "feedback": "senders' feedback",
    "deferred": "deferred by the scheduler (journey step reason)",
    "skipped": "skipped by the scheduler (journey step reason)",
    "exits": "journeys (journey variant: entered, done, exit:reason)",
    "conversions": "conversions in the attribution window (journey variant step channel)",
    "violations": "violations (each should be 0)",
}


def number(value):
    return "%.2f" % value if isinstance(value, float) else str(value)


def print_report(report, title, examples):
    print(title)
    for section, title in TITLES.items():
        print("\n" + title)
        rows = report[section]
        for key in (rows if section in ("people", "violations") else sorted(rows)):
            print("  %-60s %10s" % (key, number(rows[key])))
    for kind, sends in sorted(examples.items()):
        for s in sends:
            print("  e.g. %s: %s %s %s %s %s" % (kind, s.get("time"), s.get("user"), s.get("journey"),
                                                s.get("step"), s.get("channel")))


def print_compare(a, b, title_a, title_b):
    print("A: %s\nB: %s" % (title_a, title_b))
    differences = 0
    for section, title in TITLES.items():
        print("\n%-62s %10s %10s %10s" % (title, "A", "B", "B-A"))
        keys = list(a[section]) + [k for k in b[section] if k not in a[section]]
        for key in (keys if section in ("people", "violations") else sorted(keys)):
            x, y = a[section].get(key, 0), b[section].get(key, 0)
            diff = "" if x == y else number(round(y - x, 2) if isinstance(x + y, float) else y - x)
            differences += x != y
            print("  %-60s %10s %10s %10s" % (key, number(x), number(y), diff))
    print("\n%d %s" % (differences, "row differs" if differences == 1 else "rows differ"))


def cpu_seconds(pid):
    """User and system time of a running process, from /proc (Linux)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss_mb(pid):
    """The most resident memory a running process has had (VmHWM, Linux),
    LMDB pages it has touched included."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0.0
