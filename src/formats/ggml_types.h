/* ggml_types.h — the names of ggml's tensor type ids, including those attend does not run, so that
 * a refusal can say "Q5_1" or "IQ4_XS" rather than a number. */
#ifndef ATTEND_GGML_TYPES_H
#define ATTEND_GGML_TYPES_H

#include <stdint.h>

/* "Q5_1" for 7, ...; NULL for an id ggml has never assigned (or has retired without a name). */
const char *ggml_type_name(uint32_t type);

#endif
