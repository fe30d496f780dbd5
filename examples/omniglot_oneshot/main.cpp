// omniglot_oneshot: 20-way within-alphabet one-shot classification on Omniglot
// (docs/omniglot.md). Training sees only background alphabets that are not held out;
// evaluation reads runs in Lake's format (runNN/training, runNN/test, class_labels.txt).
//
//   omniglot_oneshot make-runs --out DIR      validation runs from held-out background alphabets
//   omniglot_oneshot train [--design proto|koch] [--val-runs DIR]
//   omniglot_oneshot eval --runs DIR [--json FILE] [--report FILE.html]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include <twin/parallel.hpp>

#include "omniglot.hpp"

int main(int argc, char** argv) {
  CLI::App app{"One-shot classification on Omniglot with twin: a prototypical conv tower (default) or Koch et al.'s "
               "siamese pair network. Held-out alphabets are never seen in training."};
  app.require_subcommand(1);
  int threads = 0;
  bool skip_without_data = false;
  app.add_option("--threads", threads, "threads for the network (default: TWIN_NUM_THREADS or all cores)");
  app.add_flag("--skip-without-data", skip_without_data, "exit 77 (ctest's skip code) when the Omniglot data are "
                                                         "absent (for tests)");

  omniglot::MakeRunsOptions mr;
  auto* make = app.add_subcommand("make-runs", "write within-alphabet validation runs (Lake's format) from the held-out "
                                               "background alphabets");
  make->add_option("--data", mr.data, "folder holding omniglot/images_background (default: $TWIN_DATA, then "
                                      "../shared/data)");
  make->add_option("--out", mr.out, "folder to write runNN/ into")->required();
  make->add_option("--val-alphabets", mr.val_alphabets, "held-out alphabets (default: --n-val drawn with --split-seed)");
  make->add_option("--n-val", mr.n_val, "number of held-out alphabets")->capture_default_str();
  make->add_option("--split-seed", mr.split_seed, "seed of the alphabet split")->capture_default_str();
  make->add_option("--runs", mr.runs, "number of runs")->capture_default_str();
  make->add_option("--ways", mr.ways, "classes per run")->capture_default_str();
  make->add_option("--seed", mr.seed, "seed of the runs' characters, drawers and query order")->capture_default_str();

  omniglot::TrainOptions tr;
  std::string design = "proto";
  bool quick = false;
  auto* train = app.add_subcommand("train", "train on the background alphabets that are not held out; saves the model");
  train->add_option("--data", tr.data, "folder holding omniglot/images_background (default: $TWIN_DATA, then "
                                       "../shared/data)");
  train->add_option("--model", tr.model, "model file to write")->capture_default_str();
  train->add_option("--design", design, "proto (prototypical episodes, nearest neighbour) or koch (pairs, L1, "
                                        "sigmoid head, BCE)")->capture_default_str();
  train->add_option("--val-alphabets", tr.val_alphabets, "held-out alphabets (as for make-runs)");
  train->add_option("--n-val", tr.n_val, "number of held-out alphabets")->capture_default_str();
  train->add_option("--split-seed", tr.split_seed, "seed of the alphabet split")->capture_default_str();
  train->add_option("--seed", tr.seed, "seed of initialisation, sampling and augmentation")->capture_default_str();
  train->add_option("--steps", tr.steps, "episodes (proto) or pair batches (koch)")->capture_default_str();
  train->add_option("--max-minutes", tr.max_minutes, "stop after this many minutes of training if the steps are not "
                    "done (the learning rate anneals over time then); 0: no limit")->capture_default_str();
  train->add_option("--ways", tr.ways, "proto: classes per training episode")->capture_default_str();
  train->add_option("--shots", tr.shots, "proto: support images per class")->capture_default_str();
  train->add_option("--queries", tr.queries, "proto: query images per class")->capture_default_str();
  train->add_option("--within-alphabet", tr.within_alphabet, "share of episodes (proto) or different pairs (koch) "
                    "drawn from one alphabet")->capture_default_str();
  bool no_rotate = false;
  train->add_flag("--no-rotate-classes", no_rotate, "do not add characters turned by 90/180/270 degrees as classes");
  train->add_option("--batch-pairs", tr.batch_pairs, "koch: pairs per step")->capture_default_str();
  train->add_option("--lr", tr.lr, "Adam learning rate (cosine decay)")->capture_default_str();
  train->add_option("--augment", tr.augment, "strength of the random affine distortions (0: none)")->capture_default_str();
  train->add_option("--size", tr.tower.size, "input size (size x size)")->capture_default_str();
  auto* channels = train->add_option("--channels", tr.tower.channels, "channels of every conv block (instead of "
                                     "--widths)")->capture_default_str();
  auto* blocks = train->add_option("--blocks", tr.tower.blocks, "conv blocks of --channels each (instead of --widths)")
                     ->capture_default_str();
  auto* widths = train->add_option("--widths", tr.tower.widths, "output channels of each conv block (sets --blocks; "
                                   "default: 32,64,128,256)")->delimiter(',');
  train->add_option("--unpooled", tr.tower.unpooled, "the last N conv blocks keep their spatial size (no max-pool): "
                    "with 1 the embedding is 256 x 3 x 3 at 28 px")->capture_default_str();
  train->add_option("--norm-scale", tr.tower.norm_scale, "proto: L2-normalise the embedding and multiply by this "
                    "(cosine prototypes with a temperature); 0: raw embedding")->capture_default_str();
  std::string train_metric = omniglot::metric_name(tr.metric);
  train->add_option("--metric", train_metric, "proto: how eval compares embeddings, stored in the model: l2 or cl2n "
                    "(centred on the run's candidates, then L2-normalised)")->capture_default_str();
  train->add_option("--val-runs", tr.val_runs, "evaluate on these runs after training");
  train->add_option("--tta", tr.tta, "with --val-runs: augmented views per image")->capture_default_str();
  train->add_option("--max-characters", tr.max_characters, "use only the first N characters of each training "
                    "alphabet (smoke tests)");
  train->add_flag("--quick", quick, "a tiny budget (20 steps, 10-way): a smoke test");
  train->add_flag("--quiet", tr.quiet, "no progress bar");

  omniglot::EvalOptions ev;
  auto* eval = app.add_subcommand("eval", "accuracy on every runNN/ under --runs (per run and overall)");
  eval->add_option("--runs", ev.runs, "folder of runNN/ in Lake's format")->required();
  eval->add_option("--model", ev.model, "model file")->capture_default_str();
  eval->add_option("--json", ev.json, "write the results as JSON here");
  eval->add_option("--report", ev.report, "write an HTML report here");
  eval->add_option("--report-examples", ev.report_examples, "queries shown in the report")->capture_default_str();
  eval->add_option("--metric", ev.metric, "proto: l2 or cl2n (default: the one stored in the model)");
  eval->add_option("--tta", ev.tta, "augmented views averaged per image (test-time augmentation)")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (threads > 0) twin::set_default_threads(threads);
    if (*make) return omniglot::run_make_runs(mr);
    if (*train) {
      tr.design = omniglot::parse_design(design);
      tr.rotate_classes = !no_rotate;
      tr.metric = omniglot::parse_metric(train_metric);
      // --channels or --blocks alone replace the default widths by `channels` for every block.
      if (widths->count() == 0 && (channels->count() > 0 || blocks->count() > 0)) tr.tower.widths.clear();
      if (!tr.tower.widths.empty()) tr.tower.blocks = static_cast<omniglot::Index>(tr.tower.widths.size());
      if (quick) tr.steps = 20, tr.ways = 10, tr.batch_pairs = 16;
      return omniglot::run_train(tr);
    }
    if (*eval) return omniglot::run_eval(ev);
  } catch (const omniglot::DataMissing& e) {
    std::fprintf(stderr, "omniglot_oneshot: %s%s\n", skip_without_data ? "SKIPPED: " : "error: ", e.what());
    return skip_without_data ? 77 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "omniglot_oneshot: error: %s\n", e.what());
    return 1;
  }
  return 2;
}
