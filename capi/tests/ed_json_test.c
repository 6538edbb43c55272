/*
 * ed_json_test - the sidecar's JSON reader (src/json.c) fed good and bad snippets: every valid formatting reads
 * the same values, every malformed one is refused with its line, column and what was expected. Reads numbers
 * under the locale of the environment (LC_ALL=de_DE.UTF-8 writes 0,5), as a program embedding the library may
 * have set one. Prints one line per check; exits 1 if any failed. Run by tests/test_capi.py.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

static int failures;

static void check(int ok, const char *name)
{
    printf("%s - %s\n", ok ? "ok" : "FAIL", name);
    failures += !ok;
}

static ed_json parse(const char *text, const char *name)
{
    ed_json root = {NULL, NULL};
    char error[256] = "";
    int ok = ed_json_parse(text, strlen(text), &root, error, sizeof error);
    char label[512];
    snprintf(label, sizeof label, "valid: %s %s", name, error);
    check(ok, label);
    return root;
}

/* member path "a.b" of a document, or a value at NULL */
static ed_json at(ed_json root, const char *first, const char *second)
{
    ed_json value = {NULL, NULL}, inner = {NULL, NULL};
    if (root.at && ed_json_member(root, first, &value) && (!second || ed_json_member(value, second, &inner)))
        return second ? inner : value;
    return (ed_json){NULL, NULL};
}

static int string_is(ed_json value, const char *expected, size_t expected_length)
{
    char text[64];
    size_t length = 0;
    return value.at && ed_json_string(value, text, sizeof text, &length) && length == expected_length &&
           memcmp(text, expected, length) == 0 && text[length] == '\0';
}

static int number_is(ed_json value, double expected)
{
    double number = 0;
    return value.at && ed_json_number(value, &number) && number == expected;
}

static void good(void)
{
    static const char sidecar[] =
        "{\n  \"versions\": {\"openvino\": \"2026.4.1\"},\n  \"fusion\": {\"layers\": [{\"name\": \"a}\\\"]\", "
        "\"fused\": [1, [2, {\"x\": null}], true, false]}]},\n  \"preprocessing\": {\"color\": \"BGR\", \"dtype\": "
        "\"float32\", \"mean\": [0.485, 0.456, 0.406], \"scale\": 0.00392156862745098, \"std\": [0.229, 0.224, "
        "0.225]}\n}\n";
    ed_json root = parse(sidecar, "a sidecar as json.dumps(indent=2) writes it");
    double mean[3] = {0};
    check(ed_json_numbers(at(root, "preprocessing", "mean"), mean, 3) && mean[0] == 0.485 && mean[1] == 0.456 &&
              mean[2] == 0.406, "an array of 3 numbers, past nested objects and arrays it skips");
    check(number_is(at(root, "preprocessing", "scale"), 0.00392156862745098), "17 digits read exactly (1/255)");
    check(string_is(at(root, "preprocessing", "color"), "BGR", 3), "a string member");
    check(!at(root, "preprocessing", "resize").at && !at(root, "missing", NULL).at, "a missing member is not found");

    root = parse(" \t\r\n{\"std\":[ 1 ,2e0,\n\n 3E-0 ] , \"preprocessing\"\t:\r{ }} \n", "any whitespace");
    double std[3] = {0};
    check(ed_json_numbers(at(root, "std", NULL), std, 3) && std[0] == 1 && std[1] == 2 && std[2] == 3,
          "numbers with exponents, between any whitespace");
    check(at(root, "preprocessing", NULL).at && !strncmp(ed_json_kind(at(root, "preprocessing", NULL)), "an obj", 6),
          "an empty object");
    check(!ed_json_numbers(at(root, "std", NULL), std, 2) && !ed_json_numbers(at(root, "std", NULL), std, 4),
          "an array of 3 is not 2 or 4 numbers");
    check(!ed_json_number(at(root, "preprocessing", NULL), std) && !ed_json_numbers(at(root, "preprocessing", NULL),
          std, 3), "an object is no number");

    root = parse("{\"pre\\u0070rocessing\": {\"c\\u006Flor\": \"B\\u0047R\", \"q\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}, "
                 "\"a\\u0000b\": 1, \"emoji\": \"\\ud83d\\ude00\", \"raw\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
                 "escaped names and strings, UTF-8");
    check(string_is(at(root, "preprocessing", "color"), "BGR", 3), "names and strings are compared unescaped");
    check(string_is(at(root, "preprocessing", "q"), "\"\\/\b\f\n\r\t", 8), "the 8 one-letter escapes");
    check(!at(root, "a", NULL).at && !at(root, "ab", NULL).at, "a name with \\u0000 is neither 'a' nor 'ab'");
    check(string_is(at(root, "emoji", NULL), "\xf0\x9f\x98\x80", 4), "a surrogate pair is one code point");
    check(string_is(at(root, "raw", NULL), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), "UTF-8 text as it is");
    char small[4];
    size_t length = 0;
    check(ed_json_string(at(root, "preprocessing", "q"), small, sizeof small, &length) && length == 8 &&
              strcmp(small, "\"\\/") == 0, "a string longer than the buffer: its start, and its full length");

    root = parse("{\"a\": 1, \"a\": [2], \"a\": -0.5e1}", "a repeated name");
    check(number_is(at(root, "a", NULL), -5), "a repeated name reads its last value, as Python's json");
    check(!strcmp(ed_json_kind(parse("null", "null")), "null") && !strcmp(ed_json_kind(parse("-0", "-0")), "a number")
              && !strcmp(ed_json_kind(parse("\"\"", "\"\"")), "a string") &&
              !strcmp(ed_json_kind(parse("[]", "[]")), "an array"), "kinds of top-level values");

    char deep[2 * ED_JSON_MAX_DEPTH + 1];
    memset(deep, '[', ED_JSON_MAX_DEPTH);
    memset(deep + ED_JSON_MAX_DEPTH, ']', ED_JSON_MAX_DEPTH);
    deep[2 * ED_JSON_MAX_DEPTH] = '\0';
    parse(deep, "nesting of ED_JSON_MAX_DEPTH levels");
}

/* A malformed snippet (length bytes, so it may hold a '\0'): refused, with `message` in the error. */
static void bad(const char *text, size_t length, const char *message)
{
    ed_json root = {NULL, NULL};
    char error[256] = "", label[512];
    int ok = !ed_json_parse(text, length, &root, error, sizeof error) && strstr(error, message) &&
             !strchr(error, '\n');
    snprintf(label, sizeof label, "refused: %.40s -> %s", text, error);
    for (char *c = label; *c; ++c) /* printable ASCII, so the report reads as text whatever the snippet held */
        *c = *c >= ' ' && *c < 0x7f ? *c : '?';
    check(ok, label);
}

#define BAD(text, message) bad(text, sizeof text - 1, message)

static void malformed(void)
{
    BAD("", "line 1, column 1: expected a value (object, array, string, number, true, false or null) (found the "
            "end of the file)");
    BAD("{\n  \"a\": 1,\n  \"b\" 2\n}", "line 3, column 7: expected ':' after the member name (found '2')");
    BAD("{\"a\": 1,}", "expected a member name in double quotes (found '}')");
    BAD("[1, 2,]", "expected a value");
    BAD("{'a': 1}", "expected a member name in double quotes (found ''')");
    BAD("{\"a\": 1 \"b\": 2}", "expected ',' or '}' after a member (found '\"')");
    BAD("[1 2]", "expected ',' or ']' after an item (found '2')");
    BAD("{\"a\": [1}", "expected ',' or ']' after an item (found '}')");
    BAD("{\"a\": 1", "expected ',' or '}' after a member (found the end of the file)");
    BAD("// sidecar\n{}", "expected a value");
    BAD("{\"a\": NaN}", "expected a value (object, array, string, number, true, false or null) (found 'N')");
    BAD("[-Infinity]", "expected a digit (found 'I')");
    BAD("[01]", "a number has no leading zeros");
    BAD("[1.]", "expected a digit after the decimal point");
    BAD("[.5]", "expected a value");
    BAD("[+1]", "expected a value");
    BAD("[1e+]", "expected a digit in the exponent");
    BAD("[tru]", "expected a value");
    BAD("[True]", "expected a value");
    BAD("\"open", "expected '\"' closing the string (found the end of the file)");
    BAD("\"tab\there\"", "a control character in a string must be escaped (\\n, \\t, \\u00XX) (found byte 0x09)");
    BAD("\"\\x41\"", "expected an escape");
    BAD("\"\\u12G4\"", "expected 4 hex digits after \\u (found 'G')");
    BAD("\"\xff\"", "expected UTF-8 text (found byte 0xFF)");
    BAD("\"\xc0\xaf\"", "expected UTF-8 text (found byte 0xC0)");       /* overlong '/' */
    BAD("\"\xed\xa0\x80\"", "expected UTF-8 text (found byte 0xED)");   /* a surrogate, encoded */
    BAD("\"\xe2\x82\"", "expected UTF-8 text (found byte 0xE2)");       /* cut short */
    BAD("\xef\xbb\xbf{}", "expected a value (object, array, string, number, true, false or null) (found byte 0xEF)");
    BAD("{} {}", "line 1, column 4: expected the end of the file after the value (found '{')");
    BAD("{\"a\": 1}\0", "expected the end of the file after the value (found byte 0x00)");
    char deep[ED_JSON_MAX_DEPTH + 2];
    memset(deep, '[', ED_JSON_MAX_DEPTH + 1);
    deep[ED_JSON_MAX_DEPTH + 1] = '\0';
    bad(deep, strlen(deep), "nesting deeper than 128 levels");
}

int main(void)
{
    setlocale(LC_ALL, ""); /* the environment's, as a program embedding the library may do */
    printf("# LC_NUMERIC decimal point '%s'\n", localeconv()->decimal_point);
    good();
    malformed();
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
