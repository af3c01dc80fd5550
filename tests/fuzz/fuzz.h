/* fuzz.h - what the libFuzzer harnesses in tests/fuzz/ share */

/*
 * Each harness is one LLVMFuzzerTestOneInput() over one pure module of
 * store/. Besides running the code under ASan and UBSan, a harness checks
 * properties the module's header promises (a parsed version compares equal
 * to itself, a validated document parses again...); a broken property
 * aborts, which libFuzzer reports as a crash with its reproducer.
 *
 * Inputs that carry several strings split them at '\n' (fuzz_field()), so
 * seeds can be written by hand with printf.
 */
#ifndef MFS_FUZZ_H
#define MFS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entry point libFuzzer calls; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort, naming the property, unless cond holds. */
#define FUZZ_CHECK(cond)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: property failed: %s\n",      \
				__FILE__, __LINE__, #cond);                  \
			abort();                                             \
		}                                                            \
	} while (0)

/* The unread part of an input. */
struct fuzz_input {
	const uint8_t *p;
	size_t n;
	bool done;	/* the last field has been read */
};

/* A NUL-terminated heap copy of the n bytes at p; the caller frees it.
 * Aborts on ENOMEM, which a fuzzer cannot do anything useful with. */
static inline char *fuzz_strndup(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	if (n)	/* libFuzzer may pass NULL with size 0 */
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* The next field of in, up to (not including) the next '\n' or the end, as
 * a heap string the caller frees; NULL once the last field was read, so
 * "a" is one field, "a\n" two (the second empty). */
static inline char *fuzz_field(struct fuzz_input *in)
{
	const uint8_t *nl;
	char *s;

	if (in->done)
		return NULL;
	nl = in->n ? memchr(in->p, '\n', in->n) : NULL;
	if (!nl) {
		s = fuzz_strndup(in->p, in->n);
		in->p += in->n;
		in->n = 0;
		in->done = true;
		return s;
	}
	s = fuzz_strndup(in->p, (size_t)(nl - in->p));
	in->n -= (size_t)(nl - in->p) + 1;
	in->p = nl + 1;
	return s;
}

static inline int fuzz_sign(int c)
{
	return (c > 0) - (c < 0);
}

#endif /* MFS_FUZZ_H */
