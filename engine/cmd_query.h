/*
 * `podwall explain` and `podwall matrix`: what the compiled rules do with
 * a flow, or with every pair of pods, without touching the kernel.
 */
#ifndef PW_CMD_QUERY_H
#define PW_CMD_QUERY_H

/* Exit codes: 0 allowed (matrix: printed), 1 denied, 2 bad input. */
#define PW_QUERY_EXIT_DENIED 1
#define PW_QUERY_EXIT_BAD_INPUT 2

/* argv[0] is the subcommand ("explain", "matrix"). */
int pw_cmd_explain(int argc, char **argv);
int pw_cmd_matrix(int argc, char **argv);

#endif
