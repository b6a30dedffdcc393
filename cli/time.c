/* Dates and ISO-8601 times given on the command line or in visit lines. */
#include "cli.h"

#include <string.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm), so that no time zone or locale can get involved. */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
days_in_month(int64_t y, int64_t m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Read exactly `n` digits at *p. */
static int
digits(const char **p, int n, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* "YYYY-MM-DD" at *p, a real calendar date from 1970 on. */
static int
parse_date(const char **p, int64_t *days)
{
    int64_t y, m, d;
    if (digits(p, 4, &y) || *(*p)++ != '-' || digits(p, 2, &m) ||
        *(*p)++ != '-' || digits(p, 2, &d))
        return -1;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    *days = days_from_civil(y, m, d);
    return 0;
}

int
cli_valid_date(const char *date)
{
    const char *p = date;
    int64_t days;
    if (!date || strlen(date) != 10)
        return 0;
    return parse_date(&p, &days) == 0 && *p == '\0';
}

/* ".ffffff" (any number of digits; microseconds kept). */
static int
parse_fraction(const char **p, int64_t *us)
{
    int64_t scale = 100000;
    int n = 0;
    *us = 0;
    if (**p != '.' && **p != ',')
        return 0;
    (*p)++;
    while (**p >= '0' && **p <= '9') {
        *us += (**p - '0') * scale;
        scale /= 10;
        (*p)++;
        n++;
    }
    return n > 0 ? 0 : -1;
}

/* "Z", "+HH:MM", "+HHMM", "+HH" or nothing (UTC), in seconds east. */
static int
parse_offset(const char **p, int64_t *seconds)
{
    int64_t h, m = 0;
    int sign;
    *seconds = 0;
    if (**p == '\0')
        return 0;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        return 0;
    }
    if (**p != '+' && **p != '-')
        return -1;
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (digits(p, 2, &h))
        return -1;
    if (**p == ':')
        (*p)++;
    if (**p && digits(p, 2, &m))
        return -1;
    if (h > 23 || m > 59)
        return -1;
    *seconds = sign * (h * 3600 + m * 60);
    return 0;
}

int
cli_parse_time(const char *text, int64_t *out_us)
{
    const char *p = text;
    int64_t days, h = 0, min = 0, s = 0, us = 0, offset = 0;

    if (!text || parse_date(&p, &days))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &min))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &s) || parse_fraction(&p, &us))
                return -1;
        }
        if (h > 23 || min > 59 || s > 60 || parse_offset(&p, &offset))
            return -1;
    }
    if (*p != '\0')
        return -1;
    *out_us =
        ((days * 86400 + h * 3600 + min * 60 + s) - offset) * 1000000 + us;
    return *out_us > 0 ? 0 : -1;
}
