#!/usr/bin/env python3
"""A strict checker of the Prometheus text exposition format 0.0.4.

Written against prometheus.io/docs/instrumenting/exposition_formats and
/docs/practices/naming, stricter than Prometheus's own parser where podwall
should be: no blank lines, HELP and TYPE before a family's samples, the
samples of a family together, counters named ..._total, histograms whole
(ascending cumulative buckets, a +Inf bucket equal to _count, a _sum).

    promcheck.py [FILE]      (standard input without FILE)

Exits 0 when the text is valid, 1 with "promcheck: line N: why" otherwise.
"""
import math
import re
import sys

METRIC_NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*\Z')
FLOAT = re.compile(r'[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z')
TIMESTAMP = re.compile(r'-?[0-9]+\Z')
TYPES = ('counter', 'gauge', 'histogram', 'summary', 'untyped')


class Invalid(Exception):
    pass


def parse_float(text, what):
    if text in ('+Inf', '-Inf', 'NaN'):
        return float(text.replace('Inf', 'inf').replace('NaN', 'nan'))
    if not FLOAT.match(text):
        raise Invalid('%s "%s" is not a valid float' % (what, text))
    return float(text)


def check_help(text):
    i = 0
    while i < len(text):
        if text[i] == '\\':
            if i + 1 >= len(text) or text[i + 1] not in '\\n':
                raise Invalid('bad escape in HELP text (only \\\\ and \\n)')
            i += 2
        else:
            i += 1


def parse_labels(text, pos):
    """Parses '{a="x",b="y"}' from text[pos] ('{'); returns (labels, end)."""
    labels = {}
    order = []
    pos += 1
    while True:
        if pos < len(text) and text[pos] == '}':
            return labels, order, pos + 1
        m = re.compile(r'[^=}]*').match(text, pos)
        name = m.group(0)
        pos = m.end()
        if not LABEL_NAME.match(name):
            raise Invalid('invalid label name "%s"' % name)
        if name.startswith('__'):
            raise Invalid('label name "%s" is reserved (starts with __)' % name)
        if name in labels:
            raise Invalid('label "%s" given twice' % name)
        if text[pos:pos + 2] != '="':
            raise Invalid('label %s: expected ="' % name)
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise Invalid('label %s: unterminated value' % name)
            c = text[pos]
            if c == '"':
                pos += 1
                break
            if c == '\\':
                nxt = text[pos + 1:pos + 2]
                if nxt == '\\':
                    value.append('\\')
                elif nxt == '"':
                    value.append('"')
                elif nxt == 'n':
                    value.append('\n')
                else:
                    raise Invalid('label %s: bad escape \\%s' % (name, nxt))
                pos += 2
                continue
            if c == '\n':
                raise Invalid('label %s: raw newline in value' % name)
            value.append(c)
            pos += 1
        labels[name] = ''.join(value)
        order.append(name)
        if pos < len(text) and text[pos] == ',':
            pos += 1
            continue
        if pos < len(text) and text[pos] == '}':
            return labels, order, pos + 1
        raise Invalid('expected , or } after label %s' % name)


class Family:
    def __init__(self, name):
        self.name = name
        self.type = None
        self.help = False
        self.samples = False
        self.series = {}        # histograms: labels without le -> state

    def sample_ok(self, name):
        if self.type == 'histogram':
            return name in (self.name + '_bucket', self.name + '_sum',
                            self.name + '_count')
        if self.type == 'summary':
            return name in (self.name, self.name + '_sum', self.name + '_count')
        return name == self.name


def check(data):
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        raise Invalid('not UTF-8 at byte %d' % e.start,
                      data.count(b'\n', 0, e.start) + 1) from None
    if not text:
        return 0
    if not text.endswith('\n'):
        raise Invalid('no final newline', len(text.split('\n')))
    families = {}
    done = set()            # families whose samples are over
    current = None
    seen = set()
    lineno = 0
    for line in text[:-1].split('\n'):
        lineno += 1
        try:
            current = check_line(line, families, done, current, seen)
        except Invalid as e:
            raise Invalid(e.args[0], lineno) from None
    for fam in families.values():
        finish(fam, lineno)
    return len(families)


def family_of(name, families):
    for suffix in ('_bucket', '_sum', '_count'):
        if name.endswith(suffix):
            base = families.get(name[:-len(suffix)])
            if base and base.type in ('histogram', 'summary'):
                return base
    return families.get(name)


def check_line(line, families, done, current, seen):
    if line == '':
        raise Invalid('blank line')
    if '\r' in line:
        raise Invalid('carriage return (lines end in \\n alone)')
    if line.startswith('#'):
        parts = line.split(' ', 3)
        if len(parts) < 2 or parts[0] != '#' or parts[1] not in ('HELP', 'TYPE'):
            return current     # a plain comment
        if len(parts) < 3 or not METRIC_NAME.match(parts[2]):
            raise Invalid('# %s without a valid metric name' % parts[1])
        name = parts[2]
        fam = families.get(name)
        if fam is None:
            fam = families[name] = Family(name)
        if name in done or fam.samples:
            raise Invalid('# %s %s after its samples' % (parts[1], name))
        if parts[1] == 'HELP':
            if fam.help:
                raise Invalid('second HELP for %s' % name)
            fam.help = True
            check_help(parts[3] if len(parts) > 3 else '')
        else:
            if fam.type is not None:
                raise Invalid('second TYPE for %s' % name)
            if len(parts) != 4 or parts[3] not in TYPES:
                raise Invalid('TYPE %s: bad type' % name)
            fam.type = parts[3]
            if fam.type == 'counter' and not name.endswith('_total'):
                raise Invalid('counter %s does not end in _total' % name)
        return current
    m = re.compile(r'[^{ ]*').match(line)
    name = m.group(0)
    if not METRIC_NAME.match(name):
        raise Invalid('invalid metric name "%s"' % name)
    pos = m.end()
    labels, order = {}, []
    if pos < len(line) and line[pos] == '{':
        labels, order, pos = parse_labels(line, pos)
    rest = line[pos:]
    if not rest.startswith(' '):
        raise Invalid('expected a space before the value')
    fields = rest[1:].split(' ')
    if len(fields) not in (1, 2) or '' in fields:
        raise Invalid('expected "value [timestamp]" after %s' % name)
    value = parse_float(fields[0], 'value')
    if len(fields) == 2 and not TIMESTAMP.match(fields[1]):
        raise Invalid('timestamp "%s" is not an integer' % fields[1])
    fam = family_of(name, families)
    if fam is None:
        fam = families[name] = Family(name)
        fam.type = 'untyped'
    if fam.type is None:
        fam.type = 'untyped'
    if not fam.sample_ok(name):
        raise Invalid('sample %s does not belong to %s family %s' % (name, fam.type, fam.name))
    if fam.name in done:
        raise Invalid('samples of %s are not together' % fam.name)
    if current is not None and current is not fam:
        done.add(current.name)
    fam.samples = True
    key = (name, tuple(sorted(labels.items())))
    if key in seen:
        raise Invalid('duplicate series %s%s' % (name, line[len(name):pos]))
    seen.add(key)
    if fam.type == 'counter' and (value < 0 or math.isnan(value)):
        raise Invalid('counter %s is negative or NaN' % name)
    if fam.type == 'histogram':
        histogram_sample(fam, name, labels, value)
    return fam


def histogram_sample(fam, name, labels, value):
    base = tuple(sorted((k, v) for k, v in labels.items() if k != 'le'))
    state = fam.series.setdefault(base, {'le': [], 'sum': None, 'count': None})
    if name.endswith('_bucket'):
        if 'le' not in labels:
            raise Invalid('%s without an le label' % name)
        if state['count'] is not None or state['sum'] is not None:
            raise Invalid('%s after _sum or _count of its series' % name)
        le = parse_float(labels['le'], 'le')
        if state['le']:
            last_le, last_count = state['le'][-1]
            if not le > last_le:
                raise Invalid('bucket le="%s" not above the one before' % labels['le'])
            if value < last_count:
                raise Invalid('bucket le="%s" count goes down (not cumulative)' % labels['le'])
        if value < 0 or math.isnan(value) or value != math.floor(value):
            raise Invalid('bucket count %s is not a whole number' % value)
        state['le'].append((le, value))
    else:
        if 'le' in labels:
            raise Invalid('%s with an le label' % name)
        which = 'sum' if name.endswith('_sum') else 'count'
        state[which] = value


def finish(fam, lineno):
    if fam.type != 'histogram':
        return
    for base, state in fam.series.items():
        what = '%s{%s}' % (fam.name, ','.join('%s="%s"' % kv for kv in base))
        if not state['le'] or state['le'][-1][0] != math.inf:
            raise Invalid('histogram %s has no le="+Inf" bucket' % what, lineno)
        if state['count'] is None:
            raise Invalid('histogram %s has no _count' % what, lineno)
        if state['sum'] is None:
            raise Invalid('histogram %s has no _sum' % what, lineno)
        if state['le'][-1][1] != state['count']:
            raise Invalid('histogram %s: +Inf bucket %s != _count %s'
                          % (what, state['le'][-1][1], state['count']), lineno)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else None
    data = open(path, 'rb').read() if path else sys.stdin.buffer.read()
    try:
        n = check(data)
    except Invalid as e:
        where = 'line %d: ' % e.args[1] if len(e.args) > 1 else ''
        print('promcheck: %s%s%s' % (path + ': ' if path else '', where, e.args[0]),
              file=sys.stderr)
        return 1
    print('promcheck: %d families, valid' % n)
    return 0


if __name__ == '__main__':
    sys.exit(main())
