/*
 * Hexadecimal digits.  Header-only: the JSON cursor (json_cursor.h), which
 * the command includes too, decodes \u escapes with it, and the shared
 * library exports no pt__ symbol for the command to link.
 */
#ifndef PT_HEX_H
#define PT_HEX_H

/** 0-15 for a hexadecimal digit of either case, -1 for anything else. */
static inline int
pt__hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
