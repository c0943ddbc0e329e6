/* escapes.c — the prompt escapes of -e (see escapes.h). */
#include "cli/escapes.h"

void unescape(char *s)
{
    char *out = s;
    for (const char *in = s; *in; in++) {
        char c = *in;
        if (c == '\\' && in[1]) {
            switch (in[1]) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '\\': c = '\\'; break;
            case '"': c = '"'; break;
            case '\'': c = '\''; break;
            default: break;   /* kept: the backslash, then the character as itself */
            }
            if (c != '\\' || in[1] == '\\')
                in++;
        }
        *out++ = c;
    }
    *out = '\0';
}
