/* escapes.h — `-e`: the backslash escapes a shell makes awkward to type, in a prompt. */
#ifndef ATTEND_CLI_ESCAPES_H
#define ATTEND_CLI_ESCAPES_H

/* Rewrite s in place: \n newline, \t tab, \r carriage return, \\ backslash, \" and \' quotes.
 * Any other backslash, and a trailing one, stays as written. */
void unescape(char *s);

#endif
