#define _POSIX_C_SOURCE 200809L /* newlocale, uselocale */
#include "json.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_STR(x) #x
#define ED_XSTR(x) ED_STR(x)

/* One pass over a document. `error` is NULL when reading values out of a document already checked. */
typedef struct {
    const char *start, *at, *end;
    int depth;
    char *error;
    size_t error_size;
} reader;

/* Bytes of an unescaped string, as far as they fit (a '\0' is kept for the end); `length` counts them all. */
typedef struct {
    char *out;
    size_t size, length;
} sink;

static int fail(reader *p, const char *what)
{
    if (!p->error)
        return 0;
    int line = 1;
    const char *line_start = p->start;
    for (const char *c = p->start; c < p->at; ++c) {
        if (*c == '\n') {
            ++line;
            line_start = c + 1;
        }
    }
    char found[32];
    unsigned char c = p->at < p->end ? (unsigned char)*p->at : 0;
    if (p->at >= p->end)
        snprintf(found, sizeof found, "the end of the file");
    else if (c > ' ' && c < 0x7f)
        snprintf(found, sizeof found, "'%c'", c);
    else
        snprintf(found, sizeof found, "byte 0x%02X", c);
    snprintf(p->error, p->error_size, "line %d, column %d: %s (found %s)", line, (int)(p->at - line_start) + 1, what,
             found);
    return 0;
}

static int peek(const reader *p, char c)
{
    return p->at < p->end && *p->at == c;
}

static int is_digit(const reader *p)
{
    return p->at < p->end && *p->at >= '0' && *p->at <= '9';
}

static void skip_space(reader *p)
{
    while (p->at < p->end && (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r'))
        ++p->at;
}

static void put(sink *s, unsigned char byte)
{
    if (s->out && s->length + 1 < s->size)
        s->out[s->length] = (char)byte;
    ++s->length;
}

static void put_code_point(sink *s, unsigned code)
{
    if (code < 0x80) {
        put(s, (unsigned char)code);
    } else if (code < 0x800) {
        put(s, (unsigned char)(0xC0 | code >> 6));
        put(s, (unsigned char)(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) { /* a lone surrogate too: JSON allows "\ud800"; it just matches nothing */
        put(s, (unsigned char)(0xE0 | code >> 12));
        put(s, (unsigned char)(0x80 | (code >> 6 & 0x3F)));
        put(s, (unsigned char)(0x80 | (code & 0x3F)));
    } else {
        put(s, (unsigned char)(0xF0 | code >> 18));
        put(s, (unsigned char)(0x80 | (code >> 12 & 0x3F)));
        put(s, (unsigned char)(0x80 | (code >> 6 & 0x3F)));
        put(s, (unsigned char)(0x80 | (code & 0x3F)));
    }
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, surrogates or code points
 * above U+10FFFF), or 0. */
static int utf8_length(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0], low = 0x80, high = 0xBF;
    int n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        low = c == 0xE0 ? 0xA0 : low;
        high = c == 0xED ? 0x9F : high;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        low = c == 0xF0 ? 0x90 : low;
        high = c == 0xF4 ? 0x8F : high;
    } else {
        return 0;
    }
    if (end - s < n || s[1] < low || s[1] > high)
        return 0;
    for (int i = 2; i < n; ++i) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return n;
}

static int hex4(reader *p, unsigned *code)
{
    *code = 0;
    for (int i = 0; i < 4; ++i, ++p->at) {
        int c = p->at < p->end ? (unsigned char)*p->at : -1;
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0)
            return fail(p, "expected 4 hex digits after \\u");
        *code = *code * 16 + (unsigned)digit;
    }
    return 1;
}

/* After a backslash. */
static int escape(reader *p, sink *s)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *known = p->at < p->end ? memchr(from, *p->at, sizeof from - 1) : NULL;
    if (known) {
        put(s, (unsigned char)to[known - from]);
        ++p->at;
        return 1;
    }
    if (!peek(p, 'u'))
        return fail(p, "expected an escape: \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX");
    ++p->at;
    unsigned code, low;
    if (!hex4(p, &code))
        return 0;
    if (code >= 0xD800 && code < 0xDC00 && p->end - p->at >= 6 && p->at[0] == '\\' && p->at[1] == 'u') {
        reader pair = *p; /* a high surrogate and a low one make one code point */
        pair.at += 2;
        pair.error = NULL;
        if (hex4(&pair, &low) && low >= 0xDC00 && low < 0xE000) {
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            p->at = pair.at;
        }
    }
    put_code_point(s, code);
    return 1;
}

/* At the opening quote; unescapes into s. */
static int string(reader *p, sink *s)
{
    ++p->at;
    while (p->at < p->end && *p->at != '"') {
        unsigned char c = (unsigned char)*p->at;
        if (c == '\\') {
            ++p->at;
            if (!escape(p, s))
                return 0;
            continue;
        }
        if (c < 0x20)
            return fail(p, "a control character in a string must be escaped (\\n, \\t, \\u00XX)");
        int n = c < 0x80 ? 1 : utf8_length((const unsigned char *)p->at, (const unsigned char *)p->end);
        if (!n)
            return fail(p, "expected UTF-8 text");
        while (n--)
            put(s, (unsigned char)*p->at++);
    }
    if (s->out && s->size)
        s->out[s->length < s->size ? s->length : s->size - 1] = '\0';
    if (p->at == p->end)
        return fail(p, "expected '\"' closing the string");
    ++p->at;
    return 1;
}

static int digits(reader *p)
{
    const char *from = p->at;
    while (is_digit(p))
        ++p->at;
    return p->at > from;
}

static int number(reader *p)
{
    if (peek(p, '-'))
        ++p->at;
    if (peek(p, '0')) {
        ++p->at;
        if (is_digit(p))
            return fail(p, "a number has no leading zeros");
    } else if (!digits(p)) {
        return fail(p, "expected a digit");
    }
    if (peek(p, '.')) {
        ++p->at;
        if (!digits(p))
            return fail(p, "expected a digit after the decimal point");
    }
    if (peek(p, 'e') || peek(p, 'E')) {
        ++p->at;
        if (peek(p, '+') || peek(p, '-'))
            ++p->at;
        if (!digits(p))
            return fail(p, "expected a digit in the exponent");
    }
    return 1;
}

#define ED_A_VALUE "expected a value (object, array, string, number, true, false or null)"

static int literal(reader *p, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(p->end - p->at) < n || memcmp(p->at, word, n) != 0)
        return fail(p, ED_A_VALUE);
    p->at += n;
    return 1;
}

static int read_value(reader *p);

/* An object or an array, at its opening bracket. */
static int container(reader *p)
{
    char close = *p->at == '{' ? '}' : ']';
    if (++p->depth > ED_JSON_MAX_DEPTH)
        return fail(p, "nesting deeper than " ED_XSTR(ED_JSON_MAX_DEPTH) " levels");
    ++p->at;
    skip_space(p);
    if (peek(p, close)) { /* empty */
        ++p->at;
        --p->depth;
        return 1;
    }
    for (;;) {
        if (close == '}') {
            sink name = {NULL, 0, 0};
            if (!peek(p, '"'))
                return fail(p, "expected a member name in double quotes");
            if (!string(p, &name))
                return 0;
            skip_space(p);
            if (!peek(p, ':'))
                return fail(p, "expected ':' after the member name");
            ++p->at;
        }
        if (!read_value(p))
            return 0;
        skip_space(p);
        if (peek(p, close))
            break;
        if (!peek(p, ','))
            return fail(p, close == '}' ? "expected ',' or '}' after a member" : "expected ',' or ']' after an item");
        ++p->at;
        skip_space(p);
    }
    ++p->at;
    --p->depth;
    return 1;
}

static int read_value(reader *p)
{
    skip_space(p);
    if (p->at == p->end)
        return fail(p, ED_A_VALUE);
    sink none = {NULL, 0, 0};
    switch (*p->at) {
    case '{':
    case '[':
        return container(p);
    case '"':
        return string(p, &none);
    case 't':
        return literal(p, "true");
    case 'f':
        return literal(p, "false");
    case 'n':
        return literal(p, "null");
    default:
        return peek(p, '-') || is_digit(p) ? number(p) : fail(p, ED_A_VALUE);
    }
}

int ed_json_parse(const char *text, size_t length, ed_json *root, char *error, size_t error_size)
{
    reader p = {text, text, text + length, 0, error, error_size};
    skip_space(&p);
    const char *start = p.at;
    if (!read_value(&p))
        return 0;
    skip_space(&p);
    if (p.at != p.end)
        return fail(&p, "expected the end of the file after the value");
    root->at = start;
    root->end = p.end;
    return 1;
}

const char *ed_json_kind(ed_json value)
{
    switch (*value.at) {
    case '{':
        return "an object";
    case '[':
        return "an array";
    case '"':
        return "a string";
    case 't':
        return "true";
    case 'f':
        return "false";
    case 'n':
        return "null";
    default:
        return "a number";
    }
}

/* A reader over a checked document, from `at`. */
static reader over(ed_json value, const char *at)
{
    reader p = {value.at, at, value.end, 0, NULL, 0};
    skip_space(&p);
    return p;
}

int ed_json_member(ed_json object, const char *key, ed_json *found)
{
    if (*object.at != '{')
        return 0;
    reader p = over(object, object.at + 1);
    size_t key_length = strlen(key);
    char name[64];
    int hit = 0;
    while (peek(&p, '"')) {
        sink s = {name, sizeof name, 0};
        string(&p, &s);
        skip_space(&p);
        ++p.at; /* ':' */
        skip_space(&p);
        if (s.length == key_length && key_length < sizeof name && memcmp(name, key, key_length) == 0) {
            found->at = p.at;
            found->end = p.end;
            hit = 1;
        }
        read_value(&p);
        skip_space(&p);
        if (peek(&p, ','))
            ++p.at;
        skip_space(&p);
    }
    return hit;
}

int ed_json_string(ed_json value, char *out, size_t size, size_t *length)
{
    if (*value.at != '"')
        return 0;
    reader p = over(value, value.at);
    sink s = {out, size, 0};
    string(&p, &s);
    *length = s.length;
    return 1;
}

int ed_json_number(ed_json value, double *out)
{
    if (*value.at != '-' && (*value.at < '0' || *value.at > '9'))
        return 0;
    reader p = over(value, value.at);
    number(&p);
    /* strtod reads the decimal point of the thread's locale (a program may have set one with ','): read in "C" */
    locale_t c_numbers = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t previous = c_numbers ? uselocale(c_numbers) : (locale_t)0;
    char *end = NULL;
    *out = strtod(value.at, &end);
    if (c_numbers) {
        uselocale(previous);
        freelocale(c_numbers);
    }
    return end == p.at; /* all of the number, never another reading of it (without "C", strtod stops at '.') */
}

int ed_json_numbers(ed_json value, double *out, int count)
{
    if (*value.at != '[')
        return 0;
    reader p = over(value, value.at + 1);
    int n = 0;
    while (!peek(&p, ']')) {
        ed_json item = {p.at, p.end};
        if (n == count || !ed_json_number(item, &out[n]))
            return 0;
        ++n;
        read_value(&p);
        skip_space(&p);
        if (peek(&p, ','))
            ++p.at;
        skip_space(&p);
    }
    return n == count;
}
