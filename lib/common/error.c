/* Error codes, their text, and the thread-local last error. */
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *
pt_strerror(int code)
{
    switch (code) {
#define PT__ERRNO_TEXT(name, value, text)                                      \
    case value:                                                                \
        return text;
        PT_ERRNO_MAP(PT__ERRNO_TEXT)
#undef PT__ERRNO_TEXT
    default:
        return "unknown error";
    }
}

const char *
pt_err_name(int code)
{
    switch (code) {
#define PT__ERRNO_NAME(name, value, text)                                      \
    case value:                                                                \
        return "PT_" #name;
        PT_ERRNO_MAP(PT__ERRNO_NAME)
#undef PT__ERRNO_NAME
    default:
        return "PT_UNKNOWN";
    }
}

const char *
pt_last_error(void)
{
    return last_error;
}

void
pt__clear_error(void)
{
    last_error[0] = '\0';
}

int
pt__fail(int code, const char *fmt, ...)
{
    /* Formatted aside first: an argument may be pt_last_error() itself
     * ("...: %s", pt_last_error()), and vsnprintf must not write over
     * what it is reading. */
    char text[sizeof(last_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    memcpy(last_error, text, sizeof(text));
    return code;
}

void
pt__snprintf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

const char *
pt_version(void)
{
    return PT_VERSION_STRING;
}

void
pt_free(void *ptr)
{
    free(ptr);
}
