/* Per-thread last-error message behind ed_last_error. */
#ifndef ED_ERROR_H
#define ED_ERROR_H

#include <openvino/c/openvino.h>

#include "edgedepth.h"

/* Record a one-line message for this thread and return `status`, so callers can `return ed_fail(...)`. */
ed_status ed_fail(ed_status status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* As ed_fail, for a failed OpenVINO call: appends OpenVINO's own message, folded onto one line. */
ed_status ed_fail_ov(ed_status status, ov_status_e ov_status, const char *what);

#endif
