/* Compiles the public header alone, as C99 with -pedantic: a user who
 * includes only privtrack.h must not need anything else. */
#include <privtrack.h>

int
main(void)
{
    pt_visit visit = PT_VISIT_INIT;
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    return (visit.version == PT_VISIT_VERSION &&
            opts.version == PT_TRACKER_OPTIONS_VERSION)
               ? 0
               : 1;
}
