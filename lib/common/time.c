/* UTC formatting and ISO-8601 parsing without the locale or TZ. */
#include "common/common.h"

#include <string.h>
#include <time.h>

int64_t
pt__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's days_from_civil. */
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void
pt__civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

int64_t
pt__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
pt__monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
put_digits(char *out, unsigned value, int width)
{
    while (width-- > 0) {
        out[width] = (char)('0' + value % 10);
        value /= 10;
    }
}

static void
split(int64_t time_us, int64_t *days, unsigned *secs, unsigned *micros)
{
    int64_t s =
        time_us >= 0 ? time_us / 1000000 : -((-time_us + 999999) / 1000000);
    int64_t us = time_us - s * 1000000;
    int64_t d = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    *days = d;
    *secs = (unsigned)(s - d * 86400);
    *micros = (unsigned)us;
}

void
pt__format_date(char *out, int64_t time_us)
{
    int64_t days;
    unsigned secs, micros, m, d;
    int y;
    split(time_us, &days, &secs, &micros);
    pt__civil_from_days(days, &y, &m, &d);
    put_digits(out, (unsigned)(y < 0 ? 0 : y), 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = '\0';
}

void
pt__format_timestamp(char *out, int64_t time_us)
{
    int64_t days;
    unsigned secs, micros;
    split(time_us, &days, &secs, &micros);
    pt__format_date(out, time_us);
    out[10] = 'T';
    put_digits(out + 11, secs / 3600, 2);
    out[13] = ':';
    put_digits(out + 14, secs / 60 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, secs % 60, 2);
    out[19] = '.';
    put_digits(out + 20, micros, 6);
    memcpy(out + 26, "+00:00", 7);
}

static int
digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

static int
days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dim[m - 1];
}

static int
parse_date(const char **p, int *y, int *m, int *d)
{
    if (!digits(p, 4, y) || **p != '-')
        return 0;
    (*p)++;
    if (!digits(p, 2, m) || **p != '-')
        return 0;
    (*p)++;
    if (!digits(p, 2, d))
        return 0;
    return *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

int
pt__valid_date(const char *s)
{
    int y, m, d;
    const char *p = s;
    return s && parse_date(&p, &y, &m, &d) && *p == '\0';
}

int
pt__date_days(const char *s, int64_t *days)
{
    int y, m, d;
    const char *p = s;
    if (!s || !parse_date(&p, &y, &m, &d) || *p != '\0')
        return -1;
    *days = pt__days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

int
pt__parse_iso8601(const char *s, int64_t *out_us)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
    int64_t frac = 0;

    if (!s || !parse_date(&p, &y, &mo, &d))
        return pt__fail(PT_EPARSE, "not an ISO-8601 date: expected YYYY-MM-DD");
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p != ':')
            return pt__fail(PT_EPARSE, "not an ISO-8601 time: expected HH:MM");
        p++;
        if (!digits(&p, 2, &mi))
            return pt__fail(PT_EPARSE, "not an ISO-8601 time: expected HH:MM");
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return pt__fail(PT_EPARSE, "not an ISO-8601 time: bad seconds");
            if (*p == '.' || *p == ',') {
                int n = 0;
                p++;
                /* Any precision; microseconds are kept. */
                while (*p >= '0' && *p <= '9') {
                    if (n < 6)
                        frac = frac * 10 + (*p - '0');
                    n++;
                    p++;
                }
                if (n == 0)
                    return pt__fail(PT_EPARSE,
                                    "not an ISO-8601 time: bad fraction");
                for (; n < 6; n++)
                    frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return pt__fail(PT_EPARSE, "not an ISO-8601 time: out of range");
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om = 0, colon;
            p++;
            if (!digits(&p, 2, &oh))
                return pt__fail(PT_EPARSE, "not an ISO-8601 offset");
            /* +HH:MM, +HHMM, or +HH alone */
            colon = *p == ':';
            p += colon;
            if ((colon || (*p >= '0' && *p <= '9')) && !digits(&p, 2, &om))
                return pt__fail(PT_EPARSE, "not an ISO-8601 offset");
            if (oh > 23 || om > 59)
                return pt__fail(PT_EPARSE, "not an ISO-8601 offset");
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p != '\0')
        return pt__fail(PT_EPARSE, "trailing characters after ISO-8601 time");
    *out_us = (pt__days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
               h * 3600 + mi * 60 + sec - off) *
                  1000000 +
              frac;
    return PT_OK;
}

int
pt_time_parse(const char *text, int64_t *out_us)
{
    int64_t us;
    int rc;

    if (!out_us)
        return pt__fail(PT_EINVAL, "pt_time_parse: out_us is NULL");
    rc = pt__parse_iso8601(text, &us);
    if (rc != PT_OK)
        return rc;
    if (us < PT_TIME_MIN_US)
        return pt__fail(PT_EINVAL, "the time is not after "
                                   "1970-01-01T00:00:00Z (UTC), the first "
                                   "a record can hold");
    if (us > PT_TIME_MAX_US)
        return pt__fail(PT_EINVAL, "the time is after "
                                   "9999-12-31T23:59:59.999999Z (UTC), the "
                                   "last a record can hold");
    *out_us = us;
    return PT_OK;
}
