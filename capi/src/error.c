#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

ed_status ed_fail(ed_status status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    return status;
}

/* OpenVINO messages read "Exception from src/x.cpp:84: Exception from src/y.cpp:148: reason\n...": keep the
 * reason, on one line, which is what a caller can act on. */
static void tidy(char *text)
{
    static const char prefix[] = "Exception from ";
    char *at;
    while ((at = strstr(text, prefix)) != NULL) {
        char *end = strchr(at, ':'); /* file:line: */
        if (!end)
            break;
        end += strspn(end, ":0123456789");
        end += strspn(end, " \r\n");
        memmove(at, end, strlen(end) + 1);
    }
    for (char *c = text; *c; ++c) {
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    }
    for (size_t n = strlen(text); n > 0 && text[n - 1] == ' '; --n)
        text[n - 1] = '\0';
}

ed_status ed_fail_ov(ed_status status, ov_status_e ov_status, const char *what)
{
    /* A copy we must free; may be NULL. OpenVINO keeps one last message per process, so two OpenVINO
     * failures at the same instant on two threads may swap this detail; the status and `what` are ours. */
    const char *detail = ov_get_last_err_msg();
    ed_fail(status, "%s: %s", what, detail && detail[0] ? detail : ov_get_error_info(ov_status));
    if (detail)
        ov_free(detail);
    tidy(last_error);
    return status;
}

const char *ed_last_error(void)
{
    return last_error;
}
