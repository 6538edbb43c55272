/* A small strict JSON reader (RFC 8259), enough to read a model's sidecar: check a whole document once, then
 * look values up in it in place, with no tree and no allocation. Any valid formatting is read (whitespace,
 * member order, escaped strings, members and nesting the caller does not ask for); anything else - comments,
 * trailing commas, single quotes, NaN, leading zeros, invalid UTF-8, a second value - is refused with the line
 * and column of the fault. */
#ifndef ED_JSON_H
#define ED_JSON_H

#include <stddef.h>

/* A value inside a document that ed_json_parse accepted: where it starts, and where the document ends. */
typedef struct {
    const char *at, *end;
} ed_json;

/* Nesting deeper than this is refused (RFC 8259 lets a reader limit it), so that a hostile file cannot
 * exhaust the stack of the thread calling ed_create: the reader recurses once a level. Sidecars nest 3 deep. */
#define ED_JSON_MAX_DEPTH 128

/* Check that text[0, length) is exactly one JSON value between optional whitespace; text[length] must be '\0'
 * (numbers are converted in place). Returns 1 and the value in *root, or 0 and "line L, column C: what is
 * wrong" in error (one line, at most error_size bytes with its '\0'). */
int ed_json_parse(const char *text, size_t length, ed_json *root, char *error, size_t error_size);

/* What a value is, for messages: "an object", "an array", "a string", "a number", "true", "false", "null". */
const char *ed_json_kind(ed_json value);

/* The value of member `key` of an object, compared after unescaping; the last one if the key repeats (as
 * Python's json module reads it). 0 if `object` is no object or has no such member. */
int ed_json_member(ed_json object, const char *key, ed_json *value);

/* A string value, unescaped to UTF-8, into out (size bytes with the '\0' this adds); *length is its full
 * length, which may be >= size (then out holds the start) or hold a '\0' from "\u0000". 0 if no string. */
int ed_json_string(ed_json value, char *out, size_t size, size_t *length);

/* A number value as a double (correctly rounded, whatever the process's LC_NUMERIC says; +-HUGE_VAL or 0
 * where it is out of range). 0 if no number. */
int ed_json_number(ed_json value, double *out);

/* An array of exactly `count` numbers, into out. 0 otherwise. */
int ed_json_numbers(ed_json value, double *out, int count);

#endif
