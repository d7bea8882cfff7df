#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/metrics.h"
#include "lib/strmap.h"

struct pw_metric_series {
	/* '{a="x",b="y"}' as rendered, "" without labels: the map's key too. */
	char *labels;
	double value;			/* counters and gauges */
	double sum;			/* histograms */
	unsigned long long count;
	unsigned long long *buckets;	/* per bucket, not cumulative; [n] is +Inf */
	const struct pw_metric_family *family;
};

struct pw_metric_family {
	char *name;
	char *help;
	enum pw_metric_type type;
	char **label_names;
	size_t n_labels;
	double *bounds;
	size_t n_bounds;
	/*
	 * In the order they were made, and whether that is already the order
	 * of their labels: the daemon mostly makes them in sorted order (pods
	 * by namespace and name), so a render rarely needs to sort.
	 */
	struct pw_metric_series **series;
	size_t n_series, cap_series;
	bool sorted;
	struct pw_strmap *index;	/* labels -> series */
	struct pw_buf key;		/* scratch for lookups */
};

struct pw_metrics {
	struct pw_metric_family **families;
	size_t n, cap;
	struct pw_strmap *names;
};

static PW_NORETURN PW_PRINTF(1, 2) void bug(const char *fmt, ...)
{
	va_list ap;

	fputs("<2>podwall: metrics: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ------------------------------------------------------------- names */

static bool valid_name(const char *s, bool colon)
{
	const char *p;

	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (p = s; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || (colon && c == ':')))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------ registry */

struct pw_metrics *pw_metrics_new(void)
{
	struct pw_metrics *m = pw_xcalloc(1, sizeof(*m));

	m->names = pw_strmap_new();
	return m;
}

static void series_free(struct pw_metric_series *s)
{
	free(s->labels);
	free(s->buckets);
	free(s);
}

static void family_free(struct pw_metric_family *f)
{
	size_t i;

	pw_metric_clear(f);
	for (i = 0; i < f->n_labels; i++)
		free(f->label_names[i]);
	free(f->label_names);
	free(f->series);
	free(f->bounds);
	free(f->name);
	free(f->help);
	pw_strmap_free(f->index);
	pw_buf_free(&f->key);
	free(f);
}

void pw_metrics_free(struct pw_metrics *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		family_free(m->families[i]);
	free(m->families);
	pw_strmap_free(m->names);
	free(m);
}

static struct pw_metric_family *add_family(struct pw_metrics *m, const char *name,
					   const char *help, enum pw_metric_type type,
					   const char *const *labels)
{
	struct pw_metric_family *f;
	size_t i, n = 0;

	if (!valid_name(name, true))
		bug("invalid metric name \"%s\"", name);
	if (type == PW_METRIC_COUNTER && !pw_str_has_suffix(name, "_total"))
		bug("counter %s does not end in _total", name);
	if (pw_strmap_get(m->names, name))
		bug("%s registered twice", name);
	while (labels && labels[n])
		n++;
	f = pw_xcalloc(1, sizeof(*f));
	f->name = pw_xstrdup(name);
	f->help = pw_xstrdup(help ? help : "");
	f->type = type;
	f->n_labels = n;
	f->label_names = pw_xcalloc(n ? n : 1, sizeof(*f->label_names));
	for (i = 0; i < n; i++) {
		size_t j;

		if (!valid_name(labels[i], false) || strncmp(labels[i], "__", 2) == 0 ||
		    (type == PW_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0))
			bug("%s: invalid label name \"%s\"", name, labels[i]);
		for (j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0)
				bug("%s: label %s given twice", name, labels[i]);
		f->label_names[i] = pw_xstrdup(labels[i]);
	}
	f->sorted = true;
	f->index = pw_strmap_new();
	pw_buf_init(&f->key);
	PW_GROW(m->families, m->cap, m->n + 1);
	m->families[m->n++] = f;
	pw_strmap_put(m->names, name, f);
	return f;
}

struct pw_metric_family *pw_metrics_counter(struct pw_metrics *m, const char *name,
					    const char *help, const char *const *labels)
{
	return add_family(m, name, help, PW_METRIC_COUNTER, labels);
}

struct pw_metric_family *pw_metrics_gauge(struct pw_metrics *m, const char *name,
					  const char *help, const char *const *labels)
{
	return add_family(m, name, help, PW_METRIC_GAUGE, labels);
}

struct pw_metric_family *pw_metrics_histogram(struct pw_metrics *m, const char *name,
					      const char *help, const char *const *labels,
					      const double *buckets, size_t n)
{
	struct pw_metric_family *f;
	size_t i;

	for (i = 0; i < n; i++)
		if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
			bug("%s: bucket bounds must be finite and ascending", name);
	f = add_family(m, name, help, PW_METRIC_HISTOGRAM, labels);
	f->bounds = pw_xcalloc(n ? n : 1, sizeof(*f->bounds));
	if (n)
		memcpy(f->bounds, buckets, n * sizeof(*buckets));
	f->n_bounds = n;
	return f;
}

/* -------------------------------------------------------------- series */

/* A label value in double quotes, with \\, \" and \n escaped. */
static void put_label_value(struct pw_buf *b, const char *v)
{
	const char *p;

	pw_buf_putc(b, '"');
	for (p = v; *p; p++) {
		if (*p == '\\')
			pw_buf_puts(b, "\\\\");
		else if (*p == '"')
			pw_buf_puts(b, "\\\"");
		else if (*p == '\n')
			pw_buf_puts(b, "\\n");
		else
			pw_buf_putc(b, *p);
	}
	pw_buf_putc(b, '"');
}

/* f->key := the rendered labels of these values. */
static const char *make_key(struct pw_metric_family *f, const char *const *values)
{
	size_t i;

	pw_buf_reset(&f->key);
	for (i = 0; i < f->n_labels; i++) {
		if (!values || !values[i])
			bug("%s: %zu label values for %zu labels", f->name, i, f->n_labels);
		pw_buf_putc(&f->key, i ? ',' : '{');
		pw_buf_puts(&f->key, f->label_names[i]);
		pw_buf_putc(&f->key, '=');
		put_label_value(&f->key, values[i]);
	}
	if (f->n_labels)
		pw_buf_putc(&f->key, '}');
	if (values && values[f->n_labels])
		bug("%s: more label values than its %zu labels", f->name, f->n_labels);
	return pw_buf_str(&f->key);
}

struct pw_metric_series *pw_metric_series(struct pw_metric_family *f,
					  const char *const *values)
{
	const char *key = make_key(f, values);
	struct pw_metric_series *s = pw_strmap_get(f->index, key);

	if (s)
		return s;
	s = pw_xcalloc(1, sizeof(*s));
	s->labels = pw_xstrdup(key);
	s->family = f;
	if (f->type == PW_METRIC_HISTOGRAM)
		s->buckets = pw_xcalloc(f->n_bounds + 1, sizeof(*s->buckets));
	if (f->n_series && strcmp(f->series[f->n_series - 1]->labels, key) > 0)
		f->sorted = false;
	PW_GROW(f->series, f->cap_series, f->n_series + 1);
	f->series[f->n_series++] = s;
	pw_strmap_put(f->index, s->labels, s);
	return s;
}

void pw_metric_series_set(struct pw_metric_series *s, double v)
{
	if (s->family->type == PW_METRIC_HISTOGRAM)
		bug("%s: set on a histogram", s->family->name);
	s->value = v;
}

void pw_metric_series_add(struct pw_metric_series *s, double v)
{
	if (s->family->type == PW_METRIC_HISTOGRAM)
		bug("%s: add on a histogram", s->family->name);
	s->value += v;
}

void pw_metric_series_observe(struct pw_metric_series *s, double v)
{
	const struct pw_metric_family *f = s->family;
	size_t lo = 0, hi = f->n_bounds;

	if (f->type != PW_METRIC_HISTOGRAM)
		bug("%s: observe on a %s", f->name,
		    f->type == PW_METRIC_COUNTER ? "counter" : "gauge");
	/* The first bound >= v; NaN lands in +Inf only. */
	if (isnan(v))
		lo = f->n_bounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->bounds[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	s->buckets[lo]++;
	s->count++;
	s->sum += v;
}

void pw_metric_set(struct pw_metric_family *f, const char *const *values, double v)
{
	pw_metric_series_set(pw_metric_series(f, values), v);
}

void pw_metric_add(struct pw_metric_family *f, const char *const *values, double v)
{
	pw_metric_series_add(pw_metric_series(f, values), v);
}

void pw_metric_observe(struct pw_metric_family *f, const char *const *values, double v)
{
	pw_metric_series_observe(pw_metric_series(f, values), v);
}

double pw_metric_series_value(const struct pw_metric_series *s)
{
	return s->value;
}

unsigned long long pw_metric_series_count(const struct pw_metric_series *s)
{
	return s->count;
}

void pw_metric_drop(struct pw_metric_family *f, const char *const *values)
{
	struct pw_metric_series *s = pw_strmap_del(f->index, make_key(f, values));
	size_t i;

	if (!s)
		return;
	for (i = 0; i < f->n_series && f->series[i] != s; i++)
		;
	memmove(&f->series[i], &f->series[i + 1], (f->n_series - i - 1) * sizeof(*f->series));
	f->n_series--;
	series_free(s);
}

void pw_metric_clear(struct pw_metric_family *f)
{
	size_t i;

	for (i = 0; i < f->n_series; i++) {
		pw_strmap_del(f->index, f->series[i]->labels);
		series_free(f->series[i]);
	}
	f->n_series = 0;
	f->sorted = true;
}

size_t pw_metric_family_size(const struct pw_metric_family *f)
{
	return f->n_series;
}

/* ----------------------------------------------------------- rendering */

/*
 * Integers as integers; others in the shortest of %.15g, %.16g, %.17g that
 * reads back as the same double (%.17g always does). The daemon never sets
 * LC_NUMERIC, so the decimal point is a point.
 */
static void put_value(struct pw_buf *b, double v)
{
	char text[40];
	int prec;

	if (isnan(v)) {
		pw_buf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		pw_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (fabs(v) < 9007199254740992.0 && v == (double)(long long)v) {
		pw_buf_printf(b, "%lld", (long long)v);
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			break;
	}
	if (prec == 17)
		snprintf(text, sizeof(text), "%.17g", v);
	pw_buf_puts(b, text);
}

static void put_help(struct pw_buf *b, const char *help)
{
	const char *p;

	for (p = help; *p; p++) {
		if (*p == '\\')
			pw_buf_puts(b, "\\\\");
		else if (*p == '\n')
			pw_buf_puts(b, "\\n");
		else
			pw_buf_putc(b, *p);
	}
}

static int series_cmp(const void *a, const void *b)
{
	const struct pw_metric_series *const *x = a, *const *y = b;

	return strcmp((*x)->labels, (*y)->labels);
}

/* name_bucket{labels...,le="bound"} count, for each bound and +Inf. */
static void put_histogram(struct pw_buf *out, const struct pw_metric_family *f,
			  const struct pw_metric_series *s)
{
	size_t len = strlen(s->labels), i;
	unsigned long long cumulative = 0;

	for (i = 0; i <= f->n_bounds; i++) {
		cumulative += s->buckets[i];
		pw_buf_puts(out, f->name);
		pw_buf_puts(out, "_bucket");
		if (len) {
			pw_buf_add(out, s->labels, len - 1);
			pw_buf_puts(out, ",le=\"");
		} else {
			pw_buf_puts(out, "{le=\"");
		}
		if (i < f->n_bounds)
			put_value(out, f->bounds[i]);
		else
			pw_buf_puts(out, "+Inf");
		pw_buf_printf(out, "\"} %llu\n", cumulative);
	}
	pw_buf_printf(out, "%s_sum%s ", f->name, s->labels);
	put_value(out, s->sum);
	pw_buf_printf(out, "\n%s_count%s %llu\n", f->name, s->labels, s->count);
}

static void render_family(const struct pw_metric_family *f, struct pw_buf *out)
{
	static const char *const types[] = {
		[PW_METRIC_COUNTER] = "counter",
		[PW_METRIC_GAUGE] = "gauge",
		[PW_METRIC_HISTOGRAM] = "histogram",
	};
	struct pw_metric_series **order = f->series;
	size_t i;

	pw_buf_printf(out, "# HELP %s ", f->name);
	put_help(out, f->help);
	pw_buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
	if (!f->sorted) {
		order = pw_xmalloc(f->n_series * sizeof(*order));
		memcpy(order, f->series, f->n_series * sizeof(*order));
		qsort(order, f->n_series, sizeof(*order), series_cmp);
	}
	for (i = 0; i < f->n_series; i++) {
		const struct pw_metric_series *s = order[i];

		if (f->type == PW_METRIC_HISTOGRAM) {
			put_histogram(out, f, s);
			continue;
		}
		pw_buf_puts(out, f->name);
		pw_buf_puts(out, s->labels);
		pw_buf_putc(out, ' ');
		put_value(out, s->value);
		pw_buf_putc(out, '\n');
	}
	if (order != f->series)
		free(order);
}

void pw_metrics_render(const struct pw_metrics *m, struct pw_buf *out)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		render_family(m->families[i], out);
}

/* ------------------------------------------------------------ textfile */

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int pw_metrics_write_textfile(const struct pw_metrics *m, const char *path, struct pw_buf *err)
{
	struct pw_buf text = PW_BUF_INIT;
	char *tmp = pw_xasprintf("%s.%ld.tmp", path, (long)getpid());
	const char *what = "creating";
	int fd, ret;

	pw_metrics_render(m, &text);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	/* The prometheus user reads it whatever our umask. */
	what = "writing";
	ret = fchmod(fd, 0644) < 0 ? -errno : 0;
	if (ret == 0)
		ret = write_all(fd, text.data ? text.data : "", text.len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0) {
		what = "renaming into place";
		if (rename(tmp, path) < 0)
			ret = -errno;
	}
	if (ret < 0)
		unlink(tmp);
out:
	if (ret < 0)
		pw_buf_printf(err, "metrics textfile %s: %s %s: %s", path, what, tmp,
			      strerror(-ret));
	free(tmp);
	pw_buf_free(&text);
	return ret;
}
