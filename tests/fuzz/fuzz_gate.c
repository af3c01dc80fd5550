/* fuzz_gate.c - libFuzzer harness: gate expressions */

/*
 * The input is "EXPRESSION\nVALUE": a gate expression as a policy writes it
 * (">= 0.9", "== \"onnx\"", "exists") and a metadata value as JSON text
 * (an empty second field: the key is absent). Properties: a parsed
 * expression evaluates without error; == and != of one parsed value
 * disagree whenever the key is present; for numbers, >= is > or ==, and <=
 * is < or ==; "exists" holds exactly for present non-null values.
 */
#include <errno.h>

#include "fuzz.h"
#include "policy.h"

static bool eval_as(const struct mfs_gate_expr *e, int op, const char *value)
{
	struct mfs_gate_expr x = *e;

	x.op = op;
	return mfs_gate_expr_eval(&x, value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, false };
	char *expr = fuzz_field(&in), *value = fuzz_field(&in);
	const char *v = value && *value ? value : NULL;
	struct mfs_gate_expr e;
	int r;

	if (!expr) {
		free(value);
		return 0;
	}
	r = mfs_gate_expr_parse(expr, &e);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		bool res = mfs_gate_expr_eval(&e, v);

		if (e.kind == MFS_GATE_EXISTS) {
			(void)res;
		} else {
			bool eq = eval_as(&e, MFS_OP_EQ, v), ne = eval_as(&e, MFS_OP_NE, v);

			/* Both fail only when the value is absent, not JSON, or
			 * of another type than the expression's. */
			FUZZ_CHECK(!(eq && ne));
			if (e.vtype == MFS_GV_NUMBER) {
				bool gt = eval_as(&e, MFS_OP_GT, v), lt = eval_as(&e, MFS_OP_LT, v);

				FUZZ_CHECK(eval_as(&e, MFS_OP_GE, v) == (gt || eq));
				FUZZ_CHECK(eval_as(&e, MFS_OP_LE, v) == (lt || eq));
				FUZZ_CHECK(!(gt && lt));
			}
		}
	}
	free(expr);
	free(value);
	return 0;
}
