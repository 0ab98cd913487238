/* cli.h — what the ddim command's files share: the parsed command line, the
 * subcommand table's entry, and running one job (ddim-job.h) with the
 * progress bar and the preview.
 *
 * ddim.c parses the command line and sets up (options → DdimParams, the
 * model); each commands-*.c file runs a group of subcommands: it reads its
 * files, fills a DdimJob, runs it and writes the result.  Every workflow
 * decision (batches, memory, phases) is the core's. */
#ifndef DDIM_CLI_H
#define DDIM_CLI_H

#include "cli-preview.h"
#include "cli-progress.h"
#include "ddim-job.h"
#include "ddim.h"

G_BEGIN_DECLS

typedef struct Cli Cli;

/* Which options a subcommand takes. */
enum {
  OPT_SAMPLING = 1 << 0, /* --steps --eta --schedule --clip --no-clip --seed */
  OPT_OUTPUT = 1 << 1,   /* -o */
  OPT_STRENGTH = 1 << 2,
  OPT_RESIZE = 1 << 3,
  OPT_GENERATE = 1 << 4, /* --xt --save-xt --count --size */
  OPT_TIMESTEP = 1 << 5,
  OPT_FRAMES = 1 << 6,
  OPT_DTYPE = 1 << 7, /* convert: --dtype */
  OPT_MASK = 1 << 8,  /* --mask --mask-keep (and --image for generate, decode) */
};

typedef struct {
  const char *name;
  const char *arguments; /* the positionals, MODEL first */
  int argument_count;    /* including MODEL */
  guint options;
  double default_strength;
  const char *summary;
  const char *description;
  gboolean (*run)(Cli *cli, GError **error);
} CliCommand;

struct Cli {
  const CliCommand *command;
  /* Option values as given; NULL when absent. */
  char *output, *xt_path, *save_xt_path;
  char *steps_text, *eta_text, *schedule_text, *seed_text, *threads_text, *max_memory_text;
  char *count_text, *size_text, *strength_text, *timestep_text, *frames_text;
  char *config, *dtype_text;
  char *preview_every_text, *preview_path;
  char *tile_text, *overlap_text, *mask_path, *mask_keep_text, *known_path;
  int clip; /* -1 not given, 0 --no-clip, 1 --clip */
  gboolean resize;
  char *convolutions_text;
  char **positionals;
  /* Set up from them. */
  DdimParams params;
  gboolean seed_given;
  guint64 max_memory;
  char *model_path;
  const char *const *inputs; /* the positionals after MODEL */
  DdimModel *model;
  const DdimModelInfo *info;
  CliProgress progress;
  CliPreview preview;
};

/* commands-model.c: info, eps, convert. */
gboolean cli_run_info(Cli *cli, GError **error);
gboolean cli_run_eps(Cli *cli, GError **error);
gboolean cli_run_convert(Cli *cli, GError **error);
/* commands-sample.c: generate, decode, vary (noise → images). */
gboolean cli_run_generate(Cli *cli, GError **error);
gboolean cli_run_decode(Cli *cli, GError **error);
gboolean cli_run_vary(Cli *cli, GError **error);
/* commands-invert.c: encode, reconstruct, interpolate (images → latents). */
gboolean cli_run_encode(Cli *cli, GError **error);
gboolean cli_run_reconstruct(Cli *cli, GError **error);
gboolean cli_run_interpolate(Cli *cli, GError **error);

/* A job of this command's workflow, with the parsed params and a seed. */
void cli_job_init(Cli *cli, DdimJob *job, DdimWorkflow workflow, DdimShape image);

/* Runs a job with the progress bar on stderr ("images 1-8 of 20" when the
 * core splits a phase into batches) and the --preview PNGs. */
gboolean cli_run_job(Cli *cli, const DdimJob *job, DdimJobResult *result, GError **error);

/* -o is required; png_allowed FALSE restricts it to .npy. */
gboolean cli_require_output(Cli *cli, gboolean png_allowed, GError **error);

/* Refuses a job that cannot run or fit (ddim_job_check), then prints
 * seed=N when no --seed was given and the run draws noise: nothing is
 * printed for a run that is refused. */
gboolean cli_check_job(Cli *cli, const DdimJob *job, gboolean uses_noise, GError **error);

G_END_DECLS

#endif /* DDIM_CLI_H */
