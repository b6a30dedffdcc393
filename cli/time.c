/* Dates given on the command line.  Times in visit lines are parsed by the
 * library (pt_time_parse), so the command and the library agree on what a
 * valid time is. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

void
cli_date_days(const char *date, int64_t *days)
{
    char midnight[32];
    int64_t us = 0;

    snprintf(midnight, sizeof(midnight), "%.10sT00:00:00Z", date);
    (void)pt_time_parse(midnight, &us);
    *days = us / 86400000000LL;
}

int
cli_valid_date(const char *date)
{
    char noon[32];
    int64_t us;

    if (!date || strlen(date) != 10 || date[4] != '-' || date[7] != '-')
        return 0;
    /* A calendar date on which a record can be: its noon is a valid visit
     * time (this keeps "1970-01-01" and "9999-12-31", whose ends are not). */
    snprintf(noon, sizeof(noon), "%sT12:00:00Z", date);
    return pt_time_parse(noon, &us) == PT_OK;
}
