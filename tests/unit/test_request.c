/* test_request.c -- control-socket request lines: every command, and the
 * malformed lines a hostile or buggy client can send, each refused with the
 * sentence the daemon sends back. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "pw_name.h"
#include "pw_request.h"
#include "pw_test.h"

/* Parse a NUL-terminated literal (the NUL is not passed). */
static int parse(const char *line, pw_request *r, pw_err *e)
{
    return pw_request_parse(line, strlen(line), r, e);
}

/* The daemon puts the message in a JSON string: it must be valid UTF-8. */
static void assert_message_is_json_text(const pw_err *e)
{
    json_t *s = json_string(e->msg);
    ck_assert_msg(s != NULL, "error message is not valid UTF-8: %s", e->msg);
    json_decref(s);
    for (const char *p = e->msg; *p; p++)
        ck_assert_msg((unsigned char)*p >= 0x20, "control character in '%s'", e->msg);
}

/* The line must fail with a message containing needle. */
static void refused(const char *line, size_t len, const char *needle)
{
    pw_request r;
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_request_parse(line, len, &r, &e), &e, needle);
    assert_message_is_json_text(&e);
}
#define REFUSED(lit, needle) refused((lit), sizeof(lit) - 1, (needle))

START_TEST(every_command_is_recognised)
{
    pw_request r;
    pw_err e;
    PW_ASSERT_OK(parse("{\"cmd\":\"status\"}", &r, &e), &e);
    ck_assert_int_eq(r.cmd, PW_REQ_STATUS);
    PW_ASSERT_OK(parse("{\"cmd\": \"rescan\"}", &r, &e), &e);
    ck_assert_int_eq(r.cmd, PW_REQ_RESCAN);
    PW_ASSERT_OK(parse(" { \"cmd\" : \"subscribe\" } ", &r, &e), &e);
    ck_assert_int_eq(r.cmd, PW_REQ_SUBSCRIBE);
    PW_ASSERT_OK(parse("{\"cmd\":\"finalize\",\"run\":\"r1\"}", &r, &e), &e);
    ck_assert_int_eq(r.cmd, PW_REQ_FINALIZE);
    ck_assert_str_eq(r.run, "r1");
    ck_assert_int_eq(r.has_step, 0);
}
END_TEST

START_TEST(finalize_step_is_optional_and_may_be_huge)
{
    pw_request r;
    pw_err e;
    PW_ASSERT_OK(parse("{\"cmd\":\"finalize\",\"run\":\"/runs/a b\",\"step\":400}", &r, &e), &e);
    ck_assert_str_eq(r.run, "/runs/a b");
    ck_assert_int_eq(r.has_step, 1);
    ck_assert_int_eq(r.step, 400);
    PW_ASSERT_OK(parse("{\"step\":0,\"run\":\"r\",\"cmd\":\"finalize\"}", &r, &e), &e);
    ck_assert_int_eq(r.has_step, 1);
    ck_assert_int_eq(r.step, 0);
    PW_ASSERT_OK(parse("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":null}", &r, &e), &e);
    ck_assert_int_eq(r.has_step, 0);
    PW_ASSERT_OK(parse("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":9223372036854775807}", &r, &e),
                 &e);
    ck_assert(r.step == INT64_MAX);
    /* Escapes and non-ASCII names come through decoded. */
    PW_ASSERT_OK(parse("{\"cmd\":\"finalize\",\"run\":\"r\\u00e9\\\"q\"}", &r, &e), &e);
    ck_assert_str_eq(r.run, "r\xc3\xa9\"q");
}
END_TEST

START_TEST(unknown_fields_are_ignored)
{
    pw_request r;
    pw_err e;
    PW_ASSERT_OK(
        parse("{\"cmd\":\"status\",\"run\":5,\"step\":\"x\",\"v\":[1,{\"a\":[]}]}", &r, &e), &e);
    ck_assert_int_eq(r.cmd, PW_REQ_STATUS);
    ck_assert_str_eq(r.run, "");
    ck_assert_int_eq(r.has_step, 0);
}
END_TEST

START_TEST(the_line_need_not_be_nul_terminated)
{
    /* Only len bytes are read: what follows in the buffer is not part of it. */
    const char buf[] = "{\"cmd\":\"rescan\"}{\"cmd\":\"status\"}";
    pw_request r;
    pw_err e;
    PW_ASSERT_OK(pw_request_parse(buf, strlen("{\"cmd\":\"rescan\"}"), &r, &e), &e);
    ck_assert_int_eq(r.cmd, PW_REQ_RESCAN);
    refused(buf, sizeof buf - 1, "malformed JSON");
    char exact[16];
    memcpy(exact, "{\"cmd\":\"status\"}", 16); /* no NUL anywhere */
    PW_ASSERT_OK(pw_request_parse(exact, sizeof exact, &r, &e), &e);
    ck_assert_int_eq(r.cmd, PW_REQ_STATUS);
}
END_TEST

START_TEST(malformed_json_is_refused_with_the_column)
{
    REFUSED("{\"cmd\":", "malformed JSON at column");
    REFUSED("", "malformed JSON");
    REFUSED("   ", "malformed JSON");
    REFUSED("{\"cmd\":\"status\"} trailing", "malformed JSON");
    REFUSED("\"status\"", "malformed JSON");
    REFUSED("{\"cmd\":\"status\",\"cmd\":\"rescan\"}", "duplicate object key");
    REFUSED("{cmd:\"status\"}", "malformed JSON");
    REFUSED("{\"cmd\":'status'}", "malformed JSON");
}
END_TEST

START_TEST(wrong_shapes_and_types_are_refused)
{
    REFUSED("[1,2]", "a request is a JSON object with a \"cmd\" string");
    REFUSED("{}", "\"cmd\" string");
    REFUSED("{\"command\":\"status\"}", "\"cmd\" string");
    REFUSED("{\"cmd\":1}", "\"cmd\" string");
    REFUSED("{\"cmd\":null}", "\"cmd\" string");
    REFUSED("{\"cmd\":[\"status\"]}", "\"cmd\" string");
    REFUSED("{\"cmd\":\"explode\"}",
            "unknown cmd 'explode' (known: status, finalize, rescan, subscribe, rescore)");
    REFUSED("{\"cmd\":\"STATUS\"}", "unknown cmd 'STATUS'");
    REFUSED("{\"cmd\":\"status \"}", "unknown cmd");
    REFUSED("{\"cmd\":\"\"}", "unknown cmd ''");
}
END_TEST

/* rescore: a run, and optionally the first step ("from"); "step" means nothing to it. */
START_TEST(rescore_takes_a_run_and_a_first_step)
{
    pw_request r;
    pw_err e;
    PW_ASSERT_OK(parse("{\"cmd\":\"rescore\",\"run\":\"/runs/a\",\"from\":300}", &r, &e), &e);
    ck_assert_int_eq(r.cmd, PW_REQ_RESCORE);
    ck_assert_str_eq(r.run, "/runs/a");
    ck_assert_int_eq(r.has_step, 1);
    ck_assert_int_eq(r.step, 300);
    PW_ASSERT_OK(parse("{\"cmd\":\"rescore\",\"run\":\"a\",\"step\":7}", &r, &e), &e);
    ck_assert_int_eq(r.has_step, 0);
    PW_ASSERT_OK(parse("{\"cmd\":\"rescore\",\"run\":\"a\",\"from\":null}", &r, &e), &e);
    ck_assert_int_eq(r.has_step, 0);
    REFUSED("{\"cmd\":\"rescore\"}", "rescore needs \"run\": a run name or path");
    REFUSED("{\"cmd\":\"rescore\",\"run\":\"\"}", "rescore needs \"run\"");
    REFUSED("{\"cmd\":\"rescore\",\"run\":\"a\",\"from\":-1}",
            "\"from\" must be a non-negative integer");
    REFUSED("{\"cmd\":\"rescore\",\"run\":\"a\",\"from\":\"300\"}", "\"from\" must be");
}
END_TEST

START_TEST(finalize_arguments_are_checked)
{
    REFUSED("{\"cmd\":\"finalize\"}", "finalize needs \"run\": a run name or path");
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"\"}", "finalize needs \"run\"");
    REFUSED("{\"cmd\":\"finalize\",\"run\":7}", "finalize needs \"run\"");
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":-1}",
            "\"step\" must be a non-negative integer");
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":\"400\"}", "\"step\" must be");
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":1.5}", "\"step\" must be");
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":1e30}", "\"step\" must be");
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":true}", "\"step\" must be");
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":{}}", "\"step\" must be");
    /* One past int64: jansson refuses the number itself. */
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"r\",\"step\":9223372036854775808}", "too big integer");
}
END_TEST

START_TEST(run_names_are_bounded)
{
    static char line[PW_REQ_MAX_RUN + 64];
    const char *head = "{\"cmd\":\"finalize\",\"run\":\"";
    size_t h = strlen(head);
    pw_request r;
    pw_err e;
    /* PW_REQ_MAX_RUN - 1 bytes fit, one more does not. */
    memcpy(line, head, h);
    memset(line + h, 'a', PW_REQ_MAX_RUN - 1);
    memcpy(line + h + PW_REQ_MAX_RUN - 1, "\"}", 3);
    PW_ASSERT_OK(parse(line, &r, &e), &e);
    ck_assert_uint_eq(strlen(r.run), PW_REQ_MAX_RUN - 1);
    memset(line + h, 'a', PW_REQ_MAX_RUN);
    memcpy(line + h + PW_REQ_MAX_RUN, "\"}", 3);
    PW_ASSERT_FAILS_WITH(parse(line, &r, &e), &e, "\"run\" is 4096 bytes, more than 4095");
}
END_TEST

START_TEST(nul_bytes_and_bad_utf8_are_refused)
{
    REFUSED("{\"cmd\":\"status\"}\0", "malformed JSON");
    REFUSED("{\"cmd\":\"sta\0tus\"}", "malformed JSON");
    REFUSED("{\"cmd\":\"finalize\",\"run\":\"r1\\u0000x\"}", "malformed JSON");
    REFUSED("{\"cmd\":\"st\xff\xfe\"}", "malformed JSON");
    REFUSED("{\"cmd\":\"\xc0\xaf\"}", "malformed JSON");     /* overlong '/' */
    REFUSED("{\"cmd\":\"\xed\xa0\x80\"}", "malformed JSON"); /* surrogate */
    REFUSED("{\"cmd\":\"a\nb\"}", "malformed JSON");
    REFUSED("{\"cmd\":\"\\ud800\"}", "malformed JSON"); /* lone surrogate escape */
}
END_TEST

START_TEST(echoed_text_stays_short_and_valid)
{
    /* An unknown command is quoted, cut between characters, control
     * characters shown as '?'. */
    static char line[2000];
    size_t n = (size_t)snprintf(line, sizeof line, "{\"cmd\":\"");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "\xe2\x82\xac"); /* euro sign */
    n += (size_t)snprintf(line + n, sizeof line - n, "\"}");
    pw_request r;
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_request_parse(line, n, &r, &e), &e, "\xe2\x82\xac...' (known:");
    assert_message_is_json_text(&e);
    ck_assert_uint_lt(strlen(e.msg), 200);
    REFUSED("{\"cmd\":\"a\\u0001\\tb\"}", "unknown cmd 'a??b'");
    /* jansson counts columns in characters, not bytes. */
    n = (size_t)snprintf(line, sizeof line, "{\"cmd\" \"");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "\xc3\xa9");
    n += (size_t)snprintf(line + n, sizeof line - n, "\"}");
    PW_ASSERT_FAILS_WITH(pw_request_parse(line, n, &r, &e), &e,
                         "malformed JSON at column 109: ':' expected");
    assert_message_is_json_text(&e);
}
END_TEST

START_TEST(nesting_is_bounded_before_jansson_sees_it)
{
    pw_request r;
    pw_err e;
    /* The request object plus 7 arrays: depth 8, allowed. */
    PW_ASSERT_OK(parse("{\"cmd\":\"status\",\"x\":[[[[[[[1]]]]]]]}", &r, &e), &e);
    REFUSED("{\"cmd\":\"status\",\"x\":[[[[[[[[1]]]]]]]]}", "deeper than 8 (byte 27)");
    /* Brackets inside strings are text, not nesting. */
    PW_ASSERT_OK(parse("{\"cmd\":\"status\",\"x\":\"[[[[[[[[[[{{{{\\\"[[[[\"}", &r, &e), &e);
    static char deep[PW_SOCK_MAX_REQUEST];
    memset(deep, '[', sizeof deep);
    refused(deep, sizeof deep, "deeper than 8");
    /* Unbalanced closers do not hide later nesting. */
    REFUSED("]]]]]]]]]]{{{{{{{{{", "deeper than 8 (byte 18)");
}
END_TEST

START_TEST(oversized_lines_are_refused)
{
    static char big[PW_SOCK_MAX_REQUEST + 1];
    size_t h = (size_t)snprintf(big, sizeof big, "{\"cmd\":\"status\",\"pad\":\"");
    memset(big + h, ' ', sizeof big - h);
    memcpy(big + PW_SOCK_MAX_REQUEST - 2, "\"}", 2);
    pw_request r;
    pw_err e;
    PW_ASSERT_OK(pw_request_parse(big, PW_SOCK_MAX_REQUEST, &r, &e), &e);
    refused(big, sizeof big, "request line longer than 65536 bytes");
}
END_TEST

START_TEST(printable_utf8_keeps_characters_whole)
{
    char out[8];
    pw_name_printable_utf8(out, sizeof out, "ab\xc3\xa9", 4);
    ck_assert_str_eq(out, "ab\xc3\xa9");
    pw_name_printable_utf8(out, sizeof out, "a\x01\xff\n", 4);
    ck_assert_str_eq(out, "a???");
    /* 4 bytes room before "...": the 2-byte character at 3..4 does not fit. */
    pw_name_printable_utf8(out, sizeof out, "abc\xc3\xa9xyz", 8);
    ck_assert_str_eq(out, "abc...");
    pw_name_printable_utf8(out, sizeof out, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9);
    ck_assert_str_eq(out, "\xe2\x82\xac...");
    pw_name_printable_utf8(out, sizeof out, "abcdef", 6);
    ck_assert_str_eq(out, "abcdef");
}
END_TEST

Suite *request_suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("request");
    tcase_add_test(tc, every_command_is_recognised);
    tcase_add_test(tc, finalize_step_is_optional_and_may_be_huge);
    tcase_add_test(tc, unknown_fields_are_ignored);
    tcase_add_test(tc, the_line_need_not_be_nul_terminated);
    tcase_add_test(tc, malformed_json_is_refused_with_the_column);
    tcase_add_test(tc, wrong_shapes_and_types_are_refused);
    tcase_add_test(tc, finalize_arguments_are_checked);
    tcase_add_test(tc, rescore_takes_a_run_and_a_first_step);
    tcase_add_test(tc, run_names_are_bounded);
    tcase_add_test(tc, nul_bytes_and_bad_utf8_are_refused);
    tcase_add_test(tc, echoed_text_stays_short_and_valid);
    tcase_add_test(tc, nesting_is_bounded_before_jansson_sees_it);
    tcase_add_test(tc, oversized_lines_are_refused);
    tcase_add_test(tc, printable_utf8_keeps_characters_whole);
    suite_add_tcase(s, tc);
    return s;
}
