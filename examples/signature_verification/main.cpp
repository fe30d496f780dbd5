// signature_verification: writer-independent offline signature verification with a Siamese
// network on CEDAR (or any data set in the generic layout). See docs/signature-verification.md.
//
//   signature_verification train  [--data DIR] [--val-writers ...] [--test-writers ...]
//   signature_verification eval   [--pairs FILE.csv] [--json out.json] [--report out.html]
//   signature_verification verify A.png B.png
//   signature_verification enroll --writer NAME ref1.png ref2.png ...
//   signature_verification verify --against NAME questioned.png
// verify exits 0 for the same writer (genuine), 2 for a different one (forgery), 1 on error.
//   signature_verification audit  [--data DIR]
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <exception>
#include <sstream>

#include <twin/context.hpp>

#include "commands.hpp"

namespace {
// "7 13 24", "7,13,24" or repeated flags all give {"7", "13", "24"}.
std::vector<std::string> split_list(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (std::string s : in) {
    for (char& c : s)
      if (c == ',') c = ' ';
    std::istringstream is(s);
    for (std::string w; is >> w;) out.push_back(w);
  }
  return out;
}
// A numeric option's allowed range, checked at parse time (CLI11's Range lets NaN through,
// and a bad value found after minutes of work is a bad value found too late).
CLI::Validator in_range(double lo, double hi, bool lo_open = false) {
  const std::string desc = (lo_open ? "(" : "[") + CLI::detail::to_string(lo) + " - " + CLI::detail::to_string(hi) + "]";
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        double v = 0;
        try {
          std::size_t used = 0;
          v = std::stod(in, &used);
          if (used != in.size()) return "'" + in + "' is not a number";
        } catch (const std::exception&) {
          return "'" + in + "' is not a number";
        }
        if (!std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo))
          return "value " + in + " not in range " + desc;
        return {};
      },
      desc);
}

void add_split_options(CLI::App* c, sigver::SplitOptions& s, std::vector<std::string>& val, std::vector<std::string>& test) {
  c->add_option("--val-writers", val, "validation writers, e.g. \"7 13 24 25 43\" (with --test-writers; the rest train)");
  c->add_option("--test-writers", test, "test writers, e.g. \"1 4 10 20 22 37 40 45 48 52\"");
  c->add_option("--n-val", s.n_val, "number of validation writers of the seeded split")->capture_default_str()
      ->check(in_range(1, 1e6));
  c->add_option("--n-test", s.n_test, "number of test writers of the seeded split")->capture_default_str()
      ->check(in_range(1, 1e6));
  c->add_option("--split-seed", s.split_seed, "seed of the writer split")->capture_default_str();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Offline signature verification with a Siamese network (twin). Writers of the test set are never "
               "seen in training."};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "threads for the network (default: TWIN_NUM_THREADS or all cores)")
      ->check(in_range(0, 1024));

  using sigver::limits::max_canvas, sigver::limits::min_canvas;
  namespace limits = sigver::limits;
  const CLI::Validator canvas = in_range(min_canvas, max_canvas), speck = in_range(0, limits::max_speck_share),
                       stroke = in_range(-1, limits::max_stroke_radius);
  sigver::TrainOptions tr;
  std::vector<std::string> tr_val, tr_test;
  bool quick = false;
  auto* train = app.add_subcommand("train", "train the Siamese network on the training writers; saves the model and "
                                            "the threshold chosen on the validation writers");
  train->add_option("--data", tr.data, "data folder: CEDAR (full_org/, full_forg/) or <writer>/genuine|forged/*.png");
  train->add_option("--model", tr.model, "model file to write")->capture_default_str();
  train->add_option("--checkpoint", tr.checkpoint, "checkpoint file (default: <model>.ckpt)");
  train->add_flag("--resume", tr.resume, "continue from the checkpoint of an interrupted run");
  train->add_flag("--overwrite", tr.overwrite, "start afresh even if the model or checkpoint file exists (replacing them)");
  add_split_options(train, tr.split, tr_val, tr_test);
  train->add_option("--train-writers", tr.max_train_writers, "use only the first N training writers (0: all)")
      ->check(in_range(0, 1e6));
  train->add_option("--seed", tr.seed, "seed of initialisation, pair sampling and augmentation")->capture_default_str();
  train->add_option("--epochs", tr.epochs, "epochs (a checkpoint and a validation after each)")->capture_default_str()
      ->check(in_range(1, 1e5));
  train->add_option("--steps", tr.steps_per_epoch, "optimiser steps per epoch")->capture_default_str()->check(in_range(1, 1e7));
  train->add_option("--batch-pairs", tr.batch_pairs, "pairs per step (2x images)")->capture_default_str()->check(in_range(1, 4096));
  train->add_option("--lr", tr.lr, "Adam learning rate (cosine decay to 0)")->capture_default_str()
      ->check(in_range(0, 10, true));
  train->add_option("--margin", tr.margin, "contrastive margin on the Euclidean distance")->capture_default_str()
      ->check(in_range(0, 1e3, true));
  train->add_option("--weight-decay", tr.weight_decay, "AdamW weight decay")->capture_default_str()->check(in_range(0, 1));
  train->add_option("--height", tr.tower.canvas.height, "canvas height")->capture_default_str()->check(canvas);
  train->add_option("--width", tr.tower.canvas.width, "canvas width")->capture_default_str()->check(canvas);
  train->add_option("--speck-share", tr.tower.canvas.speck_share, "remove ink components below this share of all "
                    "ink before cropping (0: none)")->capture_default_str()->check(speck);
  train->add_option("--stroke-radius", tr.tower.canvas.stroke_radius, "thin the strokes and redraw them with this "
                    "radius (1: 3 px wide; -1: keep the pen's width)")->capture_default_str()->check(stroke);
  train->add_option("--channels", tr.tower.width, "channels of the first convolution")->capture_default_str()
      ->check(in_range(1, limits::max_channels));
  train->add_option("--embed", tr.tower.embed, "embedding size")->capture_default_str()
      ->check(in_range(1, static_cast<double>(limits::max_embed)));
  train->add_flag("--batchnorm", tr.tower.batchnorm, "BatchNorm after each convolution");
  train->add_flag("--l2norm", tr.tower.l2norm, "L2-normalise the embeddings (then a margin below 2)");
  train->add_option("--skilled-fraction", tr.skilled_fraction, "share of negative training pairs that are skilled "
                    "forgeries (the rest: other writers)")->capture_default_str()->check(in_range(0, 1));
  train->add_option("--hard-share", tr.hard_share, "share of random-forgery training pairs whose other writer is "
                    "one of the --hard-writers nearest (by mean embedding, recomputed each epoch)")->capture_default_str()
      ->check(in_range(0, 1));
  train->add_option("--hard-writers", tr.hard_writers, "nearest writers for --hard-share")->capture_default_str()->check(in_range(1, 1e6));
  train->add_option("--augment-strength", tr.augment_strength, "multiplies the augmentation's rotation (4 deg), "
                    "scale range (0.92-1.04) and shift (4%)")->capture_default_str()->check(in_range(0, 5));
  bool no_augment = false;
  train->add_flag("--no-augment", no_augment, "no random affine augmentation");
  train->add_flag("--quick", quick, "tiny budget (2 epochs of 5 steps): a smoke test");
  train->add_flag("--quiet", tr.quiet, "no progress bar");
  train->add_option("--stop-after", tr.stop_after_epochs, "stop after N epochs as if interrupted (for tests)")
      ->check(in_range(0, 1e5));

  sigver::EvalOptions ev;
  std::vector<std::string> ev_val, ev_test;
  auto* eval = app.add_subcommand("eval", "evaluate on the test writers (or a pairs file): accuracy at the validation "
                                          "threshold, ROC AUC, EER, FAR, FRR; text, JSON and an HTML report");
  eval->add_option("--data", ev.data, "data folder (as for train)");
  eval->add_option("--model", ev.model, "model file")->capture_default_str();
  eval->add_option("--pairs", ev.pairs, "CSV of path1,path2,label (1 = same writer genuine, 0 = forgery/other)");
  eval->add_option("--json", ev.json, "write the metrics as JSON here");
  eval->add_option("--report", ev.report, "HTML report to write ('' for none)")->capture_default_str();
  add_split_options(eval, ev.split, ev_val, ev_test);
  eval->add_option("--references", ev.references, "enrolled references per writer for the multi-reference metrics")
      ->capture_default_str()->check(in_range(1, 1000));
  eval->add_option("--seed", ev.seed, "seed of the random-forgery pairs")->capture_default_str();

  sigver::VerifyOptions ve;
  auto* verify = app.add_subcommand("verify", "verify A.png B.png (same writer?), or --against WRITER Q.png against "
                                              "the writer's enrolled references. Exit code: 0 same writer (genuine), 2 different "
                                              "(forgery or another writer), 1 error");
  verify->add_option("images", ve.images, "two images, or one with --against")->required();
  verify->add_option("--model", ve.model, "model file")->capture_default_str();
  verify->add_option("--against", ve.against, "enrolled writer to compare with");
  verify->add_option("--enrollments", ve.enrollments, "enrolment file")->capture_default_str();
  verify->add_option("--repeat", ve.repeat, "repeat the pair's verification (decode, preprocess, embed both) N times "
                     "and report the first (cold) and the median of the others (warm)")->capture_default_str()
      ->check(in_range(1, 1e5));
  verify->add_flag("--json", ve.json, "print one JSON object (verdict, distance, threshold) instead of text");

  sigver::EnrollOptions en;
  auto* enroll = app.add_subcommand("enroll", "store reference signatures of a writer for verify --against");
  enroll->add_option("--writer", en.writer, "writer name")->required();
  enroll->add_option("images", en.images, "reference signatures")->required();
  enroll->add_option("--model", en.model, "model file")->capture_default_str();
  enroll->add_option("--enrollments", en.enrollments, "enrolment file (created or updated)")->capture_default_str();
  enroll->add_flag("--replace", en.replace, "replace the writer's references (default: add to them; a writer "
                   "enrolled with another model needs --replace)");

  sigver::AuditOptions au;
  std::vector<std::string> au_val, au_test;
  auto* audit = app.add_subcommand("audit", "measure the data set's shortcuts: brightness-difference EER on raw and "
                                            "preprocessed pairs, single-image genuine-vs-forgery probe");
  audit->add_option("--data", au.data, "data folder (as for train)");
  audit->add_option("--json", au.json, "write the numbers as JSON here");
  add_split_options(audit, au.split, au_val, au_test);
  audit->add_option("--height", au.canvas.height, "canvas height")->capture_default_str()->check(canvas);
  audit->add_option("--width", au.canvas.width, "canvas width")->capture_default_str()->check(canvas);
  audit->add_option("--speck-share", au.canvas.speck_share, "as for train")->capture_default_str()->check(speck);
  audit->add_option("--stroke-radius", au.canvas.stroke_radius, "as for train")->capture_default_str()->check(stroke);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 1 like every other error (--help and --version exit 0).
    return app.exit(e) == 0 ? 0 : 1;
  }
  try {
    if (threads > 0) twin::set_default_threads(threads);
    if (*train) {
      tr.split.val_writers = split_list(tr_val);
      tr.split.test_writers = split_list(tr_test);
      tr.augment = !no_augment;
      if (quick) tr.epochs = 2, tr.steps_per_epoch = 5;
      return sigver::run_train(tr);
    }
    if (*eval) {
      ev.split.val_writers = split_list(ev_val);
      ev.split.test_writers = split_list(ev_test);
      return sigver::run_eval(ev);
    }
    if (*verify) return sigver::run_verify(ve);
    if (*enroll) return sigver::run_enroll(en);
    if (*audit) {
      au.split.val_writers = split_list(au_val);
      au.split.test_writers = split_list(au_test);
      return sigver::run_audit(au);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "signature_verification: error: %s\n", e.what());
    return 1;
  }
  return 1;
}
