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

/* OpenVINO messages span lines ("Exception from src/...:\n[ ... ] reason"); one line reads better in logs. */
static void fold_lines(char *text)
{
    for (char *c = text; *c; ++c) {
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    }
}

ed_status ed_fail_ov(ed_status status, ov_status_e ov_status, const char *what)
{
    const char *detail = ov_get_last_err_msg(); /* a copy owned by us; may be NULL */
    ed_fail(status, "%s: %s%s%s", what, ov_get_error_info(ov_status), detail ? ": " : "", detail ? detail : "");
    if (detail)
        ov_free(detail);
    fold_lines(last_error);
    return status;
}

const char *ed_last_error(void)
{
    return last_error;
}
