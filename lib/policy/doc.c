/*
 * A minimal document writer (facts.h): Markdown, or one self-contained
 * HTML page.  Text from the policy ([notice] values, a cookie, a path) goes
 * through here only, escaped for the format.
 */
#include "policy/facts.h"

#include <stdio.h>
#include <string.h>

static const char html_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    /* Nothing is fetched: opening the page tells no third party anything. */
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
    "'none'; style-src 'unsafe-inline'\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n";

static const char html_style[] =
    "<style>\n"
    "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:44em;"
    "margin:2em auto;padding:0 1em;color:#222}\n"
    "code{background:#f2f2f2;padding:0 .2em}\n"
    "</style>\n";

static void
put_escaped(pt__doc *d, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (d->html) {
            switch (c) {
            case '&':
                pt_buf_puts(d->b, "&amp;");
                continue;
            case '<':
                pt_buf_puts(d->b, "&lt;");
                continue;
            case '>':
                pt_buf_puts(d->b, "&gt;");
                continue;
            case '"':
                pt_buf_puts(d->b, "&quot;");
                continue;
            case '\'':
                pt_buf_puts(d->b, "&#39;");
                continue;
            default:
                break;
            }
        } else if (strchr("\\`*_[]<>#|&", c)) {
            pt_buf_putc(d->b, '\\');
        }
        pt_buf_putc(d->b, c);
    }
}

/* A comment may not contain "--" (nor end one early). */
static void
put_comment(pt__doc *d, const char *text)
{
    pt_buf_puts(d->b, "<!-- ");
    for (const char *p = text; *p; p++) {
        pt_buf_putc(d->b, *p);
        if (*p == '-' && p[1] == '-')
            pt_buf_putc(d->b, ' ');
    }
    pt_buf_puts(d->b, " -->\n");
}

static void
close_block(pt__doc *d)
{
    if (!d->block)
        return;
    if (d->html)
        pt_buf_puts(d->b, d->block == 'l' ? "</li>\n" : "</p>\n");
    else
        pt_buf_putc(d->b, '\n');
}

/* Close the open block, and the list when the next block is not an item. */
static void
next_block(pt__doc *d, int kind)
{
    close_block(d);
    if (d->block == 'l' && kind != 'l' && d->html)
        pt_buf_puts(d->b, "</ul>\n");
    if (kind == 'l' && d->block != 'l')
        pt_buf_puts(d->b, d->html ? "<ul>\n" : "\n");
    else if (kind == 'p' && !d->html)
        pt_buf_putc(d->b, '\n');
    d->block = kind;
}

void
pt__doc_begin(pt__doc *d, pt_buf *b, int html, const char *title,
              const char *comment)
{
    d->b = b;
    d->html = html;
    d->block = 0;
    if (html) {
        pt_buf_puts(b, html_head);
        pt_buf_puts(b, "<title>");
        put_escaped(d, title, strlen(title));
        pt_buf_puts(b, "</title>\n");
        pt_buf_puts(b, html_style);
        pt_buf_puts(b, "</head>\n<body>\n");
    }
    put_comment(d, comment);
    pt_buf_puts(b, html ? "<h1>" : "\n# ");
    put_escaped(d, title, strlen(title));
    pt_buf_puts(b, html ? "</h1>\n" : "\n");
}

void
pt__doc_heading(pt__doc *d, const char *text)
{
    next_block(d, 0);
    pt_buf_puts(d->b, d->html ? "<h2>" : "\n## ");
    put_escaped(d, text, strlen(text));
    pt_buf_puts(d->b, d->html ? "</h2>\n" : "\n");
}

void
pt__doc_para(pt__doc *d)
{
    next_block(d, 'p');
    if (d->html)
        pt_buf_puts(d->b, "<p>");
}

void
pt__doc_item(pt__doc *d)
{
    next_block(d, 'l');
    pt_buf_puts(d->b, d->html ? "<li>" : "- ");
}

void
pt__doc_text(pt__doc *d, const char *fmt, ...)
{
    char small[512];
    pt_buf big = PT_BUF_INIT;
    const char *s = small;
    size_t len;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    len = (size_t)n;
    if (len >= sizeof(small)) {
        va_start(ap, fmt);
        pt_buf_vprintf(&big, fmt, ap);
        va_end(ap);
        if (big.oom || !big.ptr) {
            d->b->oom = 1;
            pt_buf_free(&big);
            return;
        }
        s = big.ptr;
        len = big.len;
    }
    put_escaped(d, s, len);
    pt_buf_free(&big);
}

void
pt__doc_code(pt__doc *d, const char *text)
{
    if (d->html) {
        pt_buf_puts(d->b, "<code>");
        put_escaped(d, text, strlen(text));
        pt_buf_puts(d->b, "</code>");
    } else {
        /* A code span is literal: no escapes, so a backtick inside needs a
         * longer fence. */
        const char *fence = strchr(text, '`') ? "`` " : "`";
        pt_buf_puts(d->b, fence);
        pt_buf_puts(d->b, text);
        pt_buf_puts(d->b, strchr(text, '`') ? " ``" : "`");
    }
}

void
pt__doc_link(pt__doc *d, const char *target)
{
    int mail = strncmp(target, "http://", 7) != 0 &&
               strncmp(target, "https://", 8) != 0;
    if (d->html) {
        pt_buf_puts(d->b, mail ? "<a href=\"mailto:" : "<a href=\"");
        put_escaped(d, target, strlen(target));
        pt_buf_puts(d->b, "\">");
        put_escaped(d, target, strlen(target));
        pt_buf_puts(d->b, "</a>");
    } else {
        /* An autolink: the policy loader allows no blank, '<' or '>' in
         * a URL or an e-mail address. */
        pt_buf_putc(d->b, '<');
        pt_buf_puts(d->b, target);
        pt_buf_putc(d->b, '>');
    }
}

void
pt__doc_end(pt__doc *d)
{
    next_block(d, 0);
    d->block = 0;
    if (d->html)
        pt_buf_puts(d->b, "</body>\n</html>\n");
}
