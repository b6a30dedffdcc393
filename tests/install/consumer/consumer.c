/* A program built against the *installed* privtrack: its header, its
 * library and its packaging (CMake package or pkg-config).  Exits 0 when the
 * library it runs with is the one it was compiled against and the built-in
 * default policy loads. */
#include <privtrack.h>

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
    pt_policy *policy = NULL;
    int rc;

    if (strcmp(pt_version(), PT_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", PT_VERSION_STRING,
                pt_version());
        return 1;
    }
    rc = argc > 1 ? pt_policy_load_file(&policy, argv[1])
                  : pt_policy_load_default(&policy);
    if (rc != PT_OK) {
        fprintf(stderr, "policy: %s (%s)\n", pt_last_error(), pt_err_name(rc));
        return 1;
    }
    printf("privtrack %s, policy %s\n", pt_version(), pt_policy_id(policy));
    pt_policy_free(policy);
    return 0;
}
